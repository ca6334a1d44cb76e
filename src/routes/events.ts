// The event log: one entry per hit, newest first.
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { EventLog, EventQuery } from '../analytics/events.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import { csvBody } from './csv.js';
import { integerParam, rejectUnknown } from './params.js';
import { instantParam, prefixParam, type Query } from './ranges.js';

export interface EventsDeps {
  log: EventLog;
  enabled: boolean;
  reader: Middleware;
}

const CURSOR = /^\d{1,16}-\d{1,16}$/;
const COLUMNS = ['id', 'time', 'method', 'path', 'status', 'referrer', 'userAgent', 'visitor'];

function eventQuery(query: Query): EventQuery {
  if (query.cursor !== undefined && (typeof query.cursor !== 'string' || !CURSOR.test(query.cursor))) {
    throw new BadRequestError('Expected `cursor` to be the `next` value of a previous page');
  }
  const from = instantParam('from', query.from);
  const to = instantParam('to', query.to);
  if (from !== undefined && to !== undefined && from >= to) throw new BadRequestError('Expected `from` to be before `to`');
  return {
    path: prefixParam(query.path, 'path'),
    prefix: prefixParam(query.prefix),
    from,
    to,
    cursor: query.cursor as string | undefined,
  };
}

export function mount(router: Router, { log, enabled, reader }: EventsDeps): void {
  const on: Middleware = async (_ctx, next) => {
    if (!enabled) throw new NotFoundError('The event log is off (events.enabled is false)');
    return next();
  };

  // GET /events?path=&prefix=&from=&to=&limit=&cursor=
  //   200 {"events": [{id, time, method, path, status, referrer, userAgent, visitor}], "next": "<cursor>" | null}
  //       Link: <…&cursor=…>; rel="next" when more may follow
  //   400 a bad filter, cursor or limit; 404 the event log is off
  router.get('/events', reader, on, async (ctx) => {
    rejectUnknown(ctx.query, ['path', 'prefix', 'from', 'to', 'limit', 'cursor']);
    const query = eventQuery(ctx.query);
    const limit = integerParam('limit', ctx.query.limit, 1, 1000) ?? 100;
    const page = await log.page(query, limit);
    if (page.next) {
      const next = new URLSearchParams(ctx.querystring);
      next.set('cursor', page.next);
      ctx.set('Link', `<${ctx.path}?${next}>; rel="next"`);
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = page;
  });

  // GET /events.csv?path=&prefix=&from=&to=
  // Every matching event, newest first, streamed in constant memory.
  router.get('/events.csv', reader, on, async (ctx) => {
    rejectUnknown(ctx.query, ['path', 'prefix', 'from', 'to']);
    const query = eventQuery(ctx.query);
    ctx.type = 'text/csv';
    ctx.attachment('events.csv');
    ctx.body = await csvBody(log.all(query), COLUMNS);
  });
}
