// Runs a load test on worker_threads workers, one per share of the run (stages.ts threadShare),
// relays their merged progress and merges their records into the report (merge.ts).
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { RunResult } from './merge.js';
import type { LoadPlan, Progress, RawRun } from './runner.js';
import { usableThreads } from './stages.js';

/** Threads a run may use, from `loadtest.threads`: "auto" is one per spare core. */
export function loadThreads(threads: number | 'auto'): number {
  return threads === 'auto' ? Math.max(1, availableParallelism() - 1) : threads;
}

/** What a worker is started with. */
export interface WorkerInput { plan: LoadPlan; thread: number; threads: number }
/** What the merge worker is started with. */
export interface MergeInput { plan: LoadPlan; runs: RawRun[] }

export type ToWorker = { type: 'stop' };
export type FromWorker =
  | { type: 'progress'; progress: Progress }
  | { type: 'done'; run: RawRun }
  | { type: 'failed'; message: string };

export interface Execution<T = RunResult> {
  /** Nothing more is sent; in-flight requests settle and the report still arrives. */
  stop(): void;
  result: Promise<T>;
}

export type ExecuteLoad = (plan: LoadPlan, onProgress: (progress: Progress) => void) => Execution;

// The worker's allocations are short-lived (one request's objects): its young generation's size
// trades GC time for RSS. At 16 MB, scavenges took 14% of the generator's thread and it peaked at
// 4,235 req/s against a server that costs nothing; at 48 MB, at 7,306 to 7,724
// (bench/loadgen-ceiling.ts), while the 1,000,000-request staged run's RSS growth went from 69 MB
// to 124 MB (bench/loadgen-million.ts; issue 17's bound is 150 MB).
const resourceLimits = { maxYoungGenerationSizeMb: 48 };

// Under tsx (tests, development) this file is .ts, and on Node 20 the --import hook does not
// reach worker threads, so the worker registers tsx itself before loading its entry.
function spawnWorker(entry: 'worker' | 'merge-worker', workerData: unknown): Worker {
  if (import.meta.url.endsWith('.ts')) {
    const tsx = import.meta.resolve('tsx/esm/api');
    const url = new URL(`./${entry}.ts`, import.meta.url).href;
    const code = `import(${JSON.stringify(tsx)}).then((api) => api.register()).then(() => import(${JSON.stringify(url)}))`;
    return new Worker(code, { eval: true, workerData, resourceLimits });
  }
  return new Worker(new URL(`./${entry}.js`, import.meta.url), { workerData, resourceLimits });
}

/**
 * The threads' records merged in a worker of its own: decoding and adding a histogram per second
 * takes about 5 ms a second of run, which on the server's event loop would stall every request
 * (/health included) for seconds at the end of a long run.
 */
function mergeInWorker(plan: LoadPlan, runs: RawRun[]): Promise<RunResult> {
  const worker = spawnWorker('merge-worker', { plan, runs } satisfies MergeInput);
  return new Promise<RunResult>((resolve, reject) => {
    worker.once('message', (message: { result: RunResult } | { failed: string }) => {
      if ('result' in message) resolve(message.result);
      else reject(new Error(`merging the load test's records failed: ${message.failed}`));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the merge worker exited with code ${code} before answering`)));
  });
}

/** The threads' progress as one: counts and rates added; p99 the highest thread's. */
export function mergeProgress(parts: readonly Progress[]): Progress {
  const sum = (pick: (p: Progress) => number) => parts.reduce((total, p) => total + pick(p), 0);
  const first = parts[0]!;
  const rates = parts.map((p) => p.targetRate);
  return {
    completed: sum((p) => p.completed),
    succeeded: sum((p) => p.succeeded),
    failed: sum((p) => p.failed),
    dropped: sum((p) => p.dropped),
    elapsedMs: Math.max(...parts.map((p) => p.elapsedMs)),
    requestsPerSecond: Math.round(sum((p) => p.requestsPerSecond) * 100) / 100,
    p99: Math.max(...parts.map((p) => p.p99)),
    stage: first.stage,
    warmup: first.warmup,
    targetRate: rates.every((rate) => rate === null) ? null : Math.round(sum((p) => p.targetRate ?? 0) * 100) / 100,
  };
}

function runOne(workerData: WorkerInput, onProgress: (progress: Progress) => void): { worker: Worker; run: Promise<RawRun> } {
  const worker = spawnWorker('worker', workerData);
  const run = new Promise<RawRun>((resolve, reject) => {
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'progress') onProgress(message.progress);
      else if (message.type === 'done') resolve(message.run);
      else reject(new Error(`load test failed in its worker: ${message.message}`));
    });
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`load-test worker exited with code ${code} before reporting`)));
  });
  return { worker, run };
}

export const executeInWorkers: ExecuteLoad = (plan, onProgress) => {
  const threads = usableThreads(plan.stages, plan.threads);
  const latest: Array<Progress | undefined> = Array.from({ length: threads }, () => undefined);
  const started = Array.from({ length: threads }, (_, thread) => runOne({ plan, thread, threads }, (progress) => {
    latest[thread] = progress;
    const known = latest.filter((p): p is Progress => p !== undefined);
    if (known.length === threads) onProgress(mergeProgress(known));
  }));
  const result = Promise.all(started.map(({ run }) => run)).then(
    (runs) => mergeInWorker(plan, runs),
    (error: unknown) => {
      for (const { worker } of started) void worker.terminate();
      throw error;
    },
  );
  return {
    stop: () => { for (const { worker } of started) worker.postMessage({ type: 'stop' } satisfies ToWorker); },
    result,
  };
};
