// The load generator's HTTP client (src/loadgen/client.ts) against real node:http servers the
// tests control. Nothing waits on a timer: a server answers at once, holds its responses until
// enough requests are waiting, or never answers (then only the client's own timeout ends it).
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { RequestError, TimeoutError } from 'got';
import { createLoadClient, type LoadClient } from '../src/loadgen/client.js';
import { eventually } from './helpers/eventually.js';

const headers = { 'user-agent': 'hitcounter-loadgen', 'x-hitcounter-loadgen': 'the-secret' };

interface Seen { path: string; headers: IncomingHttpHeaders }

interface Target {
  url: string;
  /** Every request, in arrival order. */
  seen: Seen[];
  /** Connections open now, the most ever open at once, and how many were ever made. */
  open: () => number;
  peakOpen: () => number;
  connections: () => number;
}

/** A server on a free loopback port; `handle` answers (or holds) each request. */
async function target(t: ExecutionContext, handle: (path: string, res: ServerResponse) => void): Promise<Target> {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  let peakOpen = 0;
  let connections = 0;
  const server = createServer((req, res) => {
    seen.push({ path: req.url!, headers: req.headers });
    handle(req.url!, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    connections++;
    peakOpen = Math.max(peakOpen, sockets.size);
    socket.once('close', () => sockets.delete(socket));
  });
  // Idle sockets stay open however slow the machine: only the client closes them.
  server.keepAliveTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Also ends the responses a test held and never answered.
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, open: () => sockets.size, peakOpen: () => peakOpen, connections: () => connections };
}

function client(t: ExecutionContext, target: string, overrides: { concurrency?: number; timeoutMs?: number } = {}): LoadClient {
  const loadClient = createLoadClient({ target, concurrency: 10, timeoutMs: 30_000, headers, ...overrides });
  t.teardown(() => loadClient.close());
  return loadClient;
}

/** `/status/404` is answered 404, with its path as the body; anything else 200. */
const byPath = (path: string, res: ServerResponse) => {
  res.writeHead(Number(/^\/status\/(\d+)/.exec(path)?.[1] ?? 200), { 'content-type': 'text/plain' });
  res.end(path);
};

test('resolves with the status, whatever it is', async (t) => {
  const server = await target(t, byPath);
  const load = client(t, server.url);
  t.is(await load.send('/api/page'), 200);
  t.is(await load.send('/status/404'), 404);
  t.is(await load.send('/status/503'), 503);
  // Neither a redirect nor a body-less status trips it: no redirects are followed.
  t.is(await load.send('/status/302'), 302);
  t.is(await load.send('/status/204'), 204);
  t.deepEqual(server.seen.map((s) => s.path), ['/api/page', '/status/404', '/status/503', '/status/302', '/status/204']);
});

test('the path and the headers arrive exactly as given, and nothing asks for compression', async (t) => {
  const server = await target(t, byPath);
  const load = client(t, server.url);
  const path = '/api/a%20b/c?x=1&y=%C3%A9';
  t.is(await load.send(path), 200);
  const [request] = server.seen;
  t.is(request?.path, path);
  t.like(request?.headers, headers);
  t.false('accept-encoding' in request!.headers, 'decompress: false sends no accept-encoding');
});

test('500 concurrent sends with distinct paths: each gets its own answer, each path is sent once', async (t) => {
  // The status is a function of the path, so a promise that resolved with another request's
  // answer shows; the server's record shows a path sent twice (and so another never).
  const statusOf = (i: number) => 200 + (i % 400);
  const server = await target(t, (path, res) => {
    res.writeHead(statusOf(Number(path.split('/').at(-1))));
    res.end(path);
  });
  const load = client(t, server.url, { concurrency: 50 });
  const paths = Array.from({ length: 500 }, (_, i) => `/api/page/${i}`);
  const statuses = await Promise.all(paths.map((path) => load.send(path)));
  statuses.forEach((status, i) => t.is(status, statusOf(i), paths[i]));
  t.deepEqual(server.seen.map((s) => s.path).sort(), [...paths].sort());
  for (const request of server.seen) t.like(request.headers, headers, request.path);
});

