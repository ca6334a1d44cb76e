import test from 'ava';
import type { Job, JobReport } from '../src/loadgen/jobs.js';

type RunJob = Job<JobReport>;
import { startApp, type TestApp, withApp } from './helpers/app.js';
import { ManualClock } from './helpers/clock.js';
import { eventually } from './helpers/eventually.js';
import { assertReportAddsUp } from './helpers/outcomes.js';

/** Polls a job until `until` holds. Every 100 ms: the polls count against the read rate limit. */
async function waitForJob(app: Pick<TestApp, 'http'>, id: string, until: (job: RunJob) => boolean): Promise<RunJob> {
  let last: RunJob | undefined;
  try {
    return await eventually(async () => {
      last = (await app.http.get<RunJob>(`test/jobs/${id}`)).body;
      return until(last) ? last : undefined;
    }, { timeoutMs: 120_000, intervalMs: 100, what: `job ${id}` });
  } catch (error) {
    throw new Error(`${(error as Error).message}: ${JSON.stringify(last)}`);
  }
}

// Paced: a job that stays running for hours without taking the CPU the other tests need.
const LONG = 'test/1000000?concurrency=5&rate=200&async=1';

test('async: 202 with Location; progress while running; the report when done', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.loadtest.progressIntervalMs = 100; } });
  const started = await app.http.post<RunJob>('test/3000?concurrency=5&async=1&seed=3');
  t.is(started.statusCode, 202);
  t.is(started.headers.location, `/test/jobs/${started.body.id}`);
  t.is(started.body.status, 'queued');
  t.like(started.body, { kind: 'run', search: null });
  t.like(started.body.plan, { seed: 3, stages: [{ warmup: false, requests: 3000, concurrency: 5, rate: null, durationMs: null }] });

  const running = await waitForJob(app, started.body.id, (job) => (job.progress?.completed ?? 0) > 0);
  t.true(['running', 'done'].includes(running.status));
  t.is(typeof running.progress!.requestsPerSecond, 'number');
  t.is(typeof running.progress!.p99, 'number');

  const done = await waitForJob(app, started.body.id, (job) => job.status === 'done');
  t.like(done.report, { requested: 3000, succeeded: 3000, cancelled: false });
  assertReportAddsUp(t, done.report!);
  t.true(done.report!.counted.equalsSucceeded);
  t.is(done.progress!.completed, 3000);
  t.true(Date.parse(done.finishedAt!) >= Date.parse(done.startedAt!), `started ${done.startedAt}, finished ${done.finishedAt}`);
});

test('`Prefer: respond-async` also makes a job asynchronous', withApp, async (t, app) => {
  const response = await app.http.post<RunJob>('test/50', { headers: { prefer: 'respond-async' } });
  t.is(response.statusCode, 202);
  const done = await waitForJob(app, response.body.id, (job) => job.status === 'done');
  t.like(done.report, { requested: 50, succeeded: 50 });
});

test('DELETE cancels a running job; in-flight requests settle and every success is counted', withApp, async (t, app) => {
  const { body: job } = await app.http.post<RunJob>(LONG);
  // Under way, with requests answered, so that there is something in flight to settle.
  await waitForJob(app, job.id, (j) => j.status === 'running' && (j.progress?.completed ?? 0) > 0);
  const cancelled = await app.http.delete<RunJob>(`test/jobs/${job.id}`);
  t.is(cancelled.statusCode, 200);
  t.is(cancelled.body.status, 'cancelled');
  const report = cancelled.body.report!;
  t.true(report.cancelled);
  assertReportAddsUp(t, report);
  t.true(report.completed > 0 && report.completed < 1_000_000);
  t.is(report.counted.hits, report.succeeded, 'the server counted exactly what the report says succeeded');
  t.is((await app.http.get<RunJob>(`test/jobs/${job.id}`)).body.status, 'cancelled');

  const again = await app.http.delete(`test/jobs/${job.id}`);
  t.is(again.statusCode, 409);
  t.deepEqual(again.body, { error: `Load test job ${job.id} has already finished (cancelled)` });
});

test('a run of n requests stops at loadtest.maxDurationMs (plus one request timeout), says so, and counts exactly; its stage ends where it stopped', async (t) => {
  // Long enough that a worker thread started on a slow machine still sends some of the run.
  const app = await startApp(t, { tweak: (s) => { s.loadtest.maxDurationMs = 4000; s.loadtest.requestTimeoutMs = 1000; } });
  // 1,000,000 requests at 200/s would take 83 minutes: only the time limit can end it.
  const { body: job } = await app.http.post<RunJob>(LONG);
  const done = await waitForJob(app, job.id, (j) => j.status !== 'queued' && j.status !== 'running');
  t.is(done.status, 'cancelled', 'as at a shutdown: stopped before the end of its plan');
  const report = done.report!;
  t.true(report.cancelled);
  assertReportAddsUp(t, report);
  t.true(report.completed > 0 && report.completed < 1_000_000, `completed ${report.completed}`);
  t.deepEqual(report.warnings.filter((w) => w.startsWith('Stopped at')), [
    `Stopped at loadtest.maxDurationMs (4000 ms) after ${report.completed} requests, the warm-up's included: the run did not finish its plan, and its figures cover what it sent.`,
  ]);
  t.is(report.counted.hits, report.succeeded, 'the server counted exactly what the report says succeeded');
  // Not before the limit and its grace, counted from the job's start (its thread's start-up
  // included): the run was not cut short of what the bound allows. Its stage ends where it stopped,
  // not where its schedule (5,000 s) would have.
  t.true(Date.parse(done.finishedAt!) - Date.parse(done.startedAt!) >= 5000, `${done.startedAt} → ${done.finishedAt}`);
  const [stage] = report.stages;
  t.true(Date.parse(stage!.finishedAt) <= Date.parse(report.finishedAt), `${stage!.finishedAt} vs ${report.finishedAt}`);
  t.true(stage!.durationMs <= report.durationMs, `${stage!.durationMs} ms`);
});

