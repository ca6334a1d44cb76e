// Custom events of the trackers (Plausible's `track('signup')`, Umami's named events): not hits, so
// nothing in the ranking, the buckets or the visitors changes; one entry in the event log, on the
// page's path, with `method` = `event:<name>`, beside the hits' entries (GET /events shows both;
// `method` tells them apart). An entry is written to the stream of the shard the page's path is
// counted in, as a hit's would be, and capped like it (events.maxLength).
//
// The controls of a hit apply: api.floodLimit (a limit of its own, as many events as hits per
// client), and a bot's User-Agent is refused unless api.bots is `count` (a bot's events would
// belong to the bots' ranking, whose log no endpoint reads). With events.enabled false an event
// has nowhere to go and is refused as `events_off`.
import { isbot } from 'isbot';
import { ReplyError, type Redis } from 'ioredis';
import type { VisitorHasher } from '../analytics/visitors.js';
import type { Clock } from '../clock.js';
import { ForbiddenError, NotFoundError, TooManyRequestsError } from '../errors.js';
import type { ShardKeys } from '../redis/keys.js';
import { unavailable } from '../redis/unavailable.js';
import type { Settings } from '../settings.js';
import { cutUtf8, type Refused } from './count-hit.js';
import { FloodGuard } from './flood.js';
import { shardOf } from './shards.js';

/** What an event's name may be: Plausible's own limit. */
export const MAX_EVENT_NAME = 120;

export interface CustomEvent {
  /** The event's name (`signup`); the entry's method is `event:<name>`. */
  name: string;
  /** The page's counted path (sites.ts countedPath): normalized, under /api. */
  path: string;
  ip: string;
  userAgent: string;
  referrer: string;
}

export interface CustomEventLog {
  /** Appends the event; throws an HttpError with `refusal` when it is refused. */
  record(event: CustomEvent): Promise<void>;
}

export interface CustomEventDeps {
  settings: Readonly<Settings>;
  redis: Redis;
  shards: readonly ShardKeys[];
  clock: Clock;
  visitors: VisitorHasher | undefined;
}

// What the visitor hash reads of the User-Agent, as count-hit.ts.
const FIELD_MAX = 512;

const refused = (error: Error, refusal: string): Refused => Object.assign(error, { refusal });

export function createCustomEventLog({ settings, redis, shards, clock, visitors }: CustomEventDeps): CustomEventLog {
  const { api, events } = settings;
  const flood = api.floodLimit.points > 0 ? new FloodGuard(api.floodLimit, () => clock.now()) : undefined;
  const maxLength = String(events.maxLength);
  return {
    async record({ name, path, ip, userAgent: rawUserAgent, referrer }) {
      if (!events.enabled) throw refused(new NotFoundError('Custom events are not recorded: the event log is off (events.enabled is false)'), 'events_off');
      if (flood) {
        const retryAfter = flood.take(ip);
        if (retryAfter > 0) {
          throw refused(new TooManyRequestsError(`Too many events from one client: over ${api.floodLimit.points} per ${api.floodLimit.durationSeconds} s (api.floodLimit); try again in ${retryAfter} s`, retryAfter), 'flood_limit');
        }
      }
      const userAgent = rawUserAgent.slice(0, FIELD_MAX);
      if (api.bots !== 'count' && isbot(userAgent)) throw refused(new ForbiddenError(`Events from bots are not recorded (api.bots: ${api.bots})`), 'bot');
      const time = Math.floor(clock.now());
      const visitor = visitors ? visitors.hashNow(time, ip, userAgent) ?? await visitors.hash(time, ip, userAgent) : '';
      const key = shards[shardOf(path, shards.length)]!.events;
      const fields = [
        't', String(time),
        'method', `event:${name}`,
        'path', cutUtf8(path, events.maxPathBytes),
        'status', '200',
        'referrer', cutUtf8(referrer, events.maxReferrerBytes),
        'ua', cutUtf8(userAgent, events.maxUserAgentBytes),
        'visitor', visitor,
      ];
      // The entry's id follows this server's clock, as a hit's does; a clock behind the stream's
      // last id (another replica's skew) falls back to Redis's time.
      await redis.xadd(key, 'MAXLEN', '~', maxLength, `${time}-*`, ...fields).catch((error: unknown) => {
        if (error instanceof ReplyError && /equal or smaller/.test((error as Error).message)) return redis.xadd(key, 'MAXLEN', '~', maxLength, '*', ...fields);
        throw error;
      }).catch(unavailable);
    },
  };
}
