import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { JobReport, SearchJobReport } from '../src/loadgen/jobs.js';
import { startApp, withApp } from './helpers/app.js';
import { hitcounter } from './helpers/cli.js';
import { assertReportAddsUp } from './helpers/outcomes.js';

const run = hitcounter;

test('hitcounter load runs a job and prints its report as JSON', withApp, async (t, app) => {
  const { code, stdout } = await run(['load', '500', '--concurrency', '10', '--seed', '4', '--url', app.url, '--json']);
  t.is(code, 0);
  const report = JSON.parse(stdout) as JobReport;
  t.like(report, { requested: 500, succeeded: 500, concurrency: 10, seed: 4, model: 'closed' });
  assertReportAddsUp(t, report);
  t.true(report.counted.equalsSucceeded);
});

test('hitcounter load prints tables, with the open model', async (t) => {
  // This test is about the tables: on a busy machine the open model falls behind its rate, and
  // with the default maxLagMs it would drop requests rather than send them late.
  const app = await startApp(t, { tweak: (s) => { s.loadtest.maxLagMs = 600_000; } });
  const { code, stdout } = await run(['load', '200', '--rate', '400', '--url', app.url]);
  t.is(code, 0);
  t.regex(stdout, /open @ 400\/s/);
  t.regex(stdout, /p99\.9/);
  t.regex(stdout, /status codes: 200: 200/);
  t.regex(stdout, /counted in Redis: 200 \(equals succeeded\)/);
});

test('hitcounter stats prints the top paths', withApp, async (t, app) => {
  for (const path of ['a', 'b', 'b']) await app.http.get(`api/${path}`);
  const table = await run(['stats', '--limit', '5', '--url', app.url]);
  t.is(table.code, 0);
  t.regex(table.stdout, /1 │ \/api\/b │ 2/);
  t.regex(table.stdout, /2 distinct paths in all/);
  const json = await run(['stats', '--url', app.url, '--json']);
  t.deepEqual(JSON.parse(json.stdout), [{ path: '/api/b', hits: 2 }, { path: '/api/a', hits: 1 }]);
});

test('the server\'s error message reaches the user, with a non-zero exit', withApp, async (t, app) => {
  const { code, stderr } = await run(['load', '10', '--distribution', 'normal', '--url', app.url]);
  t.is(code, 1);
  t.regex(stderr, /hitcounter: Expected `distribution` to be one of: uniform, zipf/);
});

test('bad arguments are refused before anything is sent', async (t) => {
  const { code, stderr } = await run(['load', '0', '--url', 'http://127.0.0.1:1']);
  t.not(code, 0);
  t.regex(stderr, /invalid for argument 'n'/);
});

test('hitcounter search runs POST /test/search, shows each step as it ends, and prints the breaking point', withApp, async (t, app) => {
  // An objective every step meets even on a loaded machine: the ramp runs to maxRate.
  const { code, stdout, stderr } = await run(['search', '--p99', '5000', '--errors', '1', '--min-rate', '50', '--max-rate', '100', '--step-duration', '300', '--warmup', '0', '--seed', '2', '--url', app.url]);
  t.is(code, 0, stderr);
  t.regex(stderr, /^job [0-9a-f-]{36}: the highest rate from 50 to 100 req\/s with p99 ≤ 5000 ms, errors ≤ 1%$/m);
  t.regex(stderr, /^step 1 \(ramp\) at 50 req\/s: met; p50 [\d.,]+ ms, p99 [\d.,]+ ms, errors 0%$/m);
  t.regex(stderr, /^step 2 \(ramp\) at 100 req\/s: met;/m);
  t.regex(stdout, /│ 2 +│ ramp +│ 100 +│ met +│/);
  t.regex(stdout, /breaking point \(p99 ≤ 5000 ms, errors ≤ 1%\): 100 req\/s met the objective, and no step missed it \(up to 100 req\/s\)/);
  t.regex(stdout, /counted in Redis: [\d,]+ \(equals succeeded\)/);
});

test('hitcounter search --json gives the report; an objective no rate meets has no breaking point', withApp, async (t, app) => {
  // 1 µs at p50: no request over HTTP is that fast, so the first step misses and the search ends.
  const { code, stdout, stderr } = await run(['search', '--p50', '0.001', '--min-rate', '20', '--max-rate', '1000', '--step-duration', '300', '--warmup', '0', '--url', app.url, '--json']);
  t.is(code, 0, stderr);
  const report = JSON.parse(stdout) as SearchJobReport;
  t.like(report, { breakingPoint: null, firstFailingRate: 20, objective: { p50: 0.001 }, minRate: 20, maxRate: 1000, cancelled: false });
  t.is(report.steps.length, 1);
  t.regex(report.steps[0]!.missed[0]!, /^p50 [\d.]+ ms > 0\.001 ms$/);
  t.true(report.counted.equalsSucceeded);
  const table = await run(['search', '--p50', '0.001', '--min-rate', '20', '--max-rate', '1000', '--step-duration', '300', '--warmup', '0', '--url', app.url]);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /breaking point \(p50 ≤ 0\.001 ms\): no rate met the objective: 20 req\/s already missed it/);
});

