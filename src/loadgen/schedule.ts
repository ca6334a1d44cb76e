// The open model's pacing as one pure decision, so that it can be checked on a clock a test moves
// by hand: request i is due at schedule.due(i) (start + i/rate at a constant rate, a ramp's
// integral otherwise), is never sent before that, waits for a free connection while it is late by
// at most maxLagMs, and is dropped once it is later than that.
// The runner (runner.ts) carries the decisions out: it sleeps, awaits a connection, sends, drops.

export interface OpenSchedule {
  /** When request `index` is due, ms on the run's clock (dueAt for a constant rate, stages.ts's rampDueMs for a ramp). */
  due: (index: number) => number;
  requests: number;
  /** How late a request may still be sent; later than this it is dropped. */
  maxLagMs: number;
  /** Connections: requests that may be in flight at once. */
  concurrency: number;
}

export interface OpenState {
  now: number;
  /** The index of the next request neither sent nor dropped. */
  next: number;
  /** Requests sent and not yet settled. */
  inFlight: number;
}

export type OpenStep =
  /** Every request has been sent or dropped. */
  | { kind: 'done' }
  /** The next request is not due yet: nothing happens until `until`. */
  | { kind: 'wait'; until: number }
  /** The next request is due but every connection is busy: wait for one to settle. */
  | { kind: 'busy' }
  /** Send request `index` now; its latency counts from `dueAt`. */
  | { kind: 'send'; index: number; dueAt: number }
  /** Request `index` is more than maxLagMs late: count it as dropped and never send it. */
  | { kind: 'drop'; index: number; dueAt: number };

/** When request `index` is due. Multiplied before dividing, so request `rate` is due exactly 1 s in. */
export function dueAt(schedule: { startedAt: number; rate: number }, index: number): number {
  return schedule.startedAt + (index * 1000) / schedule.rate;
}

/** The due times of a constant rate from `startedAt`. */
export function constantRate(startedAt: number, rate: number): (index: number) => number {
  return (index) => dueAt({ startedAt, rate }, index);
}

export function openStep(schedule: OpenSchedule, { now, next, inFlight }: OpenState): OpenStep {
  if (next >= schedule.requests) return { kind: 'done' };
  const due = schedule.due(next);
  if (due > now) return { kind: 'wait', until: due };
  // Lateness is checked before the connections: a request already too late is dropped at once,
  // busy or not, since waiting for a connection could only make it later.
  if (now - due > schedule.maxLagMs) return { kind: 'drop', index: next, dueAt: due };
  if (inFlight >= schedule.concurrency) return { kind: 'busy' };
  return { kind: 'send', index: next, dueAt: due };
}
