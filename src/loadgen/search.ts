// The breaking point: the highest rate at which the target still meets an objective (say p99 ≤
// 20 ms and at most 0.1% errors). Open-model steps, each a run of its own (a short warm-up, then
// the measured step): the rate doubles from the lower bound until a step misses the objective,
// then bisects between the last step that met it and the first that missed, until the two are
// within `precision` of each other. The decisions are nextRate's, a pure function of the steps so
// far, so that a test can check the search on any model of a server.
import type { LoadReport } from './merge.js';
import type { LoadPlan, Progress } from './runner.js';
import { resolveStage, type StagePlan } from './stages.js';
import type { ExecuteLoad, Execution } from './thread.js';

/** Bounds a step must stay within; each is optional, at least one latency or errors is given. */
export interface Objective {
  /** Latency percentiles in ms, measured from each request's due time. */
  p50?: number | undefined;
  p90?: number | undefined;
  p99?: number | undefined;
  p99_9?: number | undefined;
  /** Percent of the step's requests that failed (non-2xx or no answer) or were dropped (not sent on time). */
  errors?: number | undefined;
}

export interface SearchSpec {
  objective: Objective;
  minRate: number;
  maxRate: number;
  /** Each step's measured duration, and the warm-up before it (0: none). */
  stepDurationMs: number;
  warmupMs: number;
  /** Stop bisecting once (failing − passing) / passing is at most this. */
  precision: number;
  maxSteps: number;
  /** Connections at most in each step. */
  concurrency: number;
}

export interface StepReport {
  step: number;
  phase: 'ramp' | 'bisect';
  rate: number;
  met: boolean;
  /** What missed the objective, e.g. "p99 31.2 ms > 20 ms"; empty when met. */
  missed: string[];
  requestsPerSecond: number;
  latencyMs: LoadReport['latencyMs'];
  completed: number;
  failed: number;
  dropped: number;
  /** Percent of the step's requests that failed or were dropped. */
  errors: number;
  /** 2xx answers, the warm-up's included: they count in Redis. */
  succeeded: number;
  warnings: string[];
  /** How busy the generator was in this step: a step it could not send as planned says so here. */
  generator: LoadReport['generator'];
}

export interface SearchProgress {
  step: number;
  rate: number;
  phase: 'ramp' | 'bisect';
  /** The highest rate that met the objective so far, and the lowest that missed it. */
  passing: number | null;
  failing: number | null;
  steps: StepReport[];
}

export interface SearchReport {
  objective: Objective;
  minRate: number;
  maxRate: number;
  /** The highest rate that met the objective; null when even minRate missed it. */
  breakingPoint: number | null;
  /** The lowest rate that missed it; null when every step up to maxRate met it. */
  firstFailingRate: number | null;
  steps: StepReport[];
  cancelled: boolean;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** 2xx answers of every step, warm-ups included: what `counted` must equal. */
  succeeded: number;
  note: string;
}

/** Checks a step's figures against the objective; the list of what missed it. */
export function missedObjective(objective: Objective, report: Pick<LoadReport, 'latencyMs' | 'completed' | 'failed' | 'dropped'>): string[] {
  const missed: string[] = [];
  for (const name of ['p50', 'p90', 'p99', 'p99_9'] as const) {
    const bound = objective[name];
    if (bound !== undefined && report.latencyMs[name] > bound) missed.push(`${name} ${report.latencyMs[name]} ms > ${bound} ms`);
  }
  const errors = errorPercent(report);
  if (objective.errors !== undefined && errors > objective.errors) missed.push(`errors ${errors}% > ${objective.errors}%`);
  return missed;
}

export function errorPercent({ completed, failed, dropped }: Pick<LoadReport, 'completed' | 'failed' | 'dropped'>): number {
  const all = completed + dropped;
  return all === 0 ? 0 : Math.round(((failed + dropped) / all) * 100 * 1000) / 1000;
}

export type SearchDecision =
  | { kind: 'step'; rate: number; phase: 'ramp' | 'bisect' }
  | { kind: 'done'; breakingPoint: number | null; firstFailingRate: number | null };

