// A long staged run keeps the server's limits (issue 17, target 4): 1,000,000 requests in stages
// (a closed warm-up, an open ramp, a closed plateau), while the server's RSS is sampled and
// /health is asked every 100 ms. The generator runs inside the server process, so the RSS is the
// server's and the generator's together: what an operator sees.
import got from 'got';
import type { JobReport } from '../src/loadgen/jobs.js';
import type { StageInput } from '../src/loadgen/stages.js';
import { rssBytes, runJob, type Child } from './lib.js';

export const HEALTH_EVERY_MS = 100;
/** A /health slower than this counts as a failure: the server was not answering. */
export const HEALTH_TIMEOUT_MS = 1000;

export interface MillionPhase {
  requests: number;
  /** Requests that ended (warm-up included), and those of the ramp not sent on time. */
  completed: number;
  dropped: number;
  stages: StageInput[];
  durationMs: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
  rssBeforeMB: number;
  rssPeakMB: number;
  rssGrowthMB: number;
  /** maxLatencyAtS: when the slowest /health was asked, in s after the run was posted (of durationMs / 1000). */
  health: { polls: number; failures: number; maxLatencyMs: number; maxLatencyAtS: number };
  generator: JobReport['generator'];
  warnings: string[];
  counted: boolean;
}

/**
 * The stages of `requests` in all: 2% a closed warm-up at 50, 5% an open ramp from 20% to 80% of
 * `rate` (what the generator sustained closed, measured before), the rest a closed plateau at 50.
 */
export function millionStages(requests: number, rate: number): StageInput[] {
  const warmup = Math.max(1, Math.round(requests * 0.02));
  const ramp = Math.max(1, Math.round(requests * 0.05));
  const top = Math.max(2, Math.round(rate * 0.8));
  return [
    { requests: warmup, concurrency: 50, warmup: true },
    { requests: ramp, rate: [Math.max(1, Math.round(rate * 0.2)), top], concurrency: 50 },
    { requests: requests - warmup - ramp, concurrency: 50 },
  ];
}

export async function millionPhase(server: Child, options: { requests: number; rate: number }): Promise<MillionPhase> {
  const stages = millionStages(options.requests, options.rate);
  const pid = server.child.pid!;
  const rssBefore = await rssBytes(pid);
  let rssPeak = rssBefore;
  const health = { polls: 0, failures: 0, maxLatencyMs: 0, maxLatencyAtS: 0 };
  let running = true;
  const posted = performance.now();
  // One /health at a time, one every HEALTH_EVERY_MS (a slow one delays the next: no pile-up).
  const poller = (async () => {
    while (running) {
      const started = performance.now();
      const ok = await got(`${server.url}/health`, { timeout: { request: HEALTH_TIMEOUT_MS }, retry: { limit: 0 }, throwHttpErrors: false })
        .then((response) => response.statusCode === 200, () => false);
      const latency = performance.now() - started;
      health.polls++;
      if (!ok) health.failures++;
      if (latency > health.maxLatencyMs) {
        health.maxLatencyMs = Math.round(latency * 10) / 10;
        health.maxLatencyAtS = Math.round((started - posted) / 100) / 10;
      }
      rssPeak = Math.max(rssPeak, await rssBytes(pid));
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, HEALTH_EVERY_MS - (performance.now() - started))));
    }
  })();
  let report: JobReport;
  try {
    report = await runJob<JobReport>(server, '/test', { stages }, 1000);
  } finally {
    running = false;
    await poller;
  }
  const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
  return {
    requests: options.requests,
    completed: report.completed + (report.warmup?.completed ?? 0),
    dropped: report.dropped + (report.warmup?.dropped ?? 0),
    stages,
    durationMs: Math.round(performance.now() - posted),
    requestsPerSecond: report.requestsPerSecond,
    latencyMs: { p50: report.latencyMs.p50, p99: report.latencyMs.p99, max: report.latencyMs.max },
    rssBeforeMB: mb(rssBefore),
    rssPeakMB: mb(rssPeak),
    rssGrowthMB: mb(rssPeak - rssBefore),
    health,
    generator: report.generator,
    warnings: report.warnings,
    counted: report.counted.equalsSucceeded,
  };
}
