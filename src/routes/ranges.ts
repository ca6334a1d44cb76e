// Query parameters shared by the analytics routes: the time range and the path prefix.
import { customRange, WINDOWS, windowRange, type Range, type Retention } from '../analytics/buckets.js';
import { BadRequestError } from '../errors.js';
import { normalizeDecodedPath } from '../hits/normalize.js';
import { enumParam } from './params.js';

export type Query = Record<string, unknown>;

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
