// The live traffic feed behind GET /stats/stream: hits counted per second by every process that
// shares this Redis. record-hits.lua and add-hits.lua add each batch to its second's counter
// (keys.second); one TrafficSampler per process reads the recent seconds with one MGET a second,
// only while someone listens, and hands every point to all its listeners. Redis sees one read a
// second per process, however many dashboards are open.
import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import type { ShardKeys } from '../redis/keys.js';

/** Seconds a new listener gets at once, so that a fresh page draws a curve straight away. */
export const BACKLOG_SECONDS = 300;
// A second is read again for this long after it ended, and sent again if it changed: hits of a
// batch still on its way to Redis, another replica whose clock is a little behind, write-behind's
// flush interval. Beyond it a second is final.
const SETTLE_SECONDS = 5;
// The first read of a second waits this long after it ends, so that most of its hits have landed.
const READ_DELAY_MS = 250;
const TIMER_MARGIN_MS = 15;
const HEARTBEAT_MS = 15_000;

export interface TrafficPoint {
  /** Start of the second, ms since the epoch. */
  t: number;
  hits: number;
}

export type TrafficEvent =
  | { type: 'backlog'; points: TrafficPoint[] }
  /** A new second, or a later value of one sent before (it replaces it). */
  | { type: 'point'; point: TrafficPoint }
  | { type: 'unavailable'; error: string }
  | { type: 'heartbeat' }
  /** The server is shutting down: the listener is gone after this. */
  | { type: 'close' };

export type TrafficListener = (event: TrafficEvent) => void;

/**
 * How the sampler waits: real timers in production; a test fires them by hand, after moving its
 * clock, to drive the sampler one read at a time.
 */
export interface SamplerTimers {
  /** Runs `tick` once, `ms` from now. Returns what cancels it. */
  after(ms: number, tick: () => Promise<void>): () => void;
  /** Runs `beat` every `ms`. Returns what cancels it. */
  every(ms: number, beat: () => void): () => void;
}

export const realTimers: SamplerTimers = {
  after(ms, tick) {
    const timer = setTimeout(() => void tick(), ms).unref();
    return () => clearTimeout(timer);
  },
  every(ms, beat) {
    const timer = setInterval(beat, ms).unref();
    return () => clearInterval(timer);
  },
};

export interface TrafficSamplerDeps {
  redis: Redis;
  /** The keys of every shard of the ranking: each has its own per-second counters. */
  shards: readonly ShardKeys[];
  clock: Clock;
  /** Real timers unless a test drives them. */
  timers?: SamplerTimers;
}

export class TrafficSampler {
  readonly #deps: TrafficSamplerDeps;
  readonly #listeners = new Set<TrafficListener>();
  // Hits per epoch second, the last BACKLOG_SECONDS of them, while the sampler runs.
  readonly #seconds = new Map<number, number>();
  #newest: number | undefined;
  #ready = false;
  #closed = false;
  // Bumped on every stop, so that a read still in flight from an earlier run is ignored.
  #run = 0;
  readonly #timers: SamplerTimers;
  #cancelTick = () => {};
  #cancelHeartbeat = () => {};

  constructor(deps: TrafficSamplerDeps) {
    this.#deps = deps;
    this.#timers = deps.timers ?? realTimers;
  }

  /** Adds a listener; the first one starts the sampler. Returns the function that removes it. */
  subscribe(listener: TrafficListener): () => void {
    if (this.#closed) {
      listener({ type: 'close' });
      return () => {};
    }
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#start();
    else if (this.#ready) listener({ type: 'backlog', points: this.#backlog() });
    return () => this.#unsubscribe(listener);
  }

  /** Ends every listener and refuses new ones: for a graceful shutdown. */
  close(): void {
    this.#closed = true;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    this.#stop();
    for (const listener of listeners) listener({ type: 'close' });
  }

  #unsubscribe(listener: TrafficListener): void {
    if (this.#listeners.delete(listener) && this.#listeners.size === 0) this.#stop();
  }

  #start(): void {
    const run = ++this.#run;
    this.#cancelHeartbeat = this.#timers.every(HEARTBEAT_MS, () => this.#emit({ type: 'heartbeat' }));
    void this.#tick(run);
  }

  #stop(): void {
    this.#run++;
    this.#cancelTick();
    this.#cancelHeartbeat();
    this.#cancelTick = this.#cancelHeartbeat = () => {};
    this.#seconds.clear();
    this.#newest = undefined;
    this.#ready = false;
  }

  async #tick(run: number): Promise<void> {
    const now = this.#deps.clock.now();
    try {
      await this.#sample(Math.floor((now - READ_DELAY_MS) / 1000) - 1, run);
    } catch (error) {
      if (run === this.#run) this.#emit({ type: 'unavailable', error: `Redis is unavailable: ${(error as Error).message}` });
    }
    if (run !== this.#run) return;
    // Next read: READ_DELAY_MS after the current second ends, by the injected clock. Timers count
    // from the event loop's cached time and may fire a few ms early: the margin keeps them past it.
    const later = this.#deps.clock.now();
    const due = (Math.floor((later - READ_DELAY_MS) / 1000) + 1) * 1000 + READ_DELAY_MS + TIMER_MARGIN_MS;
    this.#cancelTick = this.#timers.after(Math.min(1000 + TIMER_MARGIN_MS, Math.max(10, due - later)), () => this.#tick(run));
  }

  /** Reads the seconds up to `newest` not yet final, and sends what is new or changed. */
  async #sample(newest: number, run: number): Promise<void> {
    const oldest = newest - BACKLOG_SECONDS + 1;
    const from = this.#newest === undefined ? oldest : Math.max(oldest, Math.min(this.#newest + 1, newest - SETTLE_SECONDS + 1));
    // One MGET per shard (each shard's counters share its slot), summed second by second.
    const { redis, shards } = this.#deps;
    const perShard = await Promise.all(shards.map((keys) => {
      const names: string[] = [];
      for (let second = from; second <= newest; second++) names.push(keys.second(second));
      return redis.mget(...names);
    }));
    // A missing counter is a second without hits.
    const hitsPerSecond = perShard[0]!.map((_, i) => perShard.reduce((sum, values) => sum + Number(values[i] ?? 0), 0));
    if (run !== this.#run) return;

    const changed: TrafficPoint[] = [];
    hitsPerSecond.forEach((hits, i) => {
      const second = from + i;
      if (this.#seconds.get(second) !== hits) changed.push({ t: second * 1000, hits });
      this.#seconds.set(second, hits);
    });
    for (const second of this.#seconds.keys()) if (second < oldest) this.#seconds.delete(second);
    this.#newest = this.#newest === undefined ? newest : Math.max(this.#newest, newest);

    if (!this.#ready) {
      this.#ready = true;
      this.#emit({ type: 'backlog', points: this.#backlog() });
      return;
    }
    // A second read for the first time is in `changed` even when it is 0: the chart moves every second.
    for (const point of changed) this.#emit({ type: 'point', point });
  }

  #backlog(): TrafficPoint[] {
    return [...this.#seconds].sort(([a], [b]) => a - b).map(([second, hits]) => ({ t: second * 1000, hits }));
  }

  #emit(event: TrafficEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}
