// The counting endpoint. Each method of api.countMethods counts one hit; OPTIONS answers Allow.
import { setImmediate as endOfTurn } from 'node:timers/promises';
import type Router from '@koa/router';
import { isbot } from 'isbot';
import { visitorIdentity, type VisitorHasher } from '../analytics/visitors.js';
import type { Clock } from '../clock.js';
import { normalizePath } from '../hits/normalize.js';
import { ForbiddenError, HttpError, TooManyRequestsError } from '../errors.js';
import { FloodGuard } from '../hits/flood.js';
import type { HitStore } from '../hits/store.js';
import type { Settings } from '../settings.js';

declare module 'koa' {
  interface DefaultState {
    /** Why an /api/* request counted nothing, for hitcounter_hits_refused_total (see metrics.ts). */
    refusal?: string;
  }
}

export interface ApiDeps {
  store: HitStore;
  /** api.bots "separate": where bots' hits are counted. */
  bots?: HitStore;
  clock: Clock;
  /** Absent when analytics.visitors is off. */
  visitors?: VisitorHasher;
  /**
   * Write-behind: the store hashes visitors when it flushes, so that a hit never waits on Redis
   * for the salt; and hits are answered at the end of the event-loop turn (see below).
   */
  writeBehind?: boolean;
  api: Settings['api'];
  /** What an event entry keeps of the path, Referer and User-Agent. */
  events: Pick<Settings['events'], 'maxPathBytes' | 'maxReferrerBytes' | 'maxUserAgentBytes'>;
}

// What the visitor hash reads of the User-Agent (unchanged by events.maxUserAgentBytes, so that
// changing that setting does not split the day's visitors).
const FIELD_MAX = 512;

/** `path` cut to at most maxBytes of UTF-8, never inside a character. Allocates only when it cuts. */
export function cutUtf8(path: string, maxBytes: number): string {
  if (path.length * 3 <= maxBytes) return path;
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length <= maxBytes) return path;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back to the start of a character
  return bytes.subarray(0, end).toString('utf8');
}

export function mount(router: Router, { store, bots, clock, visitors, writeBehind = false, api, events }: ApiDeps): void {
  const counted = new Set<string>(api.countMethods);
  const allow = [...api.countMethods, 'OPTIONS'].join(', ');
  const flood = api.floodLimit.points > 0 ? new FloodGuard(api.floodLimit, () => clock.now()) : undefined;
  const refuseBots = api.bots === 'refuse';
  const botsApart = api.bots === 'separate' && bots !== undefined;
  const { maxPathBytes, maxReferrerBytes, maxUserAgentBytes } = events;
  // ANY /api/<path>
  // Counts one hit for the normalized path and answers with its new total.
  //   200 {"path": "/api/hello/world", "hits": 3}; a bot's hit with api.bots "separate": its count among bots
  //   400 bad percent-encoding, invalid UTF-8, control character, ".." out of /api
  //   403 a new path past api.maxPaths, or a bot's User-Agent with api.bots "refuse"
  //   405 a method not in api.countMethods (Allow lists those that count)
  //   414 normalized path over 2048 bytes
  //   429 over api.floodLimit (per client IP) or rateLimits.api
  //   503 Redis unavailable or refusing writes (out of memory): nothing was counted, retry after Retry-After
  // OPTIONS /api/<path>: 204 with Allow, counts nothing.
  router.all('/api{/*rest}', async (ctx) => {
    if (ctx.method === 'OPTIONS') {
      ctx.set('Allow', allow);
      ctx.status = 204;
      return;
    }
    if (!counted.has(ctx.method)) {
      ctx.state.refusal = 'method';
      throw new HttpError(405, `Method ${ctx.method} does not count on /api; counted: ${api.countMethods.join(', ')} (api.countMethods)`, { headers: { Allow: allow } });
    }
    const path = normalizePath(ctx.url);
    if (flood) {
      const retryAfter = flood.take(ctx.ip);
      if (retryAfter > 0) {
        ctx.state.refusal = 'flood_limit';
        throw new TooManyRequestsError(`Too many hits from one client: over ${api.floodLimit.points} per ${api.floodLimit.durationSeconds} s (api.floodLimit); try again in ${retryAfter} s`, retryAfter);
      }
    }
    const time = clock.now();
    const userAgent = ctx.get('User-Agent').slice(0, FIELD_MAX);
    const bot = (refuseBots || botsApart) && isbot(userAgent);
    if (bot && refuseBots) {
      ctx.state.refusal = 'bot';
      throw new ForbiddenError('Hits from bots are not counted (api.bots: refuse)');
    }
    const counter = bot ? bots! : store;
    const later = visitors !== undefined && writeBehind;
    let hits: number;
    try {
      hits = await counter.record({
        path,
        time,
        method: ctx.method,
        referrer: cutUtf8(ctx.get('Referer'), maxReferrerBytes),
        userAgent: cutUtf8(userAgent, maxUserAgentBytes),
        visitor: visitors && !later ? visitors.hashNow(time, ctx.ip, userAgent) ?? await visitors.hash(time, ctx.ip, userAgent) : '',
        unhashedVisitor: later ? visitorIdentity(ctx.ip, userAgent) : undefined,
        eventPath: cutUtf8(path, maxPathBytes),
      });
    } catch (error) {
      const refusal = (error as { refusal?: unknown }).refusal;
      if (typeof refusal === 'string') ctx.state.refusal = refusal;
      throw error;
    }
    // Write-behind answers without waiting on Redis, so each answer would leave alone, one write and
    // one wake-up of the client's side per hit. Answered at the end of the turn instead, the turn's
    // answers leave together, as the durable path's do after each batch's reply: measured with
    // npm run bench:profile -- --env WRITE_BEHIND=true, 79 → 54 µs of main thread per hit.
    if (writeBehind) await endOfTurn();
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { path, hits };
  });
}
