// Loads the Lua scripts of src/redis/scripts/ as ioredis custom commands. Each file holds one
// operation that must be atomic, with a KEYS/ARGV header saying what it takes.
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const source = (name: string) => readFileSync(new URL(`./scripts/${name}.lua`, import.meta.url), 'utf8');

type Command = (...args: Array<string | number>) => Promise<unknown>;

export interface Scripts {
  /** 1 when a job slot was taken, 0 when all `limit` slots are busy. */
  acquireJobSlot(runningKey: string, now: number, limit: number, id: string, leaseUntil: number): Promise<number>;
  /** record-hits.lua: the number of keys, then keys and arguments (see its header); each path's new count. */
  recordHits(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Promise<string[]>;
  /** add-hits.lua (write-behind): the number of keys, then keys and arguments (see its header); each path's new count, -1 past api.maxPaths. */
  addHits(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Promise<string[]>;
  /** retract-hit.lua: 6 keys, 4 arguments (see its header); 1 when taken back now, 0 when already taken back, -1 when its path is not counted. */
  retractHit(...keysThenArgs: Array<string | number>): Promise<number>;
  /** reset-shard.lua: the number of keys, then the keys (one shard's family) to delete atomically; how many existed. */
  resetShard(numberOfKeys: number, ...keys: string[]): Promise<number>;
  /** acquire-window.lua: [1, ends at] when the custom window is admitted, [0, ms until a slot frees] when not. */
  acquireWindow(registryKey: string, id: string, ttlMs: number, max: number): Promise<[number, number]>;
}

const SCRIPTS = [
  ['hcAcquireJobSlot', 'acquire-job-slot', 1],
  ['hcRecordHits', 'record-hits', undefined], // the caller says how many keys: one per hit with visitors
  ['hcRetractHit', 'retract-hit', 6],
  ['hcAddHits', 'add-hits', undefined], // as record-hits
  ['hcResetShard', 'reset-shard', undefined], // the caller says how many keys: the shard's family
  ['hcAcquireWindow', 'acquire-window', 1],
] as const;

/** Defines the scripts on `redis` (once per client) and returns them typed. */
export function loadScripts(redis: Redis): Scripts {
  const commands = redis as unknown as Record<string, Command>;
  for (const [name, file, numberOfKeys] of SCRIPTS) {
    if (!commands[name]) redis.defineCommand(name, { numberOfKeys, lua: source(file) });
  }
  return {
    acquireJobSlot: (...args) => commands.hcAcquireJobSlot!(...args) as Promise<number>,
    recordHits: (...args) => commands.hcRecordHits!(...args) as Promise<string[]>,
    retractHit: (...args) => commands.hcRetractHit!(...args) as Promise<number>,
    addHits: (...args) => commands.hcAddHits!(...args) as Promise<string[]>,
    resetShard: (...args) => commands.hcResetShard!(...args) as Promise<number>,
    acquireWindow: (...args) => commands.hcAcquireWindow!(...args) as Promise<[number, number]>,
  };
}
