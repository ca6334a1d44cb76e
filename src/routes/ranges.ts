// Query parameters shared by the analytics routes: instants, the time range and the path prefix.
// Parsing and its 400s live here; analytics/buckets.ts stays pure (times in, buckets out).
import { cover, MS, WINDOWS, windowRange, type Range, type Retention } from '../analytics/buckets.js';
import { BadRequestError } from '../errors.js';
import { normalizeDecodedPath } from '../hits/normalize.js';
import { enumParam } from './params.js';

export type Query = Record<string, unknown>;

/** A query parameter holding an ISO 8601 instant, as ms since the epoch; undefined when absent. */
export function instantParam(name: string, raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const time = typeof raw === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(raw) ? Date.parse(raw) : NaN;
  if (Number.isNaN(time)) throw new BadRequestError(`Expected \`${name}\` to be an ISO 8601 instant such as 2026-11-24T08:00:00Z`);
  return time;
}

/** Parses ?from=&to= ISO 8601 instants into a range whose cover exists, or says why not. */
export function customRange(rawFrom: unknown, rawTo: unknown, now: number, retention: Retention): Range {
  if (rawFrom === undefined || rawTo === undefined) throw new BadRequestError('Expected both `from` and `to`');
  const from = instantParam('from', rawFrom)!;
  const to = instantParam('to', rawTo)!;
  if (from >= to) throw new BadRequestError('Expected `from` to be before `to`');
  if (!cover(from, to, now, retention)) {
    throw new BadRequestError(
      'Expected `from` and `to` on bucket boundaries that are still kept: whole minutes for the last ' +
      `${retention.minute / MS.hour} h, whole hours for the last ${retention.hour / MS.day} days, whole days before that`,
    );
  }
  return { from, to };
}

/**
 * `?window=15m|1h|24h|7d|30d|all` or `?from=&to=` (ISO 8601). Undefined means all time.
 * `fallback` is the window used when neither is given.
 */
export function rangeParam(query: Query, now: number, retention: Retention, fallback: 'all' | '24h' = 'all'): Range | undefined {
  const hasCustom = query.from !== undefined || query.to !== undefined;
  if (hasCustom && query.window !== undefined) throw new BadRequestError('Expected either `window` or `from` and `to`, not both');
  if (hasCustom) return customRange(query.from, query.to, now, retention);
  const name = enumParam('window', query.window, WINDOWS) ?? fallback;
  return name === 'all' ? undefined : windowRange(name, now, retention);
}

/**
 * `?prefix=/api/users` (or `?path=`): a path under /api, normalized like a hit. The URL parser has
 * decoded it once already, as a hit's path is decoded once: it is compared with stored paths as is.
 */
export function prefixParam(raw: unknown, name = 'prefix'): string | undefined {
  if (raw === undefined) return undefined;
  const message = `Expected \`${name}\` to be a path under /api, such as /api/users`;
  if (typeof raw !== 'string' || !raw.startsWith('/api')) throw new BadRequestError(message);
  try {
    return normalizeDecodedPath(raw);
  } catch {
    throw new BadRequestError(message);
  }
}
