// One typed builder per hit script: the only code that knows the order of a script's KEYS and
// ARGV (see each script's header). The store says what it wants counted; the builder lays it out.
export type ScriptArgs = Array<string | number>;

/** Lifetimes (ms) of the keys a call may create; PEXPIRE … NX sets them only on new keys. */
export interface HitKeyLifetimes {
  /** Counted in the minute, hour and day buckets: their lifetimes; undefined: not counted there. */
  buckets?: { minute: number; hour: number; day: number };
  /** The visitors HyperLogLogs' lifetime; undefined: visitors are not counted. */
  visitors?: number;
  /** The live feed's per-second counter. */
  second: number;
  /** The connection's last-applied-sequence key. */
  sequence: number;
}

/** The keys every call of record-hits.lua or add-hits.lua writes. */
export interface HitCallKeys {
  hits: string;
  sequence: string;
  minute: string;
  hour: string;
  day: string;
  second: string;
  /** Per hit (or group), the visitors HyperLogLog of its path for the day; used only with lifetimes.visitors. */
  visitorsOf(path: string): string;
}

interface HitCall {
  keys: HitCallKeys;
  lifetimes: HitKeyLifetimes;
  /** The sequence number of the call's last hit on its connection. */
  lastSeq: number;
  /** The most distinct paths the ranking may hold; 0: no cap. */
  maxPaths: number;
}

export interface RecordedHit {
  path: string;
  visitor: string;
  time: number;
  method: string;
  referrer: string;
  userAgent: string;
  eventPath?: string;
}

/** record-hits.lua: hits of one second, in sequence order. */
export function recordHitsArgs(call: HitCall & { events: string; maxEvents: number; hits: readonly RecordedHit[] }): ScriptArgs {
  const { keys, lifetimes, hits } = call;
  const visitors = lifetimes.visitors !== undefined;
  // Pushed one by one, not spread: this runs for every batch of hits, and spreads allocate.
  const args: ScriptArgs = [visitors ? 7 + hits.length : 7, keys.hits, keys.sequence, keys.minute, keys.hour, keys.day, call.events, keys.second];
  if (visitors) for (const hit of hits) args.push(keys.visitorsOf(hit.path));
  args.push(hits.length, call.lastSeq);
  pushShared(args, lifetimes);
  args.push(call.maxEvents, lifetimes.second, call.maxPaths);
  // Without events only path and visitor are sent. The event's path is sent only when it differs
  // from the path (cut): fewer bytes per hit.
  for (const hit of hits) {
    if (call.maxEvents > 0) args.push(hit.path, hit.visitor, Math.floor(hit.time), hit.method, hit.referrer, hit.userAgent, hit.eventPath === undefined || hit.eventPath === hit.path ? '' : hit.eventPath);
    else args.push(hit.path, hit.visitor);
  }
  return args;
}

export interface HitGroup {
  path: string;
  count: number;
  /** The group's visitor hashes; none: undefined. */
  visitors?: ReadonlySet<string>;
}

/** add-hits.lua (write-behind): groups of one minute, in sequence order; past maxPaths, new paths count under `overflow`. */
export function addHitsArgs(call: HitCall & { overflow: string; groups: readonly HitGroup[] }): ScriptArgs {
  const { keys, lifetimes, groups } = call;
  const keyList = [keys.hits, keys.sequence, keys.minute, keys.hour, keys.day, keys.second];
  if (lifetimes.visitors !== undefined) for (const group of groups) keyList.push(keys.visitorsOf(group.path));
  const args: ScriptArgs = [keyList.length, ...keyList, groups.length, call.lastSeq];
  pushShared(args, lifetimes);
  args.push(lifetimes.second, call.maxPaths, call.overflow);
  for (const group of groups) {
    args.push(group.path, group.count, group.visitors?.size ?? 0);
    if (group.visitors) for (const visitor of group.visitors) args.push(visitor);
  }
  return args;
}

// ARGV[3] to ARGV[8], the same in both scripts.
function pushShared(args: ScriptArgs, { sequence, buckets, visitors }: HitKeyLifetimes): void {
  args.push(sequence, buckets ? '1' : '0', buckets?.minute ?? 0, buckets?.hour ?? 0, buckets?.day ?? 0, visitors ?? '');
}

/** retract-hit.lua: takes back one hit counted at `time` in the ranking (and buckets, when `inBuckets`). */
export function retractHitArgs(hit: {
  keys: { hits: string; retracted: string; minute: string; hour: string; day: string; second: string };
  path: string;
  seq: number;
  retractedTtlMs: number;
  inBuckets: boolean;
}): ScriptArgs {
  const { keys } = hit;
  return [6, keys.hits, keys.retracted, keys.minute, keys.hour, keys.day, keys.second, hit.path, hit.seq, hit.retractedTtlMs, hit.inBuckets ? '1' : '0'];
}

/** A key a batch hit counts in beyond the ranking (a bucket, a visitors HyperLogLog), and its lifetime (ms) if the call creates it. */
export interface BatchKey {
  key: string;
  ttlMs: number;
}

/** One hit of a POST /hits batch, as record-batch.lua takes it. */
export interface BatchHit extends Omit<RecordedHit, 'method'> {
  /** Its index in the request's list of hits. */
  index: number;
  /** Its minute, hour and day buckets and its day's visitors: undefined where it does not count. */
  minute?: BatchKey;
  hour?: BatchKey;
  day?: BatchKey;
  visitors?: BatchKey;
}

/** record-batch.lua: the hits of one batch that fall in one shard, with the batch's record. */
export function recordBatchArgs(call: {
  keys: { hits: string; record: string; events: string; second: string };
  /** The fingerprint of the request's body, and how long the record lives (ms). */
  fingerprint: string;
  recordTtlMs: number;
  secondTtlMs: number;
  /** The most distinct paths the ranking may hold; 0: no cap. */
  maxPaths: number;
  /** The event log's approximate length; 0: no event log. */
  maxEvents: number;
  /** What the event log records as the method. */
  method: string;
  /** Hits dropped before the call, as `index:reason` each. */
  drops: readonly string[];
  hits: readonly BatchHit[];
}): ScriptArgs {
  const { keys, hits } = call;
  // Each bucket or visitors key once, numbered from 1 (KEYS[4 + j]); 0 stands for none.
  const extra = new Map<string, { j: number; ttlMs: number }>();
  const numberOf = (key: BatchKey | undefined): number => {
    if (key === undefined) return 0;
    let known = extra.get(key.key);
    if (!known) extra.set(key.key, (known = { j: extra.size + 1, ttlMs: key.ttlMs }));
    return known.j;
  };
  const fields: ScriptArgs = [];
  for (const hit of hits) {
    const eventPath = hit.eventPath === undefined || hit.eventPath === hit.path ? '' : hit.eventPath;
    fields.push(hit.index, hit.path, hit.visitor, Math.floor(hit.time), hit.referrer, hit.userAgent, eventPath,
      numberOf(hit.minute), numberOf(hit.hour), numberOf(hit.day), numberOf(hit.visitors));
  }
  const args: ScriptArgs = [4 + extra.size, keys.hits, keys.record, keys.events, keys.second, ...extra.keys()];
  args.push(hits.length, call.fingerprint, call.recordTtlMs, call.secondTtlMs, call.maxPaths, call.maxEvents, call.method, call.drops.join(','));
  for (const { ttlMs } of extra.values()) args.push(Math.max(1, Math.ceil(ttlMs)));
  for (const field of fields) args.push(field);
  return args;
}
