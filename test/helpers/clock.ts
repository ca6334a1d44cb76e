// A clock that moves only when a test moves it, for every piece of time-dependent logic
// (bucket boundaries, window caches, job TTLs, the live feed's seconds, open-model pacing).
import type { Clock } from '../../src/clock.js';

export class ManualClock implements Clock {
  constructor(public time = Date.UTC(2026, 10, 20, 12, 0, 0)) {}

  now(): number {
    return this.time;
  }

  /** Moves time forward by ms and returns the new time. */
  advance(ms: number): number {
    this.time += ms;
    return this.time;
  }

  set(time: number): void {
    this.time = time;
  }
}
