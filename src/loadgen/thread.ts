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

/** One thread's share of a run, as a worker is asked to run it. */
export interface WorkerInput { plan: LoadPlan; thread: number; threads: number }
/** What the merge worker is started with. */
export interface MergeInput { plan: LoadPlan; runs: RawRun[] }

export type ToWorker = { type: 'run'; input: WorkerInput } | { type: 'stop' };
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
// to 124 MB on a server the bench had already grown. On a fresh server it was 121 MB, with npm
// start's heap limit (bench/loadgen-million.ts; issue 17's bound is 150 MB).
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

/**
 * The generator's worker threads, kept between runs. A new worker's first second of requests goes
 * through got's code before V8 has compiled it: `POST /test/60000?concurrency=50` on the default
 * server sent 2,699 requests in its first second (p99 57 ms) and 7,500–9,200 in each later one
 * (p99 15–21 ms), so a 10,000-request run on a fresh worker spent half its requests warming it up.
 * An idle worker stays for `keepWarmMs` (0: it exits after each run), unref'd so that it never
 * holds the process open, and close() ends them all.
 */
export class GeneratorThreads {
  readonly #idle = new Map<Worker, NodeJS.Timeout>();
  readonly #busy = new Set<Worker>();
  #closed = false;
  #spawned = 0;

  constructor(private readonly keepWarmMs: number) {}

  /** Workers alive now, idle and running. */
  get size(): number {
    return this.#idle.size + this.#busy.size;
  }

  /** Workers started so far: a run that found idle ones started none. */
  get spawned(): number {
    return this.#spawned;
  }

  readonly execute: ExecuteLoad = (plan, onProgress) => {
    if (this.#closed) return { stop: () => {}, result: Promise.reject(new Error('the load generator is closed: the server is stopping')) };
    const threads = usableThreads(plan.stages, plan.threads);
    const latest: Array<Progress | undefined> = Array.from({ length: threads }, () => undefined);
    const started = Array.from({ length: threads }, (_, thread) => this.#runOne({ plan, thread, threads }, (progress) => {
      latest[thread] = progress;
      const known = latest.filter((p): p is Progress => p !== undefined);
      if (known.length === threads) onProgress(mergeProgress(known));
    }));
    const result = Promise.all(started.map(({ run }) => run)).then(
      (runs) => mergeInWorker(plan, runs),
      (error: unknown) => {
        // The other threads' shares are no use now: their workers go, not back to the idle ones.
        for (const one of started) if (one.running()) void this.#end(one.worker);
        throw error;
      },
    );
    return {
      // Only to a worker still on this run: one that finished may be on another run by now.
      stop: () => { for (const one of started) if (one.running()) one.worker.postMessage({ type: 'stop' } satisfies ToWorker); },
      result,
    };
  };

  /** Ends every worker, idle or running (a running one's run then fails). Safe twice. */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#idle.keys(), ...this.#busy];
    await Promise.all(all.map((worker) => this.#end(worker)));
  }

  #take(): Worker {
    const [idle] = this.#idle;
    let worker: Worker;
    if (idle) {
      clearTimeout(idle[1]);
      this.#idle.delete(idle[0]);
      worker = idle[0];
    } else {
      worker = spawnWorker('worker', undefined);
      this.#spawned++;
      // However it ends (terminate, a crash), it is no longer anyone's to use. An idle worker's
      // crash must not be an unhandled 'error' on the server: it only ends the worker (a running
      // one's also fails its run, in #runOne).
      worker.once('exit', () => { this.#forget(worker); });
      worker.on('error', () => {});
    }
    worker.ref();
    this.#busy.add(worker);
    return worker;
  }

  #release(worker: Worker): void {
    this.#busy.delete(worker);
    if (this.#closed || this.keepWarmMs === 0) {
      void this.#end(worker);
      return;
    }
    worker.unref();
    const timer = setTimeout(() => { void this.#end(worker); }, this.keepWarmMs);
    timer.unref();
    this.#idle.set(worker, timer);
  }

  #forget(worker: Worker): void {
    clearTimeout(this.#idle.get(worker));
    this.#idle.delete(worker);
    this.#busy.delete(worker);
  }

  #end(worker: Worker): Promise<number> {
    this.#forget(worker);
    return worker.terminate();
  }

  #runOne(input: WorkerInput, onProgress: (progress: Progress) => void): { worker: Worker; run: Promise<RawRun>; running: () => boolean } {
    const worker = this.#take();
    let running = true;
    const run = new Promise<RawRun>((resolve, reject) => {
      const onMessage = (message: FromWorker) => {
        if (message.type === 'progress') {
          onProgress(message.progress);
          return;
        }
        settle();
        if (message.type === 'done') {
          this.#release(worker);
          resolve(message.run);
        } else {
          // A run that threw may have left the worker in any state: it is not used again.
          void this.#end(worker);
          reject(new Error(`load test failed in its worker: ${message.message}`));
        }
      };
      const onError = (error: Error) => { settle(); reject(error); };
      const onExit = (code: number) => { settle(); reject(new Error(`load-test worker exited with code ${code} before reporting`)); };
      const settle = () => {
        running = false;
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
    });
    worker.postMessage({ type: 'run', input } satisfies ToWorker);
    return { worker, run, running: () => running };
  }
}
