#!/usr/bin/env node
// `hitcounter`: the command line for a running server.
//   hitcounter load 10000 --concurrency 100 [--rate 2000] [--url http://127.0.0.1:5000] [--json]
//   hitcounter stats [--limit 20] [--json]
import { setTimeout as sleep } from 'node:timers/promises';
import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';
import { Command, InvalidArgumentError } from 'commander';
import got, { type Got } from 'got';
import { TOKEN_ENV } from './auth.js';
import type { Job } from './loadgen/jobs.js';
import { loadSettings } from './settings.js';

const FINISHED = new Set(['done', 'failed', 'cancelled']);

function integer(min: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`expected an integer of at least ${min}`);
    return Number(value);
  };
}
const positiveInteger = integer(1);

function client(url: string, token?: string): Got {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return got.extend({ prefixUrl: url, headers, throwHttpErrors: false, retry: { limit: 0 }, timeout: { request: 30_000 }, responseType: 'json' });
}

/** The server's own `{"error": …}` message, or the HTTP status, for a failed call. */
function fail(response: { statusCode: number; body: unknown }): never {
  const message = (response.body as { error?: string } | undefined)?.error ?? `HTTP ${response.statusCode}`;
  console.error(`hitcounter: ${message}`);
  process.exit(1);
}

// Colors only for a terminal; piped output stays plain text.
const table = (head: string[]) => new Table(process.stdout.isTTY ? { head } : { head, style: { head: [], border: [] } });

const fmt = (value: number) => value.toLocaleString('en-US', { maximumFractionDigits: 2 });

function printReport(job: Job): void {
  const report = job.report!;
  const summary = table(['job', 'status', 'model', 'requests', 'succeeded', 'failed', 'non-2xx', 'dropped', 'duration', 'req/s']);
  summary.push([
    job.id.slice(0, 8), job.status, report.model === 'open' ? `open @ ${report.rate}/s` : `closed × ${report.concurrency}`,
    `${fmt(report.completed)} / ${fmt(report.requested)}`, fmt(report.succeeded), fmt(report.failed), fmt(report.non2xx),
    fmt(report.dropped), `${fmt(report.durationMs / 1000)} s`, fmt(report.requestsPerSecond),
  ]);
  const latency = table(['latency (ms)', 'min', 'mean', 'stddev', 'p50', 'p90', 'p99', 'p99.9', 'max']);
  const l = report.latencyMs;
  latency.push(['', l.min, l.mean, l.stddev, l.p50, l.p90, l.p99, l.p99_9, l.max].map((v) => (typeof v === 'number' ? fmt(v) : v)));
  console.log(summary.toString());
  console.log(latency.toString());
  const codes = Object.entries(report.statusCodes).map(([code, count]) => `${code}: ${fmt(count)}`).join(', ') || 'none';
  const errors = Object.entries(report.errors).map(([code, count]) => `${code}: ${fmt(count)}`).join(', ') || 'none';
  console.log(`status codes: ${codes}\nerrors: ${errors}`);
  const { counted } = report;
  console.log(`counted in Redis: ${fmt(counted.hits)} (${counted.equalsSucceeded ? 'equals' : 'differs from'} succeeded)`);
}

async function load(n: number, options: { concurrency?: number; rate?: number; distribution?: string; paths?: number; seed?: number; url: string; token?: string; json?: boolean }): Promise<void> {
  const http = client(options.url, options.token);
  const searchParams: Record<string, string | number> = { async: 1 };
  for (const name of ['concurrency', 'rate', 'distribution', 'paths', 'seed'] as const) {
    if (options[name] !== undefined) searchParams[name] = options[name];
  }
  const started = await http.post<Job>(`test/${n}`, { searchParams });
  if (started.statusCode !== 202) fail(started);
  const id = started.body.id;

  // Ctrl-C cancels the job on the server; the report of what was sent still follows.
  process.once('SIGINT', () => {
    console.error('\ncancelling…');
    void http.delete(`test/jobs/${id}`);
  });

  const bar = new SingleBar({
    format: '{bar} {percentage}% | {value}/{total} | {rps} req/s | p99 {p99} ms',
    stream: process.stderr,
    hideCursor: true,
  });
  bar.start(n, 0, { rps: 0, p99: 0 });
  let job = started.body;
  while (!FINISHED.has(job.status)) {
    await sleep(250);
    const polled = await http.get<Job>(`test/jobs/${id}`);
    if (polled.statusCode !== 200) fail(polled);
    job = polled.body;
    const progress = job.progress;
    if (progress) bar.update(progress.completed + progress.dropped, { rps: fmt(progress.requestsPerSecond), p99: fmt(progress.p99) });
  }
  bar.stop();
  if (job.status === 'failed') {
    console.error(`hitcounter: load test failed: ${job.error}`);
    process.exit(1);
  }
  if (options.json) console.log(JSON.stringify(job.report, null, 2));
  else printReport(job);
}

async function stats(options: { limit: number; url: string; token?: string; json?: boolean }): Promise<void> {
  const response = await client(options.url, options.token).get<Array<{ path: string; hits: number }>>('stats', { searchParams: { limit: options.limit } });
  if (response.statusCode !== 200) fail(response);
  if (options.json) {
    console.log(JSON.stringify(response.body, null, 2));
    return;
  }
  const total = response.body.reduce((sum, row) => sum + row.hits, 0);
  const ranking = table(['#', 'path', 'hits', 'share of shown']);
  response.body.forEach((row, i) => ranking.push([i + 1, row.path, fmt(row.hits), total ? `${((row.hits / total) * 100).toFixed(1)}%` : '']));
  console.log(ranking.toString());
  console.log(`${fmt(Number(response.headers['x-total-count'] ?? 0))} distinct paths in all`);
}

const defaultUrl = process.env.HITCOUNTER_URL ?? `http://127.0.0.1:${loadSettings().server.port}`;
const program = new Command('hitcounter').description('Command line for a running hitcounter server');

program
  .command('load')
  .description('run a load test on the server and show its progress and report')
  .argument('<n>', 'requests to send', positiveInteger)
  .option('-c, --concurrency <n>', 'requests in flight at once', positiveInteger)
  .option('-r, --rate <n>', 'requests per second (open model); without it, the closed model', positiveInteger)
  .option('-d, --distribution <name>', 'uniform or zipf')
  .option('-p, --paths <n>', 'distinct paths to draw from', positiveInteger)
  .option('-s, --seed <n>', 'seed, to replay a run', integer(0))
  .option('-u, --url <url>', 'the server', defaultUrl)
  .option('-t, --token <token>', `admin token (default: $${TOKEN_ENV})`, process.env[TOKEN_ENV])
  .option('--json', 'print the report as JSON')
  .action(load);

program
  .command('stats')
  .description('show the top paths')
  .option('-l, --limit <n>', 'how many paths', positiveInteger, 20)
  .option('-u, --url <url>', 'the server', defaultUrl)
  .option('-t, --token <token>', `admin token, when the server protects reads (default: $${TOKEN_ENV})`, process.env[TOKEN_ENV])
  .option('--json', 'print JSON')
  .action(stats);

await program.parseAsync();
