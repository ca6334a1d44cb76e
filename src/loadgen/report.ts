// Accumulates the outcome of every load-test request in constant memory (HDR histogram,
// counters, one counter per elapsed second) and turns it into the report, with the figures
// autocannon reports.
import { build, type Histogram } from 'hdr-histogram-js';

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

export interface RunDescription {
  model: 'closed' | 'open';
  /** Target requests per second in the open model; null in the closed model. */
  rate: number | null;
  concurrency: number;
  distribution: string;
  paths: number;
  seed: number;
  target: string;
}

export interface Progress {
  completed: number;
  succeeded: number;
  failed: number;
  dropped: number;
  elapsedMs: number;
  requestsPerSecond: number;
  p99: number;
}

export interface LoadReport extends RunDescription {
  requested: number;
  completed: number;
  succeeded: number;
  failed: number;
  non2xx: number;
  dropped: number;
  cancelled: boolean;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  requestsPerSecond: number;
  /** Requests completed in each second of the run; the last entry may cover a partial second. */
  perSecond: number[];
  latencyMs: LatencySummary;
  statusCodes: Record<string, number>;
  errors: Record<string, number>;
  distinctPaths: number;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;
const usToMs = (us: number) => round3(us / 1000);

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

export class LoadRecorder {
  readonly latency = newLatencyHistogram();
  readonly #statusCodes = new Map<number, number>();
  readonly #errors = new Map<string, number>();
  readonly #perSecond: number[] = [];
  // Bounded by the vocabulary, never by n.
  readonly #paths = new Set<number>();
  #completed = 0;
  #succeeded = 0;
  #non2xx = 0;
  #dropped = 0;

  path(index: number): void {
    this.#paths.add(index);
  }

  /** A response arrived `elapsedMs` into the run, `latencyMs` after it was due to be sent. */
  response(status: number, latencyMs: number, elapsedMs: number): void {
    this.#complete(elapsedMs);
    if (status >= 200 && status < 300) this.#succeeded++;
    else this.#non2xx++;
    this.#statusCodes.set(status, (this.#statusCodes.get(status) ?? 0) + 1);
    this.latency.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
  }

  /** A request ended without a response (timeout, refused, reset …). */
  error(code: string, elapsedMs: number): void {
    this.#complete(elapsedMs);
    this.#errors.set(code, (this.#errors.get(code) ?? 0) + 1);
  }

  /** A request of the open model that could not be sent on schedule, and so was never sent. */
  drop(): void {
    this.#dropped++;
  }

  #complete(elapsedMs: number): void {
    this.#completed++;
    const second = Math.max(0, Math.floor(elapsedMs / 1000));
    while (this.#perSecond.length <= second) this.#perSecond.push(0);
    this.#perSecond[second]!++;
  }

  progress(elapsedMs: number): Progress {
    return {
      completed: this.#completed,
      succeeded: this.#succeeded,
      failed: this.#completed - this.#succeeded,
      dropped: this.#dropped,
      elapsedMs: round3(elapsedMs),
      requestsPerSecond: requestsPerSecond(this.#completed, elapsedMs),
      p99: this.latency.totalCount === 0 ? 0 : usToMs(this.latency.getValueAtPercentile(99)),
    };
  }

  report(run: RunDescription & { requested: number; startedAt: number; finishedAt: number; cancelled: boolean }): LoadReport {
    const { requested, startedAt, finishedAt, cancelled, ...description } = run;
    const durationMs = finishedAt - startedAt;
    return {
      ...description,
      requested,
      completed: this.#completed,
      succeeded: this.#succeeded,
      failed: this.#completed - this.#succeeded,
      non2xx: this.#non2xx,
      dropped: this.#dropped,
      cancelled,
      startedAt: new Date(startedAt).toISOString(),
      finishedAt: new Date(finishedAt).toISOString(),
      durationMs: round3(durationMs),
      requestsPerSecond: requestsPerSecond(this.#completed, durationMs),
      perSecond: [...this.#perSecond],
      latencyMs: summarizeLatency(this.latency),
      statusCodes: Object.fromEntries([...this.#statusCodes].sort(([a], [b]) => a - b).map(([k, v]) => [String(k), v])),
      errors: Object.fromEntries(this.#errors),
      distinctPaths: this.#paths.size,
    };
  }
}
