// Worker-thread entry: runs one thread's share of a load test off the server's event loop, so the
// server keeps answering (/health, /stats, the hits themselves) at full speed while it loads itself.
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../clock.js';
import { runLoad } from './runner.js';
import type { FromWorker, ToWorker, WorkerInput } from './thread.js';

const port = parentPort!;
const post = (message: FromWorker) => port.postMessage(message);
const stop = new AbortController();
const onMessage = (message: ToWorker) => {
  if (message.type === 'stop') stop.abort();
};
port.on('message', onMessage);

const { plan, thread, threads } = workerData as WorkerInput;
try {
  const run = await runLoad(plan, {
    clock: systemClock,
    stop: stop.signal,
    thread,
    threads,
    onProgress: (progress) => post({ type: 'progress', progress }),
  });
  post({ type: 'done', run });
} catch (error) {
  post({ type: 'failed', message: (error as Error).stack ?? String(error) });
} finally {
  // Without a listener the worker has nothing left to wait for and exits by itself.
  port.off('message', onMessage);
}
