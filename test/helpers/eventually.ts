// Waiting for something real (a job to finish, a process to stop, Redis to come back) polls a
// condition until a generous deadline, never a fixed sleep followed by an assertion: a busy
// machine only makes the wait longer, never the test red.
import { setTimeout as delay } from 'node:timers/promises';

export interface EventuallyOptions {
  /** How long the condition may take before the test fails. Generous: a slow machine must pass. */
  timeoutMs?: number;
  /** How often the condition is checked. */
  intervalMs?: number;
  /** Named in the failure, so a timed-out wait says what it waited for. */
  what?: string;
}

/**
 * The condition's value, or an error once the deadline passes: a check that never settles (a
 * client retrying a dead Redis forever) must fail the wait, not hang it.
 */
async function settledBefore<T>(condition: () => T | Promise<T>, deadline: number): Promise<T> {
  const timer = new AbortController();
  const late = delay(Math.max(0, deadline - performance.now()), undefined, { signal: timer.signal }).then(() => {
    throw new Error('the check itself did not settle before the deadline');
  });
  late.catch(() => {});
  try {
    return await Promise.race([Promise.resolve().then(condition), late]);
  } finally {
    timer.abort();
  }
}

/**
 * Resolves with the condition's first truthy value. A condition that throws is retried like a
 * falsy one; on the deadline the last error (or the last value) is part of the failure.
 */
export async function eventually<T>(condition: () => T | Promise<T>, options: EventuallyOptions = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 120_000, intervalMs = 25, what = 'the condition' } = options;
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await settledBefore(condition, deadline);
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (performance.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    // The one place a test waits on the wall clock: a poll interval, not an assumption about speed.
    await delay(intervalMs);
  }
}
