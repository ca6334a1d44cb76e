// The query parameters the analytics routes share (a window or a custom range, a path prefix), and
// the rules that join them. Parsing and its 400s live here; analytics/buckets.ts stays pure
// (times in, buckets out).
import { z } from 'zod';
import { cover, MS, WINDOWS, windowRange, type Range, type Retention } from '../analytics/buckets.js';
import { BadRequestError } from '../errors.js';
import { apiPath, flag, instant, integer, oneOf } from './schemas.js';

const WINDOW = 'A named window ending with the current minute; `all` (the default) is the all-time ranking. Not together with `from`/`to`.';

/** ?window= or ?from=&to=, as every analytics read takes them. */
export const rangeQuery = {
  window: oneOf(WINDOWS).optional().meta({ param: { id: 'Window' }, description: WINDOW }),
  from: instant().optional().meta({ param: { id: 'From' }, description: 'Start of a custom range (inclusive), with `to`. Must be a whole minute within the last 48 h, a whole hour within 90 days, a whole day before that.', examples: ['2026-11-24T00:00:00Z'] }),
  to: instant().optional().meta({ param: { id: 'To' }, description: 'End of a custom range (exclusive), with `from`; on the same bucket boundaries.', examples: ['2026-11-24T12:00:00Z'] }),
};

/** The query parameters of a ranking: GET /stats and /stats.csv. */
export const rankingQuery = {
  limit: integer(1).optional().meta({ param: { id: 'RankingLimit' }, description: 'At most this many rows; all rows when absent.' }),
  offset: integer(0).optional().meta({ param: { id: 'Offset' }, description: 'Skip this many rows first.', default: 0 }),
  ...rangeQuery,
  prefix: apiPath().optional().meta({ param: { id: 'Prefix' }, description: 'Only paths equal to this one or below it (normalized like a hit).', examples: ['/api/blog'] }),
  uniques: flag().optional().meta({ param: { id: 'Uniques' }, description: 'Add approximate unique `visitors` (HyperLogLog, ~0.81% standard error) to each row.' }),
  bots: flag().optional().meta({ param: { id: 'Bots' }, description: 'The ranking of bots\' hits instead (User-Agents the `isbot` list matches), which are counted apart with `api.bots` `separate`; otherwise 400.' }),
};

/** Checks ?from=&to= (ms since the epoch) against each other and the buckets still kept. */
export function customRange(from: number | undefined, to: number | undefined, now: number, retention: Retention): Range {
  if (from === undefined || to === undefined) throw new BadRequestError('Expected both `from` and `to`');
  if (from >= to) throw new BadRequestError('Expected `from` to be before `to`');
  if (!cover(from, to, now, retention)) {
    throw new BadRequestError(
      'Expected `from` and `to` on bucket boundaries that are still kept: whole minutes for the last ' +
      `${retention.minute / MS.hour} h, whole hours for the last ${retention.hour / MS.day} days, whole days before that`,
    );
  }
  return { from, to };
}

export type RangeInput = z.output<z.ZodObject<typeof rangeQuery>>;

/**
 * The range a query asks for: a named window or from/to. Undefined means all time. `fallback` is
 * the window used when neither is given.
 */
export function rangeOf(query: RangeInput, now: number, retention: Retention, fallback: 'all' | '24h' = 'all'): Range | undefined {
  const hasCustom = query.from !== undefined || query.to !== undefined;
  if (hasCustom && query.window !== undefined) throw new BadRequestError('Expected either `window` or `from` and `to`, not both');
  if (hasCustom) return customRange(query.from, query.to, now, retention);
  const name = query.window ?? fallback;
  return name === 'all' ? undefined : windowRange(name, now, retention);
}
