import test from 'ava';
import type { Job, JobReport } from '../src/loadgen/jobs.js';

type RunJob = Job<JobReport>;
import type { LoadReport } from '../src/loadgen/merge.js';
import { startApp, withApp } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';
import { assertReportAddsUp } from './helpers/outcomes.js';

type Row = { path: string; hits: number };
const sum = (rows: Row[]) => rows.reduce((total, row) => total + row.hits, 0);

test('POST /test/2000: the sum of /stats grows by exactly `succeeded`', withApp, async (t, app) => {
  await app.http.get('api/already/here');
  const before = sum((await app.http.get<Row[]>('stats')).body);
  const response = await app.http.post<LoadReport>('test/2000?concurrency=20');
  t.is(response.statusCode, 200);
  const report = response.body;
  t.is(report.requested, 2000);
  t.is(report.completed, 2000);
  assertReportAddsUp(t, report);
  t.is(report.succeeded, 2000);
  t.deepEqual(report.statusCodes, { '200': 2000 });
  t.deepEqual(report.errors, {});
  const after = sum((await app.http.get<Row[]>('stats')).body);
  t.is(after, before + report.succeeded);
  t.is(report.distinctPaths, (await app.store.distinctPaths()) - 1);
});

test('the report has every documented field, with sane figures', withApp, async (t, app) => {
  const { body: report } = await app.http.post<JobReport>('test/300?concurrency=10&seed=5');
  t.deepEqual(Object.keys(report).sort(), [
    'cancelled', 'completed', 'concurrency', 'counted', 'distinctPaths', 'distribution', 'dropped', 'durationMs', 'errors',
    'failed', 'finishedAt', 'generator', 'latencyMs', 'model', 'non2xx', 'paths', 'perSecond', 'rate', 'requested', 'requestsPerSecond',
    'seed', 'stages', 'startedAt', 'statusCodes', 'succeeded', 'target', 'warmup', 'warnings',
  ]);
  t.like(report, { model: 'closed', rate: null, concurrency: 10, seed: 5, distribution: 'zipf', paths: 1000, target: app.url, dropped: 0, non2xx: 0, cancelled: false });
  assertReportAddsUp(t, report);
  t.true(report.durationMs > 0);
  // The ISO times carry whole milliseconds; durationMs carries fractions.
  t.true(Math.abs(Date.parse(report.finishedAt) - Date.parse(report.startedAt) - report.durationMs) <= 1);
  t.true(Math.abs(report.requestsPerSecond - (report.completed / report.durationMs) * 1000) < 0.01 * report.requestsPerSecond);
  t.is(report.perSecond.reduce((a, b) => a + b, 0), report.completed);
  const { min, mean, p50, p90, p99, p99_9, max, stddev } = report.latencyMs;
  t.true(min > 0 && min <= p50 && p50 <= p90 && p90 <= p99 && p99 <= p99_9 && p99_9 <= max * 1.001, JSON.stringify(report.latencyMs));
  t.true(min <= mean && mean <= max, `the mean lies between min and max: ${JSON.stringify(report.latencyMs)}`);
  // No spread can exceed half the range (Popoviciu); figures are rounded to the microsecond.
  t.true(stddev <= (max - min) / 2 + 0.001, `stddev within half the range: ${JSON.stringify(report.latencyMs)}`);
});

test('counted == succeeded on an isolated run, and the report says so', withApp, async (t, app) => {
  const { body: report } = await app.http.post<JobReport>('test/1500?concurrency=30&distribution=uniform&paths=200');
  assertReportAddsUp(t, report);
  t.is(report.succeeded, 1500);
  t.is(report.counted.hits, 1500);
  t.true(report.counted.equalsSucceeded);
  t.regex(report.counted.note, /only when nothing else hit those paths/);
});

