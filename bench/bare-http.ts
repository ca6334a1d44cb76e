// What takes everything but the client out of a measurement of the client: a node:http server that
// answers every request at once as a hit does, in a child process so that its CPU is never the
// client's; bare node:http, the same keep-alive agent and headers as the load generator's got
// client with nothing on top (no got, no timer), the floor any Node client stands on; and the
// closed loop that drives a client. bench/client.ts (got's CPU per request),
// bench/loadgen-ceiling.ts (the generator's own ceiling) and bench/loadgen-profile.ts (where the
// generator's CPU goes) measure against them.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface Client { send(path: string): Promise<number>; close(): void }

/** A plain node:http server in its own process, answering every request with 200 and a hit's small JSON body. */
export async function startOkServer(): Promise<{ target: string; stop: () => void }> {
  const code = `
    const http = require('node:http');
    const server = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': 11 }); res.end('{"hits":42}'); });
    server.keepAliveTimeout = 60000;
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once('exit', () => reject(new Error('the server exited before listening')));
  });
  return { target: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

/** node:http's request on a keep-alive agent of `concurrency` sockets, resolving with the status once the body is read. */
export function bareClient(target: string, concurrency: number, headers: Record<string, string>): Client {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const { hostname, port } = new URL(target);
  const send = (path: string) => new Promise<number>((resolve, reject) => {
    const req = request({ agent, hostname, port, path, headers }, (res) => {
      res.once('error', reject);
      res.once('end', () => resolve(res.statusCode!));
      res.resume();
    });
    req.once('error', reject);
    req.end();
  });
  return { send, close: () => agent.destroy() };
}

/**
 * `requests` sends of distinct-looking paths with `concurrency` always in flight; resolves with
 * each one's latency in ms (from its send to its body's end), in send order. Throws on a status
 * other than 200.
 */
export async function closedLoop(client: Client, requests: number, concurrency: number): Promise<Float64Array> {
  const latencies = new Float64Array(requests);
  let next = 0;
  const loop = async () => {
    while (next < requests) {
      const i = next++;
      const sent = performance.now();
      const status = await client.send(`/api/bench/page-${i % 1000}`);
      if (status !== 200) throw new Error(`request ${i}: status ${status}`);
      latencies[i] = performance.now() - sent;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return latencies;
}
