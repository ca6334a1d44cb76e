// Accumulates the outcome of every load-test request in constant memory and turns it
// into the report. Latencies go into an HDR histogram, in microseconds.
import { build, type Histogram } from 'hdr-histogram-js';

export interface LatencySummary {
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface LoadReport {
  requested: number;
  completed: number;
  succeeded: number;
  failed: number;
  durationMs: number;
  requestsPerSecond: number;
  latencyMs: LatencySummary;
  statusCodes: Record<string, number>;
  errors: Record<string, number>;
  distinctPaths: number;
  concurrency: number;
  seed: number;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;
const usToMs = (us: number) => round3(us / 1000);

/** Latency figures in milliseconds; all zero when nothing was recorded. */
export function summarizeLatency(histogram: Histogram): LatencySummary {
  if (histogram.totalCount === 0) return { min: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  return {
    min: usToMs(histogram.minNonZeroValue),
    mean: usToMs(histogram.mean),
    p50: usToMs(histogram.getValueAtPercentile(50)),
    p90: usToMs(histogram.getValueAtPercentile(90)),
    p99: usToMs(histogram.getValueAtPercentile(99)),
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
  // Bounded by the vocabulary, never by n.
  readonly #paths = new Set<number>();
  #completed = 0;
  #succeeded = 0;

  path(index: number): void {
    this.#paths.add(index);
  }

  response(status: number, latencyMs: number): void {
    this.#completed++;
    if (status >= 200 && status < 300) this.#succeeded++;
    this.#statusCodes.set(status, (this.#statusCodes.get(status) ?? 0) + 1);
    this.latency.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
  }

  error(code: string): void {
    this.#completed++;
    this.#errors.set(code, (this.#errors.get(code) ?? 0) + 1);
  }

  report(run: { requested: number; durationMs: number; concurrency: number; seed: number }): LoadReport {
    return {
      requested: run.requested,
      completed: this.#completed,
      succeeded: this.#succeeded,
      failed: this.#completed - this.#succeeded,
      durationMs: round3(run.durationMs),
      requestsPerSecond: requestsPerSecond(this.#completed, run.durationMs),
      latencyMs: summarizeLatency(this.latency),
      statusCodes: Object.fromEntries([...this.#statusCodes].sort(([a], [b]) => a - b).map(([k, v]) => [String(k), v])),
      errors: Object.fromEntries(this.#errors),
      distinctPaths: this.#paths.size,
      concurrency: run.concurrency,
      seed: run.seed,
    };
  }
}
