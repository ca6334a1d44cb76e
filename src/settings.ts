// settings.json is the one source of truth for configuration; environment variables
// override single fields of it. Everything is validated once, at start-up, so a bad
// value stops the server with a message naming the field instead of failing later.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import proxyaddr from 'proxy-addr';
import { z } from 'zod';
import { SettingsError } from './errors.js';
import { DISTRIBUTIONS } from './loadgen/paths.js';
import { loopbackUrl } from './loadgen/target.js';

const int = (min: number, max: number) =>
  z.number({ error: `expected an integer from ${min} to ${max}` })
    .int({ error: `expected an integer from ${min} to ${max}` })
    .min(min, { error: `expected an integer from ${min} to ${max}` })
    .max(max, { error: `expected an integer from ${min} to ${max}` });
const port = int(1, 65535);
const bool = z.boolean({ error: 'expected true or false' });
// A route group's rate limits: every window applies; none means unlimited.
const windows = z.array(z.strictObject({ points: int(1, 1_000_000_000), durationSeconds: int(1, 31_536_000) }), {
  error: 'expected a list of {"points": n, "durationSeconds": s} windows',
});
const ms = int(1, 3_600_000);
// Methods /api/* may count (api.countMethods); OPTIONS never counts.
export const COUNTABLE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'TRACE', 'PROPFIND', 'SEARCH', 'REPORT', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'PURGE', 'QUERY'] as const;
// An address or a CIDR range, IPv4 or IPv6, as proxy-addr reads it (it is what uses the list).
const validProxy = (entry: string) => {
  try {
    proxyaddr.compile([entry]);
    return true;
  } catch {
    return false;
  }
};
const proxies = z.array(z.string(), { error: 'expected a list of IP addresses or CIDR ranges, such as ["127.0.0.1/8", "::1/128"]' })
  .refine((list) => list.every(validProxy), { error: 'expected a list of IP addresses or CIDR ranges, such as ["127.0.0.1/8", "::1/128"]' });

