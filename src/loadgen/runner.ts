// One thread's share of a load test: its stages, in order, through got (client.ts) with p-limit
// bounding what is in flight.
//
// Closed stage: `concurrency` requests are always in flight, until its count is sent or its time
// is up. Work is streamed in batches, and at most two batches exist at once.
// Open stage: request i is due at the stage's start + rampDueMs(i) (stages.ts). Its latency is
// measured from that due time, not from when it was sent, so a stall shows in the latencies (no
// coordinated omission, as in wrk2 and autocannon -R). A request that cannot be sent within
// maxLagMs of its due time is dropped and counted as such; schedule.ts decides. The stage lasts
// its whole duration, so the next one starts on time.
//
// Memory depends on batchSize, concurrency and the run's duration, never on its request count.
// Stopping sends nothing more and lets in-flight requests settle, so every response that was
// sent is in the report.
import { setMaxListeners } from 'node:events';
import { monitorEventLoopDelay, performance, type RecordableHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import type { Clock } from '../clock.js';
import { LOADGEN_HEADER } from '../loopback.js';
import { createLoadClient } from './client.js';
import { PathGenerator, seededIndexSource, type Distribution, type PathPick } from './paths.js';
import { PathSet, Seconds, Tally, usToMs, requestsPerSecond, type RawSecond, type RawTally } from './report.js';
import { openStep } from './schedule.js';
import { rampDueMs, rateAt, threadShare, type StagePlan } from './stages.js';

export interface LoadPlan {
  stages: StagePlan[];
  distribution: Distribution;
  paths: number;
  zipfExponent: number;
  seed: number;
  /** Base URL of the server to load, e.g. http://127.0.0.1:5000 */
  target: string;
  /** Worker threads to spread the run over (stages.ts: usableThreads may use fewer). */
  threads: number;
  batchSize: number;
  requestTimeoutMs: number;
  maxLagMs: number;
  progressIntervalMs: number;
  /** Sent in LOADGEN_HEADER so this server's rate limits let its own load tests through. */
  loadgenSecret: string;
}

/** Where a thread stands, every progressIntervalMs: counts include warm-up. */
export interface Progress {
  completed: number;
  succeeded: number;
  failed: number;
  dropped: number;
  elapsedMs: number;
  requestsPerSecond: number;
  /** Of the measured part so far (of the warm-up while it runs). */
  p99: number;
  /** The stage running now (0-based), and whether it is a warm-up. */
  stage: number;
  warmup: boolean;
  /** The open stage's target rate at this moment; null for a closed stage. */
  targetRate: number | null;
}

export interface RawStage extends RawTally {
  startedAt: number;
  finishedAt: number;
}

/** One thread's record of its run, as plain data that crosses threads; merge.ts reports on it. */
export interface RawRun {
  startedAt: number;
  /** When the first stage that is not a warm-up began; null if the run never got there. */
  measuredFrom: number | null;
  finishedAt: number;
  cancelled: boolean;
  /** The stages that began, in order. */
  stages: RawStage[];
  /** Every request of the stages that are not warm-ups. */
  measured: RawTally;
  seconds: RawSecond[];
  /** Vocabulary indices sent, one bit each (PathSet). */
  paths: Uint8Array;
  /** How busy this thread's event loop was: a generator at its limit times its own queue. */
  generator: { eventLoopUtilization: number; eventLoopDelayP99Ms: number };
}

export interface RunControl {
  clock: Clock;
  /** When aborted, nothing more is sent; in-flight requests still settle. */
  stop?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** This thread's number among `plan.threads` (0 by default). */
  thread?: number;
  threads?: number;
}

export async function runLoad(plan: LoadPlan, { clock, stop, onProgress, thread = 0, threads = 1 }: RunControl): Promise<RawRun> {
  const maxConcurrency = Math.max(1, ...plan.stages.map((stage) => threadShare(stage, thread, threads).concurrency));
  const client = createLoadClient({
    target: plan.target,
    concurrency: maxConcurrency,
    timeoutMs: plan.requestTimeoutMs,
    headers: { 'user-agent': 'hitcounter-loadgen', [LOADGEN_HEADER]: plan.loadgenSecret },
  });
  // Each thread draws its own stream: the seed and the thread number replay it exactly.
  const paths = new PathGenerator(seededIndexSource({ ...plan, seed: (plan.seed + thread) >>> 0 }));
  const sent = new PathSet(plan.paths);
  const measured = new Tally();
  const seconds = new Seconds();
  const stages: Array<{ tally: Tally; startedAt: number; finishedAt: number }> = [];
  const stopped = () => stop?.aborted === true;
  if (stop) setMaxListeners(maxConcurrency + 10, stop);

  let startedAt = clock.now();
  let measuredFrom: number | null = null;
  let current = { index: 0, warmup: false, startedAt, stage: plan.stages[0]! };
  const totals = { completed: 0, succeeded: 0, dropped: 0 };

  const delay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
  delay.enable();
  const utilizationBefore = performance.eventLoopUtilization();

  /** The tallies a request of `stageIndex` counts in: its stage's, and when measured the run's and its second's. */
  const tallies = (stageIndex: number, warmup: boolean): Tally[] => {
    const own = stages[stageIndex]!.tally;
    if (warmup || measuredFrom === null) return [own];
    return [own, measured, seconds.at(clock.now() - measuredFrom)];
  };

  const fire = async ({ index, path }: PathPick, stageIndex: number, warmup: boolean, dueAt?: number): Promise<void> => {
    if (stopped()) return;
    sent.add(index);
    const sentAt = dueAt ?? clock.now();
    try {
      const status = await client.send(path);
      const latencyMs = clock.now() - sentAt;
      totals.completed++;
      if (status >= 200 && status < 300) totals.succeeded++;
      for (const tally of tallies(stageIndex, warmup)) tally.response(status, latencyMs);
    } catch (error) {
      const { code, name } = error as { code?: string; name?: string };
      totals.completed++;
      for (const tally of tallies(stageIndex, warmup)) tally.error(code ?? name ?? 'UNKNOWN');
    }
  };

  const closedStage = async (stage: StagePlan & { concurrency: number }, stageIndex: number, stageStart: number) => {
    if (stage.concurrency === 0) return;
    const limit = pLimit(stage.concurrency);
    const endsAt = stage.durationMs === null ? Infinity : stageStart + stage.durationMs;
    const timeUp = () => clock.now() >= endsAt;
    const total = stage.requests ?? Infinity;
    let draining: Promise<unknown> = Promise.resolve();
    for (let queued = 0; queued < total && !stopped() && !timeUp(); queued += plan.batchSize) {
      // A request whose turn comes after the stage's time is up is not sent (and no path is drawn).
      const filling = limit.map(countTo(Math.min(plan.batchSize, total - queued)), () => (timeUp() ? undefined : fire(paths.next(), stageIndex, stage.warmup)));
      await draining;
      draining = filling;
    }
    await draining;
  };

  const openStage = async (stage: StagePlan, share: { concurrency: number; stride: number; offset: number }, stageIndex: number, stageStart: number) => {
    const { rate, durationMs, requests } = stage as StagePlan & { rate: { from: number; to: number }; durationMs: number; requests: number };
    const limit = pLimit(share.concurrency);
    // This thread sends the requests offset, offset + stride, … of the stage's one schedule.
    const mine = Math.max(0, Math.ceil((requests - share.offset) / share.stride));
    const due = (n: number) => stageStart + rampDueMs(rate, durationMs, share.offset + n * share.stride);
    const inFlight = new Set<Promise<void>>();
    for (let next = 0; !stopped();) {
      const now = clock.now();
      const step = openStep({ due, requests: mine, maxLagMs: plan.maxLagMs, concurrency: share.concurrency }, { now, next, inFlight: inFlight.size });
      if (step.kind === 'done') break;
      if (step.kind === 'wait') {
        // Not due yet: sleep until it is. A timer may fire a little early; the next pass then
        // finds the request still not due and sleeps again, so nothing is ever sent early.
        await sleep(Math.max(1, step.until - now), undefined, { signal: stop }).catch(() => {});
      } else if (step.kind === 'busy') {
        // The due time keeps counting while we wait, so the wait shows in the latency.
        await Promise.race(inFlight);
      } else if (step.kind === 'drop') {
        totals.dropped++;
        for (const tally of tallies(stageIndex, stage.warmup)) tally.drop();
        next++;
      } else {
        const request = limit(fire, paths.next(), stageIndex, stage.warmup, step.dueAt).finally(() => inFlight.delete(request));
        inFlight.add(request);
        next++;
      }
    }
    return inFlight;
  };

  /** Sleeps (on real time: the clock may be a test's) until the run's clock reaches `at`. */
  const waitUntil = async (at: number) => {
    while (!stopped() && clock.now() < at) await sleep(Math.max(1, at - clock.now()), undefined, { signal: stop }).catch(() => {});
  };

  const progress = (): Progress => {
    const elapsedMs = clock.now() - startedAt;
    const latency = current.warmup ? stages[current.index]?.tally.latency : measured.latency;
    return {
      completed: totals.completed,
      succeeded: totals.succeeded,
      failed: totals.completed - totals.succeeded,
      dropped: totals.dropped,
      elapsedMs: Math.round(elapsedMs * 1000) / 1000,
      requestsPerSecond: requestsPerSecond(totals.completed, elapsedMs),
      p99: !latency || latency.totalCount === 0 ? 0 : usToMs(latency.getValueAtPercentile(99)),
      stage: current.index,
      warmup: current.warmup,
      // Per thread: the merged progress (thread.ts) adds the threads' rates up.
      targetRate: rateAt(current.stage, clock.now() - current.startedAt),
    };
  };

  // The run starts now, set up: a run without a warm-up is measured from its very start.
  startedAt = clock.now();
  const ticker = onProgress ? setInterval(() => onProgress(progress()), plan.progressIntervalMs) : undefined;
  // Requests of an open stage still in flight when the next stage begins: they settle meanwhile.
  const settling: Array<Set<Promise<void>>> = [];
  // An open stage lasts its schedule (n requests at r/s take n/r s, the last slot included), and the
  // stage after it starts where that schedule ends, so that a ramp in several stages is seamless.
  let scheduledEnd = startedAt;
  try {
    for (const [index, stage] of plan.stages.entries()) {
      if (stopped()) break;
      if (!stage.rate) await waitUntil(scheduledEnd);
      // The first stage starts with the run, so that a run without a warm-up is measured from its start.
      const stageStart = index === 0 ? startedAt : stage.rate ? Math.max(clock.now(), scheduledEnd) : clock.now();
      if (!stage.warmup && measuredFrom === null) measuredFrom = stageStart;
      current = { index, warmup: stage.warmup, startedAt: stageStart, stage };
      stages.push({ tally: new Tally(), startedAt: stageStart, finishedAt: stageStart });
      const share = threadShare(stage, thread, threads);
      if (stage.rate) settling.push(await openStage(stage, share, index, stageStart));
      else await closedStage(share, index, stageStart);
      scheduledEnd = stage.rate ? stageStart + stage.durationMs! : clock.now();
      // A stopped stage ends now, not where its schedule would have: its rate is of what it sent.
      stages[index]!.finishedAt = stopped() ? clock.now() : Math.max(clock.now(), scheduledEnd);
    }
    await Promise.all(settling.flatMap((set) => [...set]));
  } finally {
    clearInterval(ticker);
    client.close();
    delay.disable();
  }
  const utilization = performance.eventLoopUtilization(utilizationBefore);
  return {
    startedAt,
    measuredFrom,
    finishedAt: stopped() ? clock.now() : Math.max(clock.now(), scheduledEnd),
    cancelled: stopped(),
    stages: stages.map(({ tally, startedAt: s, finishedAt: f }) => ({ ...tally.raw(), startedAt: s, finishedAt: f })),
    measured: measured.raw(),
    seconds: measuredFrom === null ? [] : seconds.finish(),
    paths: sent.bits,
    generator: { eventLoopUtilization: Math.round(utilization.utilization * 1000) / 1000, eventLoopDelayP99Ms: lagP99Ms(delay) },
  };
}

const DELAY_RESOLUTION_MS = 10;

/**
 * The event loop's lag at p99, in ms. monitorEventLoopDelay records the time between two ticks
 * of its own timer, so an idle loop reads the resolution itself (10.1 to 10.3 ms at 10): the lag,
 * how long a response may have waited to be read, is what exceeds it.
 */
export function lagP99Ms(delay: Pick<RecordableHistogram, 'percentile'>, resolutionMs = DELAY_RESOLUTION_MS): number {
  return Math.max(0, Math.round((delay.percentile(99) / 1e6 - resolutionMs) * 100) / 100);
}

function* countTo(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}
