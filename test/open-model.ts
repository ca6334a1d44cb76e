// The open model's pacing (src/loadgen/schedule.ts) on a clock the test moves by hand: due times,
// never early, waiting for a connection, dropping past maxLagMs. No HTTP and no timers, so every
// figure is exact whatever the machine; test/runner.ts checks that the runner carries it out.
import test from 'ava';
import fc from 'fast-check';
import { constantRate, dueAt, openStep, type OpenSchedule } from '../src/loadgen/schedule.js';
import { ManualClock } from './helpers/clock.js';

interface Event {
  index: number;
  dueAt: number;
  /** When it was sent or dropped, on the clock. */
  at: number;
}

interface Run {
  sent: Event[];
  dropped: Event[];
  /** The most requests in flight at once. */
  peakInFlight: number;
}

/**
 * Plays a whole run the way runner.ts does, on the manual clock: a 'wait' sleeps until the due
 * time, 'busy' until the first in-flight request settles, and request i takes serviceMs(i).
 */
function simulate(plan: Omit<OpenSchedule, 'due'> & { rate: number }, serviceMs: (index: number) => number, clock = new ManualClock()): Run {
  const schedule: OpenSchedule = { ...plan, due: constantRate(clock.now(), plan.rate) };
  const run: Run = { sent: [], dropped: [], peakInFlight: 0 };
  let settleTimes: number[] = [];
  for (let next = 0, steps = 0; ; steps++) {
    if (steps > 10 * plan.requests + 10) throw new Error('the schedule never finishes');
    const now = clock.now();
    settleTimes = settleTimes.filter((time) => time > now);
    const step = openStep(schedule, { now, next, inFlight: settleTimes.length });
    switch (step.kind) {
      case 'done':
        return run;
      case 'wait':
        if (step.until <= now) throw new Error(`asked to wait until ${step.until}, not after now (${now})`);
        clock.set(step.until);
        break;
      case 'busy':
        clock.set(Math.min(...settleTimes));
        break;
      case 'drop':
        run.dropped.push({ index: step.index, dueAt: step.dueAt, at: now });
        next++;
        break;
      case 'send':
        run.sent.push({ index: step.index, dueAt: step.dueAt, at: now });
        settleTimes.push(now + serviceMs(step.index));
        run.peakInFlight = Math.max(run.peakInFlight, settleTimes.length);
        next++;
        break;
    }
  }
}

const lateness = (events: Event[]) => events.map((event) => event.at - event.dueAt);
const indexes = (events: Event[]) => events.map((event) => event.index);

test('request i is due exactly start + i/rate', (t) => {
  const startedAt = new ManualClock().now();
  t.is(dueAt({ startedAt, rate: 200 }, 0), startedAt);
  t.is(dueAt({ startedAt, rate: 200 }, 7), startedAt + 35);
  // No accumulated rounding: request `rate` is due exactly one second in, whatever the rate.
  for (const rate of [1, 3, 7, 300, 1000 / 3, 99_999]) t.is(dueAt({ startedAt, rate }, rate), startedAt + 1000, `rate ${rate}`);
  t.is(dueAt({ startedAt, rate: 300 }, 600), startedAt + 2000);
});

test('one decision at a time: wait until due, send when due, done after the last', (t) => {
  const clock = new ManualClock();
  const startedAt = clock.now();
  const schedule: OpenSchedule = { due: constantRate(startedAt, 100), requests: 3, maxLagMs: 50, concurrency: 1 };
  t.deepEqual(openStep(schedule, { now: clock.now(), next: 0, inFlight: 0 }), { kind: 'send', index: 0, dueAt: startedAt });
  t.deepEqual(openStep(schedule, { now: clock.now(), next: 1, inFlight: 1 }), { kind: 'wait', until: startedAt + 10 });
  clock.advance(9.999);
  t.deepEqual(openStep(schedule, { now: clock.now(), next: 1, inFlight: 0 }), { kind: 'wait', until: startedAt + 10 }, 'not a moment early');
  clock.set(startedAt + 10);
  t.deepEqual(openStep(schedule, { now: clock.now(), next: 1, inFlight: 0 }), { kind: 'send', index: 1, dueAt: startedAt + 10 });
  t.deepEqual(openStep(schedule, { now: clock.now(), next: 3, inFlight: 1 }), { kind: 'done' });
});