const schema = z.strictObject({
  server: z.strictObject({
    host: z.string().min(1, { error: 'expected a host name or IP address' }),
    // 0: any free port, the one taken is logged.
    port: int(0, 65535),
    // From env the number arrives as a string; "auto" means one worker per CPU.
    workers: z.union([z.literal('auto'), z.coerce.number().pipe(int(1, 256))], { error: 'expected "auto" (one per CPU) or an integer from 1 to 256' }),
    trustProxy: bool,
    maxHeaderBytes: int(1024, 1_048_576),
    maxUrlBytes: int(256, 1_048_576),
    maxBodyBytes: int(64, 10_485_760),
    maxJsonDepth: int(1, 100),
    shutdownTimeoutMs: ms,
    // With trustProxy: the peers whose X-Forwarded-For is believed (see clientip.ts).
    trustedProxies: proxies,
    headersTimeoutMs: ms,
    requestTimeoutMs: ms,
    keepAliveTimeoutMs: ms,
    maxConnections: int(1, 1_000_000),
  }),
  auth: z.strictObject({
    tokenFile: z.string(),
    protectStats: bool,
  }),
  redis: z.strictObject({
    url: z.union([
      z.literal(''),
      z.string().regex(/^rediss?:\/\//, { error: 'expected a redis:// or rediss:// URL, or "" for the embedded Redis' }),
    ]),
    tlsCaFile: z.string(),
    key: z.string().min(1, { error: 'expected a non-empty key name' }),
    keyPrefix: z.string(),
    commandTimeoutMs: ms,
    connectTimeoutMs: ms,
    ledgerTtlSeconds: int(60, 31_536_000),
    statsPageSize: int(1, 100_000),
    // Seed nodes of a Redis Cluster; when given, `url` and the embedded Redis are not used.
    cluster: z.strictObject({
      nodes: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, { error: 'expected host:port' }), { error: 'expected a list of host:port' }),
    }),
    // How many sorted sets the ranking is spread over (1: the single `key`); see hits/shards.ts.
    shards: int(1, 1024),
    durability: z.enum(['local', 'replicated'], { error: 'expected local or replicated' }),
    replicationTimeoutMs: ms,
    embedded: z.strictObject({
      port,
      dataDir: z.string().min(1, { error: 'expected a directory path' }),
      appendfsync: z.enum(['always', 'everysec', 'no'], { error: 'expected one of always, everysec, no' }),
      startTimeoutMs: ms,
    }),
  }),
  writeBehind: z.strictObject({
    enabled: bool,
    flushIntervalMs: int(1, 60_000),
  }),
  loadtest: z.strictObject({
    maxRequests: int(1, 100_000_000),
    maxConcurrency: int(1, 10_000),
    defaultConcurrency: int(1, 10_000),
    maxRate: int(1, 10_000_000),
    batchSize: int(1, 1_000_000),
    distribution: z.enum(DISTRIBUTIONS, { error: `expected one of ${DISTRIBUTIONS.join(', ')}` }),
    zipfExponent: z.number({ error: 'expected a number from 0 to 10' }).min(0, { error: 'expected a number from 0 to 10' }).max(10, { error: 'expected a number from 0 to 10' }),
    paths: int(1, 100_000_000),
    maxPaths: int(1, 100_000_000),
    requestTimeoutMs: ms,
    maxLagMs: ms,
    target: z.string().refine((value) => value === '' || loopbackUrl(value) !== undefined, {
      error: 'expected "" (this server) or a loopback http URL such as http://127.0.0.1:5000',
    }),
    maxRunningJobs: int(1, 1000),
    jobTtlSeconds: int(1, 31_536_000),
    progressIntervalMs: int(50, 60_000),
    // Worker threads of a run: "auto" is one per spare core (all but one, at least one).
    threads: z.union([z.literal('auto'), z.coerce.number().pipe(int(1, 256))], { error: 'expected "auto" (one per spare core) or an integer from 1 to 256' }),
    // How long a run's worker threads stay after it, so that the next run's requests find got's code
    // compiled (thread.ts GeneratorThreads); 0: they exit after each run.
    keepWarmMs: int(0, 86_400_000),
    // The longest a run (all its stages) or a search step may last, and the most stages a run may have.
    maxDurationMs: int(1000, 86_400_000),
    maxStages: int(1, 1000),
  }),
  analytics: z.strictObject({
    buckets: bool,
    visitors: bool,
    // The floors keep every named window coverable (test/windows.ts proves it for these): a 1h
    // window reaches back up to an hour of minutes, 24h up to a day of hours, 30d 31 days of days.
    minuteTtlSeconds: int(3600, 315_360_000),
    hourTtlSeconds: int(86_400, 315_360_000),
    dayTtlSeconds: int(2_678_400, 315_360_000),
    visitorTtlSeconds: int(86_400, 315_360_000),
    windowCacheSeconds: int(1, 3600),
    // Custom ?from=&to= windows whose unions may be cached at once; past it, a new one gets 503.
    maxCachedWindows: int(1, 10_000),
  }),
  events: z.strictObject({
    enabled: bool,
    maxLength: int(1, 1_000_000_000),
    // What one event entry keeps of the hit's path, Referer and User-Agent (bytes; longer is cut).
    maxPathBytes: int(16, 2048),
    maxReferrerBytes: int(0, 8192),
    maxUserAgentBytes: int(0, 8192),
  }),
  // What /api/* counts (see routes/api.ts and README "Guarantees").
  api: z.strictObject({
    countMethods: z.array(z.enum(COUNTABLE_METHODS, { error: `expected a list of methods among ${COUNTABLE_METHODS.join(', ')}` }), { error: `expected a list of methods among ${COUNTABLE_METHODS.join(', ')}` })
      .min(1, { error: 'expected at least one method' }),
    // Distinct paths the ranking may hold; a new path past it is refused (403). 0: no cap.
    maxPaths: int(0, 1_000_000_000),
    bots: z.enum(['count', 'separate', 'refuse'], { error: 'expected count, separate or refuse' }),
    // Hits per client IP per window, in memory of each process; 0 points: no limit.
    floodLimit: z.strictObject({
      points: int(0, 1_000_000_000),
      durationSeconds: int(1, 3600),
      exemptLoopback: bool,
    }),
  }),
  rateLimits: z.strictObject({
    api: windows,
    read: windows,
    write: windows,
  }),
  metrics: z.strictObject({
    // 0: every scrape aggregates afresh.
    cacheMs: int(0, 60_000),
  }),
  // Which browsers on other origins may call which routes (@koa/cors). Admin routes never.
  cors: z.strictObject({
    // Allowed origins (scheme://host[:port]), or ["*"] for any; [] keeps CORS off.
    origins: z.array(z.string().refine((value) => value === '*' || /^https?:\/\/[^/\s]+$/.test(value), { error: 'expected "*" or origins such as https://example.com' }), { error: 'expected a list of origins' }),
    credentials: bool,
    // count: /api/*, the pixel, the badge, the trackers' endpoints; read: /stats…, /events…, /health; stream: /stats/stream.
    routes: z.array(z.enum(['count', 'read', 'stream'], { error: 'expected a list among count, read, stream' }), { error: 'expected a list among count, read, stream' }),
  }),
  // gzip/brotli of JSON, CSV and the dashboard's files (koa-compress); streams stay streamed.
  compression: z.strictObject({
    enabled: bool,
    thresholdBytes: int(0, 1_000_000),
  }),
  // Counting from web pages: the pixel, the badge, the trackers people already use.
  web: z.strictObject({
    pixel: bool,
    badge: z.strictObject({
      // Whether viewing a badge counts a hit for its path.
      countsHit: bool,
      // A visitor's views of one badge within this window count once.
      dedupeSeconds: int(0, 31_536_000),
      // Cache-Control max-age of the image (README image proxies cache it this long).
      cacheSeconds: int(0, 31_536_000),
    }),
    plausible: z.strictObject({ enabled: bool, endpoint: z.string().regex(/^\/[\w./-]*$/, { error: 'expected a path such as /plausible/api/event' }) }),
    umami: z.strictObject({ enabled: bool }),
    // Which site a tracked hit belongs to: domain and/or website id → the prefix under /api.
    sites: z.array(z.strictObject({
      domain: z.string().optional(),
      websiteId: z.string().optional(),
      prefix: z.string().regex(/^(\/[^/\s]+)*$/, { error: 'expected "" or a path such as /example.com' }),
    }), { error: 'expected a list of {domain, websiteId, prefix}' }),
  }),
  // POST /hits: batched ingestion for servers counting on behalf of others.
  batch: z.strictObject({
    maxHits: int(1, 10_000),
    idempotencyTtlSeconds: int(60, 31_536_000),
  }),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'expected one of fatal, error, warn, info, debug, trace, silent',
    }),
  }),
}).superRefine((s, ctx) => {
  // Node refuses a server whose headers may take longer than the whole request.
  if (s.server.headersTimeoutMs > s.server.requestTimeoutMs) {
    ctx.addIssue({ code: 'custom', path: ['server', 'headersTimeoutMs'], message: `expected at most server.requestTimeoutMs (${s.server.requestTimeoutMs})` });
  }
  if (s.loadtest.paths > s.loadtest.maxPaths) {
    ctx.addIssue({ code: 'custom', path: ['loadtest', 'paths'], message: `expected at most loadtest.maxPaths (${s.loadtest.maxPaths})` });
  }
  if (s.loadtest.defaultConcurrency > s.loadtest.maxConcurrency) {
    ctx.addIssue({
      code: 'custom',
      path: ['loadtest', 'defaultConcurrency'],
      message: `expected at most loadtest.maxConcurrency (${s.loadtest.maxConcurrency})`,
    });
  }
});

