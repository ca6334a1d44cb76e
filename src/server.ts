// Process entry: settings → Redis (embedded or REDIS_URL) → listen → graceful shutdown.
// The only module that calls listen().
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createApp } from './app.js';
import { loadAdminToken, TOKEN_ENV } from './auth.js';
import { EmbeddedRedisError, SettingsError } from './errors.js';
import { createHttpServer } from './http.js';
import { createLogger } from './logger.js';
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

async function main(): Promise<void> {
  const settings = loadSettings();
  const logger = createLogger(settings.log.level);
  const { url, child } = settings.redis.url
    ? { url: settings.redis.url, child: undefined }
    : await embeddedRedis(settings, logger);

  const redis = new RedisConnection({
    url,
    commandTimeoutMs: settings.redis.commandTimeoutMs,
    connectTimeoutMs: settings.redis.connectTimeoutMs,
    tlsCa: readTlsCa(settings.redis.tlsCaFile),
  });
  logConnectionChanges(redis, url, logger);
  try {
    await redis.connect();
    await warnIfNotDurable(redis, logger);
  } catch (error) {
    logger.warn({ err: error }, 'Redis is not reachable yet; /health answers 503 and hits get 503 until it is');
  }

  const adminToken = loadAdminToken(settings.auth.tokenFile);
  if (!adminToken) {
    logger.warn(`no admin token configured (${TOKEN_ENV} or auth.tokenFile): admin endpoints answer loopback clients only`);
  }
  const app = createApp({ settings, redis, logger, adminToken });
  const server = createHttpServer(app, { maxHeaderBytes: settings.server.maxHeaderBytes });
  const stopChild = () => child?.stop();
  try {
    server.listen(settings.server.port, settings.server.host);
    await once(server, 'listening');
  } catch (error) {
    await Promise.all([redis.close(), stopChild()]);
    throw error;
  }
  logger.info({ url: `http://${settings.server.host}:${settings.server.port}` }, 'hitcounter is listening');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: cancelling load tests, finishing in-flight requests');
    // Load tests send to this very server, so they stop first, while it still answers them.
    await app.stopJobs().catch((error) => logger.error({ err: error }, 'could not record cancelled load tests'));
    const force = setTimeout(() => server.closeAllConnections(), settings.server.shutdownTimeoutMs);
    const closed = once(server, 'close');
    server.close();
    server.closeIdleConnections();
    await closed;
    clearTimeout(force);
    await redis.close();
    await stopChild();
    logger.info('stopped');
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void shutdown(signal));
}

main().catch((error: unknown) => {
  if (error instanceof SettingsError || error instanceof EmbeddedRedisError) {
    console.error(`hitcounter: ${error.message}`);
  } else if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    console.error(`hitcounter: ${(error as Error).message}. Another process holds the port; set PORT to use a different one.`);
  } else {
    console.error(error);
  }
  process.exitCode = 1;
});
