// Fires n requests at a hitcounter's /api/* through got, with p-limit bounding concurrency.
// Work is streamed in batches, and at most two batches exist at once (one draining, one
// filling the pipe), so memory depends on batchSize and concurrency, never on n.
import { setMaxListeners } from 'node:events';
import { Agent } from 'node:http';
import got, { type Got } from 'got';
import pLimit from 'p-limit';
import type { Clock } from '../clock.js';
import { PathGenerator, type IndexSource, type PathPick } from './paths.js';
import { LoadRecorder, type LoadReport } from './report.js';

export interface LoadOptions {
  requests: number;
  concurrency: number;
  seed: number;
  vocabulary: number;
  batchSize: number;
  /** Base URL of the server to load, e.g. http://127.0.0.1:5000 */
  target: string;
  requestTimeoutMs: number;
  signal?: AbortSignal;
}

export interface LoadDeps {
  clock: Clock;
  indexSource: (seed: number) => IndexSource;
}

function httpClient(target: string, concurrency: number, timeoutMs: number): { client: Got; agent: Agent } {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const client = got.extend({
    prefixUrl: target,
    agent: { http: agent },
    // A load test must show failures, never hide them behind retries.
    retry: { limit: 0 },
    timeout: { request: timeoutMs },
    throwHttpErrors: false,
    followRedirect: false,
    decompress: false,
  });
  return { client, agent };
}

export async function runLoad(options: LoadOptions, deps: LoadDeps): Promise<LoadReport> {
  const { requests, concurrency, batchSize, signal } = options;
  const { clock } = deps;
  const { client, agent } = httpClient(options.target, concurrency, options.requestTimeoutMs);
  const recorder = new LoadRecorder();
  const paths = new PathGenerator(options.vocabulary, deps.indexSource(options.seed));
  const limit = pLimit(concurrency);
  // Every in-flight request listens for the abort; that many listeners is expected, not a leak.
  if (signal) setMaxListeners(concurrency + 10, signal);

  const fire = async ({ index, path }: PathPick): Promise<void> => {
    if (signal?.aborted) return;
    recorder.path(index);
    const started = clock.now();
    try {
      // prefixUrl joins with a single slash, so the leading one is dropped here.
      const response = await client.get(path.slice(1), { signal });
      recorder.response(response.statusCode, clock.now() - started);
    } catch (error) {
      const { code, name } = error as { code?: string; name?: string };
      recorder.error(code ?? name ?? 'UNKNOWN');
    }
  };

  const started = clock.now();
  try {
    let draining: Promise<unknown> = Promise.resolve();
    for (let sent = 0; sent < requests && !signal?.aborted; sent += batchSize) {
      const filling = limit.map(paths.take(Math.min(batchSize, requests - sent)), fire);
      await draining;
      draining = filling;
    }
    await draining;
  } finally {
    agent.destroy();
  }
  return recorder.report({ requested: requests, durationMs: clock.now() - started, concurrency, seed: options.seed });
}
