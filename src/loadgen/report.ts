// What a load-test thread records, in constant memory whatever the number of requests: tallies
// (counters and an HDR histogram) per stage and for the measured part, and one small tally per
// second. A thread hands them over encoded (RawRun), so the threads of a run merge exactly:
// histograms are added, counters summed (merge.ts).
import { build, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';

export interface LatencySummary {
  min: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
  p99_9: number;
  max: number;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;
export const usToMs = (us: number) => round3(us / 1000);

/** Latency figures in milliseconds; all zero when nothing was recorded. */
export function summarizeLatency(histogram: Histogram): LatencySummary {
  if (histogram.totalCount === 0) return { min: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0, p99_9: 0, max: 0 };
  return {
    min: usToMs(histogram.minNonZeroValue),
    mean: usToMs(histogram.mean),
    stddev: usToMs(histogram.stdDeviation),
    p50: usToMs(histogram.getValueAtPercentile(50)),
    p90: usToMs(histogram.getValueAtPercentile(90)),
    p99: usToMs(histogram.getValueAtPercentile(99)),
    p99_9: usToMs(histogram.getValueAtPercentile(99.9)),
    max: usToMs(histogram.maxValue),
  };
}

export function requestsPerSecond(completed: number, durationMs: number): number {
  return durationMs > 0 ? Math.round((completed / durationMs) * 1000 * 100) / 100 : 0;
}

export function newLatencyHistogram(): Histogram {
  // 1 µs to 60 s at 3 significant digits, growing if a request ever takes longer.
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
}

/** A tally as it crosses from a worker thread: plain data, its histogram in HdrHistogram's compressed base64. */
export interface RawTally {
  completed: number;
  succeeded: number;
  non2xx: number;
  dropped: number;
  statusCodes: Record<string, number>;
  errors: Record<string, number>;
  /** Latencies in µs, HdrHistogram's compressed base64 encoding. */
  histogram: string;
}

/** Outcomes of a set of requests: counters, status codes, error codes and a latency histogram. */
export class Tally {
  readonly latency = newLatencyHistogram();
  readonly #statusCodes = new Map<number, number>();
  readonly #errors = new Map<string, number>();
  completed = 0;
  succeeded = 0;
  non2xx = 0;
  dropped = 0;

  /** A response, `latencyMs` after its request was due to be sent. */
  response(status: number, latencyMs: number): void {
    this.completed++;
    if (status >= 200 && status < 300) this.succeeded++;
    else this.non2xx++;
    this.#statusCodes.set(status, (this.#statusCodes.get(status) ?? 0) + 1);
    this.latency.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
  }

  /** A request that ended without a response (timeout, refused, reset …). */
  error(code: string): void {
    this.completed++;
    this.#errors.set(code, (this.#errors.get(code) ?? 0) + 1);
  }

  /** A request of the open model that could not be sent on schedule, and so was never sent. */
  drop(): void {
    this.dropped++;
  }

  raw(): RawTally {
    return {
      completed: this.completed,
      succeeded: this.succeeded,
      non2xx: this.non2xx,
      dropped: this.dropped,
      statusCodes: Object.fromEntries([...this.#statusCodes].map(([code, count]) => [String(code), count])),
      errors: Object.fromEntries(this.#errors),
      histogram: encodeIntoCompressedBase64(this.latency),
    };
  }
}

export interface RawSecond extends RawTally {
  /** Seconds since the measured part of the run began: 0 is its first second. */
  second: number;
}

/**
 * One tally per second of the measured part. Only the current second is a live histogram; a
 * finished second is kept encoded (a few hundred bytes), so memory grows with the run's duration
 * (bounded by `loadtest.maxDurationMs`), never with its request count.
 */
export class Seconds {
  readonly #done: RawSecond[] = [];
  #current = new Tally();
  #second = 0;

  /** The tally of the second `elapsedMs` falls in; earlier seconds are closed, empty ones kept as zeros. */
  at(elapsedMs: number): Tally {
    const second = Math.max(0, Math.floor(elapsedMs / 1000));
    while (second > this.#second) {
      this.#done.push({ second: this.#second, ...this.#current.raw() });
      this.#current = new Tally();
      this.#second++;
    }
    return this.#current;
  }

  /** Every second so far, the current one included (it may be partial). */
  finish(): RawSecond[] {
    return [...this.#done, { second: this.#second, ...this.#current.raw() }];
  }
}

/** Which vocabulary indices were sent, one bit each: mergeable across threads, bounded by the vocabulary. */
export class PathSet {
  readonly bits: Uint8Array;

  constructor(size: number) {
    this.bits = new Uint8Array(Math.ceil(size / 8));
  }

  add(index: number): void {
    this.bits[index >> 3]! |= 1 << (index & 7);
  }

  /** How many distinct indices are set across all of `sets`. */
  static countUnion(sets: readonly Uint8Array[]): number {
    const length = Math.max(0, ...sets.map((s) => s.length));
    let count = 0;
    for (let i = 0; i < length; i++) {
      let byte = 0;
      for (const set of sets) byte |= set[i] ?? 0;
      for (; byte; byte &= byte - 1) count++;
    }
    return count;
  }
}
