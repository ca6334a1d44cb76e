// A load test is a list of stages run one after the other. A stage ends after a request count or
// a duration, and is either closed (a fixed number of requests in flight) or open (requests due
// on a schedule, at a rate that may ramp linearly from one value to another). `POST /test/{n}`
// is one stage; a warm-up is a stage whose requests are left out of the figures.

/** One stage as it is run: every figure resolved. */
export interface StagePlan {
  /** Its requests are counted in Redis (and in `counted`) but left out of the report's figures. */
  warmup: boolean;
  /** Open model: requests per second, from `from` at the stage's start to `to` at its end. Null: closed. */
  rate: { from: number; to: number } | null;
  /** Closed: requests in flight. Open: connections at most (a cap, not a target). */
  concurrency: number;
  /** Ends after this many requests; null for a closed stage bounded by its duration. Always set when open. */
  requests: number | null;
  /** Ends after this long; null for a closed stage bounded by its count. Always set when open. */
  durationMs: number | null;
}

/** A stage as a client writes it: a duration or a count, and a concurrency or a rate. */
export interface StageInput {
  durationMs?: number | undefined;
  requests?: number | undefined;
  concurrency?: number | undefined;
  rate?: number | readonly [number, number] | undefined;
  warmup?: boolean | undefined;
}

/** Resolves a stage: an open stage's count from its duration or its duration from its count. */
export function resolveStage(input: StageInput, defaultConcurrency: number): StagePlan {
  const warmup = input.warmup === true;
  if (input.rate === undefined) {
    return { warmup, rate: null, concurrency: input.concurrency ?? defaultConcurrency, requests: input.requests ?? null, durationMs: input.requests === undefined ? input.durationMs ?? null : null };
  }
  const [from, to] = typeof input.rate === 'number' ? [input.rate, input.rate] : input.rate;
  const mean = (from + to) / 2;
  // One of the two is given (the route's schema makes sure); the other follows from the mean rate.
  const requests = input.requests ?? Math.max(1, Math.round((mean * input.durationMs!) / 1000));
  const durationMs = input.durationMs ?? (requests * 1000) / mean;
  return { warmup, rate: { from, to }, concurrency: input.concurrency ?? defaultConcurrency, requests, durationMs };
}

/**
 * When request `index` of an open stage is due, in ms after the stage's start: where the number of
 * requests due so far, ∫ rate dt with the rate ramping linearly from `from` to `to` over the
 * stage, reaches `index`. Request 0 is due at once; a constant rate gives index / rate.
 */
export function rampDueMs(rate: { from: number; to: number }, durationMs: number, index: number): number {
  const { from, to } = rate;
  if (from === to) return (index * 1000) / from;
  // requests(t) = from·t + (to − from)·t² / (2·D), t and D in seconds: solve requests(t) = index.
  const d = durationMs / 1000;
  const a = (to - from) / (2 * d);
  const t = (-from + Math.sqrt(from * from + 4 * a * index)) / (2 * a);
  return t * 1000;
}

/** The target rate at `elapsedMs` into an open stage (what the dashboard draws as the ramp). */
export function rateAt(stage: StagePlan, elapsedMs: number): number | null {
  if (!stage.rate || stage.durationMs === null) return null;
  const share = Math.min(1, Math.max(0, elapsedMs / stage.durationMs));
  return stage.rate.from + (stage.rate.to - stage.rate.from) * share;
}

/** Requests the stages will send, or null when a closed stage is bounded by time only. */
export function plannedRequests(stages: readonly StagePlan[], which: 'measured' | 'warmup' | 'all' = 'all'): number | null {
  let total = 0;
  for (const stage of stages) {
    if (which === 'measured' && stage.warmup) continue;
    if (which === 'warmup' && !stage.warmup) continue;
    if (stage.requests === null) return null;
    total += stage.requests;
  }
  return total;
}

/** How long the stages take at most, when each is bounded by time (null when any is bounded by a count only). */
export function plannedDurationMs(stages: readonly StagePlan[]): number | null {
  let total = 0;
  for (const stage of stages) {
    if (stage.durationMs === null) return null;
    total += stage.durationMs;
  }
  return total;
}

/**
 * The share of the stages that thread `thread` of `threads` runs. Open stages: the thread sends
 * the requests of the one schedule whose index ≡ thread (mod threads), so that together they send
 * exactly that schedule. Closed stages: the concurrency and the count are split as evenly as
 * integers allow.
 */
export function threadShare(stage: StagePlan, thread: number, threads: number): StagePlan & { stride: number; offset: number } {
  const split = (total: number) => Math.floor(total / threads) + (thread < total % threads ? 1 : 0);
  if (stage.rate) {
    return { ...stage, concurrency: Math.max(1, split(stage.concurrency)), stride: threads, offset: thread };
  }
  return { ...stage, concurrency: split(stage.concurrency), requests: stage.requests === null ? null : split(stage.requests), stride: 1, offset: 0 };
}

/** How many threads a run may use: never more than any closed stage has connections to share. */
export function usableThreads(stages: readonly StagePlan[], wanted: number): number {
  let threads = wanted;
  for (const stage of stages) if (!stage.rate) threads = Math.min(threads, stage.concurrency);
  return Math.max(1, threads);
}
