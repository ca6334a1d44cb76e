// Compression (settings.compression, src/compression.ts): gzip and brotli of big answers, still
// streamed chunk by chunk; never the live feed (SSE) nor a hit's tiny answer.
import { get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { brotliDecompressSync, constants, gunzipSync } from 'node:zlib';
import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import { compression } from '../src/compression.js';
import { withApp, type TestApp } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';
import { seedRanking } from './helpers/redis.js';
import { openSse } from './helpers/sse.js';

const PATHS = 100_000;

interface Received { response: IncomingMessage; chunks: Buffer[]; body: Buffer }

/** A GET read as it arrives: the chunks as the socket gave them, undecoded. */
function fetchRaw(url: string, headers: Record<string, string>): Promise<Received> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () => resolve({ response, chunks, body: Buffer.concat(chunks) }));
      response.once('error', reject);
    }).once('error', reject);
  });
}

const decoders = {
  gzip: (data: Buffer) => gunzipSync(data, { finishFlush: constants.Z_SYNC_FLUSH }),
  br: (data: Buffer) => brotliDecompressSync(data, { finishFlush: constants.BROTLI_OPERATION_FLUSH }),
};

async function seeded(app: TestApp): Promise<void> {
  // Scores i % 997: many ties, as a real ranking's long tail has.
  await seedRanking(app.redis.client, app.shard.hits, PATHS, '/api/articles/', 997);
}

// At most this share of the plain size. CSV has less to compress away than JSON: no repeated keys.
const MAX_RATIO = { stats: 0.15, 'stats.csv': 0.2 };

for (const path of ['stats', 'stats.csv'] as const) {
  test(`GET /${path} of ${PATHS} paths, gzip and br: at most ${MAX_RATIO[path] * 100}% of its size, the same bytes decoded, still streamed`, withApp, async (t, app) => {
    await seeded(app);
    const plain = await fetchRaw(`${app.url}/${path}`, {});
    t.is(plain.response.statusCode, 200);
    t.is(plain.response.headers['content-encoding'], undefined, 'no Accept-Encoding, no compression');
    t.regex(String(plain.response.headers.vary), /Accept-Encoding/);
    if (path === 'stats') t.is((JSON.parse(plain.body.toString('utf8')) as unknown[]).length, PATHS);

    for (const encoding of ['gzip', 'br'] as const) {
      const received = await fetchRaw(`${app.url}/${path}`, { 'Accept-Encoding': encoding });
      const { response, chunks, body } = received;
      t.is(response.statusCode, 200);
      t.is(response.headers['content-encoding'], encoding);
      t.regex(String(response.headers.vary), /Accept-Encoding/);
      t.is(response.headers['content-length'], undefined, 'streamed: no Content-Length');
      t.is(response.headers['x-total-count'], String(PATHS));
      const ratio = body.length / plain.body.length;
      t.log(`/${path} ${encoding}: ${plain.body.length} → ${body.length} bytes (${(ratio * 100).toFixed(1)}%), in ${chunks.length} chunks, the first of ${chunks[0]!.length} bytes`);
      t.true(ratio <= MAX_RATIO[path], `${encoding}: ${(ratio * 100).toFixed(1)}% of the plain size`);
      t.true(decoders[encoding](body).equals(plain.body), 'decodes to the very bytes of the plain answer');
      // Streamed, each chunk flushed as it is made: the first arrives alone, a sliver of the whole,
      // and decodes by itself to the start of the answer (a compressor holding everything back
      // until the end would send nothing decodable before the end).
      t.true(chunks.length > 1, `${chunks.length} chunks`);
      t.true(chunks[0]!.length * 10 < body.length, `first chunk ${chunks[0]!.length} of ${body.length} bytes`);
      const start = decoders[encoding](chunks[0]!);
      t.true(start.length > 0 && plain.body.subarray(0, start.length).equals(start), 'the first chunk alone decodes to the start of the answer');
    }
  });
}

