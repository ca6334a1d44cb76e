// POST /hits: batched, retry-safe counting for servers that count on behalf of others (log
// shippers, edge workers). A batch is validated whole first (any bad hit is a 400 naming its index,
// and nothing counts), then counted by the store in one atomic call per shard with its
// Idempotency-Key record (hits/batch.ts): a retry of a batch whose reply was lost counts nothing
// again, and says so.
import { hash } from 'node:crypto';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { hashVisitor, visitorIdentity } from '../analytics/visitors.js';
import { floorTo } from '../analytics/buckets.js';
import { BadRequestError, HttpError } from '../errors.js';
import type { BatchCall, IndexedHit } from '../hits/batch.js';
import { BATCH_METHOD } from '../hits/batch.js';
import { cutUtf8, FIELD_MAX, type Refused } from '../hits/count-hit.js';
import { countedPath } from '../hits/sites.js';
import { jsonBody } from '../limits.js';
import type { Services } from '../services.js';
import type { Settings } from '../settings.js';
import { nameOf, route, type RouteDeclaration } from './declare.js';
import { ErrorBody } from './schemas.js';

/** How far ahead of the server's clock a hit's time may be (the sender's clock skew); it counts as now. */
export const MAX_SKEW_MS = 60_000;
/** Bytes of JSON body per hit a batch may take: a path, a User-Agent, a referrer and a visitor of ordinary lengths. */
export const BYTES_PER_HIT = 4096;
const KEY = /^[\x21-\x7e]{1,255}$/;
const KEY_WORDS = '1 to 255 printable ASCII characters without spaces, the same on every retry of one batch (a UUID will do)';

/** The largest body POST /hits reads: batch.maxHits × 4 KiB, and never less than server.maxBodyBytes. */
export const batchBodyBytes = (settings: Readonly<Settings>) => Math.max(settings.server.maxBodyBytes, settings.batch.maxHits * BYTES_PER_HIT);

/** The oldest a hit's time may be: the longest bucket retention. */
function retention({ analytics }: Readonly<Settings>): { ms: number; setting: string } {
  const longest = (['minuteTtlSeconds', 'hourTtlSeconds', 'dayTtlSeconds'] as const).reduce((a, b) => (analytics[b] > analytics[a] ? b : a));
  return { ms: analytics[longest] * 1000, setting: `analytics.${longest}` };
}

const PATH_WORDS = 'a page\'s path such as /blog/post';
const TIME_WORDS = 'an ISO 8601 instant with its offset, such as 2026-11-24T08:00:00Z, or ms since the epoch';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i;
const say = (words: string) => ({ error: `Expected \`{name}\` to be ${words}` });

const BatchHit = z.strictObject({
  path: z.string(say(PATH_WORDS)).regex(/^\//, say(PATH_WORDS)).meta({
    description: 'The page\'s path, as in its URL (percent-encoded or not): `/api` is put in front of it, as the counting pixel does (`/blog/post` counts `/api/blog/post`, `/` counts `/api`). Its query and fragment are dropped; it is decoded once and normalized like a hit (`.` and `..` resolved, runs of `/` collapsed, one trailing `/` dropped).',
    examples: ['/blog/post'],
  }),
  time: z.union([z.string(say(TIME_WORDS)).regex(ISO, say(TIME_WORDS)), z.int(say(TIME_WORDS)).min(0, say(TIME_WORDS))], say(TIME_WORDS)).optional().meta({
    description: `When the hit happened; default: when the batch arrives. At most ${MAX_SKEW_MS / 1000} s ahead of the server's clock (a time ahead by less counts as now), and no older than the longest bucket retention (\`analytics.dayTtlSeconds\` by default: 2 years). It counts in the minute, hour and day buckets of that time where they are still kept, and in the all-time ranking.`,
    examples: ['2026-11-24T08:00:00Z', 1795507200000],
  }),
  referrer: z.string(say('a string')).optional().meta({ description: 'The referrer, kept in the event log (cut to `events.maxReferrerBytes`).' }),
  userAgent: z.string(say('a string')).optional().meta({ description: 'The client\'s User-Agent: `api.bots` applies to it as to `/api/*`; kept in the event log (cut to `events.maxUserAgentBytes`).' }),
  visitor: z.string(say('a string of 1 to 256 characters')).min(1, say('a string of 1 to 256 characters')).max(256, say('a string of 1 to 256 characters')).optional().meta({
    description: 'Who made the request: the client\'s IP address is what `/api/*` uses. Hashed with `userAgent` and the day\'s salt, as `/api/*` hashes its client\'s IP and User-Agent (so one IP and User-Agent are one visitor whichever way they were counted), and never kept as given. Without it the hit counts no visitor.',
    examples: ['203.0.113.7'],
  }),
}).meta({ id: 'BatchHit', description: 'One hit of a batch.' });