export type Settings = z.infer<typeof schema>;

/** Environment variable → the settings.json field it overrides. The README's table is checked against this. */
export const ENV_OVERRIDES = {
  HOST: 'server.host',
  PORT: 'server.port',
  WORKERS: 'server.workers',
  TRUST_PROXY: 'server.trustProxy',
  MAX_HEADER_BYTES: 'server.maxHeaderBytes',
  MAX_URL_BYTES: 'server.maxUrlBytes',
  MAX_BODY_BYTES: 'server.maxBodyBytes',
  MAX_JSON_DEPTH: 'server.maxJsonDepth',
  SHUTDOWN_TIMEOUT_MS: 'server.shutdownTimeoutMs',
  TRUSTED_PROXIES: 'server.trustedProxies',
  HEADERS_TIMEOUT_MS: 'server.headersTimeoutMs',
  REQUEST_TIMEOUT_MS: 'server.requestTimeoutMs',
  KEEP_ALIVE_TIMEOUT_MS: 'server.keepAliveTimeoutMs',
  MAX_CONNECTIONS: 'server.maxConnections',
  AUTH_TOKEN_FILE: 'auth.tokenFile',
  AUTH_PROTECT_STATS: 'auth.protectStats',
  REDIS_URL: 'redis.url',
  REDIS_TLS_CA_FILE: 'redis.tlsCaFile',
  REDIS_KEY: 'redis.key',
  REDIS_KEY_PREFIX: 'redis.keyPrefix',
  REDIS_COMMAND_TIMEOUT_MS: 'redis.commandTimeoutMs',
  REDIS_CONNECT_TIMEOUT_MS: 'redis.connectTimeoutMs',
  REDIS_LEDGER_TTL_SECONDS: 'redis.ledgerTtlSeconds',
  REDIS_STATS_PAGE_SIZE: 'redis.statsPageSize',
  REDIS_CLUSTER_NODES: 'redis.cluster.nodes',
  REDIS_SHARDS: 'redis.shards',
  REDIS_DURABILITY: 'redis.durability',
  REDIS_REPLICATION_TIMEOUT_MS: 'redis.replicationTimeoutMs',
  REDIS_EMBEDDED_PORT: 'redis.embedded.port',
  REDIS_DATA_DIR: 'redis.embedded.dataDir',
  REDIS_APPENDFSYNC: 'redis.embedded.appendfsync',
  REDIS_START_TIMEOUT_MS: 'redis.embedded.startTimeoutMs',
  WRITE_BEHIND: 'writeBehind.enabled',
  WRITE_BEHIND_FLUSH_MS: 'writeBehind.flushIntervalMs',
  LOADTEST_MAX_REQUESTS: 'loadtest.maxRequests',
  LOADTEST_MAX_CONCURRENCY: 'loadtest.maxConcurrency',
  LOADTEST_CONCURRENCY: 'loadtest.defaultConcurrency',
  LOADTEST_MAX_RATE: 'loadtest.maxRate',
  LOADTEST_BATCH_SIZE: 'loadtest.batchSize',
  LOADTEST_DISTRIBUTION: 'loadtest.distribution',
  LOADTEST_ZIPF_EXPONENT: 'loadtest.zipfExponent',
  LOADTEST_PATHS: 'loadtest.paths',
  LOADTEST_MAX_PATHS: 'loadtest.maxPaths',
  LOADTEST_REQUEST_TIMEOUT_MS: 'loadtest.requestTimeoutMs',
  LOADTEST_MAX_LAG_MS: 'loadtest.maxLagMs',
  LOADTEST_TARGET: 'loadtest.target',
  LOADTEST_MAX_RUNNING_JOBS: 'loadtest.maxRunningJobs',
  LOADTEST_JOB_TTL_SECONDS: 'loadtest.jobTtlSeconds',
  LOADTEST_PROGRESS_INTERVAL_MS: 'loadtest.progressIntervalMs',
  LOADTEST_THREADS: 'loadtest.threads',
  LOADTEST_KEEP_WARM_MS: 'loadtest.keepWarmMs',
  LOADTEST_MAX_DURATION_MS: 'loadtest.maxDurationMs',
  LOADTEST_MAX_STAGES: 'loadtest.maxStages',
  ANALYTICS_BUCKETS: 'analytics.buckets',
  ANALYTICS_VISITORS: 'analytics.visitors',
  ANALYTICS_MINUTE_TTL_SECONDS: 'analytics.minuteTtlSeconds',
  ANALYTICS_HOUR_TTL_SECONDS: 'analytics.hourTtlSeconds',
  ANALYTICS_DAY_TTL_SECONDS: 'analytics.dayTtlSeconds',
  ANALYTICS_VISITOR_TTL_SECONDS: 'analytics.visitorTtlSeconds',
  ANALYTICS_WINDOW_CACHE_SECONDS: 'analytics.windowCacheSeconds',
  ANALYTICS_MAX_CACHED_WINDOWS: 'analytics.maxCachedWindows',
  EVENTS_ENABLED: 'events.enabled',
  EVENTS_MAX_LENGTH: 'events.maxLength',
  EVENTS_MAX_PATH_BYTES: 'events.maxPathBytes',
  EVENTS_MAX_REFERRER_BYTES: 'events.maxReferrerBytes',
  EVENTS_MAX_USER_AGENT_BYTES: 'events.maxUserAgentBytes',
  API_COUNT_METHODS: 'api.countMethods',
  API_MAX_PATHS: 'api.maxPaths',
  API_BOTS: 'api.bots',
  API_FLOOD_LIMIT: 'api.floodLimit',
  RATE_LIMITS: 'rateLimits',
  METRICS_CACHE_MS: 'metrics.cacheMs',
  CORS_ORIGINS: 'cors.origins',
  CORS_CREDENTIALS: 'cors.credentials',
  CORS_ROUTES: 'cors.routes',
  COMPRESSION_ENABLED: 'compression.enabled',
  COMPRESSION_THRESHOLD_BYTES: 'compression.thresholdBytes',
  WEB_PIXEL: 'web.pixel',
  WEB_BADGE: 'web.badge',
  WEB_PLAUSIBLE: 'web.plausible',
  WEB_UMAMI: 'web.umami',
  WEB_SITES: 'web.sites',
  BATCH_MAX_HITS: 'batch.maxHits',
  BATCH_IDEMPOTENCY_TTL_SECONDS: 'batch.idempotencyTtlSeconds',
  LOG_LEVEL: 'log.level',
} as const;

