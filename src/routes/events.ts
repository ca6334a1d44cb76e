// The event log: one entry per hit, newest first.
import type { Middleware } from 'koa';
import { z } from 'zod';
import type { EventQuery } from '../analytics/events.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import type { Services } from '../services.js';
import { csvBody } from './csv.js';
import { route, type ResponseDeclaration, type RouteDeclaration } from './declare.js';
import { apiPath, instant, integer, query } from './schemas.js';

const CURSOR = /^\d{1,16}-\d{1,16}$/;
const BAD_CURSOR = 'Expected `cursor` to be the `next` value of a previous page';
const COLUMNS = ['id', 'time', 'method', 'path', 'status', 'referrer', 'userAgent', 'visitor'];
const ENTRY_ID = /^\d+-\d+$/;

const HitEvent = z.strictObject({
  id: z.string().regex(ENTRY_ID).meta({ description: 'The Redis Stream entry id.' }),
  time: z.iso.datetime(),
  method: z.string(),
  path: z.string().regex(/^\/api(\/|$)/),
  status: z.int().min(100).max(599),
  referrer: z.string(),
  userAgent: z.string(),
  visitor: z.string().regex(/^([0-9a-f]{16})?$/).meta({ description: 'Salted daily hash of IP and User-Agent; empty when `analytics.visitors` is off.' }),
}).meta({ id: 'HitEvent' });

const EventPage = z.strictObject({
  events: z.array(HitEvent),
  next: z.string().regex(ENTRY_ID).nullable().meta({ description: 'Pass as `cursor` for the next page; null when nothing older matches.' }),
}).meta({ id: 'EventPage' });

// The filters both routes take. The order of the keys is that of an unknown parameter's message.
const filters = {
  path: apiPath().optional().meta({ description: 'Only events of exactly this path (normalized like a hit).' }),
  prefix: apiPath().optional().meta({ description: 'Only paths equal to this one or below it (normalized like a hit).', param: { example: '/api/blog' } }),
  from: instant().optional().meta({ description: 'Only events at or after this instant.' }),
  to: instant().optional().meta({ description: 'Only events before this instant.' }),
};

type Filters = z.output<z.ZodObject<typeof filters>>;

function eventQuery({ path, prefix, from, to }: Filters, cursor?: string): EventQuery {
  if (from !== undefined && to !== undefined && from >= to) throw new BadRequestError('Expected `from` to be before `to`');
  return { path, prefix, from, to, cursor };
}

export function routes({ settings, events: log }: Services): RouteDeclaration[] {
  const on: Middleware = async (_ctx, next) => {
    if (!settings.events.enabled) throw new NotFoundError('The event log is off (events.enabled is false)');
    return next();
  };
  const off: ResponseDeclaration = { ref: 'NotFound', description: 'The event log is off (`events.enabled` is false).' };
  const unavailable: ResponseDeclaration = { ref: 'RedisUnavailable', description: 'Redis could not be reached, or refused the command for now.' };

  return [
    route({
      operationId: 'getEvents',
      method: 'get',
      path: '/events',
      tags: ['events'],
      summary: 'The event log, newest first',
      description: 'One page of events; a page also stops after 10,000 entries looked at, and `next` continues from there.',
      auth: 'reader',
      before: [on],
      query: query({
        ...filters,
        // zod leaves `default` out of a schema that transforms its input, as integer()'s does.
        limit: integer(1, 1000).optional().meta({ description: 'Events per page.', override: ({ jsonSchema }: { jsonSchema: { default?: unknown } }) => { jsonSchema.default = 100; } }),
        cursor: z.string({ error: BAD_CURSOR }).regex(CURSOR, { error: BAD_CURSOR }).optional()
          .meta({ description: 'The `next` of a previous page: continue after that event.' }),
      }),
      responses: {
        200: { description: 'A page of events.', headers: { Link: 'Link' }, content: { 'application/json': EventPage } },
        400: { ref: 'BadRequest', description: 'A bad filter, cursor or limit; `from` not before `to`; an unknown parameter; or a request Node\'s HTTP parser rejected, then without `X-Request-Id`.' },
        404: off,
        503: unavailable,
      },
      handler: async (ctx, { query: input }) => {
        const page = await log.page(eventQuery(input, input.cursor), input.limit ?? 100);
        // Link: <…&cursor=…>; rel="next" when more may follow.
        if (page.next) {
          const next = new URLSearchParams(ctx.querystring);
          next.set('cursor', page.next);
          ctx.set('Link', `<${ctx.path}?${next}>; rel="next"`);
        }
        ctx.set('Cache-Control', 'no-store');
        ctx.body = page;
      },
    }),
    route({
      operationId: 'exportEvents',
      method: 'get',
      path: '/events.csv',
      tags: ['events'],
      summary: 'Every matching event as CSV, newest first',
      auth: 'reader',
      before: [on],
      query: query(filters),
      responses: {
        200: {
          description: `A header line \`${COLUMNS.join(',')}\`, then one line per event, streamed in constant memory.`,
          headers: { 'Content-Disposition': 'EventsAttachment' },
          content: { 'text/csv': { type: 'string' } },
        },
        400: { ref: 'BadRequest', description: 'A bad filter; `from` not before `to`; an unknown parameter; or a request Node\'s HTTP parser rejected, then without `X-Request-Id`.' },
        404: off,
        503: unavailable,
      },
      handler: async (ctx, { query: input }) => {
        const query = eventQuery(input);
        ctx.type = 'text/csv';
        ctx.attachment('events.csv');
        ctx.body = await csvBody(log.all(query), COLUMNS);
      },
    }),
  ];
}
