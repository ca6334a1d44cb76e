// Loads the Lua scripts of src/redis/scripts/ as ioredis custom commands. Each file holds one
// operation that must be atomic, with a KEYS/ARGV header saying what it takes; the arguments of
// the hit scripts are built by one typed builder each, in script-args.ts.
import { readFileSync } from 'node:fs';
import type { Redis, Result } from 'ioredis';
import type { ScriptArgs } from './script-args.js';

// The custom commands, typed on clients and pipelines alike (ioredis's documented way).
declare module 'ioredis' {
  interface RedisCommander<Context> {
    hcRecordHits(...args: ScriptArgs): Result<string[], Context>;
    hcAddHits(...args: ScriptArgs): Result<string[], Context>;
    hcRecordBatch(...args: ScriptArgs): Result<Array<string | number>, Context>;
    hcRetractHit(...args: ScriptArgs): Result<number, Context>;
    hcResetShard(...args: ScriptArgs): Result<number, Context>;
    hcAcquireJobSlot(...args: ScriptArgs): Result<number, Context>;
    hcAcquireWindow(...args: ScriptArgs): Result<[number, number], Context>;
  }
}

const read = (path: string) => readFileSync(new URL(`./scripts/${path}.lua`, import.meta.url), 'utf8');

// Redis has no include: logic two scripts share sits in scripts/includes/ and is pasted in at
// load time, in place of a `--- @include "<name>"` line (the convention bullmq uses).
export const source = (name: string): string =>
  read(name).replace(/^--- @include "([\w-]+)"$/gm, (_, include: string) => read(`includes/${include}`));

export interface Scripts {
  /** 1 when a job slot was taken, 0 when all `limit` slots are busy. */
  acquireJobSlot(runningKey: string, now: number, limit: number, id: string, leaseUntil: number): Promise<number>;
  /** retract-hit.lua, with retractHitArgs: 1 when taken back now, 0 when already taken back, -1 when its path is not counted. */
  retractHit(args: ScriptArgs): Promise<number>;
  /** reset-shard.lua: the keys (one shard's family) to delete atomically; how many existed. */
  resetShard(keys: readonly string[]): Promise<number>;
  /** acquire-window.lua: [1, ends at] when the custom window is admitted, [0, ms until a slot frees] when not. */
  acquireWindow(registryKey: string, id: string, ttlMs: number, max: number): Promise<[number, number]>;
}

// Name, file, number of keys (undefined: the builder puts it first, as it varies per call).
const SCRIPTS = [
  ['hcAcquireJobSlot', 'acquire-job-slot', 1],
  ['hcRecordHits', 'record-hits', undefined],
  ['hcRetractHit', 'retract-hit', undefined],
  ['hcAddHits', 'add-hits', undefined],
  ['hcRecordBatch', 'record-batch', undefined],
  ['hcResetShard', 'reset-shard', undefined],
  ['hcAcquireWindow', 'acquire-window', 1],
] as const;

/** Defines the scripts on `redis` (once per client) and returns the ones called outside pipelines. */
export function loadScripts(redis: Redis): Scripts {
  for (const [name, file, numberOfKeys] of SCRIPTS) {
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua: source(file) });
  }
  return {
    acquireJobSlot: (runningKey, now, limit, id, leaseUntil) => redis.hcAcquireJobSlot(runningKey, now, limit, id, leaseUntil),
    retractHit: (args) => redis.hcRetractHit(...args),
    resetShard: (keys) => redis.hcResetShard(keys.length, ...keys),
    acquireWindow: (registryKey, id, ttlMs, max) => redis.hcAcquireWindow(registryKey, id, ttlMs, max),
  };
}