test('a due request waits for a busy connection while it is at most maxLagMs late, and is dropped after', (t) => {
  const clock = new ManualClock();
  const startedAt = clock.now();
  const schedule: OpenSchedule = { due: constantRate(startedAt, 100), requests: 10, maxLagMs: 50, concurrency: 2 };
  const due = startedAt + 30;
  clock.set(due + 50);
  t.deepEqual(openStep(schedule, { now: clock.now(), next: 3, inFlight: 2 }), { kind: 'busy' }, 'exactly maxLagMs late: still waits');
  t.deepEqual(openStep(schedule, { now: clock.now(), next: 3, inFlight: 1 }), { kind: 'send', index: 3, dueAt: due }, 'and is sent once a connection is free');
  clock.advance(0.001);
  t.deepEqual(openStep(schedule, { now: clock.now(), next: 3, inFlight: 2 }), { kind: 'drop', index: 3, dueAt: due });
  t.deepEqual(openStep(schedule, { now: clock.now(), next: 3, inFlight: 0 }), { kind: 'drop', index: 3, dueAt: due }, 'too late is too late, even with a free connection');
});

test('with connections to spare, every request is sent exactly when due', (t) => {
  // 1000 requests per second that each take 7.5 ms: 7 or 8 in flight at a time, never a wait,
  // and maxLagMs 0 leaves no slack at all.
  const run = simulate({ rate: 1000, requests: 2000, maxLagMs: 0, concurrency: 8 }, () => 7.5);
  t.is(run.sent.length, 2000);
  t.deepEqual(run.dropped, []);
  t.true(run.sent.every((event, i) => event.index === i && event.at === event.dueAt));
  t.is(run.peakInFlight, 8);
});

test('a stall delays the requests due during it, which keep their due time, and drops none within maxLagMs', (t) => {
  // 100 per second on 2 connections; requests 10 and 11 take 300 ms, so from 120 ms on both
  // connections are busy until request 10 settles at 400 ms.
  const slow = (index: number) => (index === 10 || index === 11 ? 300 : 0);
  const run = simulate({ rate: 100, requests: 60, maxLagMs: 1000, concurrency: 2 }, slow);
  t.deepEqual(run.dropped, []);
  t.deepEqual(indexes(run.sent), Array.from({ length: 60 }, (_, i) => i));
  // Requests 12..40 (due at 120..400 ms) all go out at 400 ms, each as late as it waited.
  const expected = Array.from({ length: 60 }, (_, i) => (i >= 12 && i <= 40 ? 400 - 10 * i : 0));
  t.deepEqual(lateness(run.sent), expected);
});

test('the same stall with maxLagMs 200 drops exactly the requests more than 200 ms late', (t) => {
  const slow = (index: number) => (index === 10 || index === 11 ? 300 : 0);
  const run = simulate({ rate: 100, requests: 60, maxLagMs: 200, concurrency: 2 }, slow);
  // At 400 ms, requests 12..19 are 280..210 ms late; request 20 is exactly 200 ms late and goes.
  t.deepEqual(indexes(run.dropped), [12, 13, 14, 15, 16, 17, 18, 19]);
  t.deepEqual(lateness(run.dropped), [280, 270, 260, 250, 240, 230, 220, 210]);
  t.is(run.sent.length, 52);
  t.true(lateness(run.sent).every((lag) => lag <= 200));
});

test('a target slower than the rate: drops counted exactly, nothing sent late beyond maxLagMs', (t) => {
  // 100 requests due over 1 s on one connection that takes 100 ms a request: after each response
  // only the request exactly 50 ms late is still sendable, so every tenth goes out.
  const run = simulate({ rate: 100, requests: 100, maxLagMs: 50, concurrency: 1 }, () => 100);
  t.deepEqual(indexes(run.sent), [0, 5, 15, 25, 35, 45, 55, 65, 75, 85, 95]);
  t.deepEqual(lateness(run.sent), [0, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50]);
  t.is(run.dropped.length, 89);
  t.is(run.peakInFlight, 1);
});

test('property: never early, never more than maxLagMs late, never over concurrency, every request once', (t) => {
  const plans = fc.record({
    rate: fc.integer({ min: 1, max: 5000 }),
    requests: fc.integer({ min: 0, max: 300 }),
    maxLagMs: fc.integer({ min: 0, max: 500 }),
    concurrency: fc.integer({ min: 1, max: 8 }),
  });
  const services = fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 50 });
  fc.assert(fc.property(plans, services, (plan, service) => {
    const run = simulate(plan, (index) => service[index % service.length]!);
    const all = [...run.sent, ...run.dropped].sort((a, b) => a.index - b.index);
    if (all.length !== plan.requests || all.some((event, i) => event.index !== i)) return false;
    if (all.some((event) => event.dueAt !== dueAt({ startedAt: all[0]!.dueAt, rate: plan.rate }, event.index))) return false;
    if (run.sent.some((event) => event.at < event.dueAt || event.at - event.dueAt > plan.maxLagMs)) return false;
    if (run.dropped.some((event) => event.at - event.dueAt <= plan.maxLagMs)) return false;
    return run.peakInFlight <= plan.concurrency;
  }), { numRuns: 500 });
  t.pass('fast-check found no counterexample in 500 runs');
});
