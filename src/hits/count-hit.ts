// Counting one offered hit, whatever brought it: /api/*, the pixel, the badge, the trackers'
// endpoints. The controls every way of counting shares (the per-client flood limit, bots, the
// visitor hash, what an event keeps) live here once, so a hit is the same hit from any door.
import { isbot } from 'isbot';
import { visitorIdentity } from '../analytics/visitors.js';
import { ForbiddenError, TooManyRequestsError } from '../errors.js';
import type { VisitorHasher } from '../analytics/visitors.js';
import type { Clock } from '../clock.js';
import type { Settings } from '../settings.js';
import { FloodGuard } from './flood.js';
import type { HitStore } from './store.js';

// What the visitor hash reads of the User-Agent (unchanged by events.maxUserAgentBytes, so that
// changing that setting does not split the day's visitors).
export const FIELD_MAX = 512;

/** `text` cut to at most maxBytes of UTF-8, never inside a character. Allocates only when it cuts. */
export function cutUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back to the start of a character
  return bytes.subarray(0, end).toString('utf8');
}

export interface OfferedHit {
  /** Normalized, under /api (normalizePath / normalizeDecodedPath). */
  path: string;
  /** The client's address (ctx.ip): flood limit and visitor hash. */
  ip: string;
  userAgent: string;
  referrer: string;
  /** What the event log records as the method (GET, POST, or a source such as `pixel`). */
  method: string;
}

/** A refusal names its reason (hitcounter_hits_refused_total): `flood_limit`, `bot`, or the store's own. */
export type Refused = Error & { refusal?: string };

export interface HitCounter {
  /** Counts the hit; resolves with the path's new count. Throws an HttpError (with `refusal`) when it is refused. */
  count(hit: OfferedHit): Promise<number>;
  /** Whether the User-Agent is a bot's, by the `isbot` list. */
  isBot(userAgent: string): boolean;
}

export interface HitCounterDeps {
  settings: Readonly<Settings>;
  store: HitStore;
  /** api.bots "separate": where bots' hits are counted. */
  bots: HitStore | undefined;
  clock: Clock;
  visitors: VisitorHasher | undefined;
}

export function createHitCounter({ settings, store, bots, clock, visitors }: HitCounterDeps): HitCounter {
  const { api, events } = settings;
  const writeBehind = settings.writeBehind.enabled;
  const flood = api.floodLimit.points > 0 ? new FloodGuard(api.floodLimit, () => clock.now()) : undefined;
  const refuseBots = api.bots === 'refuse';
  const botsApart = api.bots === 'separate' && bots !== undefined;
  const { maxPathBytes, maxReferrerBytes, maxUserAgentBytes } = events;
  const refused = (error: Error, refusal: string): Refused => Object.assign(error, { refusal });

  return {
    isBot: (userAgent) => isbot(userAgent.slice(0, FIELD_MAX)),
    async count({ path, ip, userAgent: rawUserAgent, referrer, method }) {
      if (flood) {
        const retryAfter = flood.take(ip);
        if (retryAfter > 0) {
          throw refused(new TooManyRequestsError(`Too many hits from one client: over ${api.floodLimit.points} per ${api.floodLimit.durationSeconds} s (api.floodLimit); try again in ${retryAfter} s`, retryAfter), 'flood_limit');
        }
      }
      const time = clock.now();
      const userAgent = rawUserAgent.slice(0, FIELD_MAX);
      const bot = (refuseBots || botsApart) && isbot(userAgent);
      if (bot && refuseBots) throw refused(new ForbiddenError('Hits from bots are not counted (api.bots: refuse)'), 'bot');
      const counter = bot ? bots! : store;
      // Write-behind: the store hashes visitors when it flushes, so that a hit never waits on
      // Redis for the salt.
      const later = visitors !== undefined && writeBehind;
      return counter.record({
        path,
        time,
        method,
        referrer: cutUtf8(referrer, maxReferrerBytes),
        userAgent: cutUtf8(userAgent, maxUserAgentBytes),
        visitor: visitors && !later ? visitors.hashNow(time, ip, userAgent) ?? await visitors.hash(time, ip, userAgent) : '',
        unhashedVisitor: later ? visitorIdentity(ip, userAgent) : undefined,
        eventPath: cutUtf8(path, maxPathBytes),
      });
    },
  };
}