test('GET /stats/stream is never compressed, even when the client accepts gzip and br; its events arrive', withApp, async (t, app) => {
  const stream = openSse(`${app.url}/stats/stream`, { 'Accept-Encoding': 'gzip, deflate, br' });
  t.teardown(() => stream.close());
  const response = await stream.response;
  t.regex(String(response.headers['content-type']), /^text\/event-stream/);
  t.is(response.headers['content-encoding'], undefined);
  const backlog = await stream.until((event) => event.event === 'backlog');
  t.true(Array.isArray(JSON.parse(backlog.data)));
});

test('small answers are not compressed; a hit does not even run the compression (no Vary: Accept-Encoding)', withApp, async (t, app) => {
  const hit = await fetchRaw(`${app.url}/api/x`, { 'Accept-Encoding': 'gzip, br' });
  t.is(hit.response.statusCode, 200);
  t.is(hit.response.headers['content-encoding'], undefined);
  t.notRegex(String(hit.response.headers.vary ?? ''), /Accept-Encoding/, '/api/* is answered before the compression middleware');
  t.deepEqual(JSON.parse(hit.body.toString('utf8')), { path: '/api/x', hits: 1 });

  const health = await fetchRaw(`${app.url}/health`, { 'Accept-Encoding': 'gzip, br' });
  t.is(health.response.statusCode, 200);
  t.is(health.response.headers['content-encoding'], undefined, `${health.body.length} bytes: under compression.thresholdBytes`);
  t.regex(String(health.response.headers.vary), /Accept-Encoding/);

  // A file of the dashboard, well over the threshold, is compressed; HEAD never is.
  const page = await fetchRaw(`${app.url}/`, { 'Accept-Encoding': 'gzip' });
  t.is(page.response.statusCode, 200);
  t.is(page.response.headers['content-encoding'], 'gzip');
  t.true(gunzipSync(page.body).toString('utf8').includes('<html'));
  t.is(await app.totalHits(), 1, 'counted == accepted');
});

test('compression.enabled false: nothing compressed, no Vary: Accept-Encoding', withApp.using({ tweak: (s) => { s.compression.enabled = false; } }), async (t, app) => {
  await app.redis.client.zadd(app.shard.hits, ...Array.from({ length: 2000 }, (_, i) => [i, `/api/p/${i}`]).flat());
  const stats = await fetchRaw(`${app.url}/stats`, { 'Accept-Encoding': 'gzip, br' });
  t.is(stats.response.statusCode, 200);
  t.is(stats.response.headers['content-encoding'], undefined);
  t.notRegex(String(stats.response.headers.vary ?? ''), /Accept-Encoding/);
  t.is((JSON.parse(stats.body.toString('utf8')) as unknown[]).length, 2000);
});

/** A bare Koa app with the compression middleware and one streamed answer. */
async function serve(t: ExecutionContext, body: () => Readable): Promise<string> {
  const app = new Koa();
  app.on('error', () => {});
  app.use(compression({ enabled: true, thresholdBytes: 0 })!);
  app.use((ctx) => {
    ctx.type = 'application/json';
    ctx.body = body();
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

test('a streamed answer that fails midway is cut off, not left open, when compressed', async (t) => {
  const url = await serve(t, () => Readable.from((async function* () {
    yield '[{"path":"/api/a","hits":1}';
    throw new Error('Redis went away');
  })()));
  for (const encoding of ['gzip', 'br']) {
    const outcome = await eventually(() => new Promise<string>((resolve) => {
      get(url, { headers: { 'Accept-Encoding': encoding } }, (response) => {
        response.resume();
        response.once('end', () => resolve(response.complete ? 'complete' : 'cut off'));
        response.once('aborted', () => resolve('cut off'));
        response.once('error', () => resolve('cut off'));
      }).once('error', () => resolve('cut off'));
    }), { what: 'the answer to end' });
    t.is(outcome, 'cut off', encoding);
  }
});
