// Shared by the benchmarks: a redis-server, built servers as child processes, and their CPU and memory.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import autocannon from 'autocannon';
import got from 'got';
import { ensureRedisServer, startRedisServer, type RedisServerProcess } from '../src/redis/embedded.js';
import { SERVER, startFlags } from './start-command.js';

export { SERVER, startFlags };

export const root = new URL('..', import.meta.url);
/** Benchmarks measure throughput: no rate limit may stand in their way. */
export const UNLIMITED = JSON.stringify({ api: [], read: [], write: [] });
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const machine = () => ({ cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version });

/** Builds dist/ when the sources are newer, as npm start does. */
export async function build(): Promise<void> {
  const child = spawn(process.execPath, ['scripts/bootstrap.mjs', '--build'], { cwd: root, stdio: 'inherit' });
  await new Promise((resolve) => child.on('exit', resolve));
}

export async function startRedis(): Promise<{ redis: RedisServerProcess; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hitcounter-bench-'));
  const redis = await startRedisServer({ binary: await ensureRedisServer(console.error), port: await getPort(), dir, appendfsync: 'everysec', startTimeoutMs: 10_000 });
  return { redis, cleanup: async () => { await redis.stop(); await rm(dir, { recursive: true, force: true }); } };
}

export interface Child {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** How long a started server may take to answer its ready path. */
const START_TIMEOUT_MS = 60_000;

/**
 * Starts `node <script>` with PORT set, and waits until `readyPath` answers 200. A hitcounter
 * server (SERVER, this checkout's or another's given to --also) gets this checkout's `npm start`
 * flags before `nodeArgs`, so that servers compared in one run run alike. `stdout`, when given,
 * gets the child's standard output instead of this process's (e.g. V8's --trace-gc-nvp lines).
 */
export async function startNode(script: string, env: Record<string, string>, readyPath = '/health', nodeArgs: string[] = [], stdout?: (text: string) => void): Promise<Child> {
  const port = await getPort();
  const child = spawn(process.execPath, [...(script.endsWith(SERVER) ? startFlags() : []), ...nodeArgs, script], {
    cwd: root,
    env: { ...process.env, HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env, PORT: String(port) },
    stdio: ['inherit', stdout ? 'pipe' : 'inherit', 'inherit'],
  });
  if (stdout) child.stdout!.setEncoding('utf8').on('data', stdout);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  // Generous: a 2-worker server on a busy 2-core machine took over 10 s to answer. A server that
  // exits is not waited for, and one that never answers is stopped, not left running after the bench.
  const deadline = performance.now() + START_TIMEOUT_MS;
  while ((await got(`${url}${readyPath}`, { throwHttpErrors: false, retry: { limit: 0 }, timeout: { request: 2000 } }).catch(() => undefined))?.statusCode !== 200) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${script} exited (${child.exitCode ?? child.signalCode}) before answering ${readyPath}`);
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`${script} did not answer ${readyPath} within ${START_TIMEOUT_MS / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, child, stop };
}

/** The process's and its children's CPU time so far, in µs (utime + stime from /proc). */
export async function cpuMicros(pid: number): Promise<number> {
  const pids = [pid, ...(await childPids(pid))];
  let ticks = 0;
  for (const p of pids) {
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks * 10_000; // USER_HZ is 100 on Linux
}

/** Resident memory of the process and its children (cluster workers), in bytes. */
export async function rssBytes(pid: number): Promise<number> {
  let total = 0;
  for (const p of [pid, ...(await childPids(pid))]) {
    const status = await readFile(`/proc/${p}/status`, 'utf8').catch(() => '');
    total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  }
  return total;
}

async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

export interface Measurement {
  rps: number;
  p50: number;
  p99: number;
  cpuUsPerRequest: number;
  /** Redis's CPU µs per request over the same run (0 without redisPid): what the hit path costs on the other side. */
  redisCpuUsPerRequest: number;
}

/**
 * autocannon against `target` for `duration` s, with the target's CPU µs per request and, given
 * redisPid, Redis's; any non-2xx fails it.
 */
export async function measure(target: Child, options: { path: () => string; connections: number; duration: number; redisPid?: number }): Promise<Measurement> {
  const redisBefore = options.redisPid ? await cpuMicros(options.redisPid) : 0;
  const cpuBefore = await cpuMicros(target.child.pid!);
  const result = await autocannon({
    url: target.url,
    connections: options.connections,
    duration: options.duration,
    requests: [{ setupRequest: (request) => ({ ...request, path: options.path() }) }],
  });
  const cpu = (await cpuMicros(target.child.pid!)) - cpuBefore;
  const redisCpu = options.redisPid ? (await cpuMicros(options.redisPid)) - redisBefore : 0;
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${target.url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.total / result.duration, p50: result.latency.p50, p99: result.latency.p99, cpuUsPerRequest: cpu / result.requests.total, redisCpuUsPerRequest: redisCpu / result.requests.total };
}

export interface ApiRow { server: string; rps: number; p50: number; p99: number; cpuUsPerRequest: number; redisCpuUsPerRequest: number; rpsVsKoa: number; cpuVsKoa: number }

/**
 * Loads every target with `path()`, interleaved (A B C, A B C, …) over `rounds` after a warm-up
 * each (`warmup` s, 1 by default), and returns their medians with the ratios to the first target
 * (the baseline).
 */
export async function interleaved(targets: Array<{ name: string; child: Child }>, options: { path: () => string; connections: number; duration: number; rounds: number; warmup?: number; redisPid?: number }): Promise<ApiRow[]> {
  const { path, connections, duration, rounds, warmup = 1, redisPid } = options;
  for (const { child } of targets) await measure(child, { path, connections, duration: warmup });
  const samples = new Map<string, Measurement[]>(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const { name, child } of targets) {
      const m = await measure(child, { path, connections, duration, redisPid });
      samples.get(name)!.push(m);
      console.error(`round ${round}: ${name}: ${Math.round(m.rps)} req/s, ${m.cpuUsPerRequest.toFixed(1)} µs CPU/request`);
    }
  }
  const summarize = (name: string) => {
    const ms = samples.get(name)!;
    return { rps: Math.round(median(ms.map((m) => m.rps))), p50: median(ms.map((m) => m.p50)), p99: median(ms.map((m) => m.p99)), cpuUsPerRequest: Math.round(median(ms.map((m) => m.cpuUsPerRequest)) * 10) / 10, redisCpuUsPerRequest: Math.round(median(ms.map((m) => m.redisCpuUsPerRequest)) * 10) / 10 };
  };
  const base = summarize(targets[0]!.name);
  return targets.map(({ name }) => {
    const s = summarize(name);
    return { server: name, ...s, rpsVsKoa: Math.round((s.rps / base.rps) * 100) / 100, cpuVsKoa: Math.round((s.cpuUsPerRequest / base.cpuUsPerRequest) * 100) / 100 };
  });
}

/**
 * Runs a load-test job on `server` (POST `path` with `body`, answered 202 at once) and waits for
 * it, polling its record every `pollMs`: a long run is never one HTTP request held open for minutes.
 * Resolves with the finished job's report; throws when the job failed.
 */
export async function runJob<Report>(server: Child, path: string, body: object, pollMs = 500): Promise<Report> {
  const job = await got.post(`${server.url}${path}`, { json: { ...body, async: true } }).json<{ id: string }>();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    const now = await got(`${server.url}/test/jobs/${job.id}`).json<{ status: string; error: string | null; report: Report | null }>();
    if (now.status === 'failed') throw new Error(`load test ${job.id} failed: ${now.error}`);
    if ((now.status === 'done' || now.status === 'cancelled') && now.report) return now.report;
  }
}
