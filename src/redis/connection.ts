// The single owner of the ioredis client. Everything else borrows `client`;
// only this module connects and closes, and close() is safe to call twice.
import { Redis, type RedisOptions } from 'ioredis';

export interface ConnectionOptions {
  url: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** Name shown by `CLIENT LIST`, to tell hitcounter's connections apart. */
  name?: string;
  /** PEM certificate(s) to trust for a rediss:// URL, when the server's certificate is not publicly signed. */
  tlsCa?: Buffer;
}

export class RedisConnection {
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
    this.client = new Redis(options.url, redisOptions);
    // Errors surface through the commands that fail; without a listener ioredis would
    // print every reconnect attempt as an unhandled 'error' event.
    this.client.on('error', () => {});
  }

  /** Connects and waits until Redis answers. Rejects if it cannot within connectTimeoutMs. */
  async connect(): Promise<void> {
    if (this.client.status === 'wait') await this.client.connect();
    await this.client.ping();
  }

  /** True once close() was called: a disconnect from then on is expected, not an outage. */
  get closing(): boolean {
    return this.#closing !== undefined;
  }

  get status(): string {
    return this.client.status;
  }

  close(): Promise<void> {
    this.#closing ??= this.client.quit().then(
      () => undefined,
      () => this.client.disconnect(),
    );
    return this.#closing;
  }
}
