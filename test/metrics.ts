import { Agent } from 'node:http';
import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import got from 'got';
import type { MetricFamily } from 'parse-prometheus-text-format';
import type { Job, JobReport } from '../src/loadgen/jobs.js';

type RunJob = Job<JobReport>;
import { startApp, type TestApp, withApp } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';
import { hammer } from './helpers/load.js';
import { assertOnlyExpected, assertReportAddsUp } from './helpers/outcomes.js';
import { spawnServer } from './helpers/process.js';
import { Exposition } from './helpers/prometheus.js';
import { startLocalRedis } from './helpers/redis.js';

async function scrape(t: ExecutionContext, app: Pick<TestApp, 'http'>): Promise<Exposition> {
  const response = await app.http.get('metrics', { responseType: 'text' });
  t.is(response.statusCode, 200, response.body);
  t.regex(response.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
  return new Exposition(response.body);
}

const FAMILIES: Record<string, MetricFamily['type']> = {
  hitcounter_http_requests_total: 'COUNTER',
  hitcounter_http_request_duration_seconds: 'HISTOGRAM',
  hitcounter_hits_counted_total: 'COUNTER',
  hitcounter_hits_failed_total: 'COUNTER',
  hitcounter_hits_unresolved: 'GAUGE',
  hitcounter_hits_pending: 'GAUGE',
  hitcounter_hits_retracted_total: 'COUNTER',
  hitcounter_redis_up: 'GAUGE',
  hitcounter_redis_command_duration_seconds: 'HISTOGRAM',
  hitcounter_redis_batch_hits: 'HISTOGRAM',
  hitcounter_loadgen_jobs_active: 'GAUGE',
  hitcounter_loadgen_jobs_finished_total: 'COUNTER',
  hitcounter_loadgen_requests_total: 'COUNTER',
  // A few of collectDefaultMetrics', which share the prefix.
  hitcounter_process_cpu_user_seconds_total: 'COUNTER',
  hitcounter_process_resident_memory_bytes: 'GAUGE',
  hitcounter_nodejs_eventloop_lag_seconds: 'GAUGE',
  hitcounter_nodejs_heap_size_used_bytes: 'GAUGE',
  hitcounter_nodejs_gc_duration_seconds: 'HISTOGRAM',
};

test('GET /metrics parses as Prometheus text, with every family, its type, and one prefix', withApp, async (t, app) => {
  await app.http.get('api/first');
  const response = await app.http.get('metrics', { responseType: 'text' });
  t.is(response.headers['cache-control'], 'no-store');
  const metrics = await scrape(t, app);
  for (const [name, type] of Object.entries(FAMILIES)) t.is(metrics.families.get(name)?.type, type, name);
  t.deepEqual([...metrics.families.keys()].filter((name) => !name.startsWith('hitcounter_')), []);
  t.deepEqual(metrics.families.get('hitcounter_loadgen_requests_total')?.metrics.map((sample) => sample.labels?.outcome).sort(), ['dropped', 'failed', 'succeeded']);
});

test('known traffic moves the counters and histograms by exactly that much', withApp, async (t, app) => {
  const before = await scrape(t, app);
  for (let i = 0; i < 7; i++) t.is((await app.http.get('api/x')).statusCode, 200);
  for (let i = 0; i < 3; i++) t.is((await app.http.post('api/y')).statusCode, 200);
  t.is((await app.http.get('api/%zz')).statusCode, 400);
  for (let i = 0; i < 2; i++) t.is((await app.http.get('stats')).statusCode, 200);
  t.is((await app.http('api/x', { method: 'OPTIONS' })).statusCode, 204, 'counts nothing');
  const after = await scrape(t, app);

  const counted = (m: Exposition, labels: Record<string, string>) => m.value('hitcounter_http_requests_total', labels);
  const timed = (m: Exposition, labels: Record<string, string>) => m.histogram('hitcounter_http_request_duration_seconds', labels).count;
  const delta = (read: (m: Exposition) => number) => read(after) - read(before);

  t.is(delta((m) => m.value('hitcounter_hits_counted_total')), 10);
  t.is(delta((m) => m.value('hitcounter_hits_failed_total', { reason: 'invalid_path' })), 1);
  t.is(delta((m) => m.value('hitcounter_hits_failed_total')), 1);
  for (const [labels, expected] of [
    [{ route: 'api', status: '200' }, 10],
    [{ route: 'api', method: 'GET', status: '200' }, 7],
    [{ route: 'api', method: 'POST', status: '200' }, 3],
    [{ route: 'api', status: '400' }, 1],
    [{ route: 'api', method: 'OPTIONS', status: '204' }, 1],
    [{ route: 'stats', method: 'GET', status: '200' }, 2],
    // The first scrape itself; the second is counted once its response is written.
    [{ route: 'metrics', method: 'GET', status: '200' }, 1],
  ] as const) {
    t.is(delta((m) => counted(m, labels)), expected, JSON.stringify(labels));
    t.is(delta((m) => timed(m, labels)), expected, `histogram ${JSON.stringify(labels)}`);
  }
  t.is(delta((m) => counted(m, {})), 15);
  t.true(after.histogram('hitcounter_http_request_duration_seconds', { route: 'stats' }).sum > 0);

  t.is(after.value('hitcounter_redis_up'), 1);
  const batches = after.histogram('hitcounter_redis_batch_hits', { command: 'record_hits' });
  t.is(batches.sum, 10, 'every acknowledged hit went through a measured batch');
  const flushes = after.histogram('hitcounter_redis_command_duration_seconds', { command: 'record_hits', outcome: 'ok' });
  t.is(flushes.count, batches.count);
  t.true(flushes.count >= 1 && flushes.sum > 0);
  t.is(after.histogram('hitcounter_redis_command_duration_seconds', { outcome: 'error' }).count, 0);
  t.true(after.histogram('hitcounter_redis_command_duration_seconds', { command: 'ping', outcome: 'ok' }).count >= 1, 'the first scrape pinged');
});

test('requests the router never matched are labelled by a known group or `other`, never by their path', withApp, async (t, app) => {
  const before = await scrape(t, app);
  t.is((await app.http.get('nowhere/at/all')).statusCode, 404);
  t.is((await app.http.get(`x${randomUUID()}`)).statusCode, 404);
  t.is((await app.http.post('health')).statusCode, 405);
  t.is((await app.http.get('stats/nothing/here')).statusCode, 404);
  const after = await scrape(t, app);
  const delta = (labels: Record<string, string>) => after.value('hitcounter_http_requests_total', labels) - before.value('hitcounter_http_requests_total', labels);
  t.is(delta({ route: 'other', status: '404' }), 2);
  t.is(delta({ route: 'health', method: 'POST', status: '405' }), 1);
  t.is(delta({ route: 'stats', status: '404' }), 1);
  const routes = new Set(after.families.get('hitcounter_http_requests_total')!.metrics.map((sample) => sample.labels?.route));
  t.deepEqual([...routes].sort(), ['health', 'metrics', 'other', 'stats']);
});

test('a load job counts its requests by outcome, and active jobs return to 0', withApp, async (t, app) => {
  const before = await scrape(t, app);
  const response = await app.http.post<JobReport>('test/50?concurrency=5');
  t.is(response.statusCode, 200);
  t.is(response.body.succeeded, 50);
  assertReportAddsUp(t, response.body);
  const after = await scrape(t, app);
  const delta = (name: string, labels: Record<string, string> = {}) => after.value(name, labels) - before.value(name, labels);
  t.is(delta('hitcounter_loadgen_requests_total', { outcome: 'succeeded' }), 50);
  t.is(delta('hitcounter_loadgen_requests_total', { outcome: 'failed' }), 0);
  t.is(delta('hitcounter_loadgen_requests_total', { outcome: 'dropped' }), 0);
  t.is(delta('hitcounter_loadgen_jobs_finished_total', { outcome: 'done' }), 1);
  t.is(after.value('hitcounter_loadgen_jobs_active'), 0);
  t.is(delta('hitcounter_hits_counted_total'), 50, 'the generator hits this very server');
  t.is(delta('hitcounter_http_requests_total', { route: 'test', method: 'POST', status: '200' }), 1);
});

test('a running job shows as active; cancelled, it is counted as such and active returns to 0', withApp, async (t, app) => {
  // Far more requests than it will send before the cancel, however slow the machine: it is
  // still running when the test looks at it.
  const started = await app.http.post<RunJob>('test/1000000?rate=20&concurrency=5&async=1');
  t.is(started.statusCode, 202);
  const active = await eventually(async () => (await scrape(t, app)).value('hitcounter_loadgen_jobs_active'), { what: 'the job to show as active' });
  t.is(active, 1);
  const cancelled = await app.http.delete<RunJob>(`test/jobs/${started.body.id}`);
  t.is(cancelled.statusCode, 200);
  const report = cancelled.body.report!;
  t.true(report.cancelled);
  assertReportAddsUp(t, report);
  const after = await scrape(t, app);
  t.is(after.value('hitcounter_loadgen_jobs_active'), 0);
  t.is(after.value('hitcounter_loadgen_jobs_finished_total', { outcome: 'cancelled' }), 1);
  t.is(after.value('hitcounter_loadgen_requests_total', { outcome: 'succeeded' }), report.succeeded);
  t.is(after.value('hitcounter_loadgen_requests_total'), report.completed + report.dropped);
  t.true(report.completed < 1_000_000);
});

test('write-behind flushes are measured as add_hits, with every acknowledged hit in a batch', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.writeBehind.enabled = true; } });
  for (let i = 0; i < 5; i++) t.is((await app.http.get(`api/later/${i % 2}`)).statusCode, 200);
  const batchedHits = (m: Exposition) => m.histogram('hitcounter_redis_batch_hits', { command: 'add_hits' }).sum;
  // Flushed every flushIntervalMs, whenever that comes on this machine.
  const metrics = await eventually(async () => {
    const m = await scrape(t, app);
    return batchedHits(m) >= 5 ? m : undefined;
  }, { what: 'five hits flushed in add_hits batches' });
  t.is(batchedHits(metrics), 5);
  t.is(metrics.value('hitcounter_hits_counted_total'), 5);
  t.is(metrics.value('hitcounter_hits_pending'), 0);
  t.true(metrics.histogram('hitcounter_redis_command_duration_seconds', { command: 'add_hits', outcome: 'ok' }).count >= 1);
  t.is(metrics.histogram('hitcounter_redis_command_duration_seconds', { command: 'record_hits' }).count, 0);
});

