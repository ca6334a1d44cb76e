// Time and randomness are injected, so code that reads them can be tested deterministically.
import { randomInt } from 'node:crypto';

export interface Clock {
  /** Milliseconds since the epoch, with sub-millisecond precision and monotonic within a process. */
  now(): number;
}

export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
};

/** Picks a seed for a load test that was not given one. */
export type SeedSource = () => number;

export const randomSeed: SeedSource = () => randomInt(0, 2 ** 32);
