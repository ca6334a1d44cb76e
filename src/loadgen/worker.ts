// Worker-thread entry: runs one load test off the server's event loop, so the server keeps
// answering (/health, /stats, the hits themselves) at full speed while it loads itself.
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../clock.js';
import { runLoad, type LoadPlan } from './runner.js';
import type { FromWorker, ToWorker } from './thread.js';

const port = parentPort!;
const post = (message: FromWorker) => port.postMessage(message);
const stop = new AbortController();
const onMessage = (message: ToWorker) => {
  if (message.type === 'stop') stop.abort();
};
port.on('message', onMessage);

try {
  const report = await runLoad(workerData as LoadPlan, {
    clock: systemClock,
    stop: stop.signal,
    onProgress: (progress) => post({ type: 'progress', progress }),
  });
  post({ type: 'done', report });
} catch (error) {
  post({ type: 'failed', message: (error as Error).stack ?? String(error) });
} finally {
  // Without a listener the worker has nothing left to wait for and exits by itself.
  port.off('message', onMessage);
}