test('never more than `concurrency` sockets open, and they are reused', async (t) => {
  // The server holds every response until as many requests are waiting as the client may have
  // sockets (or all that are left), so a client that opened more would be seen with more. The
  // release waits for setImmediate, after the arrivals already read, so that one more would be.
  const concurrency = 7;
  const requests = 200;
  let held: ServerResponse[] = [];
  let answered = 0;
  let peakHeld = 0;
  const server = await target(t, (_path, res) => {
    held.push(res);
    peakHeld = Math.max(peakHeld, held.length);
    if (held.length === Math.min(concurrency, requests - answered)) {
      setImmediate(() => {
        for (const response of held) response.end('ok');
        answered += held.length;
        held = [];
      });
    }
  });
  const load = client(t, server.url, { concurrency });
  const statuses = await Promise.all(Array.from({ length: requests }, (_, i) => load.send(`/api/${i}`)));
  t.true(statuses.every((status) => status === 200));
  t.is(peakHeld, concurrency);
  t.true(server.peakOpen() <= concurrency, `${server.peakOpen()} sockets open at once`);
  t.is(server.connections(), concurrency, 'the sockets are kept alive and reused, not reopened');
});

test('a long body is drained, and its socket reused', async (t) => {
  const body = 'x'.repeat(1 << 20);
  const server = await target(t, (_path, res) => res.end(body));
  const load = client(t, server.url, { concurrency: 1 });
  for (let i = 0; i < 3; i++) t.is(await load.send(`/big/${i}`), 200);
  t.is(server.connections(), 1);
});

test('a server that never answers: the request rejects with got\'s TimeoutError (ETIMEDOUT), not before the timeout', async (t) => {
  const server = await target(t, () => {});
  const load = client(t, server.url, { timeoutMs: 100 });
  const started = performance.now();
  const error = await t.throwsAsync(load.send('/never'));
  t.true(performance.now() - started >= 100, `ended after ${performance.now() - started} ms`);
  t.true(error instanceof TimeoutError && error instanceof RequestError, String(error));
  t.is((error as RequestError).code, 'ETIMEDOUT');
  t.is(error!.message, "Timeout awaiting 'request' for 100ms");
});

test('the timeout ends only the requests past it: the ones answered in time, before and after, are not touched', async (t) => {
  const server = await target(t, (path, res) => { if (path !== '/never') res.end('{}'); });
  // Generous: an answer in time must stay in time on a loaded machine too.
  const load = client(t, server.url, { concurrency: 4, timeoutMs: 3000 });
  const never = load.send('/never');
  never.catch(() => {});
  t.is(await load.send('/a'), 200);
  const rest = [load.send('/b'), load.send('/c')];
  t.is((await t.throwsAsync(never) as RequestError).code, 'ETIMEDOUT');
  t.deepEqual(await Promise.all(rest), [200, 200]);
  t.is(await load.send('/d'), 200, 'and the client goes on after it');
});

test('a refused connection rejects with ECONNREFUSED', async (t) => {
  // Port 1 on loopback: nothing listens there.
  const load = client(t, 'http://127.0.0.1:1');
  const error = await t.throwsAsync(load.send('/api/x'));
  t.true(error instanceof RequestError, String(error));
  t.is((error as RequestError).code, 'ECONNREFUSED');
});

test('close() destroys the kept-alive sockets, and twice is safe', async (t) => {
  const server = await target(t, byPath);
  const load = client(t, server.url);
  await Promise.all([load.send('/a'), load.send('/b'), load.send('/c')]);
  t.true(server.open() > 0);
  load.close();
  t.notThrows(() => load.close());
  await eventually(() => server.open() === 0, { what: 'the server to see the sockets close' });
  t.pass();
});
