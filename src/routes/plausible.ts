// Plausible's events API, so that Plausible's own tracker (@plausible-analytics/tracker, or its
// script) counts into hitcounter: `init({ domain, endpoint: '<hitcounter>/plausible/api/event' })`.
// The tracker POSTs JSON as text/plain (no CORS preflight), `keepalive`, and reads only the status
// of the answer. Plausible answers 202 to every well-formed event, so this does too, and says in
// X-Hitcounter-Dropped when one was not counted.
import type { Middleware } from 'koa';
import { z } from 'zod';
import { NotFoundError, SettingsError } from '../errors.js';
import { MAX_EVENT_NAME } from '../hits/custom-events.js';
import { API_ROOT } from '../hits/normalize.js';
import { countedPath, pageUrl, sitePrefix } from '../hits/sites.js';
import type { Services } from '../services.js';
import { route, type RouteDeclaration } from './declare.js';
import { answerOf, customEvents, DROPPED_HEADER, droppedHeader, settle, trackerBody, TrackerAnswer } from './trackers.js';

// Sent by the tracker on its own (time on page, scroll depth) and not kept: they are not page views.
const IGNORED = new Set(['engagement', 'pageleave']);

const NAME = 'Expected `n` to be the event\'s name: "pageview", or a custom event\'s';
const URL_ERROR = 'Expected `u` to be the page\'s URL';

const PlausibleEvent = z.object({
  n: z.string({ error: NAME }).min(1, { error: NAME }).max(MAX_EVENT_NAME, { error: `Expected \`n\` to be at most ${MAX_EVENT_NAME} characters` })
    .meta({ description: '`pageview` counts a hit of the page\'s path; `engagement` is ignored; any other name is a custom event, recorded in the event log (GET /events) as `method` `event:<n>` on the page\'s path, counting no hit.' }),
  u: z.string({ error: URL_ERROR }).min(1, { error: URL_ERROR })
    .meta({ description: 'The page\'s absolute URL (http or https). Its path counts, not its query or fragment (with `h`, the fragment counts as part of the path).' }),
  d: z.string({ error: 'Expected `d` to be the site\'s domain' }).optional()
    .meta({ description: 'The site\'s domain, as given to the tracker\'s `init({ domain })`: picks the site of `web.sites` (its prefix); without it, the URL\'s host does.' }),
  r: z.string({ error: 'Expected `r` to be the referrer, or null' }).nullable().optional()
    .meta({ description: 'The page\'s referrer (`document.referrer`), kept in the event log.' }),
  h: z.union([z.int(), z.boolean()], { error: 'Expected `h` to be 1 or 0' }).optional()
    .meta({ description: 'Hash-based routing (`hashBasedRouting`): 1 counts the fragment as part of the path.' }),
  p: z.unknown().optional().meta({ description: 'Custom properties: accepted and not kept.' }),
  v: z.unknown().optional().meta({ description: 'The tracker\'s version: ignored.' }),
  i: z.unknown().optional().meta({ description: 'Non-interactive: ignored.' }),
  $: z.unknown().optional().meta({ description: 'Revenue: ignored.' }),
  e: z.unknown().optional().meta({ description: 'Engagement time: ignored.' }),
  sd: z.unknown().optional().meta({ description: 'Scroll depth: ignored.' }),
}, { error: 'Expected a JSON object with `n` and `u`' }).meta({
  id: 'PlausibleEvent',
  description: 'An event of Plausible\'s events API, as Plausible\'s tracker sends it. Other fields are ignored.',
  override: { examples: [{ n: 'pageview', u: 'https://example.com/blog/post', d: 'example.com', r: null }] },
});