/** The directory that holds settings.json; relative paths in it are relative to here. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SETTINGS_FILE = resolve(PROJECT_ROOT, 'settings.json');

type Json = Record<string, unknown>;

function lookup(root: Json, path: string): { parent: Json; leaf: string } {
  const parts = path.split('.');
  const leaf = parts.pop()!;
  let parent = root;
  for (const part of parts) parent = parent[part] as Json;
  return { parent, leaf };
}

// An env value takes the JSON type of the value it replaces: numbers stay numbers, booleans take
// true/false/1/0, objects are given as JSON, and lists as JSON or comma-separated.
// A value that does not convert is passed on as the raw string, for the schema to reject by name.
function coerce(raw: string, like: unknown): unknown {
  const trimmed = raw.trim();
  if (typeof like === 'number') return trimmed !== '' && Number.isFinite(Number(trimmed)) ? Number(trimmed) : raw;
  if (typeof like === 'boolean') return trimmed === 'true' || trimmed === '1' ? true : trimmed === 'false' || trimmed === '0' ? false : raw;
  if (Array.isArray(like) && !trimmed.startsWith('[')) return trimmed === '' ? [] : trimmed.split(',').map((item) => item.trim());
  if (typeof like === 'object' && like !== null) {
    try {
      return JSON.parse(trimmed);
    } catch {
      return raw;
    }
  }
  return raw;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parses settings from a JSON object plus env overrides.
 * Throws SettingsError naming the first bad field (and the env var it came from, if any).
 */
