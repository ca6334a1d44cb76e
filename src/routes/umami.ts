// Umami's collect API, so that Umami's clients count into hitcounter: @umami/node with
// `hostUrl: '<hitcounter>/umami'`, or Umami's script with `data-host-url`. They POST
// `{type, payload}` as JSON to <hostUrl>/api/send. @umami/node hands the fetch Response to its
// caller untouched; the script parses the answer as JSON and reads `disabled` (true would stop it
// for the page) and `cache` (a token it echoes in x-umami-cache). This answers JSON with neither,
// so the script goes on, sending no extra header (none a CORS preflight would have to allow).
import type { Middleware } from 'koa';
import { z } from 'zod';
import { BadRequestError, NotFoundError } from '../errors.js';
import { MAX_EVENT_NAME } from '../hits/custom-events.js';
import { countedPath, pageUrl, sitePrefix } from '../hits/sites.js';
import type { Services } from '../services.js';
import { route, type RouteDeclaration } from './declare.js';
import { ErrorBody } from './schemas.js';
import { answerOf, customEvents, DROPPED_HEADER, droppedHeader, settle, trackerBody, TrackerAnswer } from './trackers.js';

const TYPES = ['event', 'identify', 'performance', 'engagement'] as const;
// Where Umami itself refuses (400: its schema, or "Website not found"), this refuses too; other
// drops are answered 200, as Umami answers a bot's event (`{"beep": "boop"}`).
const REFUSED = new Set(['unknown_site', 'invalid_url', 'path_too_long']);
// Only a path is resolved against it: the host it names is never used.
const BASE = 'https://localhost';

const text = (name: string, what: string) => z.string({ error: `Expected \`payload.${name}\` to be ${what}` });

const UmamiPayload = z.object({
  website: text('website', 'the website id').min(1, { error: 'Expected `payload.website` to be the website id' })
    .meta({ description: 'The website id: picks the site of `web.sites` (its prefix) by `websiteId`.' }),
  url: text('url', 'the page\'s URL or path').optional()
    .meta({ description: 'The page: a URL or a path (`/x`). Its path counts, not its query or fragment. Required for a page view; a custom event without it is recorded on the site\'s root.' }),
  hostname: text('hostname', 'a host name').optional()
    .meta({ description: 'The site\'s host name: picks the site of `web.sites` by `domain` when the website id does not.' }),
  referrer: text('referrer', 'the referrer').optional().meta({ description: 'The page\'s referrer, kept in the event log.' }),
  name: text('name', `an event name of at most ${MAX_EVENT_NAME} characters`).max(MAX_EVENT_NAME, { error: `Expected \`payload.name\` to be at most ${MAX_EVENT_NAME} characters` }).optional()
    .meta({ description: 'A custom event\'s name: recorded in the event log (GET /events) as `method` `event:<name>`, counting no hit. Without it, the event is a page view.' }),
  title: z.unknown().optional().meta({ description: 'Ignored.' }),
  language: z.unknown().optional().meta({ description: 'Ignored.' }),
  screen: z.unknown().optional().meta({ description: 'Ignored.' }),
  data: z.unknown().optional().meta({ description: 'Event data: accepted and not kept.' }),
}, { error: 'Expected `payload` to be an object' });

const UmamiSend = z.object({
  type: z.enum(TYPES, { error: `Expected \`type\` to be one of: ${TYPES.join(', ')}` })
    .meta({ description: '`event` is a page view or a custom event; the others are answered and not kept.' }),
  payload: UmamiPayload,
}, { error: 'Expected a JSON object with `type` and `payload`' }).meta({
  id: 'UmamiSend',
  description: 'A call of Umami\'s collect API, as Umami\'s clients send it. Other fields are ignored, and so are `payload.ip` and `payload.userAgent`: the client IP and User-Agent are the request\'s own.',
  override: { examples: [{ type: 'event', payload: { website: '50429a93-8479-4073-be80-d5d29c09c2ec', url: '/home', hostname: 'example.com' } }] },
});

