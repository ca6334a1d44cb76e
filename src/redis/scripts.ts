// Loads the Lua scripts of src/redis/scripts/ as ioredis custom commands. Each file holds one
// operation that must be atomic, with a KEYS/ARGV header saying what it takes.
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const source = (name: string) => readFileSync(new URL(`./scripts/${name}.lua`, import.meta.url), 'utf8');

export interface Scripts {
  /** 1 when a job slot was taken, 0 when all `limit` slots are busy. */
  acquireJobSlot(runningKey: string, now: number, limit: number, id: string, leaseUntil: number): Promise<number>;
}

export function loadScripts(redis: Redis): Scripts {
  redis.defineCommand('hcAcquireJobSlot', { numberOfKeys: 1, lua: source('acquire-job-slot') });
  const commands = redis as unknown as Record<string, (...args: Array<string | number>) => Promise<number>>;
  return {
    acquireJobSlot: (runningKey, now, limit, id, leaseUntil) => commands.hcAcquireJobSlot!(runningKey, now, limit, id, leaseUntil),
  };
}
