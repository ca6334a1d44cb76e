// Prometheus metrics (prom-client), one registry per app: tests build many apps in one process,
// and prom-client's global registry refuses a metric name registered twice.
//
// Under node:cluster (server.workers > 1) every worker has its own registry, and a scrape lands
// on whichever worker the primary hands the connection to. So a worker answers /metrics with
// every worker's metrics summed by the primary (prom-client's AggregatorRegistry; see
// serveClusterMetrics), never with its own share alone. A worker that dies and is replaced starts
// its counters at zero, so the sums dip once: Prometheus' rate() reads that as a counter reset.
import cluster from 'node:cluster';
import type Router from '@koa/router';
import type { Redis } from 'ioredis';
import type { Middleware, ParameterizedContext } from 'koa';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ServiceUnavailableError } from './errors.js';
import { storeFigures, type HitStore, type HitStoreMetrics } from './hits/store.js';
import type { ExecuteLoad } from './loadgen/thread.js';

const PREFIX = 'hitcounter_';
// A hit takes well under a millisecond when Redis is near: the default buckets start too high.
const SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_SIZES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
// Node's parser accepts a few dozen methods; only these are worth a series of their own.
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const HIT_FAILURES: Record<number, string> = { 400: 'invalid_path', 414: 'path_too_long', 429: 'rate_limited', 503: 'unavailable' };
const LOAD_OUTCOMES = ['succeeded', 'failed', 'dropped'] as const;
// hitcounter_hits_refused_total's reasons (routes/api.ts sets ctx.state.refusal).
const REFUSALS = ['path_cap', 'method', 'bot', 'flood_limit', 'rate_limit', 'redis_oom', 'redis_refused'] as const;
const KNOWN_REFUSALS = new Set<string>(REFUSALS);
// Longer than AggregatorRegistry's own 5 s, so the primary's error arrives before ours fires.
const CLUSTER_TIMEOUT_MS = 6000;
// prom-client's default collectors make three gauges that end in _total, which Prometheus
// reserves for counters (promtool check metrics flags them). Each is the sum over the labelled
// gauge of the same name without the suffix (e.g. sum(hitcounter_nodejs_active_handles)), so
// they are dropped rather than kept under another name.
const GAUGES_NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * One text per interval: calls within cacheMs of the last computation (or while it runs) share
 * its result, so a flood of scrapes costs one aggregation per interval. cacheMs 0: none shared
 * but those running at once.
 */
function cached(compute: () => Promise<string>, cacheMs: number): () => Promise<string> {
  let last: { text: Promise<string>; at: number; settled: boolean } | undefined;
  return () => {
    const now = performance.now();
    if (last && (now - last.at < cacheMs || !last.settled)) return last.text;
    const entry = { text: compute(), at: now, settled: false };
    // A failure is not kept: the next scrape tries again.
    entry.text.then(() => { entry.settled = true; }, () => { entry.settled = true; if (last === entry) last = undefined; });
    last = entry;
    return entry.text;
  };
}

// Patterns whose first word would mislead. The live feed's durations are connection lifetimes:
// under `stats` they would swamp the latency of the ranking.
const GROUPS = new Map([['/', 'dashboard'], ['/openapi.json', 'docs'], ['/stats/stream', 'stream']]);

/** A route pattern's group: its first word (`/api{/*rest}` → api, `/stats.csv` → stats), or GROUPS'. */
function groupOf(pattern: unknown): string | undefined {
  if (typeof pattern !== 'string') return undefined;
  return GROUPS.get(pattern) ?? /^\/([A-Za-z0-9_-]+)/.exec(pattern)?.[1] ?? 'root';
}

export class Metrics {
  readonly registry = new Registry();
  readonly #redis: Redis;
  #router: Router | undefined;
  #defaults = false;
  readonly #scrape: () => Promise<string>;

