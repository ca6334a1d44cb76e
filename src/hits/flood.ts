// api.floodLimit: hits per client IP per fixed window, counted in this process's memory. It is
// the default guard against one abusive client, so it must cost a hit nearly nothing: no Redis
// round trip (rateLimits.api is the exact, shared, opt-in limit), one Map lookup, and a Map that
// is emptied each window, so it never holds more than one window's client IPs.
// With server.workers > 1, each worker keeps its own count: a client may get up to that many times
// the points (a keep-alive connection stays on one worker, so most get about the points).
import { isLoopbackHost } from '../loopback.js';

export interface FloodLimit {
  points: number;
  durationSeconds: number;
  /** Loopback peers (the load generator, benchmarks, a local reverse proxy without trustProxy) are not limited. */
  exemptLoopback: boolean;
}

export class FloodGuard {
  readonly #counts = new Map<string, number>();
  #windowEnds = 0;
  constructor(readonly limit: FloodLimit, readonly now: () => number) {}

  /** Counts a hit of `ip`; returns the seconds until its window ends when it is over the limit, else 0. */
  take(ip: string): number {
    const now = this.now();
    if (now >= this.#windowEnds) {
      this.#counts.clear();
      const windowMs = this.limit.durationSeconds * 1000;
      this.#windowEnds = Math.floor(now / windowMs) * windowMs + windowMs;
    }
    const count = (this.#counts.get(ip) ?? 0) + 1;
    if (count > this.limit.points) {
      if (this.limit.exemptLoopback && isLoopbackHost(ip)) return 0;
      return Math.max(1, Math.ceil((this.#windowEnds - now) / 1000));
    }
    this.#counts.set(ip, count);
    return 0;
  }
}
