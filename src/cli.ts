#!/usr/bin/env node
// `hitcounter`: the command line for a running server.
//   hitcounter load 10000 --concurrency 100 [--rate 2000] [--warmup 2000] [--csv run.csv] [--histogram run.hlog] [--json]
//   hitcounter load --stages '[{"durationMs":5000,"rate":[100,2000]}]'
//   hitcounter search --p99 20 --errors 0.1 --min-rate 500 --max-rate 20000 [--json]
//   hitcounter compare <job a> <job b> [--json]
//   hitcounter jobs [--limit 20] [--json]
//   hitcounter report <job> [--csv run.csv] [--histogram run.hlog] [--json]
//   hitcounter stats [--limit 20] [--json]
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';
import { Command, InvalidArgumentError, Option } from 'commander';
import got, { type Got } from 'got';
import { TOKEN_ENV } from './auth.js';
import type { Comparison } from './loadgen/compare.js';
import type { Job, JobReport, SearchJobReport } from './loadgen/jobs.js';
import type { Objective, StepReport } from './loadgen/search.js';
import { plannedDurationMs, plannedRequests, type StageInput } from './loadgen/stages.js';
import { loadSettings } from './settings.js';

const FINISHED = new Set(['done', 'failed', 'cancelled']);

function integer(min: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`expected an integer of at least ${min}`);
    return Number(value);
  };
}
const positiveInteger = integer(1);

