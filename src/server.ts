// Process entry: settings → Redis (embedded or REDIS_URL) → listen → graceful shutdown.
// The only module that calls listen().
import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { inspect } from 'node:util';
import { createApp } from './app.js';
import { createServices } from './services.js';
import { loadAdminToken, TOKEN_ENV } from './auth.js';
import { EmbeddedRedisError, SettingsError } from './errors.js';
import { createHttpServer } from './http.js';
import { createLogger } from './logger.js';
import { serveClusterMetrics } from './metrics.js';
import { RedisConnection } from './redis/connection.js';
import { ensureRedisServer, redisAnswers, startRedisServer, type RedisServerProcess } from './redis/embedded.js';
import { loadSettings, PROJECT_ROOT, type Settings } from './settings.js';
import type { Logger } from 'pino';

async function embeddedRedis(settings: Readonly<Settings>, logger: Logger): Promise<{ url: string; child?: RedisServerProcess }> {
  const { port, dataDir, appendfsync, startTimeoutMs } = settings.redis.embedded;
  const url = `redis://127.0.0.1:${port}`;
  if (await redisAnswers(port)) {
    logger.info({ redis: url }, 'REDIS_URL is not set; using the Redis already listening on the embedded port');
    return { url };
  }
  const binary = await ensureRedisServer((message) => logger.info(message));
  const dir = resolve(PROJECT_ROOT, dataDir);
  const child = await startRedisServer({ binary, port, dir, appendfsync, startTimeoutMs });
  logger.info({ redis: url, dataDir: dir, appendfsync }, 'REDIS_URL is not set; started an embedded redis-server');
  return { url, child };
}

function readTlsCa(file: string): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (error) {
    throw new SettingsError(`Invalid setting \`redis.tlsCaFile\`: cannot read ${file}: ${(error as Error).message}`);
  }
}

const redactedUrl = (url: string) => url.replace(/\/\/[^@/]*@/, '//***@');

// One line when the connection goes down and one when it is back, not one per failed request.
function logConnectionChanges(redis: RedisConnection, url: string, logger: Logger): void {
  let up = false;
  redis.client.on('ready', () => {
    if (!up) logger.info({ redis: redactedUrl(url) }, 'Redis connection is up');
    up = true;
  });
  redis.client.on('close', () => {
    if (up && !redis.closing) logger.warn('Redis connection lost: hits answer 503 until it is back; reconnecting');
    up = false;
  });
}

// A reused or external Redis may run without AOF; then a Redis crash loses acknowledged hits.
async function warnIfNotDurable(redis: RedisConnection, logger: Logger): Promise<void> {
  const reply = (await redis.client.config('GET', 'appendonly').catch(() => undefined)) as string[] | undefined;
  if (reply?.[1] === 'no') {
    logger.warn('this Redis runs without AOF (appendonly no): if it crashes, hits acknowledged since its last snapshot are lost');
  }
}

// The primary gives its workers the load generator's secret here: a load test started on one
// worker sends its requests to the shared port, so every worker has to recognise them.
const LOADGEN_SECRET_ENV = 'HITCOUNTER_LOADGEN_SECRET';
// How long a stopped server may take to end by itself before it exits (see shutdown).
const EXIT_GRACE_MS = 5000;
// What a worker that could not start tells the primary, which says it once for all workers.
const START_FAILED = 'hitcounter:start-failed';

/**
 * The HTTP server in this process, on `url`'s Redis. Resolves once listening; stops on
 * SIGINT/SIGTERM, then calls onStopped. If it cannot start, the caller cleans up.
 */
async function serve(settings: Readonly<Settings>, logger: Logger, url: string, onStopped: () => Promise<void>, loadgenSecret?: string): Promise<void> {
  const redis = new RedisConnection({
    url,
    clusterNodes: settings.redis.cluster.nodes,
    commandTimeoutMs: settings.redis.commandTimeoutMs,
    connectTimeoutMs: settings.redis.connectTimeoutMs,
    tlsCa: readTlsCa(settings.redis.tlsCaFile),
  });
  logConnectionChanges(redis, redis.isCluster ? `cluster ${settings.redis.cluster.nodes.join(',')}` : url, logger);
  try {
    await redis.connect();
    await warnIfNotDurable(redis, logger);
  } catch (error) {
    logger.warn({ err: error }, 'Redis is not reachable yet; /health answers 503 and hits get 503 until it is');
  }

  const adminToken = loadAdminToken(settings.auth.tokenFile);
  const services = createServices(settings, redis, { logger, adminToken, loadgenSecret });
  const app = createApp(services);
  const server = createHttpServer(app, settings.server);
  try {
    server.listen(settings.server.port, settings.server.host);
    await once(server, 'listening');
  } catch (error) {
    await redis.close();
    throw error;
  }
  if (!cluster.isWorker) logger.info({ url: `http://${settings.server.host}:${(server.address() as AddressInfo).port}` }, 'hitcounter is listening');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: cancelling load tests, finishing in-flight requests');
    // Load tests send to this very server, so they stop first, while it still answers them.
    await services.stopJobs().catch((error: unknown) => logger.error({ err: error }, 'could not record cancelled load tests'));
    const force = setTimeout(() => server.closeAllConnections(), settings.server.shutdownTimeoutMs);
    const closed = once(server, 'close');
    // Live feeds (/stats/stream) never end by themselves: ending them lets their connections close.
    services.closeStreams();
    server.close();
    server.closeIdleConnections();
    // Also those still sending their request (or nothing at all), which Node counts as active.
    server.closeQuietConnections();
    await closed;
    clearTimeout(force);
    // Write-behind's last flush (every acknowledged hit reaches Redis before the connection
    // closes), then every service's timers and listeners.
    await services.close();
    await redis.close();
    await onStopped();
    logger.info('stopped');
    // Everything this server opened is closed now, and the process ends by itself once the event
    // loop is empty. Should a handle outlive the stop (seen rarely on Redis Cluster, with a node
    // connection reopening as the client quits), the stop still completes: the handles left are
    // logged, by kind only, and the process exits. Unref'd: it never holds the process itself.
    setTimeout(() => {
      logger.warn({ handles: process.getActiveResourcesInfo() }, 'still running 5 s after the stop; exiting');
      process.exit(0);
    }, EXIT_GRACE_MS).unref();
  };
  // on, not once: Ctrl-C reaches a worker twice (from the terminal and from the primary).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void shutdown(signal));
}

