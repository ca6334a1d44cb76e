// Time buckets and window ranges (src/analytics/buckets.ts): which buckets a hit counts in, the
// coarsest cover of a range, the named windows and ?from=&to=, zero-filled series. Pure
// functions of the time given, so every case is an exact instant; no Redis, no clock.
import test from 'ava';
import fc from 'fast-check';
import { HttpError } from '../src/errors.js';
import { validate } from '../src/routes/declare.js';
import { customRange, rangeQuery } from '../src/routes/ranges.js';
import { query } from '../src/routes/schemas.js';
import {
  bucketId, bucketsAt, cover, MS, series, windowRange, WINDOWS, type Bucket, type Range, type Retention,
} from '../src/analytics/buckets.js';

const iso = (text: string) => Date.parse(text);
const minute = (start: string): Bucket => ({ granularity: 'minute', start: iso(start) });
const hour = (start: string): Bucket => ({ granularity: 'hour', start: iso(start) });
const day = (start: string): Bucket => ({ granularity: 'day', start: iso(start) });

// settings.json's defaults: minutes for 48 h, hours for 90 days, days for 2 years.
const DEFAULTS: Retention = { minute: 48 * MS.hour, hour: 90 * MS.day, day: 730 * MS.day };
// Half a minute and a quarter second past 12:45, so nothing is on a boundary by chance.
const NOW = iso('2026-11-20T12:45:30.250Z');

const rangeOf = (from: string, to: string): Range => ({ from: iso(from), to: iso(to) });
const isoRange = ({ from, to }: Range) => ({ from: new Date(from).toISOString(), to: new Date(to).toISOString() });

test('a hit counts in the minute, hour and day that hold it, named by their UTC start', (t) => {
  t.deepEqual(bucketsAt(iso('2026-11-24T08:01:59.999Z')), {
    minute: minute('2026-11-24T08:01Z'), hour: hour('2026-11-24T08:00Z'), day: day('2026-11-24T00:00Z'),
  });
  t.deepEqual(bucketsAt(iso('2026-11-25T00:00:00.000Z')), {
    minute: minute('2026-11-25T00:00Z'), hour: hour('2026-11-25T00:00Z'), day: day('2026-11-25T00:00Z'),
  }, 'a boundary belongs to the bucket it starts');
  t.is(bucketId(minute('2026-11-24T08:01Z')), '2026-11-24T08:01');
  t.is(bucketId(hour('2026-11-24T08:00Z')), '2026-11-24T08');
  t.is(bucketId(day('2026-11-24T00:00Z')), '2026-11-24');
});

test('cover: the coarsest buckets, greedy from the left, exactly the range', (t) => {
  t.deepEqual(cover(iso('2026-11-18T22:58Z'), iso('2026-11-20T01:02Z'), NOW, DEFAULTS), [
    minute('2026-11-18T22:58Z'), minute('2026-11-18T22:59Z'), hour('2026-11-18T23:00Z'), day('2026-11-19T00:00Z'),
    hour('2026-11-20T00:00Z'), minute('2026-11-20T01:00Z'), minute('2026-11-20T01:01Z'),
  ]);
  t.deepEqual(cover(iso('2026-11-01T00:00Z'), iso('2026-11-04T00:00Z'), NOW, DEFAULTS), [
    day('2026-11-01T00:00Z'), day('2026-11-02T00:00Z'), day('2026-11-03T00:00Z'),
  ]);
  t.deepEqual(cover(iso('2026-11-20T12:45Z'), iso('2026-11-20T12:46Z'), NOW, DEFAULTS), [minute('2026-11-20T12:45Z')], 'the current minute');
});

test('cover: none for edges off a whole minute, for from == to, or from after to', (t) => {
  const from = iso('2026-11-20T10:00Z');
  const to = iso('2026-11-20T11:00Z');
  t.is(cover(from + 1, to, NOW, DEFAULTS), undefined);
  t.is(cover(from, to - 1, NOW, DEFAULTS), undefined);
  t.is(cover(from + 30_000, to + 30_000, NOW, DEFAULTS), undefined);
  t.is(cover(from, from, NOW, DEFAULTS), undefined);
  t.is(cover(to, from, NOW, DEFAULTS), undefined);
});

