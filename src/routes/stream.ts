// The live traffic feed as Server-Sent Events: GET /stats/stream.
import { PassThrough } from 'node:stream';
import type { TrafficEvent } from '../analytics/traffic.js';
import type { Services } from '../services.js';
import { route, type RouteDeclaration } from './declare.js';
import { query } from './schemas.js';

// A client that reads slower than this is behind by minutes of points: it is let go (EventSource
// reconnects and gets a fresh backlog) rather than buffered without bound.
const MAX_BUFFERED_BYTES = 256 * 1024;

function frame(event: TrafficEvent): string | undefined {
  switch (event.type) {
    case 'backlog': return `event: backlog\ndata: ${JSON.stringify(event.points)}\n\n`;
    case 'point': return `event: hits\ndata: ${JSON.stringify(event.point)}\n\n`;
    case 'unavailable': return `event: unavailable\ndata: ${JSON.stringify({ error: event.error })}\n\n`;
    case 'heartbeat': return ': keep-alive\n\n';
    case 'close': return undefined;
  }
}

const POINT = '`{"t": <ms>, "hits": <n>}`: `t`, the second in ms since the epoch; `hits`, the hits counted in it';

export function routes({ traffic }: Services): RouteDeclaration[] {
  return [
    route({
      operationId: 'streamTraffic',
      method: 'get',
      path: '/stats/stream',
      tags: ['stats'],
      summary: 'Live traffic, as Server-Sent Events',
      description:
        'The hits counted in each second by every process that shares this Redis, as Server-Sent Events, open until the client leaves. ' +
        'The server samples them once a second for all its clients; no client makes it read Redis. ' +
        `First \`retry: 2000\`, then \`event: backlog\` whose \`data\` is an array of points (the last 300 seconds, oldest first); then every second \`event: hits\` whose \`data\` is one point. A point is ${POINT}. ` +
        'A `t` sent before replaces its earlier value (hits that landed late). `event: unavailable` with `data: {"error": "..."}` when Redis could not be read; points resume when it can. ' +
        'A `: keep-alive` comment every 15 s. A client that reads too slowly is disconnected (EventSource reconnects).',
      auth: 'reader',
      query: query({}),
      responses: {
        200: {
          description: 'The event stream.',
          content: {
            'text/event-stream': {
              type: 'string',
              description: 'Server-Sent Events: `backlog` (an array of points), then `hits` (one point) every second, `unavailable` (`{"error": "..."}`) while Redis cannot be read.',
              examples: ['retry: 2000\n\nevent: backlog\ndata: [{"t":1795507892000,"hits":9}]\n\nevent: hits\ndata: {"t":1795507893000,"hits":12}\n\n'],
            },
          },
        },
        400: { ref: 'BadRequest', description: 'Any query parameter (it takes none); or a request Node\'s HTTP parser rejected, then without `X-Request-Id`.' },
      },
      handler: (ctx) => {
        const body = new PassThrough();
        ctx.status = 200;
        ctx.type = 'text/event-stream';
        ctx.set('Cache-Control', 'no-store');
        // nginx and similar proxies would otherwise hold the points back to fill their buffers.
        ctx.set('X-Accel-Buffering', 'no');
        // The connection ends with the feed, so a graceful shutdown is not left waiting on an idle socket.
        ctx.set('Connection', 'close');
        ctx.req.socket.setNoDelay(true);
        body.write('retry: 2000\n\n');

        let unsubscribe = () => {};
        let ended = false;
        const end = () => {
          if (ended) return;
          ended = true;
          unsubscribe();
          body.end();
        };
        unsubscribe = traffic.subscribe((event) => {
          const text = frame(event);
          if (text === undefined) return end();
          if (body.writableLength > MAX_BUFFERED_BYTES) return end();
          body.write(text);
        });
        ctx.req.once('close', end);
        ctx.res.once('close', end);
        body.once('close', end);
        ctx.body = body;
      },
    }),
  ];
}
