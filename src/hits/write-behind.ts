// Write-behind: a hit is summed in memory and acknowledged at once; every flushIntervalMs the sums
// go to Redis (add-hits.lua), through the same send path and ledger as durable hits. The count
// answered is this process's best knowledge: the last total a flush returned for the path plus its
// own hits not yet flushed. A crash loses the hits of the current interval, and everything held
// while Redis is unreachable; nothing is ever counted twice.
import type { Logger } from 'pino';
import { hashVisitor, type VisitorHasher } from '../analytics/visitors.js';
import type { Clock } from '../clock.js';
import { addHitsArgs, type HitKeyLifetimes, type ScriptArgs } from '../redis/script-args.js';
import { redisErrorText } from '../redis/unavailable.js';
import type { CallKeys, Hit } from './hit.js';
import type { Ledger } from './ledger.js';
import type { Sender } from './send.js';
import { groupByShard, shardOf } from './shards.js';
import { MAX_PER_CALL } from './writer.js';

/** The hits of one path in one minute, summed until the next flush. */
export interface Group {
  path: string;
  time: number;
  count: number;
  /** Made with the group's first visitor: without visitors, a group is three fields. */
  visitors?: Set<string>;
  /** Identities whose hash waits for the day's salt (see #hashVisitors). */
  unhashed?: Set<string>;
}

export interface WriteBehindOptions {
  sender: Sender;
  ledger: Ledger<Group>;
  callKeys: readonly CallKeys[];
  lifetimes: HitKeyLifetimes;
  maxPathsPerShard: number;
  /** The member that counts new paths past the cap (OVERFLOW_PATH). */
  overflow: string;
  flushIntervalMs: number;
  clock: Clock;
  logger: Logger;
  /** Hashes the visitors of hits that carry an unhashedVisitor, at flush time. */
  visitors?: VisitorHasher;
}

// The totals kept for answering are bounded by the paths seen lately, not by all paths ever counted.
const MAX_LAST_KNOWN = 100_000;

export class WriteBehind {
  // Per minute, per path: no key string to build for every hit.
  readonly #pending = new Map<number, Map<string, Group>>();
  // The last all-time totals flushes returned, for the counts write-behind answers with.
  readonly #lastKnown = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  // Flushes run one at a time, each after the last: a drain that starts while the timer's flush is
  // on the wire waits for it, rather than finding nothing pending and stopping before it lands.
  #flushing: Promise<void> = Promise.resolve();
  // Hits taken off #pending by the flush in progress, until their replies are in.
  #sending = 0;