test('cover: a bucket is kept while it started within its retention, to the millisecond', (t) => {
  const retention: Retention = { minute: 2 * MS.hour, hour: 2 * MS.day, day: 10 * MS.day };
  // The oldest minute still kept starts exactly `retention.minute` before now.
  const now = iso('2026-11-20T12:45:00Z');
  const oldestMinute = now - retention.minute; // 10:45
  t.deepEqual(cover(oldestMinute, oldestMinute + MS.minute, now, retention), [{ granularity: 'minute', start: oldestMinute }]);
  t.is(cover(oldestMinute, oldestMinute + MS.minute, now + 1, retention), undefined, '1 ms later it may be gone');
  t.is(cover(oldestMinute - MS.minute, oldestMinute, now, retention), undefined);
  // Past the minutes' retention a range on whole hours is still covered, by hours.
  t.deepEqual(cover(iso('2026-11-20T09:00Z'), iso('2026-11-20T10:00Z'), now, retention), [hour('2026-11-20T09:00Z')]);
  t.is(cover(iso('2026-11-20T09:00Z'), iso('2026-11-20T09:01Z'), now, retention), undefined);
  // The same at the hours' edge (2 days) and the days' (10 days).
  const oldestHour = now - retention.hour + 15 * MS.minute; // 2026-11-18T13:00, the oldest whole hour kept
  t.deepEqual(cover(oldestHour, oldestHour + MS.hour, now, retention), [{ granularity: 'hour', start: oldestHour }]);
  t.is(cover(oldestHour - MS.hour, oldestHour, now, retention), undefined);
  const oldestDay = iso('2026-11-11T00:00Z'); // 10 days before now is 2026-11-10T12:45
  t.deepEqual(cover(oldestDay, oldestDay + MS.day, now, retention), [day('2026-11-11T00:00Z')]);
  t.is(cover(oldestDay - MS.day, oldestDay, now, retention), undefined);
  t.deepEqual(cover(oldestDay - MS.day, oldestDay, oldestDay - MS.day + retention.day, retention), [day('2026-11-10T00:00Z')], 'just inside, at another now');
});

test('every named window ends with the current minute; long ones start on a whole hour or day', (t) => {
  const expected: Record<Exclude<(typeof WINDOWS)[number], 'all'>, { from: string; to: string }> = {
    '15m': { from: '2026-11-20T12:31:00.000Z', to: '2026-11-20T12:46:00.000Z' },
    '1h': { from: '2026-11-20T11:46:00.000Z', to: '2026-11-20T12:46:00.000Z' },
    // Within the 48 h of minutes: to the minute.
    '24h': { from: '2026-11-19T12:46:00.000Z', to: '2026-11-20T12:46:00.000Z' },
    // Beyond them, within the 90 days of hours: from a whole hour, a little longer than asked.
    '7d': { from: '2026-11-13T12:00:00.000Z', to: '2026-11-20T12:46:00.000Z' },
    '30d': { from: '2026-10-21T12:00:00.000Z', to: '2026-11-20T12:46:00.000Z' },
  };
  for (const name of WINDOWS) {
    if (name === 'all') continue;
    const range = windowRange(name, NOW, DEFAULTS);
    t.deepEqual(isoRange(range), expected[name], name);
    t.truthy(cover(range.from, range.to, NOW, DEFAULTS), `${name} has a cover`);
  }
  // Shorter retention: 24h starts on a whole hour, 7d and 30d on a whole day.
  const short: Retention = { minute: MS.hour, hour: 3 * MS.day, day: 60 * MS.day };
  t.deepEqual(isoRange(windowRange('24h', NOW, short)), { from: '2026-11-19T12:00:00.000Z', to: '2026-11-20T12:46:00.000Z' });
  t.deepEqual(isoRange(windowRange('7d', NOW, short)), { from: '2026-11-13T00:00:00.000Z', to: '2026-11-20T12:46:00.000Z' });
  t.deepEqual(isoRange(windowRange('30d', NOW, short)), { from: '2026-10-21T00:00:00.000Z', to: '2026-11-20T12:46:00.000Z' });
  // On a whole minute, the current minute is still the last one.
  t.deepEqual(isoRange(windowRange('15m', iso('2026-11-20T12:45Z'), DEFAULTS)), { from: '2026-11-20T12:31:00.000Z', to: '2026-11-20T12:46:00.000Z' });
});