test('with Redis gone, /metrics still answers: Redis down, hits failed as unavailable', async (t) => {
  const local = await startLocalRedis();
  t.teardown(() => local.stop());
  const app = await startApp(t, local.url);
  t.is((await app.http.get('api/before')).statusCode, 200);
  t.is((await scrape(t, app)).value('hitcounter_redis_up'), 1);
  await local.process!.kill();
  t.is((await app.http.get('api/during')).statusCode, 503);
  const during = await scrape(t, app);
  t.is(during.value('hitcounter_redis_up'), 0);
  t.is(during.value('hitcounter_hits_failed_total', { reason: 'unavailable' }), 1);
  t.is(during.value('hitcounter_hits_counted_total'), 1);
  t.is(during.value('hitcounter_http_requests_total', { route: 'api', status: '503' }), 1);
});

test('/metrics is read like /stats: with auth.protectStats it needs the admin token', async (t) => {
  const token = 'metrics-test-token';
  const app = await startApp(t, { deps: { adminToken: token }, tweak: (s) => { s.auth.protectStats = true; } });
  const refused = await app.http.get('metrics');
  t.is(refused.statusCode, 401);
  t.deepEqual(refused.body, { error: 'Admin token required: send Authorization: Bearer <token>' });
  const allowed = await app.http.get('metrics', { headers: { authorization: `Bearer ${token}` }, responseType: 'text' });
  t.is(allowed.statusCode, 200);
  t.true(new Exposition(allowed.body).families.has('hitcounter_hits_counted_total'));
});

