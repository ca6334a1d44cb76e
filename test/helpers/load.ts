// A small, honest load client for fault tests: it records every outcome, status or error code,
// so a test can compare what clients were told with what Redis counted.
import { Agent } from 'node:http';
import got from 'got';
import pLimit from 'p-limit';

export interface Outcomes {
  statuses: Map<number, number>;
  /** 2xx answers per path (`/api/<prefix>/<i>`). */
  okByPath: Map<string, number>;
  errors: Map<string, number>;
  /** Latency of each 503, to check it came within the bound. */
  slowest503Ms: number;
  count(status: number): number;
  total(): number;
}

export interface HammerOptions {
  concurrency: number;
  /** Stop after this many requests… */
  requests?: number;
  /** …or when this is aborted. */
  until?: AbortSignal;
  /** Paths cycle through /api/<prefix>/<0..spread-1>. */
  prefix?: string;
  spread?: number;
  /** Fresh connection per request, so a closing server shows as refused, never as a reset keep-alive socket. */
  keepAlive?: boolean;
}

export async function hammer(baseUrl: string, options: HammerOptions): Promise<Outcomes> {
  const { concurrency, requests = Infinity, until, prefix = 'load', spread = 20, keepAlive = true } = options;
  const agent = new Agent({ keepAlive, maxSockets: concurrency });
  const client = got.extend({ prefixUrl: baseUrl, agent: { http: agent }, retry: { limit: 0 }, throwHttpErrors: false, timeout: { request: 15_000 } });
  const statuses = new Map<number, number>();
  const okByPath = new Map<string, number>();
  const errors = new Map<string, number>();
  let slowest503Ms = 0;
  const limit = pLimit(concurrency);
  let sent = 0;
  const one = async (i: number) => {
    const started = performance.now();
    try {
      const path = `api/${prefix}/${i % spread}`;
      const { statusCode } = await client.get(path);
      statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
      if (statusCode >= 200 && statusCode < 300) okByPath.set(`/${path}`, (okByPath.get(`/${path}`) ?? 0) + 1);
      if (statusCode === 503) slowest503Ms = Math.max(slowest503Ms, performance.now() - started);
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'UNKNOWN';
      errors.set(code, (errors.get(code) ?? 0) + 1);
    }
  };
  const inFlight = new Set<Promise<void>>();
  while (sent < requests && !until?.aborted) {
    const p = limit(one, sent++).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  agent.destroy();
  return {
    statuses,
    okByPath,
    errors,
    slowest503Ms,
    count: (status) => statuses.get(status) ?? 0,
    total: () => [...statuses.values(), ...errors.values()].reduce((a, b) => a + b, 0),
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