test('hitcounter search refuses a search without an objective or bounds before anything is sent', async (t) => {
  const none = await run(['search', '--min-rate', '10', '--max-rate', '100', '--url', 'http://127.0.0.1:1']);
  t.is(none.code, 1);
  t.regex(none.stderr, /an objective needs at least one of --p50, --p90, --p99, --p999 \(ms\) or --errors \(%\)/);
  const bounds = await run(['search', '--p99', '20', '--url', 'http://127.0.0.1:1']);
  t.not(bounds.code, 0);
  t.regex(bounds.stderr, /required option '--min-rate <n>' not specified/);
  const bad = await run(['search', '--p99', '-3', '--min-rate', '10', '--max-rate', '100', '--url', 'http://127.0.0.1:1']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /option '--p99 <ms>' argument '-3' is invalid\. expected a number above 0/);
});

test('the server\'s refusal of a search reaches the user', withApp, async (t, app) => {
  const { code, stderr } = await run(['search', '--p99', '20', '--min-rate', '500', '--max-rate', '100', '--url', app.url]);
  t.is(code, 1);
  t.regex(stderr, /hitcounter: Expected `minRate` \(500\) to be at most `maxRate` \(100\)/);
});

test('hitcounter jobs lists runs and searches; report shows a finished one again and saves a run\'s files', withApp, async (t, app) => {
  const run1 = await run(['load', '200', '--concurrency', '5', '--url', app.url, '--json']);
  t.is(run1.code, 0, run1.stderr);
  const runId = /^job ([0-9a-f-]{36})$/m.exec(run1.stderr)![1]!;
  const found = await run(['search', '--p99', '5000', '--min-rate', '20', '--max-rate', '40', '--step-duration', '300', '--warmup', '0', '--url', app.url, '--json']);
  t.is(found.code, 0, found.stderr);
  const searchId = /^job ([0-9a-f-]{36})/m.exec(found.stderr)![1]!;

  const listed = await run(['jobs', '--url', app.url]);
  t.is(listed.code, 0, listed.stderr);
  t.regex(listed.stdout, new RegExp(`${searchId.slice(0, 8)} +│ search +│ done +│ [\\d-]+ [\\d:]+ +│ search 20–40/s +│ +│ +│ +│ 40/s`));
  t.regex(listed.stdout, new RegExp(`${runId.slice(0, 8)} +│ run +│ done +│ [\\d-]+ [\\d:]+ +│ closed × 5 +│ 200 +│`));
  t.true(listed.stdout.indexOf(searchId.slice(0, 8)) < listed.stdout.indexOf(runId.slice(0, 8)), 'newest first');
  const json = JSON.parse((await run(['jobs', '--url', app.url, '--json'])).stdout) as Array<{ id: string }>;
  t.deepEqual(json.map((job) => job.id), [searchId, runId]);

  const dir = await mkdtemp(join(tmpdir(), 'hitcounter-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const shown = await run(['report', runId.slice(0, 8), '--csv', join(dir, 'run.csv'), '--histogram', join(dir, 'run.hlog'), '--url', app.url]);
  t.is(shown.code, 0, shown.stderr);
  t.regex(shown.stdout, /counted in Redis: 200 \(equals succeeded\)/);
  t.regex(await readFile(join(dir, 'run.csv'), 'utf8'), /^second,stage,completed,succeeded,failed,dropped,p50,p90,p99,max\n/);
  t.regex(await readFile(join(dir, 'run.hlog'), 'utf8'), /^#\[Histogram log format version 1\.3\]/m);
  const again = JSON.parse((await run(['report', runId, '--url', app.url, '--json'])).stdout) as JobReport;
  t.deepEqual(again, JSON.parse(run1.stdout));

  const search = await run(['report', searchId.slice(0, 8), '--url', app.url]);
  t.is(search.code, 0, search.stderr);
  t.regex(search.stdout, /breaking point \(p99 ≤ 5000 ms\): 40 req\/s met the objective, and no step missed it/);
  const noFiles = await run(['report', searchId, '--csv', join(dir, 'search.csv'), '--url', app.url]);
  t.is(noFiles.code, 1);
  t.regex(noFiles.stderr, /a search has no series or histogram of its own/);
  const unknown = await run(['report', 'ffffffff', '--url', app.url]);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /no load test job starts with ffffffff/);
});

test('the CLI sends the admin token from HITCOUNTER_ADMIN_TOKEN or --token, and --help never prints it', async (t) => {
  const token = 'cli-s3cret-token';
  const app = await startApp(t, { deps: { adminToken: token }, tweak: (s) => { s.auth.protectStats = true; } });
  const withEnv = { ...process.env, HITCOUNTER_ADMIN_TOKEN: token };
  const load = await run(['load', '20', '--concurrency', '2', '--url', app.url, '--json'], withEnv);
  t.is(load.code, 0, load.stderr);
  t.is((JSON.parse(load.stdout) as JobReport).succeeded, 20);
  const listed = await run(['jobs', '--url', app.url, '--json'], withEnv);
  t.is(listed.code, 0, listed.stderr);
  t.is((JSON.parse(listed.stdout) as unknown[]).length, 1);
  const flag = await run(['stats', '--url', app.url, '--token', token, '--json'], { ...process.env, HITCOUNTER_ADMIN_TOKEN: '' });
  t.is(flag.code, 0, flag.stderr);
  const wrong = await run(['jobs', '--url', app.url], { ...process.env, HITCOUNTER_ADMIN_TOKEN: 'not-it' });
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /^hitcounter: /m);
  for (const command of ['load', 'search', 'compare', 'jobs', 'report', 'stats']) {
    const help = await run([command, '--help'], withEnv);
    t.is(help.code, 0, command);
    t.false(help.stdout.includes(token), `${command} --help printed the token`);
    t.regex(help.stdout, /-t, --token <token> +admin token.*\(env:\s+HITCOUNTER_ADMIN_TOKEN\)/s, command);
  }
});