  readonly #requests = new Counter({ name: `${PREFIX}http_requests_total`, help: 'HTTP requests answered, by route group, method and status', labelNames: ['route', 'method', 'status'] as const, registers: [this.registry] });
  readonly #duration = new Histogram({ name: `${PREFIX}http_request_duration_seconds`, help: 'Time from a request\'s arrival until its response was written or its client left, by route group, method and status', labelNames: ['route', 'method', 'status'] as const, buckets: SECONDS, registers: [this.registry] });
  readonly #hits = new Counter({ name: `${PREFIX}hits_counted_total`, help: 'Hits acknowledged with a 2xx by /api/*', registers: [this.registry] });
  readonly #hitsFailed = new Counter({ name: `${PREFIX}hits_failed_total`, help: 'Requests to /api/* that counted nothing, by reason', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly #hitsRefused = new Counter({ name: `${PREFIX}hits_refused_total`, help: 'Requests to /api/* refused by a control, counted nothing: path_cap (api.maxPaths), method (api.countMethods), bot (api.bots), flood_limit (api.floodLimit), rate_limit (rateLimits.api), redis_oom (Redis at maxmemory), redis_refused (Redis refusing writes for now)', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly #ingest = new Counter({ name: `${PREFIX}ingest_hits_total`, help: 'Hits offered through each way of counting (source: api, pixel, badge, plausible, umami, batch), by outcome (accepted, dropped) and the reason of a drop', labelNames: ['source', 'outcome', 'reason'] as const, registers: [this.registry] });
  readonly #redisDuration = new Histogram({ name: `${PREFIX}redis_command_duration_seconds`, help: 'Round trips to Redis: record_hits and add_hits pipelines of hit batches, record_batch calls of POST /hits, and the ping of each scrape', labelNames: ['command', 'outcome'] as const, buckets: SECONDS, registers: [this.registry] });
  readonly #batchHits = new Histogram({ name: `${PREFIX}redis_batch_hits`, help: 'Hits per pipeline sent to Redis', labelNames: ['command'] as const, buckets: BATCH_SIZES, registers: [this.registry] });
  readonly #jobsActive = new Gauge({ name: `${PREFIX}loadgen_jobs_active`, help: 'Load-test runs this process is running (each step of a breaking-point search is a run)', registers: [this.registry] });
  readonly #jobsFinished = new Counter({ name: `${PREFIX}loadgen_jobs_finished_total`, help: 'Load-test runs this process ran, by outcome (each step of a breaking-point search is a run)', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly #loadRequests = new Counter({ name: `${PREFIX}loadgen_requests_total`, help: 'Requests of the built-in load generator, by outcome, warm-ups included', labelNames: ['outcome'] as const, registers: [this.registry] });