test('property: every named window has an exact cover, whatever the time, with retentions of at least 1 h of minutes, 1 day of hours and 31 days of days', (t) => {
  // Below those a window may have no cover: with 30 minutes of minutes, `1h` starts on a whole
  // hour, and the minutes of the current hour before its last 30 are gone.
  const retentions = fc.record({
    minute: fc.integer({ min: MS.hour / 1000, max: 400 * 86_400 }).map((s) => s * 1000),
    hour: fc.integer({ min: MS.day / 1000, max: 3650 * 86_400 }).map((s) => s * 1000),
    day: fc.integer({ min: 31 * 86_400, max: 3650 * 86_400 }).map((s) => s * 1000),
  });
  const nows = fc.integer({ min: iso('2000-01-01T00:00Z'), max: iso('2100-01-01T00:00Z') });
  const lengths = { '15m': 15 * MS.minute, '1h': MS.hour, '24h': MS.day, '7d': 7 * MS.day, '30d': 30 * MS.day };
  fc.assert(fc.property(nows, retentions, (now, retention) => {
    for (const name of ['15m', '1h', '24h', '7d', '30d'] as const) {
      const { from, to } = windowRange(name, now, retention);
      if (to !== Math.floor(now / MS.minute) * MS.minute + MS.minute) return false;
      // Never shorter than its name, and longer by less than the day it may be rounded back to.
      if (to - from < lengths[name] || to - from >= lengths[name] + MS.day) return false;
      const buckets = cover(from, to, now, retention);
      if (!buckets) return false;
      let cursor = from;
      for (const bucket of buckets) {
        if (bucket.start !== cursor || bucket.start % MS[bucket.granularity] !== 0) return false;
        cursor += MS[bucket.granularity];
      }
      if (cursor !== to) return false;
    }
    return true;
  }), { numRuns: 2000 });
  t.pass('fast-check found no counterexample in 2000 runs');
});

/** ?from=&to= as the routes read them: the query schema, then the range rules. */
function custom(from: unknown, to: unknown) {
  const raw = Object.fromEntries(Object.entries({ from, to }).filter(([, value]) => value !== undefined));
  const parsed = validate(query(rangeQuery), raw);
  return customRange(parsed.from, parsed.to, NOW, DEFAULTS);
}

test('customRange: ISO instants on kept bucket boundaries, or a 400 that says why', (t) => {
  t.deepEqual(custom('2026-11-20T10:00:00Z', '2026-11-20T11:30:00Z'), rangeOf('2026-11-20T10:00Z', '2026-11-20T11:30Z'));
  t.deepEqual(custom('2026-11-20T11:00:00+01:00', '2026-11-20T10:01:00.000Z'), rangeOf('2026-11-20T10:00Z', '2026-11-20T10:01Z'), 'any offset');
  const refused = (from: unknown, to: unknown, message: RegExp) => {
    const error = t.throws(() => custom(from, to), { instanceOf: HttpError, message });
    t.is(error?.status, 400);
  };
  refused(undefined, '2026-11-20T11:00:00Z', /both `from` and `to`/);
  refused('2026-11-20T10:00:00Z', undefined, /both `from` and `to`/);
  refused('yesterday', '2026-11-20T11:00:00Z', /`from` to be an ISO 8601 instant/);
  refused('2026-11-20T10:00:00Z', '1763636400000', /`to` to be an ISO 8601 instant/);
  refused('2026-11-20T11:00:00Z', '2026-11-20T11:00:00Z', /`from` to be before `to`/);
  refused('2026-11-20T11:00:00Z', '2026-11-20T10:00:00Z', /`from` to be before `to`/);
  refused('2026-11-20T10:00:30Z', '2026-11-20T11:00:00Z', /bucket boundaries that are still kept/);
  // Three days ago on a minute that is not a whole hour: those minutes are gone.
  refused('2026-11-17T10:01:00Z', '2026-11-17T10:02:00Z', /whole minutes for the last 48 h, whole hours for the last 90 days/);
});

