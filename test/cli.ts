import test from 'ava';
import type { JobReport } from '../src/loadgen/jobs.js';
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