export function parseSettings(json: unknown, env: NodeJS.ProcessEnv = {}): Readonly<Settings> {
  const merged = structuredClone(json) as Json;
  const fromEnv = new Map<string, string>();
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const raw = env[name];
    if (raw === undefined) continue;
    const { parent, leaf } = lookup(merged, path);
    if (parent === undefined || typeof parent !== 'object') continue; // the schema reports the missing section
    parent[leaf] = coerce(raw, parent[leaf]);
    fromEnv.set(path, name);
  }
  const result = schema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.join('.') || '(root)';
    const source = fromEnv.has(field) ? ` (from env ${fromEnv.get(field)})` : '';
    let got = '';
    if (issue.code !== 'unrecognized_keys' && issue.path.length > 0) {
      const { parent, leaf } = lookup(merged, field);
      got = `, got ${JSON.stringify(parent?.[leaf]) ?? 'nothing'}`;
    }
    const what = issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message;
    throw new SettingsError(`Invalid setting \`${field}\`${source}: ${what}${got}`);
  }
  return deepFreeze(result.data);
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env, file = env.HITCOUNTER_SETTINGS ?? SETTINGS_FILE): Readonly<Settings> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new SettingsError(`Cannot read settings from ${file}: ${(error as Error).message}`);
  }
  return parseSettings(json, env);
}
