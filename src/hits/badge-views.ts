// Which views of a badge count (GET /badge/<path>.svg with counting on): one per visitor and path
// within web.badge.dedupeSeconds, so that a reader who refreshes does not inflate the count. The
// first view of a window is the one whose SET NX succeeds: atomic in Redis, so of any number of
// concurrent views (on any replica) exactly one is first, and only that one counts.
import type { Redis } from 'ioredis';
import { hashVisitor, visitorIdentity, type VisitorHasher } from '../analytics/visitors.js';
import type { Clock } from '../clock.js';
import type { GlobalKeys } from '../redis/keys.js';
import { unavailable } from '../redis/unavailable.js';

// With analytics.visitors off there is no daily salt: the view is keyed by a hash of IP and
// User-Agent under this fixed salt instead, kept only for the window.
const UNSALTED = 'hitcounter-badge';

export interface BadgeViewsDeps {
  redis: Redis;
  keys: GlobalKeys;
  clock: Clock;
  /** The daily visitor hash (analytics.visitors); undefined: a plain hash of IP and User-Agent. */
  visitors: VisitorHasher | undefined;
  /** web.badge.dedupeSeconds; 0: every view counts. */
  dedupeSeconds: number;
}

export interface BadgeView {
  /** Whether this view is the visitor's first of the path within the window: the one that may count. */
  first: boolean;
  /** Takes the view back, when its hit was not counted after all, so that a later view may count. */
  forget(): Promise<void>;
}

export class BadgeViews {
  constructor(private readonly deps: BadgeViewsDeps) {}

  /** The visitor's key: their daily visitor hash, the same one the event log records. */
  async #visitor(ip: string, userAgent: string): Promise<string> {
    const { visitors, clock } = this.deps;
    const identity = visitorIdentity(ip, userAgent);
    if (!visitors) return hashVisitor(UNSALTED, identity);
    const time = clock.now();
    return visitors.hashNow(time, ip, userAgent) ?? visitors.hash(time, ip, userAgent);
  }

  /** Records a view of `path` (normalized) by the client; says whether it is the first of its window. */
  async view(path: string, ip: string, userAgent: string): Promise<BadgeView> {
    const { redis, keys, dedupeSeconds } = this.deps;
    if (dedupeSeconds === 0) return { first: true, forget: async () => {} };
    const key = keys.badgeView(await this.#visitor(ip, userAgent), path);
    const set = await redis.set(key, '1', 'EX', dedupeSeconds, 'NX').catch(unavailable);
    return {
      first: set === 'OK',
      // Best effort: if Redis cannot be reached now, the view stays recorded until its TTL.
      forget: async () => { await redis.del(key).catch(() => {}); },
    };
  }
}