test('the open model paces requests at the target rate, never faster', async (t) => {
  // A generous maxLagMs: this test is about pacing, and a busy test machine must not turn into drops.
  const app = await startApp(t, { tweak: (s) => { s.loadtest.maxLagMs = 60_000; } });
  const { body: report } = await app.http.post<JobReport>('test/600?rate=300&concurrency=20');
  t.like(report, { model: 'open', rate: 300, succeeded: 600, dropped: 0 });
  t.deepEqual(report.statusCodes, { '200': 600 });
  // Only lower bounds on time: a slow machine makes a run longer, never shorter, so none of these
  // can fail for want of speed. (How long a run takes is the benchmark's business; the exact
  // pacing is test/open-model.ts's.)
  // Request 599 is due 599/300 s in, and nothing is sent before it is due.
  t.true(report.durationMs >= (599 * 1000) / 300, `took ${report.durationMs} ms`);
  t.true(report.requestsPerSecond <= 300 * 1.01, `${report.requestsPerSecond} req/s is faster than the rate`);
  // Never faster in any stretch either: by the end of second s of the run at most the 300·(s+1)
  // requests due before then can have completed.
  let completed = 0;
  report.perSecond.forEach((count, second) => {
    completed += count;
    t.true(completed <= 300 * (second + 1), `${completed} requests completed within ${second + 1} s`);
  });
  t.is(completed, 600);
});

test('the same seed replays the same paths', async (t) => {
  const first = await startApp(t);
  const second = await startApp(t);
  await first.http.post('test/500?seed=1234');
  await second.http.post('test/500?seed=1234');
  t.deepEqual((await second.http.get<Row[]>('stats')).body, (await first.http.get<Row[]>('stats')).body);
  const third = await startApp(t);
  await third.http.post('test/500?seed=4321');
  t.notDeepEqual((await third.http.get<Row[]>('stats')).body, (await first.http.get<Row[]>('stats')).body);
});

test('without a seed the server picks one and reports it, so the run can be replayed', async (t) => {
  const app = await startApp(t, { deps: { seedSource: () => 99 } });
  const { body } = await app.http.post<LoadReport>('test/10');
  t.is(body.seed, 99);
});

test('paths repeat, so /stats shows a ranking', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.loadtest.paths = 50; } });
  const { body: report } = await app.http.post<LoadReport>('test/1000?seed=3');
  t.true(report.distinctPaths <= 50);
  const rows = (await app.http.get<Row[]>('stats')).body;
  t.is(rows.length, report.distinctPaths, 'the ranking holds exactly the paths the run hit');
  t.is(sum(rows), report.succeeded);
  t.true(rows[0]!.hits > rows.at(-1)!.hits);
});

test('options may come as a JSON body; the query wins', withApp, async (t, app) => {
  const { body } = await app.http.post<LoadReport>('test/20?seed=8', { json: { concurrency: 3, seed: 1 } });
  t.is(body.concurrency, 3);
  t.is(body.seed, 8);
});

const badRequests: Array<[path: string, error: string, body?: unknown]> = [
  ['test/0', 'Expected `n` to be an integer from 1 to 1000000'],
  ['test/1000001', 'Expected `n` to be an integer from 1 to 1000000'],
  ['test/-5', 'Expected `n` to be an integer from 1 to 1000000'],
  ['test/abc', 'Expected `n` to be an integer from 1 to 1000000'],
  ['test/1.5', 'Expected `n` to be an integer from 1 to 1000000'],
  ['test/10?concurrency=0', 'Expected `concurrency` to be an integer from 1 to 1000'],
  ['test/10?concurrency=1001', 'Expected `concurrency` to be an integer from 1 to 1000'],
  ['test/10?rate=0', 'Expected `rate` to be an integer from 1 to 100000'],
  ['test/10?rate=fast', 'Expected `rate` to be an integer from 1 to 100000'],
  ['test/10?distribution=normal', 'Expected `distribution` to be one of: uniform, zipf'],
  ['test/10?paths=0', 'Expected `paths` to be an integer from 1 to 1000000'],
  ['test/10?paths=1000001', 'Expected `paths` to be an integer from 1 to 1000000'],
  ['test/10?seed=-1', 'Expected `seed` to be an integer from 0 to 4294967295'],
  ['test/10?seed=4294967296', 'Expected `seed` to be an integer from 0 to 4294967295'],
  ['test/10?target=http://example.com', 'Expected `target` to be a loopback http URL such as http://127.0.0.1:5000'],
  ['test/10?target=http://10.0.0.1:5000', 'Expected `target` to be a loopback http URL such as http://127.0.0.1:5000'],
  ['test/10?target=ftp://127.0.0.1', 'Expected `target` to be a loopback http URL such as http://127.0.0.1:5000'],
  ['test/10?target=http://127.0.0.1:5000/api', 'Expected `target` to be a loopback http URL such as http://127.0.0.1:5000'],
  ['test/10?async=maybe', 'Expected `async` to be 1, 0, true or false'],
  ['test/10?concurency=5', 'Unknown parameter `concurency`; expected one of: concurrency, rate, warmupMs, distribution, paths, seed, target, async'],
  ['test/10', 'Expected `concurrency` to be an integer from 1 to 1000', { concurrency: 'lots' }],
  ['test/10', 'Expected the JSON body to be an object', [1, 2]],
];

