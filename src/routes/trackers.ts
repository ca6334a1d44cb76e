// What the trackers' endpoints (plausible.ts, umami.ts) share: their body parser, the answer they
// give, and how an offered page view or custom event ends (counted, recorded, dropped) with its
// metric. Not a route area itself: it declares no route.
import bodyParser from 'koa-bodyparser';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { BadRequestError, HttpError, PayloadTooLargeError } from '../errors.js';
import type { Refused } from '../hits/count-hit.js';
import { createCustomEventLog, type CustomEventLog } from '../hits/custom-events.js';
import { jsonDepth } from '../limits.js';
import type { Metrics } from '../metrics.js';
import type { Services } from '../services.js';
import type { HeaderDeclaration } from './declare.js';

/** Why a hit or an event was dropped: the X-Hitcounter-Dropped header and the metric's `reason`. */
export const DROPPED_HEADER = 'X-Hitcounter-Dropped';
const REASONS = ['bot', 'flood_limit', 'path_cap', 'unknown_site', 'invalid_url', 'path_too_long', 'events_off'];

export const droppedHeader: HeaderDeclaration = {
  description: `Present when nothing was counted or recorded, naming why: ${REASONS.map((reason) => `\`${reason}\``).join(', ')}. The body's \`message\` says it in words.`,
  schema: { type: 'string', pattern: '^[a-z_]+$', examples: REASONS },
};

const Counted = z.strictObject({
  outcome: z.literal('counted'),
  path: z.string().regex(/^\/api(\/|$)/).meta({ description: 'The path the page view counted as (`/api` + the site\'s prefix + the page\'s path).' }),
  hits: z.int().min(1).meta({ description: 'Its all-time count, this hit included.' }),
});
const Recorded = z.strictObject({
  outcome: z.literal('recorded'),
  path: z.string().regex(/^\/api(\/|$)/).meta({ description: 'The page\'s path, as a page view of it would count.' }),
  event: z.string().meta({ description: 'The custom event\'s name: the event log\'s entry has `method` `event:<name>`.' }),
});
const Dropped = z.strictObject({
  outcome: z.literal('dropped'),
  reason: z.string().regex(/^[a-z_]+$/).meta({ description: `As \`${DROPPED_HEADER}\`.` }),
  message: z.string().meta({ description: 'Why, in a sentence.' }),
});
const Ignored = z.strictObject({
  outcome: z.literal('ignored'),
  reason: z.string().meta({ description: 'What was sent that hitcounter does not keep: Plausible\'s `engagement`, Umami\'s `identify`, `performance` or `engagement`.' }),
});

export const TrackerAnswer = z.discriminatedUnion('outcome', [Counted, Recorded, Dropped, Ignored]).meta({
  id: 'TrackerAnswer',
  description: 'What became of a tracker\'s event: a page view `counted`, a custom event `recorded` in the event log, either `dropped` (and why), or `ignored` (a kind of event hitcounter does not keep).',
});
export type TrackerOutcome = z.output<typeof TrackerAnswer>;
type Settled = Exclude<TrackerOutcome, { outcome: 'dropped' | 'ignored' }>;
export type Dropped = z.output<typeof Dropped> & { error: HttpError };

/**
 * The body, as JSON whatever its Content-Type (Plausible's tracker sends text/plain, so that a
 * browser need not ask first with a preflight): at most server.maxBodyBytes, nested at most
 * server.maxJsonDepth, an object or an array (the schema then wants an object).
 */
export function trackerBody({ maxBodyBytes, maxJsonDepth }: { maxBodyBytes: number; maxJsonDepth: number }): Middleware[] {
  const parse = bodyParser({
    enableTypes: ['json'],
    detectJSON: () => true,
    strict: true,
    jsonLimit: `${maxBodyBytes}b`,
    onerror: (error) => {
      const status = (error as { status?: number }).status;
      if (status === 413) throw new PayloadTooLargeError(`Expected a body of at most ${maxBodyBytes} bytes (server.maxBodyBytes)`);
      if (status === 415) throw error;
      throw new BadRequestError('Expected a JSON object as the body (as text/plain or application/json)');
    },
  });
  const depth: Middleware = async (ctx, next) => {
    if (Array.isArray(ctx.request.body)) throw new BadRequestError('Expected a JSON object as the body, not an array');
    if (jsonDepth(ctx.request.body) > maxJsonDepth) throw new BadRequestError(`Expected a JSON body nested at most ${maxJsonDepth} levels deep`);
    return next();
  };
  return [parse, depth];
}

// One log of custom events per app (its flood limit is shared by both trackers), made on first use:
// declaring the routes (declaredRoutes, for the document) must not touch a service.
const eventLogs = new WeakMap<Services, CustomEventLog>();

export function customEvents(services: Services): CustomEventLog {
  let log = eventLogs.get(services);
  if (!log) {
    const { settings, redis, shards, clock, visitors } = services;
    log = createCustomEventLog({ settings, redis: redis.client, shards, clock, visitors });
    eventLogs.set(services, log);
  }
  return log;
}

function reasonOf(error: HttpError): string {
  const refusal = (error as Refused).refusal;
  if (typeof refusal === 'string') return refusal;
  return error.status === 414 ? 'path_too_long' : error.status === 400 ? 'invalid_url' : 'rejected';
}

/**
 * Runs the counting (or recording) of one offered page view (`hit`) or custom event (`event`) and
 * says how it ended. A client-side refusal (4xx: bot, flood limit, path cap, unknown site, bad URL)
 * becomes `dropped`; a server-side failure (Redis unavailable, 5xx) is thrown on, as everywhere.
 * Hits are counted in hitcounter_ingest_hits_total{source} either way; custom events are not hits.
 */
export async function settle(metrics: Metrics, source: string, kind: 'hit' | 'event', work: () => Promise<Settled>): Promise<Settled | Dropped> {
  try {
    const outcome = await work();
    if (kind === 'hit') metrics.ingest(source, 'accepted');
    return outcome;
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    const reason = error.status >= 500 ? (error as Refused).refusal ?? 'unavailable' : reasonOf(error);
    if (kind === 'hit') metrics.ingest(source, 'dropped', reason);
    if (error.status >= 500) throw error;
    return { outcome: 'dropped', reason, message: error.message, error };
  }
}

/** The answer's body: the outcome without the error it came from. */
export function answerOf(outcome: TrackerOutcome | Dropped): TrackerOutcome {
  if (outcome.outcome !== 'dropped') return outcome;
  const { reason, message } = outcome;
  return { outcome: 'dropped', reason, message };
}