function number(min: number, inclusive: boolean) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (inclusive ? n < min : n <= min)) throw new InvalidArgumentError(`expected a number ${inclusive ? 'of at least' : 'above'} ${min}`);
    return n;
  };
}

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
  const report = job.report as JobReport;
  const summary = table(['job', 'status', 'model', 'requests', 'succeeded', 'failed', 'non-2xx', 'dropped', 'duration', 'req/s']);
  summary.push([
    job.id.slice(0, 8), job.status, report.model === 'open' && report.rate !== null ? `open @ ${report.rate}/s` : report.model === 'closed' ? `closed × ${report.concurrency}` : `${report.model}, ${report.stages.length} stages`,
    report.requested === null ? fmt(report.completed) : `${fmt(report.completed)} / ${fmt(report.requested)}`, fmt(report.succeeded), fmt(report.failed), fmt(report.non2xx),
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

interface LoadOptions {
  concurrency?: number;
  rate?: number;
  warmup?: number;
  stages?: StageInput[];
  distribution?: string;
  paths?: number;
  seed?: number;
  csv?: string;
  histogram?: string;
  url: string;
  token?: string;
  json?: boolean;
}

/** A JSON array of stages, as `POST /test` takes them; the server judges each stage. */
function stagesArgument(value: string): StageInput[] {
  let stages: unknown;
  try {
    stages = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('expected a JSON array of stages, such as [{"durationMs":5000,"rate":500}]');
  }
  if (!Array.isArray(stages)) throw new InvalidArgumentError('expected a JSON array of stages, such as [{"durationMs":5000,"rate":500}]');
  return stages as StageInput[];
}

/** The request that starts the run: `POST /test/<n>` with options, or `POST /test` with stages. */
function startRequest(n: number | undefined, options: LoadOptions): { path: string; searchParams?: Record<string, string | number>; json?: Record<string, unknown> } {
  const shared = { distribution: options.distribution, paths: options.paths, seed: options.seed };
  if (options.stages) {
    // The stages carry their own concurrency, rate and warm-up.
    const clash = (['concurrency', 'rate', 'warmup'] as const).filter((name) => options[name] !== undefined);
    if (n !== undefined || clash.length > 0) usage(`--stages says it all: leave out ${n !== undefined ? '<n>' : `--${clash[0]}`}`);
    return { path: 'test', json: { stages: options.stages, ...shared, async: true } };
  }
  if (n === undefined) usage('missing <n>: the requests to send (or give --stages)');
  const searchParams: Record<string, string | number> = { async: 1 };
  const given = { concurrency: options.concurrency, rate: options.rate, warmupMs: options.warmup, ...shared };
  for (const [name, value] of Object.entries(given)) if (value !== undefined) searchParams[name] = value;
  return { path: `test/${n}`, searchParams };
}

function usage(message: string): never {
  console.error(`hitcounter: ${message}`);
  process.exit(1);
}

/**
 * How far the run is, as best its plan tells: by requests when every stage has a count, by time
 * when every stage has a duration, else by stage.
 */
function progressMeter(job: Job) {
  const stages = job.plan.stages;
  const requests = plannedRequests(stages);
  const durationMs = plannedDurationMs(stages);
  const staged = stages.length > 1 ? '{stage} | ' : '';
  if (requests !== null) {
    return { total: requests, format: `{bar} {percentage}% | ${staged}{value}/{total} | {rps} req/s | p99 {p99} ms`, value: (p: NonNullable<Job['progress']>) => p.completed + p.dropped };
  }
  if (durationMs !== null) {
    return { total: Math.ceil(durationMs / 1000), format: `{bar} {percentage}% | ${staged}{value}/{total} s | {rps} req/s | p99 {p99} ms`, value: (p: NonNullable<Job['progress']>) => Math.min(Math.floor(p.elapsedMs / 1000), Math.ceil(durationMs / 1000)) };
  }
  return { total: stages.length, format: '{bar} {stage} | {rps} req/s | p99 {p99} ms', value: (p: NonNullable<Job['progress']>) => p.stage };
}

/** Saves a finished run's series (CSV) or HdrHistogram log to `file`. */
async function save(http: Got, path: string, file: string): Promise<void> {
  const response = await http.get(path, { responseType: 'text' });
  if (response.statusCode !== 200) {
    let body: unknown;
    try {
      body = JSON.parse(response.body);
    } catch {
      body = undefined;
    }
    fail({ statusCode: response.statusCode, body });
  }
  await writeFile(file, response.body);
  console.error(`saved ${file}`);
}

/** A finished run's per-second series (CSV) and HdrHistogram log, to the files given. */
async function saveRunFiles(http: Got, id: string, files: { csv?: string; histogram?: string }): Promise<void> {
  if (files.csv) await save(http, `test/jobs/${id}.csv`, files.csv);
  if (files.histogram) await save(http, `test/jobs/${id}/histogram`, files.histogram);
}

/**
 * Polls a started job until it ends, handing each progress to `onProgress`. Ctrl-C cancels the
 * job on the server; the report of what was sent still follows.
 */
async function follow<Report extends JobReport | SearchJobReport>(http: Got, started: Job<Report>, onProgress: (progress: NonNullable<Job['progress']>) => void): Promise<Job<Report>> {
  process.once('SIGINT', () => {
    console.error('\ncancelling…');
    void http.delete(`test/jobs/${started.id}`);
  });
  let job = started;
  while (!FINISHED.has(job.status)) {
    await sleep(250);
    const polled = await http.get<Job<Report>>(`test/jobs/${started.id}`);
    if (polled.statusCode !== 200) fail(polled);
    job = polled.body;
    if (job.progress) onProgress(job.progress);
  }
  return job;
}

async function load(n: number | undefined, options: LoadOptions): Promise<void> {
  const http = client(options.url, options.token);
  const { path, searchParams, json } = startRequest(n, options);
  const started = await http.post<Job>(path, { ...(searchParams ? { searchParams } : {}), ...(json ? { json } : {}) });
  if (started.statusCode !== 202) fail(started);
  const id = started.body.id;
  // On stderr, so that --json output stays one document: the id is what `compare` takes.
  console.error(`job ${id}`);

  const meter = progressMeter(started.body);
  const bar = new SingleBar({ format: meter.format, stream: process.stderr, hideCursor: true });
  const stageOf = (p: Job['progress']) => (p ? `stage ${p.stage + 1}/${started.body.plan.stages.length}${p.warmup ? ' (warm-up)' : ''}` : '');
  bar.start(meter.total, 0, { rps: 0, p99: 0, stage: stageOf(null) });
  const job = await follow(http, started.body, (progress) => bar.update(meter.value(progress), { rps: fmt(progress.requestsPerSecond), p99: fmt(progress.p99), stage: stageOf(progress) }));
  bar.stop();
  if (job.status === 'failed') {
    console.error(`hitcounter: load test failed: ${job.error}`);
    process.exit(1);
  }
  await saveRunFiles(http, id, options);
  if (options.json) console.log(JSON.stringify(job.report, null, 2));
  else printReport(job);
}

interface SearchOptions {
  p50?: number;
  p90?: number;
  p99?: number;
  p999?: number;
  errors?: number;
  minRate: number;
  maxRate: number;
  stepDuration?: number;
  warmup?: number;
  precision?: number;
  maxSteps?: number;
  concurrency?: number;
  distribution?: string;
  paths?: number;
  seed?: number;
  url: string;
  token?: string;
  json?: boolean;
}

/** The objective as the options give it; at least one bound, as the server requires. */
function objectiveOf(options: SearchOptions): Objective {
  const objective: Objective = { p50: options.p50, p90: options.p90, p99: options.p99, p99_9: options.p999, errors: options.errors };
  for (const key of Object.keys(objective) as Array<keyof Objective>) if (objective[key] === undefined) delete objective[key];
  if (Object.keys(objective).length === 0) usage('an objective needs at least one of --p50, --p90, --p99, --p999 (ms) or --errors (%)');
  return objective;
}

const describeObjective = (objective: Objective) =>
  Object.entries(objective).map(([name, bound]) => (name === 'errors' ? `errors ≤ ${bound}%` : `${name.replace('_', '.')} ≤ ${bound} ms`)).join(', ');

/** A step as the user counts them: from 1 (the report's `step` is 0-based). */
const stepLine = (s: StepReport) =>
  `step ${s.step + 1} (${s.phase}) at ${fmt(s.rate)} req/s: ${s.met ? 'met' : `missed (${s.missed.join(', ')})`}; p50 ${fmt(s.latencyMs.p50)} ms, p99 ${fmt(s.latencyMs.p99)} ms, errors ${fmt(s.errors)}%`;

async function search(options: SearchOptions): Promise<void> {
  const objective = objectiveOf(options);
  const http = client(options.url, options.token);
  const body: Record<string, unknown> = {
    objective, minRate: options.minRate, maxRate: options.maxRate, stepDurationMs: options.stepDuration, warmupMs: options.warmup,
    precision: options.precision, maxSteps: options.maxSteps, concurrency: options.concurrency,
    distribution: options.distribution, paths: options.paths, seed: options.seed, async: true,
  };
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  const started = await http.post<Job<SearchJobReport>>('test/search', { json: body });
  if (started.statusCode !== 202) fail(started);
  console.error(`job ${started.body.id}: the highest rate from ${fmt(options.minRate)} to ${fmt(options.maxRate)} req/s with ${describeObjective(objective)}`);
  // Each step on stderr as it finishes: a search lasts minutes, and --json keeps stdout one document.
  let shown = 0;
  const job = await follow(http, started.body, (progress) => {
    const steps = progress.search?.steps ?? [];
    for (; shown < steps.length; shown++) console.error(stepLine(steps[shown]!));
  });
  if (job.status === 'failed') {
    console.error(`hitcounter: search failed: ${job.error}`);
    process.exit(1);
  }
  const report = job.report!;
  for (; shown < report.steps.length; shown++) console.error(stepLine(report.steps[shown]!));
  if (options.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  printSearch(report);
}

function printSearch(report: SearchJobReport): void {
  const steps = table(['step', 'phase', 'rate', 'verdict', 'req/s', 'p50 (ms)', 'p99 (ms)', 'errors (%)', 'dropped']);
  for (const s of report.steps) steps.push([s.step + 1, s.phase, fmt(s.rate), s.met ? 'met' : s.missed.join(', '), fmt(s.requestsPerSecond), fmt(s.latencyMs.p50), fmt(s.latencyMs.p99), fmt(s.errors), fmt(s.dropped)]);
  console.log(steps.toString());
  const found = report.breakingPoint === null
    ? `no rate met the objective: ${fmt(report.minRate)} req/s already missed it`
    : report.firstFailingRate === null
      ? `${fmt(report.breakingPoint)} req/s met the objective, and no step missed it (up to ${fmt(report.maxRate)} req/s)`
      : `${fmt(report.breakingPoint)} req/s met the objective; ${fmt(report.firstFailingRate)} req/s missed it`;
  console.log(`breaking point (${describeObjective(report.objective)}): ${found}${report.cancelled ? ' (cancelled: what it found before)' : ''}`);
  console.log(`${report.steps.length} steps in ${fmt(report.durationMs / 1000)} s. ${report.note}`);
  console.log(`counted in Redis: ${fmt(report.counted.hits)} (${report.counted.equalsSucceeded ? 'equals' : 'differs from'} succeeded)`);
}

const FULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A job id, or the one recent job whose id starts with `given` (the report's tables show 8 characters). */
async function resolveJob(http: Got, given: string): Promise<string> {
  if (FULL_ID.test(given)) return given;
  const listed = await http.get<Job[]>('test/jobs', { searchParams: { limit: 1000 } });
  if (listed.statusCode !== 200) fail(listed);
  const matches = listed.body.filter((job) => job.id.startsWith(given.toLowerCase()));
  if (matches.length === 1) return matches[0]!.id;
  return usage(matches.length === 0 ? `no load test job starts with ${given}` : `${matches.length} jobs start with ${given}: give more of the id`);
}

async function compare(a: string, b: string, options: { url: string; token?: string; json?: boolean }): Promise<void> {
  const http = client(options.url, options.token);
  const ids = [await resolveJob(http, a), await resolveJob(http, b)];
  const response = await http.get<Comparison>(`test/jobs/${ids[0]}/compare/${ids[1]}`);
  if (response.statusCode !== 200) fail(response);
  const comparison = response.body;
  if (options.json) {
    console.log(JSON.stringify(comparison, null, 2));
    return;
  }
  const names: Record<string, string> = { requestsPerSecond: 'req/s', p50: 'p50 (ms)', p90: 'p90 (ms)', p99: 'p99 (ms)', p99_9: 'p99.9 (ms)', errorRate: 'errors (%)' };
  const rows = table(['', `a ${comparison.a.id.slice(0, 8)}`, `b ${comparison.b.id.slice(0, 8)}`, 'b − a', 'change', '± noise (2 SE)', 'beyond noise']);
  for (const m of comparison.metrics) {
    const change = m.changePercent === null ? '' : `${m.changePercent > 0 ? '+' : ''}${fmt(m.changePercent)}%`;
    rows.push([names[m.metric] ?? m.metric, fmt(m.a), fmt(m.b), `${m.difference > 0 ? '+' : ''}${fmt(m.difference)}`, change, m.standardError === null ? 'n/a' : fmt(2 * m.standardError), m.beyondNoise ? 'yes' : 'no']);
  }
  console.log(rows.toString());
  console.log(comparison.verdict.summary);
  if (comparison.noise.reason) console.log(comparison.noise.reason);
  for (const warning of comparison.warnings) console.log(`warning: ${warning}`);
}

/** What a job sent, in a few words: a search's bounds, a run's model or its number of stages. */
function modelOf(job: Job): string {
  if (job.kind === 'search') return job.search ? `search ${fmt(job.search.minRate)}–${fmt(job.search.maxRate)}/s` : 'search';
  const stages = job.plan.stages;
  if (stages.length > 1) return `${stages.length} stages`;
  const [stage] = stages;
  return stage?.rate ? `open @ ${stage.rate.from === stage.rate.to ? fmt(stage.rate.from) : `${fmt(stage.rate.from)}→${fmt(stage.rate.to)}`}/s` : `closed × ${stage?.concurrency ?? '?'}`;
}

async function jobs(options: { limit: number; url: string; token?: string; json?: boolean }): Promise<void> {
  const response = await client(options.url, options.token).get<Job[]>('test/jobs', { searchParams: { limit: options.limit } });
  if (response.statusCode !== 200) fail(response);
  if (options.json) {
    console.log(JSON.stringify(response.body, null, 2));
    return;
  }
  const rows = table(['job', 'kind', 'status', 'created', 'model', 'requests', 'req/s', 'p99 (ms)', 'breaking point']);
  for (const job of response.body) {
    const run = job.kind === 'run' ? (job.report as JobReport | null) : null;
    const found = job.kind === 'search' ? (job.report as SearchJobReport | null) : null;
    rows.push([
      job.id.slice(0, 8), job.kind, job.status, job.createdAt.replace('T', ' ').slice(0, 19), modelOf(job),
      run ? fmt(run.completed) : '', run ? fmt(run.requestsPerSecond) : '', run ? fmt(run.latencyMs.p99) : '',
      found ? (found.breakingPoint === null ? 'none' : `${fmt(found.breakingPoint)}/s`) : '',
    ]);
  }
  console.log(rows.toString());
  if (response.body.length === 0) console.log('no load test jobs (they expire after loadtest.jobTtlSeconds)');
}

/** A job that ended: its report printed as `load` or `search` prints it, and a run's series and histogram saved. */
async function showReport(given: string, options: { csv?: string; histogram?: string; url: string; token?: string; json?: boolean }): Promise<void> {
  const http = client(options.url, options.token);
  const id = await resolveJob(http, given);
  const response = await http.get<Job>(`test/jobs/${id}`);
  if (response.statusCode !== 200) fail(response);
  const job = response.body;
  if (!FINISHED.has(job.status)) usage(`job ${id.slice(0, 8)} is ${job.status}: its report comes when it ends`);
  if (job.status === 'failed' || !job.report) usage(`job ${id.slice(0, 8)} failed: ${job.error ?? 'no report'}`);
  if (job.kind === 'search' && (options.csv || options.histogram)) usage('a search has no series or histogram of its own: its steps are in its report');
  await saveRunFiles(http, id, options);
  if (options.json) console.log(JSON.stringify(job.report, null, 2));
  else if (job.kind === 'search') printSearch(job.report as SearchJobReport);
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
// Every command talks to a server: where it is, and the token it may need.
const urlOption = () => new Option('-u, --url <url>', 'the server').default(defaultUrl);
const tokenOption = (needs: 'admin' | 'reads') =>
  // Read from the environment by commander, whose --help names the variable and never prints the token.
  new Option('-t, --token <token>', `admin token${needs === 'reads' ? ', when the server protects reads' : ''}`).env(TOKEN_ENV);

const program = new Command('hitcounter').description('Command line for a running hitcounter server');

/** A subcommand with the server options: where the server is, and its token (`admin` for jobs it starts, `reads` when reads are protected). */
const serverCommand = (name: string, description: string, needs: 'admin' | 'reads') =>
  program.command(name).description(description).addOption(urlOption()).addOption(tokenOption(needs));
/** --csv and --histogram: a run's files, saved once it has ended (`load` and `report`). */
const withRunFiles = (command: Command) => command
  .option('--csv <file>', 'save the run\'s per-second series as CSV')
  .option('--histogram <file>', 'save the run\'s latencies as an HdrHistogram log');

withRunFiles(serverCommand('load', 'run a load test on the server and show its progress and report', 'admin'))
  .argument('[n]', 'requests to send (not with --stages)', positiveInteger)
  .option('-c, --concurrency <n>', 'requests in flight at once', positiveInteger)
  .option('-r, --rate <n>', 'requests per second (open model); without it, the closed model', positiveInteger)
  .option('-w, --warmup <ms>', 'a warm-up this long first, left out of the figures', integer(0))
  .option('--stages <json>', 'a JSON array of stages for POST /test, e.g. \'[{"durationMs":5000,"rate":[100,2000]}]\'', stagesArgument)
  .option('-d, --distribution <name>', 'uniform or zipf')
  .option('-p, --paths <n>', 'distinct paths to draw from', positiveInteger)
  .option('-s, --seed <n>', 'seed, to replay a run', integer(0))
  .option('--json', 'print the report as JSON')
  .action(load);

serverCommand('search', 'find the highest rate the server holds within an objective (its breaking point)', 'admin')
  .option('--p50 <ms>', 'each step\'s p50 at most this', number(0, false))
  .option('--p90 <ms>', 'each step\'s p90 at most this', number(0, false))
  .option('--p99 <ms>', 'each step\'s p99 at most this', number(0, false))
  .option('--p999 <ms>', 'each step\'s p99.9 at most this', number(0, false))
  .option('-e, --errors <percent>', 'at most this percent of a step\'s requests failed or dropped', number(0, true))
  .requiredOption('--min-rate <n>', 'the first step\'s rate (req/s)', positiveInteger)
  .requiredOption('--max-rate <n>', 'no step goes above it (req/s)', positiveInteger)
  .option('--step-duration <ms>', 'each step\'s measured time (server default 5000)', positiveInteger)
  .option('-w, --warmup <ms>', 'a warm-up before each step (server default 1000)', integer(0))
  .option('--precision <ratio>', 'stop bisecting once the best pass and the first miss are this close (server default 0.05)', number(0, false))
  .option('--max-steps <n>', 'steps at most (server default 20)', positiveInteger)
  .option('-c, --concurrency <n>', 'connections at most in each step', positiveInteger)
  .option('-d, --distribution <name>', 'uniform or zipf')
  .option('-p, --paths <n>', 'distinct paths to draw from', positiveInteger)
  .option('-s, --seed <n>', 'seed, to replay a search', integer(0))
  .option('--json', 'print the report as JSON')
  .action(search);

serverCommand('compare', 'compare two finished runs: differences, run-to-run noise, and which is faster', 'reads')
  .argument('<a>', 'the first run\'s job id (or its start, as the report shows it)')
  .argument('<b>', 'the second run\'s job id (or its start)')
  .option('--json', 'print the comparison as JSON')
  .action(compare);

serverCommand('jobs', 'list recent load tests and searches, newest first', 'reads')
  .option('-l, --limit <n>', 'how many jobs', positiveInteger, 20)
  .option('--json', 'print the jobs as JSON')
  .action(jobs);

withRunFiles(serverCommand('report', 'show a finished job\'s report, and save a run\'s series and histogram', 'reads'))
  .argument('<job>', 'the job id (or its start, as `jobs` shows it)')
  .option('--json', 'print the report as JSON')
  .action(showReport);

serverCommand('stats', 'show the top paths', 'reads')
  .option('-l, --limit <n>', 'how many paths', positiveInteger, 20)
  .option('--json', 'print JSON')
  .action(stats);

await program.parseAsync();