export function routes(services: Services): RouteDeclaration[] {
  const { settings, counter, metrics } = services;
  const { umami, sites } = settings.web;
  const on: Middleware = async (_ctx, next) => {
    if (!umami.enabled) throw new NotFoundError('Umami\'s collect API is off (web.umami.enabled is false)');
    return next();
  };

  return [
    route({
      operationId: 'umamiSend',
      method: 'post',
      path: '/umami/api/send',
      tags: ['hits'],
      summary: 'Count a page view sent by an Umami client',
      description:
        'Umami\'s collect API: give Umami\'s clients `<hitcounter>/umami` as their host URL. ' +
        'An `event` without `name` is a page view: it counts one hit, like `/api/*` does (flood limit, bots, visitors, event log; the event\'s `method` is `umami`), of the page\'s path under its site\'s prefix (`web.sites`). ' +
        'With `name` it is a custom event, recorded in the event log and counting nothing. `identify`, `performance` and `engagement` are answered and not kept. ' +
        `A page view of an unknown site or with a bad URL is refused with 400, as Umami refuses them; one dropped for another reason (a bot with \`api.bots\` \`refuse\`, over \`api.floodLimit\` or \`api.maxPaths\`) is answered 200, as Umami answers a bot's. Either way \`${DROPPED_HEADER}\` and \`hitcounter_ingest_hits_total{source="umami",outcome="dropped"}\` say why.`,
      auth: 'public',
      before: [on, ...trackerBody({ maxBodyBytes: settings.server.maxBodyBytes, maxJsonDepth: settings.server.maxJsonDepth })],
      body: { schema: UmamiSend, required: true, description: 'The call as JSON (read as JSON whatever its Content-Type).' },
      responses: {
        200: { description: 'Taken: counted, recorded, ignored, or dropped (then with the header).', headers: { [DROPPED_HEADER]: droppedHeader }, content: { 'application/json': TrackerAnswer } },
        400: {
          description: 'Not a call of the collect API (not a JSON object, an unknown `type`, no `payload.website`, nested deeper than `server.maxJsonDepth`), or a page view refused as Umami refuses it: an unknown site, a bad or missing URL (then with the header).',
          headers: { [DROPPED_HEADER]: droppedHeader },
          content: { 'application/json': ErrorBody },
        },
        404: { ref: 'NotFound', description: 'Umami\'s collect API is off (`web.umami.enabled` is false).' },
        413: { ref: 'PayloadTooLarge', description: `The body is over \`server.maxBodyBytes\` (${settings.server.maxBodyBytes}).` },
        503: { ref: 'RedisUnavailable', description: 'Redis could not be reached in time: nothing was counted.' },
      },
      handler: async (ctx, { body }) => {
        const { type, payload } = body;
        ctx.set('Cache-Control', 'no-store');
        if (type !== 'event') {
          ctx.body = { outcome: 'ignored', reason: type };
          return;
        }
        const { website, url, hostname, referrer, name } = payload;
        const pageview = !name;
        const outcome = await settle(metrics, 'umami', pageview ? 'hit' : 'event', async () => {
          if (url === undefined && pageview) throw Object.assign(new BadRequestError('Expected `payload.url`, the page\'s URL or path, for a page view'), { refusal: 'invalid_url' });
          const page = url === undefined ? { path: '/', hostname: '' } : pageUrl(url, { base: BASE });
          const path = countedPath(sitePrefix(sites, { websiteId: website, domain: hostname || page.hostname }), page.path);
          const offered = { path, ip: ctx.ip, userAgent: ctx.get('User-Agent'), referrer: referrer ?? '' };
          if (pageview) return { outcome: 'counted', path, hits: await counter.count({ ...offered, method: 'umami' }) };
          await customEvents(services).record({ ...offered, name });
          return { outcome: 'recorded', path, event: name };
        });
        if (outcome.outcome === 'dropped') {
          ctx.set(DROPPED_HEADER, outcome.reason);
          if (REFUSED.has(outcome.reason)) throw new BadRequestError(outcome.message);
        }
        ctx.body = answerOf(outcome);
      },
    }),
  ];
}
