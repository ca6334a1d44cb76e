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