test('unknown and malformed job ids are 404', withApp, async (t, app) => {
  const unknown = '00000000-0000-4000-8000-000000000000';
  t.deepEqual((await app.http.get(`test/jobs/${unknown}`)).body, { error: `No load test job ${unknown}` });
  t.is((await app.http.get(`test/jobs/${unknown}`)).statusCode, 404);
  t.is((await app.http.delete(`test/jobs/${unknown}`)).statusCode, 404);
  t.is((await app.http.get('test/jobs/not-a-job')).statusCode, 404);
});

test('GET /test/jobs lists jobs newest first; each job expires after jobTtlSeconds', async (t) => {
  const clock = new ManualClock();
  const app = await startApp(t, { deps: { clock }, tweak: (s) => { s.loadtest.jobTtlSeconds = 600; } });
  const first = (await app.http.post<RunJob>('test/10?async=1')).body;
  clock.advance(1000);
  const second = (await app.http.post<RunJob>('test/10?async=1')).body;
  await waitForJob(app, first.id, (job) => job.status === 'done');
  await waitForJob(app, second.id, (job) => job.status === 'done');
  const list = await app.http.get<RunJob[]>('test/jobs');
  t.deepEqual(list.body.map((job) => job.id), [second.id, first.id]);
  t.deepEqual((await app.http.get<RunJob[]>('test/jobs?limit=1')).body.map((job) => job.id), [second.id]);
  // Redis counts the TTL down on its own clock: a minute of slack for a slow run still tells
  // jobTtlSeconds' 600 s from the default (86,400 s) or none (-1).
  const ttl = await app.redis.client.pttl(app.keys.job(first.id));
  t.true(ttl > 540_000 && ttl <= 600_000, `TTL ${ttl} ms`);
  t.is((await app.http.get('test/jobs?limit=0')).statusCode, 400);
});

test('past maxRunningJobs, new jobs get 429 with Retry-After until a slot frees', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.loadtest.maxRunningJobs = 1; } });
  const { body: running } = await app.http.post<RunJob>(LONG);
  const refused = await app.http.post('test/10?async=1');
  t.is(refused.statusCode, 429);
  t.is(refused.headers['retry-after'], '5');
  t.deepEqual(refused.body, { error: '1 load test(s) already running, the most allowed at once; try again later' });
  t.is((await app.http.post('test/10')).statusCode, 429, 'synchronous runs count against the limit too');
  t.is((await app.http.delete(`test/jobs/${running.id}`)).statusCode, 200);
  t.is((await app.http.post('test/10')).statusCode, 200);
});

test('any replica answers for a job; a cancel on another replica reaches the one running it', async (t) => {
  const a = await startApp(t, { tweak: (s) => { s.loadtest.progressIntervalMs = 100; } });
  const b = await startApp(t, { tweak: (s) => { s.redis.keyPrefix = a.settings.redis.keyPrefix; } });
  const { body: job } = await a.http.post<RunJob>(LONG);
  const seenOnB = await waitForJob(b, job.id, (j) => j.status === 'running' && (j.progress?.completed ?? 0) > 0);
  t.is(seenOnB.id, job.id);
  t.deepEqual((await b.http.get<RunJob[]>('test/jobs')).body.map((j) => j.id), [job.id]);

  const cancel = await b.http.delete<RunJob>(`test/jobs/${job.id}`);
  t.is(cancel.statusCode, 202, 'b does not run the job: it asks a to cancel it');
  const cancelled = await waitForJob(b, job.id, (j) => j.status === 'cancelled');
  assertReportAddsUp(t, cancelled.report!);
  t.is(cancelled.report!.counted.hits, cancelled.report!.succeeded);
});

test('/health answers while a million-request job runs in its worker thread', withApp, async (t, app) => {
  const { body: job } = await app.http.post<RunJob>('test/1000000?concurrency=50&async=1');
  await waitForJob(app, job.id, (j) => (j.progress?.completed ?? 0) > 0);
  // That it answers during the run, not how fast: speed is the benchmark's business, and a bound
  // on it here would fail on a busy machine rather than on a slow server.
  for (let i = 0; i < 10; i++) t.is((await app.http.get('health')).statusCode, 200);
  t.is((await app.http.get<RunJob>(`test/jobs/${job.id}`)).body.status, 'running', 'the job was still running throughout');
  t.is((await app.http.delete(`test/jobs/${job.id}`)).statusCode, 200);
});