for (const [path, error, json] of badRequests) {
  test(`POST /${path}${json ? ` with body ${JSON.stringify(json)}` : ''} is a 400 that sends nothing`, async (t) => {
    const app = await startApp(t);
    const response = await app.http.post(path, json === undefined ? {} : { json });
    t.is(response.statusCode, 400);
    t.deepEqual(response.body, { error });
    t.is(await app.totalHits(), 0);
  });
}

test('a malformed JSON body is a 400 in the error shape', withApp, async (t, app) => {
  const response = await app.http.post('test/10', { body: '{"concurrency":', headers: { 'content-type': 'application/json' } });
  t.is(response.statusCode, 400);
  t.is(typeof (response.body as unknown as { error: unknown }).error, 'string');
  t.is(await app.totalHits(), 0);
});

test('maxRequests comes from settings', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.loadtest.maxRequests = 100; } });
  t.deepEqual((await app.http.post('test/101')).body, { error: 'Expected `n` to be an integer from 1 to 100' });
  t.is((await app.http.post('test/100')).statusCode, 200);
});

test('the server keeps answering other requests while a load test runs', withApp, async (t, app) => {
  // A run far longer than the checks, so they come while it runs however slow the machine is.
  const load = app.http.post<JobReport>('test/1000000?concurrency=50');
  // Awaited below; this handler only keeps a failure before then (a wait that timed out, then the
  // teardown closing the app under the request) from surfacing as an unhandled rejection.
  load.catch(() => undefined);
  const job = await eventually(async () => (await app.http.get<RunJob[]>('test/jobs')).body.find((j) => (j.progress?.completed ?? 0) > 0), { intervalMs: 100, what: 'the load test to be under way' });
  // The point is that the server answers at all, not how fast (that belongs to the benchmark): one
  // that the load blocked would answer only once the run was over, and the status below says not.
  for (let i = 0; i < 5; i++) t.is((await app.http.get('health')).statusCode, 200);
  t.is((await app.http.get<RunJob>(`test/jobs/${job.id}`)).body.status, 'running', 'the checks were answered while the load test was still running');
  t.is((await app.http.delete(`test/jobs/${job.id}`)).statusCode, 200);
  const report = (await load).body;
  t.true(report.cancelled);
  assertReportAddsUp(t, report);
  t.is(report.counted.hits, report.succeeded);
});

test('a load test stops when its client goes away, and is recorded as cancelled', withApp, async (t, app) => {
  const controller = new AbortController();
  const load = app.http.post('test/1000000?concurrency=10&rate=500', { signal: controller.signal });
  load.catch(() => undefined); // awaited below, as above
  await eventually(async () => (await app.totalHits()) > 0, { what: 'the first hits of the load test' });
  controller.abort();
  await t.throwsAsync(load);
  const job = await eventually(async () => {
    const [newest] = (await app.http.get<RunJob[]>('test/jobs')).body;
    return newest?.status === 'cancelled' ? newest : undefined;
  }, { timeoutMs: 120_000, intervalMs: 100, what: 'the job to be recorded as cancelled' });
  const report = job.report!;
  assertReportAddsUp(t, report);
  t.true(report.completed < 1_000_000);
  // A job is recorded only after its requests settled and its connections closed (runLoad destroys
  // its agent before it reports): the server's count at the finish, and ours after it, must both
  // be the report's successes. A request still on its way would show in ours.
  t.is(report.counted.hits, report.succeeded, 'counted by the server when the run finished');
  t.is(await app.totalHits(), report.succeeded, 'every success in the report, and nothing else, was counted, and nothing arrived after');
});