const hitsWords = (maxHits: number) => `a list of 1 to ${maxHits} hits`;

function batchBody({ batch }: Readonly<Settings>) {
  return z.strictObject({
    hits: z.array(BatchHit, say(hitsWords(batch.maxHits)))
      .min(1, say(hitsWords(batch.maxHits)))
      .max(batch.maxHits, { error: `Expected at most ${batch.maxHits} hits in one batch` })
      .meta({ description: `The hits, 1 to \`batch.maxHits\` (${batch.maxHits}).` }),
  }, { error: 'Expected the body to be a JSON object such as {"hits": [{"path": "/blog/post"}]}' }).meta({
    id: 'HitBatch',
    description: 'A batch of hits. Any invalid hit makes the whole batch a 400 that names it (`hits[3].path`), and nothing of it counts.',
    examples: [{ hits: [{ path: '/blog/post', time: '2026-11-24T08:00:00Z', referrer: 'https://example.com/', userAgent: 'Mozilla/5.0', visitor: '203.0.113.7' }, { path: '/about' }] }],
  });
}

const Drop = z.strictObject({
  index: z.int().min(0).meta({ description: 'The hit\'s index in `hits`.' }),
  reason: z.string().meta({ description: '`bot`: a bot\'s User-Agent with `api.bots` `refuse`; `path_cap`: a path not yet in the ranking while it holds `api.maxPaths` paths.' }),
}).meta({ id: 'BatchDrop' });

const BatchResult = z.strictObject({
  accepted: z.int().min(0).meta({ description: 'Hits of the batch counted (by this request, or by the one it repeats).' }),
  dropped: z.int().min(0).meta({ description: 'Hits of the batch not counted: `accepted + dropped` is the batch\'s length.' }),
  duplicate: z.boolean().meta({ description: '`true`: the batch had been counted before under this Idempotency-Key, and this request counted nothing; the numbers are the first count\'s.' }),
  drops: z.array(Drop).meta({ description: 'Each hit not counted, and why, by index.' }),
}).meta({ id: 'BatchResult', description: 'What the batch counted.', examples: [{ accepted: 2, dropped: 1, duplicate: false, drops: [{ index: 1, reason: 'bot' }] }] });