  constructor(redis: Redis, { cacheMs = 0 }: MetricsOptions = {}) {
    this.#redis = redis;
    this.#scrape = cached(() => {
      if (cluster.isWorker) return askPrimary();
      this.#enableDefaults();
      return this.registry.metrics();
    }, cacheMs);
    const metrics = this;
    new Gauge({
      name: `${PREFIX}redis_up`, help: '1 when the Redis connection is ready and answered a PING during this scrape, else 0', registers: [this.registry],
      // Across workers the lowest: 1 only when every worker can reach Redis.
      aggregator: 'min',
      async collect() { this.set(await metrics.#ping()); },
    });
    // Known label values start at 0, so that rate() sees their first increase.
    for (const reason of [...Object.values(HIT_FAILURES), 'rejected', 'error']) this.#hitsFailed.inc({ reason }, 0);
    for (const reason of REFUSALS) this.#hitsRefused.inc({ reason }, 0);
    for (const outcome of LOAD_OUTCOMES) this.#loadRequests.inc({ outcome }, 0);
    for (const outcome of ['done', 'cancelled', 'failed']) this.#jobsFinished.inc({ outcome }, 0);
    // A worker's registry is read by the primary through prom-client's IPC listener, which never
    // calls scrape(): it has to be complete from the start.
    if (cluster.isWorker) {
      this.#enableDefaults();
      new AggregatorRegistry(); // installs the listener that answers the primary
      AggregatorRegistry.setRegistries([this.registry]);
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The text exposition: this process's metrics, or under node:cluster every worker's, summed;
   * the same text for metrics.cacheMs.
   */
  scrape(): Promise<string> {
    return this.#scrape();
  }

  // On first scrape, not at creation: each call starts a GC observer and an event-loop-delay
  // timer that never stop, and tests create dozens of apps that are never scraped.
  #enableDefaults(): void {
    if (this.#defaults) return;
    this.#defaults = true;
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    for (const name of GAUGES_NAMED_LIKE_COUNTERS) this.registry.removeSingleMetric(`${PREFIX}${name}`);
  }

  async #ping(): Promise<number> {
    if (this.#redis.status !== 'ready') return 0;
    const started = performance.now();
    try {
      await this.#redis.ping();
      this.#redisDuration.observe({ command: 'ping', outcome: 'ok' }, (performance.now() - started) / 1000);
      return 1;
    } catch {
      this.#redisDuration.observe({ command: 'ping', outcome: 'error' }, (performance.now() - started) / 1000);
      return 0;
    }
  }

  /** The router whose paths name the group of requests it never matched (404, 405, 414, 429). */
  groupsFrom(router: Router): void {
    this.#router = router;
  }

  /** The stores' figures, summed (see storeFigures); the stores report their batches to `hitStore` themselves. */
  watchStores(stores: readonly HitStore[]): void {
    new Gauge({ name: `${PREFIX}hits_unresolved`, help: 'Hits answered 503 whose command Redis may still have applied', registers: [this.registry], collect() { this.set(storeFigures(stores).unresolved); } });
    new Gauge({ name: `${PREFIX}hits_pending`, help: 'Write-behind hits acknowledged but not yet known to be in Redis', registers: [this.registry], collect() { this.set(storeFigures(stores).pendingHits); } });
    new Counter({
      name: `${PREFIX}hits_retracted_total`, help: 'Hits taken back because Redis applied them after their client was answered 503', registers: [this.registry],
      // The store keeps the running total; a counter can only add, so it is set by reset + inc.
      collect() { this.reset(); this.inc(storeFigures(stores).retracted); },
    });
  }

  /** One hit offered by a source: accepted (counted), or dropped and why (bot, invalid, unknown_site, rate_limit, duplicate, …). */
  ingest(source: string, outcome: 'accepted' | 'dropped', reason = ''): void {
    this.#ingest.inc({ source, outcome, reason });
  }

  readonly hitStore: HitStoreMetrics = {
    flushed: (command, seconds, hits, ok) => {
      this.#redisDuration.observe({ command, outcome: ok ? 'ok' : 'error' }, seconds);
      this.#batchHits.observe({ command }, hits);
    },
  };

  /** Wraps the load executor so that every run's requests and lifetime are counted. */
  timeLoad(execute: ExecuteLoad): ExecuteLoad {
    return (plan, onProgress) => {
      // Progress and the report carry running totals: only what is new since the last one is added.
      const seen = { succeeded: 0, failed: 0, dropped: 0 };
      const account = (totals: typeof seen) => {
        for (const outcome of LOAD_OUTCOMES) {
          const added = totals[outcome] - seen[outcome];
          if (added > 0) this.#loadRequests.inc({ outcome }, added);
          seen[outcome] = Math.max(seen[outcome], totals[outcome]);
        }
      };
      const execution = execute(plan, (progress) => {
        account(progress);
        onProgress(progress);
      });
      this.#jobsActive.inc();
      const result = execution.result.then(
        (outcome) => {
          // Every request sent, the warm-up's too: the report's own figures leave the warm-up out.
          const { report } = outcome;
          const warmup = report.warmup ?? { succeeded: 0, failed: 0, dropped: 0 };
          account({ succeeded: report.succeeded + warmup.succeeded, failed: report.failed + warmup.failed, dropped: report.dropped + warmup.dropped });
          this.#jobsActive.dec();
          this.#jobsFinished.inc({ outcome: report.cancelled ? 'cancelled' : 'done' });
          return outcome;
        },
        (error: unknown) => {
          this.#jobsActive.dec();
          this.#jobsFinished.inc({ outcome: 'failed' });
          throw error;
        },
      );
      return { stop: () => execution.stop(), result };
    };
  }

  #routeOf(ctx: ParameterizedContext): string {
    const routed = ctx as ParameterizedContext & { _matchedRoute?: unknown; matched?: Array<{ path: unknown; methods: string[] }> };
    // _matchedRoute is set when path and method matched; matched alone (405) has the path's layers.
    const matched = groupOf(routed._matchedRoute) ?? groupOf(routed.matched?.find((layer) => layer.methods.length > 0)?.path);
    if (matched) return matched;
    // Never reached the router: a group only if some route has that first word, so clients
    // cannot mint label values.
    const first = groupOf(ctx.path);
    return first && this.#router?.stack.some((layer) => groupOf(layer.path) === first) ? first : 'other';
  }

  /** Counts and times every request; must run outside errorHandler to see the status it sets. */
  readonly http: Middleware = (ctx, next) => {
    const started = performance.now();
    // 'close', not the end of next(): streamed bodies (/stats, SSE) are still being written then.
    ctx.res.once('close', () => {
      const route = this.#routeOf(ctx);
      const status = ctx.status;
      const labels = { route, method: METHODS.has(ctx.method) ? ctx.method : 'other', status: String(status) };
      this.#requests.inc(labels);
      this.#duration.observe(labels, (performance.now() - started) / 1000);
      if (route !== 'api' || ctx.method === 'OPTIONS') return;
      if (status >= 200 && status < 300) this.#hits.inc();
      else if (status >= 400) {
        this.#hitsFailed.inc({ reason: HIT_FAILURES[status] ?? (status >= 500 ? 'error' : 'rejected') });
        const refusal = ctx.state.refusal ?? (status === 429 ? 'rate_limit' : undefined);
        if (refusal !== undefined && KNOWN_REFUSALS.has(refusal)) this.#hitsRefused.inc({ reason: refusal });
      }
    });
    return next();
  };
}

export interface MetricsOptions {
  /** metrics.cacheMs: how long one scrape's text answers the next ones. */
  cacheMs?: number;
}

export function createMetrics(redis: Redis, options?: MetricsOptions): Metrics {
  return new Metrics(redis, options);
}

const SCRAPE_REQUEST = 'hitcounter:metrics-request';
const SCRAPE_REPLY = 'hitcounter:metrics-reply';
interface ScrapeMessage { type?: unknown; id: number; text?: string; error?: string }

/** In the cluster primary: answers a worker's scrape with all workers' metrics, aggregated. */
export function serveClusterMetrics(cacheMs = 0): void {
  const aggregator = new AggregatorRegistry();
  // Every worker's scrapes come here: one aggregation per interval for the whole cluster.
  const aggregate = cached(() => aggregator.clusterMetrics(), cacheMs);
  cluster.on('message', (worker, message: ScrapeMessage) => {
    if (message?.type !== SCRAPE_REQUEST) return;
    const reply = (answer: Omit<ScrapeMessage, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: SCRAPE_REPLY, id: message.id, ...answer });
    };
    aggregate().then((text) => reply({ text }), (error: Error) => reply({ error: error.message }));
  });
}

const waiting = new Map<number, (reply: ScrapeMessage) => void>();
let lastId = 0;
let listening = false;

function onReply(message: ScrapeMessage): void {
  if (message?.type === SCRAPE_REPLY) waiting.get(message.id)?.(message);
}

function askPrimary(): Promise<string> {
  if (!listening) process.on('message', onReply);
  listening = true;
  return new Promise((resolve, reject) => {
    const id = ++lastId;
    const fail = (why: string) => {
      clearTimeout(timer);
      waiting.delete(id);
      reject(new ServiceUnavailableError(`Metrics of all workers are unavailable: ${why}`));
    };
    const timer = setTimeout(() => fail('the primary process did not answer in time'), CLUSTER_TIMEOUT_MS);
    waiting.set(id, (reply) => {
      if (reply.error !== undefined) return fail(reply.error);
      clearTimeout(timer);
      waiting.delete(id);
      resolve(reply.text ?? '');
    });
    process.send!({ type: SCRAPE_REQUEST, id }, (error: Error | null) => { if (error) fail(error.message); });
  });
}
