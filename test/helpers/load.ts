// A small, honest load client for fault tests: it records every outcome, status or error code,
// so a test can compare what clients were told with what Redis counted. The outcomes fill in
// as answers arrive, so a test can wait for "500 answered" rather than for a length of time.
import { Agent } from 'node:http';
import got from 'got';
import pLimit from 'p-limit';
import { is2xx, type Tally } from './outcomes.js';

export class Outcomes implements Tally {
  readonly statuses = new Map<number, number>();
  /** 2xx answers per path (`/api/<prefix>/<i>`). */
  readonly okByPath = new Map<string, number>();
  readonly errors = new Map<string, number>();
  /** Latency of the slowest 503, to check it came within the bound. */
  slowest503Ms = 0;

  answered(path: string, status: number, latencyMs: number): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    if (is2xx(status)) this.okByPath.set(path, (this.okByPath.get(path) ?? 0) + 1);
    if (status === 503) this.slowest503Ms = Math.max(this.slowest503Ms, latencyMs);
  }

  failed(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  count(status: number): number {
    return this.statuses.get(status) ?? 0;
  }

  /** Every 2xx answer. */
  ok(): number {
    return [...this.okByPath.values()].reduce((a, b) => a + b, 0);
  }

  total(): number {
    return [...this.statuses.values(), ...this.errors.values()].reduce((a, b) => a + b, 0);
  }
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

async function run(baseUrl: string, options: HammerOptions, outcomes: Outcomes): Promise<Outcomes> {
  const { concurrency, requests = Infinity, until, prefix = 'load', spread = 20, keepAlive = true } = options;
  const agent = new Agent({ keepAlive, maxSockets: concurrency });
  const client = got.extend({ prefixUrl: baseUrl, agent: { http: agent }, retry: { limit: 0 }, throwHttpErrors: false, timeout: { request: 15_000 } });
  const limit = pLimit(concurrency);
  let sent = 0;
  const one = async (i: number) => {
    const started = performance.now();
    const path = `api/${prefix}/${i % spread}`;
    try {
      const { statusCode } = await client.get(path);
      outcomes.answered(`/${path}`, statusCode, performance.now() - started);
    } catch (error) {
      outcomes.failed((error as { code?: string }).code ?? 'UNKNOWN');
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
  return outcomes;
}

/** Sends `requests` requests (or until `until` is aborted) and resolves with every outcome. */
export function hammer(baseUrl: string, options: HammerOptions): Promise<Outcomes> {
  return run(baseUrl, options, new Outcomes());
}

export interface Load {
  /** The outcomes so far: a test waits on them (e.g. until 500 were answered 2xx). */
  outcomes: Outcomes;
  /** Sends nothing more; resolves once the requests in flight have settled. */
  stop(): Promise<Outcomes>;
}

/** Load that runs until stopped, with its outcomes readable meanwhile. */
export function startLoad(baseUrl: string, options: Omit<HammerOptions, 'requests' | 'until'>): Load {
  const stop = new AbortController();
  const outcomes = new Outcomes();
  const finished = run(baseUrl, { ...options, until: stop.signal }, outcomes);
  return {
    outcomes,
    stop: () => {
      stop.abort();
      return finished;
    },
  };
}
