// Worker-thread entry: runs one thread's share of a load test off the server's event loop, so the
// server keeps answering (/health, /stats, the hits themselves) at full speed while it loads itself.
// A worker runs one share at a time, as often as it is asked: thread.ts keeps it for the next run
// (loadtest.keepWarmMs), whose requests then go through got's code already compiled.
import { parentPort } from 'node:worker_threads';
import { systemClock } from '../clock.js';
import { runLoad } from './runner.js';
import type { FromWorker, ToWorker } from './thread.js';

const port = parentPort!;
const post = (message: FromWorker) => port.postMessage(message);
let stop: AbortController | undefined;

// The listener keeps the worker alive between runs; thread.ts terminates it.
port.on('message', (message: ToWorker) => {
  if (message.type === 'stop') {
    stop?.abort();
    return;
  }
  const { plan, thread, threads } = message.input;
  const own = new AbortController();
  stop = own;
  runLoad(plan, {
    clock: systemClock,
    stop: own.signal,
    thread,
    threads,
    onProgress: (progress) => post({ type: 'progress', progress }),
  }).then(
    (run) => post({ type: 'done', run }),
    (error: unknown) => post({ type: 'failed', message: (error as Error).stack ?? String(error) }),
  ).finally(() => {
    if (stop === own) stop = undefined;
  });
});
