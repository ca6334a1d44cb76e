// The load generator's HTTP client on its own: CPU per request and req/s of
//   old   got.extend(...) + client.stream(path), as src/loadgen/runner.ts did it,
//   new   createLoadClient (src/loadgen/client.ts): got, options normalized once,
//   bare  node:http request with the same keep-alive agent and headers (a floor: no timer, no got),
// against one tiny node:http server.
//   node --import tsx bench/client.ts [--requests 50000 --concurrency 50 --rounds 3]
//
// How it is measured, and why that is honest: the server runs in a child process, so its CPU is
// never counted; this process runs nothing but the client under test and the loop that keeps
// `concurrency` sends in flight (the same loop for all three, so it is in every figure, floor
// included). CPU is process.cpuUsage() (user + system, all threads: the client's JS, its GC,
// and the kernel work of its sockets) across one run of `requests` sends, divided by them.
// A full GC before every run makes each client pay for its own garbage rather than the last
// one's. The clients take turns, in a rotated order each round, after a warm-up of each, and
// the medians are reported. req/s is wall-clock and shares the machine with the server, so it
// is a secondary figure: on a 2-core machine it is bounded by the server as much as the client.
import { Agent } from 'node:http';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import got, { type Got } from 'got';
import { createLoadClient } from '../src/loadgen/client.js';
import { bareClient, closedLoop, startOkServer, type Client } from './bare-http.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '50000' },
    concurrency: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
const timeoutMs = 10_000;
const headers = { 'user-agent': 'hitcounter-loadgen', 'x-hitcounter-loadgen': 'bench-secret' };

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** runner.ts's httpClient and send before client.ts, copied as they were. */
function oldClient(target: string): Client {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const client: Got = got.extend({
    prefixUrl: target,
    agent: { http: agent },
    retry: { limit: 0 },
    timeout: { request: timeoutMs },
    throwHttpErrors: false,
    followRedirect: false,
    decompress: false,
    headers,
  });
  const send = (path: string) => new Promise<number>((resolve, reject) => {
    const stream = client.stream(path.slice(1));
    let status = 0;
    stream.once('response', (response: { statusCode: number }) => { status = response.statusCode; });
    stream.once('error', reject);
    stream.once('end', () => resolve(status));
    stream.resume();
  });
  return { send, close: () => agent.destroy() };
}

const clients: Record<string, (target: string) => Client> = {
  old: oldClient,
  new: (target) => createLoadClient({ target, concurrency, timeoutMs, headers }),
  bare: (target) => bareClient(target, concurrency, headers),
};

interface Sample { cpuUsPerRequest: number; userUs: number; systemUs: number; rps: number }

/** `n` sends in a closed loop (bare-http.ts), with this process's CPU. */
async function run(client: Client, n: number): Promise<Sample> {
  gc();
  const cpu = process.cpuUsage();
  const started = performance.now();
  await closedLoop(client, n, concurrency);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { cpuUsPerRequest: (used.user + used.system) / n, userUs: used.user / n, systemUs: used.system / n, rps: n / seconds };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const server = await startOkServer();
  const names = Object.keys(clients);
  const open = Object.fromEntries(names.map((name) => [name, clients[name]!(server.target)]));
  try {
    console.error(`${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}, node ${process.version}; ${requests} requests at concurrency ${concurrency}, ${rounds} rounds`);
    for (const name of names) await run(open[name]!, Math.min(requests, 10_000));
    const samples = new Map<string, Sample[]>(names.map((name) => [name, []]));
    for (let round = 0; round < rounds; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length]!);
      for (const name of order) {
        const sample = await run(open[name]!, requests);
        samples.get(name)!.push(sample);
        console.error(`round ${round + 1}: ${name.padEnd(4)} ${sample.cpuUsPerRequest.toFixed(1)} µs CPU/request (user ${sample.userUs.toFixed(1)}, system ${sample.systemUs.toFixed(1)}), ${Math.round(sample.rps)} req/s`);
      }
    }
    const floor = median(samples.get('bare')!.map((s) => s.cpuUsPerRequest));
    const old = median(samples.get('old')!.map((s) => s.cpuUsPerRequest));
    console.table(names.map((name) => {
      const of = (field: keyof Sample) => median(samples.get(name)!.map((s) => s[field]));
      const cpu = of('cpuUsPerRequest');
      return {
        client: name,
        'CPU µs/request': Number(cpu.toFixed(1)),
        'user µs': Number(of('userUs').toFixed(1)),
        'system µs': Number(of('systemUs').toFixed(1)),
        'vs old': Number((cpu / old).toFixed(2)),
        'above bare, µs': Number((cpu - floor).toFixed(1)),
        'req/s': Math.round(of('rps')),
      };
    }));
  } finally {
    for (const client of Object.values(open)) client.close();
    server.stop();
  }
}

await main();