export function routes(services: Services): RouteDeclaration[] {
  const { settings, clock, counter, metrics } = services;
  const { batch, api, events } = settings;
  const body = batchBody(settings);
  const oldest = retention(settings);
  const recordSeconds = batch.idempotencyTtlSeconds;
  const visitorTtlMs = settings.analytics.visitorTtlSeconds * 1000;
  const drop = (n: number, reason: string) => { for (let i = 0; i < n; i++) metrics.ingest('batch', 'dropped', reason); };
  const offered = (ctx: { request: { body?: unknown } }) => {
    const hits = (ctx.request.body as { hits?: unknown } | undefined)?.hits;
    return Array.isArray(hits) ? hits.length : 0;
  };

  const idempotencyKey: Middleware = (ctx, next) => {
    if (!KEY.test(ctx.get('Idempotency-Key'))) throw new BadRequestError(`Expected an \`Idempotency-Key\` header: ${KEY_WORDS}`);
    return next();
  };
  // Validated here rather than by mountRoutes' validate(), to refuse an oversized list before
  // reading its items.
  const checkBody: Middleware = (ctx, next) => {
    const raw: unknown = ctx.request.body;
    if (offered(ctx) > batch.maxHits) {
      drop(offered(ctx), 'invalid');
      throw new BadRequestError(`Expected at most ${batch.maxHits} hits in one batch`);
    }
    const result = body.safeParse(raw);
    if (!result.success) {
      drop(offered(ctx), 'invalid');
      const [issue] = result.error.issues;
      if (issue!.code === 'unrecognized_keys') {
        const at = nameOf(issue!.path);
        const known = at ? Object.keys(BatchHit.shape) : ['hits'];
        throw new BadRequestError(`Unknown field \`${at ? `${at}.` : ''}${issue!.keys[0]}\`; expected one of: ${known.join(', ')}`);
      }
      throw new BadRequestError(issue!.message.replaceAll('{name}', nameOf(issue!.path)));
    }
    return next();
  };

  /** A hit's path, counted under /api like the pixel's `p`; a 400 naming the hit when it is no path. */
  function pathOf(raw: string, name: string): string {
    const target = raw.replace(/[?#][\s\S]*$/, '');
    try {
      return countedPath('', decodeURIComponent(target));
    } catch (error) {
      const why = error instanceof HttpError ? `: ${error.message}` : ': malformed percent-encoding or invalid UTF-8';
      throw new BadRequestError(`Expected \`${name}\` to be ${PATH_WORDS}${why}`);
    }
  }

  /** A hit's time, ms since the epoch; a 400 naming the hit when it is out of range. */
  function timeOf(raw: string | number | undefined, name: string, now: number): number {
    if (raw === undefined) return now;
    const time = typeof raw === 'number' ? raw : Date.parse(raw);
    if (!Number.isFinite(time)) throw new BadRequestError(`Expected \`${name}\` to be ${TIME_WORDS}`);
    if (time > now + MAX_SKEW_MS) {
      throw new BadRequestError(`Expected \`${name}\` to be at most ${MAX_SKEW_MS / 1000} s ahead of the server's clock (${new Date(now).toISOString()}), not ${new Date(Math.min(time, 8.64e15)).toISOString()}`);
    }
    if (time < now - oldest.ms) {
      throw new BadRequestError(`Expected \`${name}\` to be no older than the longest bucket retention (${oldest.setting}: ${oldest.ms / 1000} s), from ${new Date(now - oldest.ms).toISOString()}, not ${new Date(Math.max(time, -8.64e15)).toISOString()}`);
    }
    return Math.min(time, now);
  }

  return [
    route({
      operationId: 'countBatch',
      method: 'post',
      path: '/hits',
      tags: ['hits'],
      summary: 'Count a batch of hits, once whatever the retries (admin)',
      description:
        `For servers that count on behalf of others (log shippers, edge workers): up to \`batch.maxHits\` (${batch.maxHits}) hits in one request, each with its own path, time, referrer, User-Agent and visitor, counted like hits of \`/api/*\` (the ranking, the buckets of each hit's time, visitors, the event log with method \`${BATCH_METHOD}\`; \`api.maxPaths\` and \`api.bots\` apply, \`api.floodLimit\` does not: the sender is one client for many). ` +
        'Every hit is checked first: one invalid hit makes the whole batch a 400 that names it, and nothing counts. ' +
        `**Retry-safe**: the \`Idempotency-Key\` header is required. The batch is counted in one atomic Redis call together with the key's record, kept \`batch.idempotencyTtlSeconds\` (${recordSeconds} s): the batch is counted whole or not at all, and a retry with the same key and body (after a 503, a timeout, a lost reply) counts nothing again and answers \`duplicate: true\` with \`Idempotent-Replayed: true\`, however many copies race. The same key with another body is a 422. ` +
        'With `redis.shards` > 1 (or `api.bots` `separate`) each shard\'s hits are one atomic call with a record of their own: a failure part-way is a 503, and the retry completes the rest, still once.',
      auth: 'admin',
      headers: z.object({
        'Idempotency-Key': z.string().regex(KEY).meta({ description: `Names the batch: ${KEY_WORDS}. Required.`, examples: ['6f1c1c7e-58d4-4a8a-9a39-0c4d3f1ec2a9'] }),
      }),
      body: {
        schema: body,
        required: true,
        description: `The batch, as JSON: an object with \`hits\`, a list (a bare list is not taken, so that the batch can grow fields). At most max(\`server.maxBodyBytes\`, \`batch.maxHits\` × ${BYTES_PER_HIT}) bytes: ${batchBodyBytes(settings)}.`,
      },
      before: [idempotencyKey, ...jsonBody({ maxBytes: batchBodyBytes(settings), maxDepth: settings.server.maxJsonDepth }), checkBody],
      responses: {
        200: {
          description: 'Counted, or counted before under this key (`duplicate: true`). Hits dropped (a bot, the path cap) are listed by index.',
          headers: {
            'Idempotent-Replayed': { description: '`true` when this request counted nothing because the batch had been counted before under its key; else `false`.', required: true, schema: { type: 'string', enum: ['true', 'false'] } },
          },
          content: { 'application/json': BatchResult },
        },
        400: { ref: 'BadRequest', description: `No valid \`Idempotency-Key\`; a body that is not JSON, not an object with \`hits\`, or nested deeper than \`server.maxJsonDepth\`; over \`batch.maxHits\` (${batch.maxHits}) hits (\`Expected at most ${batch.maxHits} hits in one batch\`); or a hit that is invalid, named by its index (\`\` Expected \`hits[3].time\` to be … \`\`): a bad path, a time in the future (beyond ${MAX_SKEW_MS / 1000} s of skew) or older than the longest bucket retention. Nothing counted.` },
        413: { ref: 'PayloadTooLarge', description: `The JSON body is over ${batchBodyBytes(settings)} bytes (\`batch.maxHits\` × ${BYTES_PER_HIT}, at least \`server.maxBodyBytes\`). Nothing counted.` },
        422: { description: `The \`Idempotency-Key\` was used in the last \`batch.idempotencyTtlSeconds\` (${recordSeconds} s) for a batch with another body: nothing counted. A new batch needs a new key.`, content: { 'application/json': ErrorBody } },
        503: { ref: 'RedisUnavailable', description: 'Redis could not be reached or refused the write, or did not answer in time, or (durability `replicated`) no replica confirmed the batch. Retry with the same `Idempotency-Key`: what was counted is not counted again, and what was not is counted then.' },
      },
      handler: async (ctx, { body: { hits } }) => {
        const key = ctx.get('Idempotency-Key');
        const n = hits.length;
        const now = clock.now();
        // The body as parsed, so that whitespace and number spelling do not make a retry "another body".
        const fingerprint = hash('sha256', JSON.stringify(ctx.request.body), 'hex');
        const main: IndexedHit[] = [];
        const botHits: IndexedHit[] = [];
        const drops: Array<{ index: number; reason: string }> = [];
        const salts = new Map<number, string>();
        try {
          const checked = hits.map((hit, index) => ({
            hit, index, path: pathOf(hit.path, `hits[${index}].path`), time: timeOf(hit.time, `hits[${index}].time`, now),
          }));
          for (const { hit, index, path, time } of checked) {
            const userAgent = (hit.userAgent ?? '').slice(0, FIELD_MAX);
            const bot = userAgent !== '' && api.bots !== 'count' && counter.isBot(userAgent);
            if (bot && (api.bots === 'refuse' || !services.bots)) {
              drops.push({ index, reason: 'bot' });
              continue;
            }
            let visitor = '';
            const day = floorTo(time, 'day');
            // A day whose visitors are no longer kept needs no hash (and no salt made for it).
            if (services.visitors && hit.visitor !== undefined && day >= now - visitorTtlMs) {
              let salt = salts.get(day);
              if (salt === undefined) salts.set(day, (salt = await services.visitors.saltAt(time)));
              visitor = hashVisitor(salt, visitorIdentity(hit.visitor, userAgent));
            }
            (bot ? botHits : main).push({
              index, path, time, method: BATCH_METHOD, visitor,
              referrer: cutUtf8(hit.referrer ?? '', events.maxReferrerBytes),
              userAgent: cutUtf8(userAgent, events.maxUserAgentBytes),
              eventPath: cutUtf8(path, events.maxPathBytes),
            });
          }
        } catch (error) {
          drop(n, !(error instanceof HttpError) ? 'error' : error.status === 400 ? 'invalid' : 'unavailable');
          throw error;
        }

        let calls: BatchCall[];
        try {
          calls = await services.store.recordBatch({ key, fingerprint, home: true, drops, hits: main, now });
          if (botHits.length > 0 && !calls.some((call) => call.status === 'conflict')) {
            calls = [...calls, ...await services.bots!.recordBatch({ key, fingerprint, home: false, drops: [], hits: botHits, now })];
          }
        } catch (error) {
          drop(n, (error as Refused).refusal ?? (error instanceof HttpError && error.status === 503 ? 'unavailable' : 'error'));
          throw error;
        }
        if (calls.some((call) => call.status === 'conflict')) {
          drop(n, 'conflict');
          throw new HttpError(422, `Idempotency-Key ${JSON.stringify(key)} was used for a batch with another body in the last ${recordSeconds} s (batch.idempotencyTtlSeconds): nothing was counted; a new batch needs a new key`);
        }

        const all = calls.flatMap((call) => call.drops).sort((a, b) => a.index - b.index);
        const accepted = calls.reduce((sum, call) => sum + call.counted, 0);
        for (const call of calls) {
          if (call.status === 'duplicate') drop(call.indexes.length, 'duplicate');
          else {
            for (const { reason } of call.drops) metrics.ingest('batch', 'dropped', reason);
            for (let i = call.drops.length; i < call.indexes.length; i++) metrics.ingest('batch', 'accepted');
          }
        }
        const duplicate = calls.every((call) => call.status === 'duplicate');
        ctx.set('Idempotent-Replayed', String(duplicate));
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { accepted, dropped: all.length, duplicate, drops: all };
      },
    }),
  ];
}
