// Runs a load test in a worker_threads worker and relays its progress and report.
import { Worker } from 'node:worker_threads';
import type { LoadPlan } from './runner.js';
import type { LoadReport, Progress } from './report.js';

export type ToWorker = { type: 'stop' };
export type FromWorker =
  | { type: 'progress'; progress: Progress }
  | { type: 'done'; report: LoadReport }
  | { type: 'failed'; message: string };

export interface Execution {
  /** Nothing more is sent; in-flight requests settle and the report still arrives. */
  stop(): void;
  report: Promise<LoadReport>;
}

export type ExecuteLoad = (plan: LoadPlan, onProgress: (progress: Progress) => void) => Execution;

// The worker's allocations are short-lived (one request's objects); a small young generation
// keeps its heap, and so the server's RSS, from growing with the request rate.
const resourceLimits = { maxYoungGenerationSizeMb: 16 };

// Under tsx (tests, development) this file is .ts, and on Node 20 the --import hook does not
// reach worker threads, so the worker registers tsx itself before loading worker.ts.
function spawnWorker(plan: LoadPlan): Worker {
  if (import.meta.url.endsWith('.ts')) {
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./worker.ts', import.meta.url).href;
    const code = `import(${JSON.stringify(tsx)}).then((api) => api.register()).then(() => import(${JSON.stringify(entry)}))`;
    return new Worker(code, { eval: true, workerData: plan, resourceLimits });
  }
  return new Worker(new URL('./worker.js', import.meta.url), { workerData: plan, resourceLimits });
}

export const executeInWorker: ExecuteLoad = (plan, onProgress) => {
  const worker = spawnWorker(plan);
  const report = new Promise<LoadReport>((resolve, reject) => {
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'progress') onProgress(message.progress);
      else if (message.type === 'done') resolve(message.report);
      else reject(new Error(`load test failed in its worker: ${message.message}`));
    });
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`load-test worker exited with code ${code} before reporting`)));
  });
  return {
    stop: () => worker.postMessage({ type: 'stop' } satisfies ToWorker),
    report,
  };
};
