// The live traffic feed as Server-Sent Events: GET /stats/stream.
import { PassThrough } from 'node:stream';
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { TrafficEvent, TrafficSampler } from '../analytics/traffic.js';
import { rejectUnknown } from './params.js';

export interface StreamDeps {
  traffic: TrafficSampler;
  reader: Middleware;
}

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

export function mount(router: Router, { traffic, reader }: StreamDeps): void {
  // GET /stats/stream
  // Server-Sent Events: the hits counted in each second by every process that shares this Redis.
  // The server samples them once a second for all its clients; no client makes it read Redis.
  //   200 text/event-stream, open until the client leaves:
  //       event: backlog      data: [{"t": <ms>, "hits": n}, ...]   the last 300 seconds, oldest first, first of all
  //       event: hits         data: {"t": <ms of the second>, "hits": n}   every second; a t sent before
  //                           replaces its earlier value (hits that landed late)
  //       event: unavailable  data: {"error": "..."}   Redis could not be read; points resume when it can
  //       ": keep-alive" comments every 15 s
  //   400 any parameter; 401 with auth.protectStats, the admin token missing or wrong
  router.get('/stats/stream', reader, (ctx) => {
    rejectUnknown(ctx.query, []);
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
  });
}