export function routes(services: Services): RouteDeclaration[] {
  const { settings, counter, metrics } = services;
  const { plausible, sites } = settings.web;
  if (plausible.endpoint === API_ROOT || plausible.endpoint.startsWith(`${API_ROOT}/`)) {
    throw new SettingsError(`Invalid setting \`web.plausible.endpoint\`: expected a path outside ${API_ROOT} (every path under it counts a hit), got ${JSON.stringify(plausible.endpoint)}`);
  }
  const on: Middleware = async (_ctx, next) => {
    if (!plausible.enabled) throw new NotFoundError('Plausible\'s events API is off (web.plausible.enabled is false)');
    return next();
  };

  return [
    route({
      operationId: 'plausibleEvent',
      method: 'post',
      path: plausible.endpoint,
      tags: ['hits'],
      summary: 'Count a page view sent by Plausible\'s tracker',
      description:
        `Plausible's events API (\`web.plausible.endpoint\`, here ${plausible.endpoint}): point Plausible's tracker at it with \`init({ domain, endpoint })\`. ` +
        'A `pageview` counts one hit, like `/api/*` does (flood limit, bots, visitors, event log; the event\'s `method` is `plausible`), of the page\'s path under its site\'s prefix (`web.sites`); ' +
        'another name is a custom event, recorded in the event log and counting nothing. Every well-formed event is answered 202, as Plausible does; ' +
        `one not counted (a bot with \`api.bots\` \`refuse\`, over \`api.floodLimit\` or \`api.maxPaths\`, an unknown site, a bad URL) says why in \`${DROPPED_HEADER}\` and in \`hitcounter_ingest_hits_total{source="plausible",outcome="dropped"}\`. ` +
        'The body is read as JSON whatever its Content-Type (the tracker sends text/plain).',
      auth: 'public',
      before: [on, ...trackerBody({ maxBodyBytes: settings.server.maxBodyBytes, maxJsonDepth: settings.server.maxJsonDepth })],
      // Documented as JSON, as Plausible documents its API; the tracker's text/plain is in words.
      body: { schema: PlausibleEvent, required: true, description: 'The event as JSON, read as JSON whatever its Content-Type: Plausible\'s tracker sends it as `text/plain` (a simple request, so a page on another origin sends it without a CORS preflight).' },
      responses: {
        202: { description: 'Taken: counted, recorded, ignored, or dropped (then with the header).', headers: { [DROPPED_HEADER]: droppedHeader }, content: { 'application/json': TrackerAnswer } },
        400: { ref: 'BadRequest', description: 'Not an event: a body that is not a JSON object, without `n` or `u`, or nested deeper than `server.maxJsonDepth`.' },
        404: { ref: 'NotFound', description: 'Plausible\'s events API is off (`web.plausible.enabled` is false).' },
        413: { ref: 'PayloadTooLarge', description: `The body is over \`server.maxBodyBytes\` (${settings.server.maxBodyBytes}).` },
        503: { ref: 'RedisUnavailable', description: 'Redis could not be reached in time: nothing was counted (the tracker does not retry).' },
      },
      handler: async (ctx, { body }) => {
        const { n: name, u, d, r, h } = body;
        ctx.set('Cache-Control', 'no-store');
        ctx.status = 202;
        if (IGNORED.has(name)) {
          ctx.body = { outcome: 'ignored', reason: name };
          return;
        }
        const pageview = name === 'pageview';
        const outcome = await settle(metrics, 'plausible', pageview ? 'hit' : 'event', async () => {
          const page = pageUrl(u, { withHash: h === 1 || h === true });
          const path = countedPath(sitePrefix(sites, { domain: d ?? page.hostname }), page.path);
          const offered = { path, ip: ctx.ip, userAgent: ctx.get('User-Agent'), referrer: r ?? '' };
          if (pageview) return { outcome: 'counted', path, hits: await counter.count({ ...offered, method: 'plausible' }) };
          await customEvents(services).record({ ...offered, name });
          return { outcome: 'recorded', path, event: name };
        });
        if (outcome.outcome === 'dropped') ctx.set(DROPPED_HEADER, outcome.reason);
        ctx.body = answerOf(outcome);
      },
    }),
  ];
}