/**
 * With server.workers > 1 this process is the primary: it owns the embedded Redis, forks the
 * workers (node:cluster shares the port between them), replaces a worker that dies, and on
 * SIGINT/SIGTERM lets every worker finish before it stops Redis.
 */
async function supervise(workers: number, logger: Logger, url: string, stopRedis: () => Promise<void>, settings: Readonly<Settings>): Promise<void> {
  let stopping = false;
  // A scrape reaches one worker; the primary gathers and sums every worker's metrics for it.
  serveClusterMetrics(settings.metrics.cacheMs);
  const loadgenSecret = randomUUID();
  const fork = () => cluster.fork({ REDIS_URL: url, [LOADGEN_SECRET_ENV]: loadgenSecret });
  for (let i = 0; i < workers; i++) fork();
  let listening = 0;
  const listened = new Set<number>();
  cluster.on('listening', (worker, address) => {
    listened.add(worker.id);
    if (++listening === workers) logger.info({ url: `http://${settings.server.host}:${address.port}`, workers }, 'hitcounter is listening');
  });
  let failure: string | undefined;
  cluster.on('message', (_worker, message: { type?: string; message?: string }) => {
    if (message?.type === START_FAILED) failure ??= message.message;
  });
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const alive = Object.values(cluster.workers ?? {}).filter((w) => w && !w.isDead());
    await Promise.all(alive.map((worker) => new Promise((resolve) => {
      worker!.once('exit', resolve);
      worker!.process.kill(signal);
    })));
    await stopRedis();
    logger.info('stopped');
  };
  // A worker that never listened would fail the same way again (the port is taken, a setting is
  // wrong): forking another would loop forever, so everything stops instead.
  const startFailed = async (worker: Worker, code: number | null, signal: string | null) => {
    process.exitCode = 1;
    // Its message comes over IPC, which is read to the end before the worker counts as disconnected.
    const told = worker.isConnected() ? once(worker, 'disconnect') : undefined;
    const stopped = shutdown('SIGTERM');
    await told;
    console.error(failure ?? `hitcounter: a worker stopped before it could listen (code ${code}, signal ${signal}); not starting another.`);
    await stopped;
  };
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    if (!listened.has(worker.id)) return void startFailed(worker, code, signal);
    logger.error({ pid: worker.process.pid, code, signal }, 'a worker died; starting another');
    fork();
  });
  // on, not once: Ctrl-C reaches a worker twice (from the terminal and from the primary).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void shutdown(signal));
}

async function main(): Promise<void> {
  const settings = loadSettings();
  const logger = createLogger(settings.log.level);
  if (cluster.isWorker) {
    const loadgenSecret = process.env[LOADGEN_SECRET_ENV];
    // Not passed on to anything this process starts.
    delete process.env[LOADGEN_SECRET_ENV];
    // A worker's IPC channel would keep it alive after it stopped: letting go of it lets it exit.
    return serve(settings, logger.child({ worker: cluster.worker!.id }), settings.redis.url, async () => { cluster.worker!.disconnect(); }, loadgenSecret);
  }

  // Once per start, from the primary: a bad auth.tokenFile stops everything before any worker starts.
  if (!loadAdminToken(settings.auth.tokenFile)) {
    logger.warn(`no admin token configured (${TOKEN_ENV} or auth.tokenFile): admin endpoints answer loopback clients only`);
  }
  const clusterNodes = settings.redis.cluster.nodes;
  const { url, child } = settings.redis.url || clusterNodes.length > 0
    ? { url: settings.redis.url, child: undefined }
    : await embeddedRedis(settings, logger);
  const stopRedis = async () => { await child?.stop(); };
  const workers = settings.server.workers === 'auto' ? availableParallelism() : settings.server.workers;
  if (workers > 1) return supervise(workers, logger, url, stopRedis, settings);
  return serve(settings, logger, url, stopRedis).catch(async (error: unknown) => {
    await stopRedis();
    throw error;
  });
}

function failureMessage(error: unknown): string {
  if (error instanceof SettingsError || error instanceof EmbeddedRedisError) return `hitcounter: ${error.message}`;
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return `hitcounter: ${(error as Error).message}. Another process holds the port; set PORT to use a different one.`;
  }
  return inspect(error);
}

main().catch((error: unknown) => {
  process.exitCode = 1;
  const message = failureMessage(error);
  // A worker leaves the telling to the primary: every worker fails alike, and it is said once.
  if (cluster.isWorker && process.connected) process.send!({ type: START_FAILED, message }, () => cluster.worker!.disconnect());
  else console.error(message);
});
