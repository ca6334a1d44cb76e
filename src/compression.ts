// gzip and brotli of the answers worth it (koa-compress), driven by settings.compression: JSON,
// CSV, HTML, JS, CSS, SVG and plain text, over compression.thresholdBytes, to clients that accept
// it, with Vary: Accept-Encoding. app.ts mounts it after the /api router, so a hit never runs it.
import { Duplex, finished, Readable } from 'node:stream';
import { constants } from 'node:zlib';
import koaCompress from 'koa-compress';
import type { Middleware } from 'koa';
import type { Settings } from './settings.js';

// text/event-stream is left out on purpose: a compressor holds the live feed's events back until
// its buffers fill, and the feed is tiny anyway.
const COMPRESSIBLE = /^(?:application\/(?:json|javascript|[\w.-]+\+json)|text\/(?:csv|html|css|javascript|plain)|image\/svg\+xml)$/i;

/** The compression middleware of these settings, or undefined when compression is off. */
export function compression(settings: Settings['compression']): Middleware | undefined {
  if (!settings.enabled) return undefined;
  const compress = koaCompress({
    threshold: settings.thresholdBytes,
    filter: (type) => COMPRESSIBLE.test(type),
    // Every chunk of a streamed answer (a Redis page of /stats, 1000 rows of CSV) is flushed as it
    // comes: the client gets its first bytes while the server still reads Redis, not when the
    // compressor's buffers happen to fill. It costs a few bytes per chunk.
    gzip: { flush: constants.Z_SYNC_FLUSH },
    // Quality 4, not brotli's default 11, which is many times slower: these answers are made per
    // request and streamed, not compressed once ahead of time.
    // A 256 KiB window (lgwin 18), not 4 MiB: the encoder's memory is per answer, and a million-row
    // export gains little from a longer one.
    br: { flush: constants.BROTLI_OPERATION_FLUSH, params: { [constants.BROTLI_PARAM_QUALITY]: 4, [constants.BROTLI_PARAM_LGWIN]: 18 } },
    deflate: false,
  });

  return async function compressAnswer(ctx, next) {
    let source: unknown;
    await compress(ctx, async () => {
      await next();
      source = ctx.body;
    });
    const compressed: unknown = ctx.body;
    // koa-compress pipes a streamed body into the compressor, and pipe() does not pass an error on:
    // a body that fails midway (Redis gone) would leave the answer open forever. Its failure
    // destroys the compressor, which Koa turns into a cut-off answer, as without compression.
    if (source instanceof Readable && compressed instanceof Duplex && compressed !== source) {
      finished(source, (error) => {
        if (error) compressed.destroy(error);
      });
    }
  };
}