/** What the search does next, from the steps so far. */
export function nextRate(spec: Pick<SearchSpec, 'minRate' | 'maxRate' | 'precision' | 'maxSteps'>, steps: ReadonlyArray<Pick<StepReport, 'rate' | 'met'>>): SearchDecision {
  const passing = highestPassing(steps);
  const failingOrNull = lowestFailing(steps);
  const done = { kind: 'done' as const, breakingPoint: passing, firstFailingRate: failingOrNull };
  if (steps.length === 0) return { kind: 'step', rate: spec.minRate, phase: 'ramp' };
  if (steps.length >= spec.maxSteps) return done;
  if (passing === null) return done; // even the lower bound missed
  if (failingOrNull === null) {
    // Ramp: double until a step misses, or the upper bound met the objective too.
    if (passing >= spec.maxRate) return done;
    return { kind: 'step', rate: Math.min(spec.maxRate, passing * 2), phase: 'ramp' };
  }
  const mid = Math.round((passing + failingOrNull) / 2);
  if ((failingOrNull - passing) / passing <= spec.precision || mid === passing || mid === failingOrNull) return done;
  return { kind: 'step', rate: mid, phase: 'bisect' };
}

/** One step's stages: a warm-up at the step's rate, then the measured step. */
export function stepStages(spec: SearchSpec, rate: number): StagePlan[] {
  const measured = resolveStage({ rate, durationMs: spec.stepDurationMs, concurrency: spec.concurrency }, spec.concurrency);
  if (spec.warmupMs === 0) return [measured];
  return [resolveStage({ rate, durationMs: spec.warmupMs, concurrency: spec.concurrency, warmup: true }, spec.concurrency), measured];
}

/**
 * Runs the search, one step after another, each through `execute` (so each step may use several
 * threads and is merged as any run is). Stopping ends the current step and reports what was found.
 */
export function runSearch(plan: LoadPlan, spec: SearchSpec, execute: ExecuteLoad, onProgress: (progress: Progress & { search: SearchProgress }) => void, now: () => number = Date.now): Execution<SearchReport> {
  let current: Execution | undefined;
  let stopped = false;
  const result = (async (): Promise<SearchReport> => {
    const startedAt = now();
    const steps: StepReport[] = [];
    let decision = nextRate(spec, steps);
    while (decision.kind === 'step' && !stopped) {
      const { rate, phase } = decision;
      const search = (): SearchProgress => ({ step: steps.length, rate, phase, passing: highestPassing(steps), failing: lowestFailing(steps), steps: [...steps] });
      // A step's seed differs from the last one's, so that no two steps draw the same paths in the same order.
      current = execute({ ...plan, seed: (plan.seed + steps.length * 7919) >>> 0, stages: stepStages(spec, rate) }, (progress) => onProgress({ ...progress, search: search() }));
      if (stopped) current.stop();
      const { report } = await current.result;
      const missed = missedObjective(spec.objective, report);
      const step: StepReport = {
        step: steps.length,
        phase,
        rate,
        met: missed.length === 0 && !report.cancelled,
        missed,
        requestsPerSecond: report.requestsPerSecond,
        latencyMs: report.latencyMs,
        completed: report.completed,
        failed: report.failed,
        dropped: report.dropped,
        errors: errorPercent(report),
        succeeded: report.succeeded + (report.warmup?.succeeded ?? 0),
        warnings: report.warnings,
        generator: report.generator,
      };
      // A step cut short by a cancel says nothing about its rate: it is reported, not judged.
      if (report.cancelled) {
        steps.push({ ...step, met: false, missed: ['cancelled'] });
        break;
      }
      steps.push(step);
      decision = nextRate(spec, steps);
    }
    const judged = steps.filter((s) => s.missed[0] !== 'cancelled');
    const finishedAt = now();
    return {
      objective: spec.objective,
      minRate: spec.minRate,
      maxRate: spec.maxRate,
      breakingPoint: highestPassing(judged),
      firstFailingRate: lowestFailing(judged),
      steps,
      cancelled: stopped,
      startedAt: new Date(startedAt).toISOString(),
      finishedAt: new Date(finishedAt).toISOString(),
      durationMs: finishedAt - startedAt,
      succeeded: steps.reduce((sum, s) => sum + s.succeeded, 0),
      note: 'breakingPoint is the highest rate whose step met the objective; the true one lies between it and firstFailingRate. Each step is an open-model run: latencies count from each request\'s due time, and requests not sent on time count as errors.',
    };
  })();
  return {
    stop: () => {
      stopped = true;
      current?.stop();
    },
    result,
  };
}

type Judged = ReadonlyArray<Pick<StepReport, 'rate' | 'met'>>;
const highestPassing = (steps: Judged) => Math.max(0, ...steps.filter((s) => s.met).map((s) => s.rate)) || null;
const lowestFailing = (steps: Judged) => {
  const failing = Math.min(Infinity, ...steps.filter((s) => !s.met).map((s) => s.rate));
  return Number.isFinite(failing) ? failing : null;
};