test('under two cluster workers, any worker answers with the sum of both', async (t) => {
  t.timeout(300_000);
  const local = await startLocalRedis();
  t.teardown(() => local.stop());
  const server = spawnServer({ REDIS_URL: local.url, REDIS_KEY_PREFIX: `test:${randomUUID()}:`, WORKERS: '2' });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const outcomes = await hammer(server.url(), { concurrency: 10, requests: 200, prefix: 'cluster', keepAlive: false });
  assertOnlyExpected(t, outcomes, { sent: 200 });
  t.is(outcomes.ok(), 200, 'every request a 2xx: what each scrape below must count');
  // A fresh connection per scrape, so the primary hands them to both workers.
  const agent = new Agent({ keepAlive: false });
  t.teardown(() => agent.destroy());
  for (let i = 0; i < 6; i++) {
    const metrics = await scrape(t, { http: got.extend({ prefixUrl: server.url(), agent: { http: agent }, throwHttpErrors: false, retry: { limit: 0 } }) });
    t.is(metrics.value('hitcounter_hits_counted_total'), 200);
    t.is(metrics.value('hitcounter_http_requests_total', { route: 'api', status: '200' }), 200);
    t.is(metrics.histogram('hitcounter_redis_batch_hits', { command: 'record_hits' }).sum, 200);
    t.is(metrics.value('hitcounter_redis_up'), 1);
  }
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0, 'the metrics IPC does not keep a worker alive');
});

test('promtool\'s naming rule holds: counters end in _total, and nothing else does', withApp, async (t, app) => {
  const metrics = await scrape(t, app);
  t.true(metrics.families.size > 20, 'the default collectors are in');
  for (const [name, family] of metrics.families) {
    if (family.type === 'COUNTER') t.true(name.endsWith('_total'), `counter ${name}`);
    else t.false(name.endsWith('_total'), `${family.type.toLowerCase()} ${name}`);
  }
  // What the dropped totals were is the sum of the labelled gauges of the same name.
  t.true(metrics.families.has('hitcounter_nodejs_active_handles'));
});

test('scrapes within metrics.cacheMs share one computation: the same text, whatever happened between', async (t) => {
  // A minute: the scrapes below follow each other within milliseconds; a machine slow enough to
  // take a minute between two local requests would fail every other test first.
  const app = await startApp(t, { tweak: (s) => { s.metrics.cacheMs = 60_000; } });
  const first = await app.http.get('metrics', { responseType: 'text' });
  t.is(first.statusCode, 200);
  t.is((await app.http.get('api/between')).statusCode, 200);
  const flood = await Promise.all(Array.from({ length: 20 }, () => app.http.get('metrics', { responseType: 'text' })));
  for (const response of flood) t.is(response.body, first.body);
  t.is(new Exposition(first.body).value('hitcounter_hits_counted_total'), 0, 'the hit after the first scrape is not in the cached text');
});

test('with metrics.cacheMs 0 every scrape is fresh', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.metrics.cacheMs = 0; } });
  t.is((await scrape(t, app)).value('hitcounter_hits_counted_total'), 0);
  t.is((await app.http.get('api/between')).statusCode, 200);
  t.is((await scrape(t, app)).value('hitcounter_hits_counted_total'), 1);
});