test('series: every bucket from the one holding `from` up to `to`, for zero-filling', (t) => {
  const starts = (buckets: Bucket[]) => buckets.map((bucket) => new Date(bucket.start).toISOString());
  t.deepEqual(starts(series(rangeOf('2026-11-20T10:58:30Z', '2026-11-20T11:01:00Z'), 'minute')), [
    '2026-11-20T10:58:00.000Z', '2026-11-20T10:59:00.000Z', '2026-11-20T11:00:00.000Z',
  ], 'the minute holding `from`, and none starting at `to`');
  t.deepEqual(starts(series(rangeOf('2026-11-20T10:00Z', '2026-11-20T12:00:00.001Z'), 'hour')), [
    '2026-11-20T10:00:00.000Z', '2026-11-20T11:00:00.000Z', '2026-11-20T12:00:00.000Z',
  ], 'the hour `to` falls in');
  t.deepEqual(series(rangeOf('2026-11-20T10:00Z', '2026-11-20T10:00Z'), 'minute'), [], 'from == to on a boundary: nothing');
  t.true(series(windowRange('30d', NOW, DEFAULTS), 'day').every((bucket) => bucket.granularity === 'day'));
  t.is(series(windowRange('30d', NOW, DEFAULTS), 'day').length, 31);
});

test('daylight saving time changes nothing: buckets are UTC whatever the process\'s time zone', (t) => {
  const previous = process.env.TZ;
  try {
    for (const zone of ['Europe/Paris', 'America/New_York', 'Australia/Lord_Howe']) {
      process.env.TZ = zone;
      // Each of these zones changes its offset in March or April 2026 (Lord Howe by half an hour);
      // checked, so that the zone is known to be in effect.
      t.not(new Date(iso('2026-01-15T12:00Z')).getTimezoneOffset(), new Date(iso('2026-07-15T12:00Z')).getTimezoneOffset(), zone);
      const days = series(rangeOf('2026-03-07T00:00Z', '2026-04-07T00:00Z'), 'day');
      t.is(days.length, 31, zone);
      t.true(days.every((bucket, i) => bucket.start === iso('2026-03-07T00:00Z') + i * MS.day), `${zone}: every day is 24 h`);
      t.deepEqual(days.slice(21, 24).map(bucketId), ['2026-03-28', '2026-03-29', '2026-03-30'], zone);
      const night = series(rangeOf('2026-03-29T00:00Z', '2026-03-29T04:00Z'), 'hour').map(bucketId);
      t.deepEqual(night, ['2026-03-29T00', '2026-03-29T01', '2026-03-29T02', '2026-03-29T03'], `${zone}: no hour skipped or repeated`);
      t.deepEqual(bucketsAt(iso('2026-03-29T01:30Z')).day, day('2026-03-29T00:00Z'), zone);
      t.deepEqual(cover(iso('2026-03-28T00:00Z'), iso('2026-03-31T00:00Z'), iso('2026-04-01T00:00Z'), DEFAULTS)?.map(bucketId), ['2026-03-28', '2026-03-29', '2026-03-30'], zone);
    }
  } finally {
    if (previous === undefined) delete process.env.TZ;
    else process.env.TZ = previous;
  }
});
