// Worker-thread entry: merges a finished run's thread records into its report (merge.ts) off the
// server's event loop, and answers once.
import { parentPort, workerData } from 'node:worker_threads';
import { mergeRuns } from './merge.js';
import type { MergeInput } from './thread.js';

const { plan, runs } = workerData as MergeInput;
try {
  parentPort!.postMessage({ result: mergeRuns(plan, runs) });
} catch (error) {
  parentPort!.postMessage({ failed: (error as Error).stack ?? String(error) });
}
