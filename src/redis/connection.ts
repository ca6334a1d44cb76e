// The single owner of the ioredis client. Everything else borrows `client`;
// only this module connects and closes, and close() is safe to call twice.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

export interface ConnectionOptions {
  url: string;
  /** host:port seeds of a Redis Cluster; when given, `url` is not used. */
  clusterNodes?: readonly string[];
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** Name shown by `CLIENT LIST`, to tell hitcounter's connections apart. */
  name?: string;
  /** PEM certificate(s) to trust for a rediss:// URL, when the server's certificate is not publicly signed. */
  tlsCa?: Buffer;
}

export class RedisConnection {
  /**
   * A Redis or, with clusterNodes, a Cluster: ioredis gives both the same command API, and every
   * multi-key operation of the product keeps its keys in one slot (see keys.ts), so the rest of
   * the code uses either through this one type.
   */
  readonly client: Redis;
  #closing: Promise<void> | undefined;

  constructor(options: ConnectionOptions) {
    const redisOptions: RedisOptions = {
      connectionName: options.name ?? 'hitcounter',
      // A hit is acknowledged only after Redis has accepted it. With no offline queue, a
      // command issued while disconnected fails at once (503) instead of waiting in memory
      // and being applied after the client was already told it failed.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // A command in flight when the connection dropped may have been applied: resending it could
      // count a hit twice. HitStore resolves such commands instead (see record-hits.lua).
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs,
      // Keep reconnecting forever, backing off up to 2 s, so the server recovers by itself.
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), 2000),
      lazyConnect: true,
      // rediss:// turns TLS on by itself; a private CA has to be trusted explicitly.
      ...(options.tlsCa ? { tls: { ca: options.tlsCa } } : {}),
    };
    if (options.clusterNodes && options.clusterNodes.length > 0) {
      const { retryStrategy, enableOfflineQueue, ...nodeOptions } = redisOptions;
      const clusterOptions: ClusterOptions = {
        redisOptions: nodeOptions,
        enableOfflineQueue,
        clusterRetryStrategy: retryStrategy,
        // ioredis re-sends a command whose node connection closed ("failover"): it may have been
        // applied already, so that would count a hit twice. HitStore resolves it instead. A
        // command refused with MOVED, ASK, TRYAGAIN or CLUSTERDOWN was not applied: following
        // those is safe, and MOVED/ASK are how the client learns a failover's new master.
        retryDelayOnFailover: 0,
        retryDelayOnClusterDown: 0,
        // Reads from masters only: a replica may lag, and /stats must show what was counted.
        scaleReads: 'master',
        slotsRefreshTimeout: options.connectTimeoutMs,
        // Learn a failover's new master within a second even when no MOVED reply says so (a dead
        // master answers nothing); ioredis 5 does not refresh periodically unless asked.
        slotsRefreshInterval: 1000,
        lazyConnect: true,
      };
      this.client = new Cluster(options.clusterNodes.map(parseNode), clusterOptions) as unknown as Redis;
    } else {
      this.client = new Redis(options.url, redisOptions);
    }
    // Errors surface through the commands that fail; without a listener ioredis would
    // print every reconnect attempt as an unhandled 'error' event.
    this.client.on('error', () => {});
  }

  get isCluster(): boolean {
    return (this.client as unknown as { isCluster?: boolean }).isCluster === true;
  }

  /** Connects and waits until Redis answers. Rejects if it cannot within connectTimeoutMs. */
  async connect(): Promise<void> {
    if (this.client.status === 'wait') await this.client.connect();
    await this.client.ping();
    if (this.isCluster) {
      // ioredis connects to each node on first use, and without an offline queue a command for a
      // node still connecting is refused: connect to every master now, and to each node that
      // joins later (a promoted replica), before hits need them.
      const cluster = this.client as unknown as Cluster;
      // Not once the client is closing: a node opened then would outlive the close.
      cluster.on('+node', (node: Redis) => { if (!this.closing) node.ping().catch(() => {}); });
      await Promise.all(cluster.nodes('master').map((node) => node.ping()));
    }
  }

  /** True once close() was called: a disconnect from then on is expected, not an outage. */
  get closing(): boolean {
    return this.#closing !== undefined;
  }

  get status(): string {
    return this.client.status;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.client.quit().then(() => undefined, () => this.client.disconnect());
      if (!this.isCluster) return;
      // ioredis 5: a slots refresh (slotsRefreshInterval) in flight when quit() ran re-arms its
      // timer when it completes, whatever the status, and then refreshes every second for good,
      // keeping the process alive. Callbacks run in order: once that refresh is over (or at once,
      // with no node left to ask), disconnect() clears the timer it re-armed.
      const cluster = this.client as unknown as Cluster;
      await new Promise<void>((resolve) => cluster.refreshSlotsCache(() => {
        cluster.disconnect();
        resolve();
      }));
    })();
    return this.#closing;
  }
}

function parseNode(node: string): { host: string; port: number } {
  const at = node.lastIndexOf(':');
  return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
}
