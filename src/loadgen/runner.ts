// Fires n requests at a hitcounter's /api/* through got, with p-limit bounding concurrency.
//
// Closed model (no rate): `concurrency` requests are always in flight. Work is streamed in
// batches, and at most two batches exist at once (one draining, one filling the pipe).
// Open model (rate): request i is due at start + i/rate. Its latency is measured from that due
// time, not from when it was sent, so a stall shows up in the latencies (no coordinated
// omission, as in wrk2 and autocannon -R). A request that cannot be sent within maxLagMs of
// its due time is dropped and counted as such. schedule.ts decides which of these happens.
//
// Either way memory depends on batchSize and concurrency, never on n. Stopping sends nothing
// more and lets in-flight requests settle, so every response that was sent is in the report.
import { setMaxListeners } from 'node:events';
import { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import got, { type Got } from 'got';
import pLimit from 'p-limit';
import type { Clock } from '../clock.js';
import { LOADGEN_HEADER } from '../loopback.js';
import { PathGenerator, seededIndexSource, type Distribution, type PathPick } from './paths.js';
import { LoadRecorder, type LoadReport, type Progress, type RunDescription } from './report.js';
import { openStep, type OpenSchedule } from './schedule.js';

export interface LoadPlan {
  requests: number;
  concurrency: number;
  /** Requests per second for the open model; null for the closed model. */
  rate: number | null;
  distribution: Distribution;
  paths: number;
  zipfExponent: number;
  seed: number;
  /** Base URL of the server to load, e.g. http://127.0.0.1:5000 */
  target: string;
  batchSize: number;
  requestTimeoutMs: number;
  maxLagMs: number;
  progressIntervalMs: number;
  /** Sent in LOADGEN_HEADER so this server's rate limits let its own load tests through. */
  loadgenSecret: string;
}

export interface RunControl {
  clock: Clock;
  /** When aborted, nothing more is sent; in-flight requests still settle. */
  stop?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

function httpClient(target: string, concurrency: number, timeoutMs: number, secret: string): { client: Got; agent: Agent } {
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
    headers: { 'user-agent': 'hitcounter-loadgen', [LOADGEN_HEADER]: secret },
  });
  return { client, agent };
}

/**
 * One GET through got's stream API, resolving with the status once the body has been read.
 * The stream API costs about half the CPU of got's promise API per request (no response
 * buffering, no cancelable promise), which is what bounds the generator's rate.
 */
function send(client: Got, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    // prefixUrl joins with a single slash, so the leading one is dropped here.
    const stream = client.stream(path.slice(1));
    let status = 0;
    stream.once('response', (response: { statusCode: number }) => { status = response.statusCode; });
    stream.once('error', reject);
    stream.once('end', () => resolve(status));
    stream.resume();
  });
}

export async function runLoad(plan: LoadPlan, { clock, stop, onProgress }: RunControl): Promise<LoadReport> {
  const { client, agent } = httpClient(plan.target, plan.concurrency, plan.requestTimeoutMs, plan.loadgenSecret);
  const recorder = new LoadRecorder();
  const paths = new PathGenerator(seededIndexSource(plan));
  const limit = pLimit(plan.concurrency);
  const stopped = () => stop?.aborted === true;
  if (stop) setMaxListeners(plan.concurrency + 10, stop);

  const startedAt = clock.now();
  const elapsed = () => clock.now() - startedAt;

  const fire = async ({ index, path }: PathPick, dueAt?: number): Promise<void> => {
    if (stopped()) return;
    recorder.path(index);
    const sentAt = dueAt ?? clock.now();
    try {
      const status = await send(client, path);
      recorder.response(status, clock.now() - sentAt, elapsed());
    } catch (error) {
      const { code, name } = error as { code?: string; name?: string };
      recorder.error(code ?? name ?? 'UNKNOWN', elapsed());
    }
  };

  const closedModel = async () => {
    let draining: Promise<unknown> = Promise.resolve();
    for (let sent = 0; sent < plan.requests && !stopped(); sent += plan.batchSize) {
      const filling = limit.map(paths.take(Math.min(plan.batchSize, plan.requests - sent)), (pick) => fire(pick));
      await draining;
      draining = filling;
    }
    await draining;
  };

  // The decisions are openStep's (schedule.ts); this loop only carries them out.
  const openModel = async (rate: number) => {
    const schedule: OpenSchedule = { startedAt, rate, requests: plan.requests, maxLagMs: plan.maxLagMs, concurrency: plan.concurrency };
    const inFlight = new Set<Promise<void>>();
    for (let next = 0; !stopped();) {
      const now = clock.now();
      const step = openStep(schedule, { now, next, inFlight: inFlight.size });
      if (step.kind === 'done') break;
      if (step.kind === 'wait') {
        // Not due yet: sleep until it is. A timer may fire a little early; the next pass then
        // finds the request still not due and sleeps again, so nothing is ever sent early.
        await sleep(Math.max(1, step.until - now), undefined, { signal: stop }).catch(() => {});
      } else if (step.kind === 'busy') {
        // The due time keeps counting while we wait, so the wait shows in the latency.
        await Promise.race(inFlight);
      } else if (step.kind === 'drop') {
        recorder.drop();
        next++;
      } else {
        const request = limit(fire, paths.next(), step.dueAt).finally(() => inFlight.delete(request));
        inFlight.add(request);
        next++;
      }
    }
    await Promise.all(inFlight);
  };

  const ticker = onProgress ? setInterval(() => onProgress(recorder.progress(elapsed())), plan.progressIntervalMs) : undefined;
  try {
    await (plan.rate === null ? closedModel() : openModel(plan.rate));
  } finally {
    clearInterval(ticker);
    agent.destroy();
  }
  return recorder.report({ ...describe(plan), requested: plan.requests, startedAt, finishedAt: clock.now(), cancelled: stopped() });
}

export function describe(plan: LoadPlan): RunDescription {
  return {
    model: plan.rate === null ? 'closed' : 'open',
    rate: plan.rate,
    concurrency: plan.concurrency,
    distribution: plan.distribution,
    paths: plan.paths,
    seed: plan.seed,
    target: plan.target,
  };
}

/** The report of a run cancelled before it sent anything. */
export function emptyReport(plan: LoadPlan, at: number): LoadReport {
  return new LoadRecorder().report({ ...describe(plan), requested: plan.requests, startedAt: at, finishedAt: at, cancelled: true });
}