  constructor(private readonly o: WriteBehindOptions) {
    this.#timer = setInterval(() => {
      this.flush().catch((error: unknown) => o.logger.error({ err: error }, 'a write-behind flush failed; its hits wait for the next one'));
    }, o.flushIntervalMs).unref();
  }

  /** Sums the hit and returns the path's count as this process knows it, without waiting. */
  record(hit: Hit): number {
    const group = this.#groupOf(hit.time - (hit.time % 60_000), hit.path);
    group.count++;
    if (hit.visitor) (group.visitors ??= new Set()).add(hit.visitor);
    if (hit.unhashedVisitor !== undefined) (group.unhashed ??= new Set()).add(hit.unhashedVisitor);
    return (this.#lastKnown.get(hit.path) ?? 0) + group.count;
  }

  #groupOf(time: number, path: string): Group {
    let paths = this.#pending.get(time);
    if (!paths) this.#pending.set(time, (paths = new Map()));
    let group = paths.get(path);
    if (!group) paths.set(path, (group = { path, time, count: 0 }));
    return group;
  }

  /** Puts a group back to be sent with the next flush (not sent, or found not applied). */
  requeue(group: Group): void {
    const pending = this.#groupOf(group.time, group.path);
    pending.count += group.count;
    if (group.visitors) for (const visitor of group.visitors) (pending.visitors ??= new Set()).add(visitor);
    if (group.unhashed) for (const identity of group.unhashed) (pending.unhashed ??= new Set()).add(identity);
  }

  /** Hits acknowledged and not yet known to be in Redis: pending, on the wire, or in the ledger. */
  get pendingHits(): number {
    let count = this.#sending;
    for (const paths of this.#pending.values()) for (const group of paths.values()) count += group.count;
    for (const item of this.o.ledger.items()) if (item.kind === 'flushed') count += item.group.count;
    return count;
  }

  /**
   * Visitors are hashed here, not when a hit arrives: the day's salt is in Redis, and a hit is
   * acknowledged without waiting on Redis, even when the salt is not in memory yet (at start-up,
   * at midnight) and Redis is down. Until the salt can be read, the groups wait in memory like any
   * hits that cannot be flushed; the identities never leave this process.
   */
  async #hashVisitors(groups: Group[]): Promise<void> {
    const hasher = this.o.visitors;
    for (const group of groups) {
      if (!group.unhashed || !hasher) continue;
      const salt = await hasher.saltAt(group.time);
      const visitors = (group.visitors ??= new Set());
      for (const identity of group.unhashed) visitors.add(hashVisitor(salt, identity));
      group.unhashed = undefined;
    }
  }

  /** Sends what is pending; resolves when it (and any flush before it) has its replies. */
  flush(): Promise<void> {
    const next = this.#flushing.then(() => this.#flushOnce());
    this.#flushing = next.catch(() => {});
    return next;
  }

  async #flushOnce(): Promise<void> {
    if (this.#pending.size === 0) return;
    // Minute by minute, so that each call of add-hits.lua covers one minute's bucket keys.
    const groups: Group[] = [];
    for (const minute of [...this.#pending.keys()].sort((a, b) => a - b)) for (const group of this.#pending.get(minute)!.values()) groups.push(group);
    this.#pending.clear();
    const taken = groups.reduce((sum, group) => sum + group.count, 0);
    this.#sending += taken;
    try {
      try {
        await this.#hashVisitors(groups);
      } catch (error) {
        this.o.logger.debug({ err: error }, 'no visitor salt yet; write-behind hits wait for the next flush');
        return groups.forEach((group) => this.requeue(group));
      }
      // One pipeline per shard (one slot each on Redis Cluster), all in flight together.
      const byShard = groupByShard(groups, (group) => shardOf(group.path, this.o.callKeys.length));
      await Promise.all([...byShard].map(([shard, list]) => this.#flushShard(shard, list)));
      if (this.#lastKnown.size > MAX_LAST_KNOWN) this.#lastKnown.clear();
    } finally {
      this.#sending -= taken;
    }
  }

  async #flushShard(shard: number, groups: Group[]): Promise<void> {
    const { callKeys, lifetimes, maxPathsPerShard, overflow, ledger, clock } = this.o;
    // The live feed sees write-behind hits in the second they reach Redis, at most an interval late.
    const second = Math.floor(clock.now() / 1000);
    const calls: Array<{ groups: Group[]; epoch: string; seq: number; args: ScriptArgs }> = [];
    for (let start = 0; start < groups.length;) {
      let end = start + 1;
      while (end < groups.length && end - start < MAX_PER_CALL && groups[end]!.time === groups[start]!.time) end++;
      const chunk = groups.slice(start, end);
      // Each group has its own sequence number; the call's last one is what Redis records.
      const { epoch, seq } = ledger.take(shard, chunk.length);
      const keys = callKeys[shard]!.at(chunk[0]!.time, second, epoch);
      calls.push({ groups: chunk, epoch, seq, args: addHitsArgs({ keys, lifetimes, lastSeq: seq, maxPaths: maxPathsPerShard, overflow, groups: chunk }) });
      start = end;
    }
    const hits = groups.reduce((sum, group) => sum + group.count, 0);
    const { replies } = await this.o.sender.send('add_hits', hits, calls.map(({ args }) => args));
    calls.forEach(({ groups: chunk, epoch, seq }, i) => {
      const reply = replies[i]!;
      // -1: counted under the overflow member; the path itself holds nothing.
      if (reply.ok) return chunk.forEach((group, j) => this.#lastKnown.set(group.path, Math.max(0, Number(reply.value[j]))));
      // A call is atomic: its groups share one fate.
      switch (reply.failure) {
        case 'not_sent': case 'refused': // not run, and may be run later: kept for the next flush
          return chunk.forEach((group) => this.requeue(group));
        case 'rejected':
          return this.o.logger.error({ error: redisErrorText(reply.error), paths: chunk.length, hits: chunk.reduce((sum, group) => sum + group.count, 0) }, 'Redis refused a write-behind flush; its hits are lost');
        case 'unknown':
          return chunk.forEach((group, j) => ledger.unknown(shard, epoch, seq - chunk.length + 1 + j, { kind: 'flushed', group }));
      }
    });
  }

  /** Flushes until nothing is pending (or timeoutMs), for a clean stop. */
  async drain(timeoutMs: number): Promise<void> {
    // A real wait on real I/O: measured on the real clock, so that an injected one that stands
    // still cannot hold a stop forever.
    const deadline = performance.now() + timeoutMs;
    while (this.pendingHits > 0 && performance.now() < deadline) {
      await this.flush();
      await this.o.ledger.reconcile();
      if (this.pendingHits > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (this.pendingHits > 0) this.o.logger.error({ hits: this.pendingHits }, 'stopping with write-behind hits that could not be flushed');
  }

  /** Stops the flush timer (drain first to send what is pending). Safe to call twice. */
  close(): void {
    clearInterval(this.#timer);
  }
}
