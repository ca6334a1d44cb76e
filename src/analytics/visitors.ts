// Unique visitors without storing who they are (Plausible's model): a visitor is a hash of the
// client IP and User-Agent with a salt that changes every day. Salts live in Redis for two days
// (every replica hashes alike) and are then gone, so no stored hash can be tied back to an IP.
import { hash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { bucketId, floorTo } from './buckets.js';
import type { GlobalKeys } from '../redis/keys.js';
import { unavailable } from '../redis/unavailable.js';

const SALT_TTL_MS = 2 * 86_400_000;

/** What a visitor's hash is made of, before the day's salt is known (write-behind hashes it later). */
export const visitorIdentity = (ip: string, userAgent: string): string => `${ip}\n${userAgent}`;

/** 16 hex digits, the same for one identity all (UTC) day, unrelated the next day. */
// crypto.hash is the one-shot form: no Hash object per hit.
export const hashVisitor = (salt: string, identity: string): string =>
  hash('sha256', `${salt}\n${identity}`, 'hex').slice(0, 16);

export class VisitorHasher {
  readonly #salts = new Map<string, string>();

  constructor(private readonly redis: Redis, private readonly keys: GlobalKeys) {}

  async #salt(day: string): Promise<string> {
    const cached = this.#salts.get(day);
    if (cached) return cached;
    const mine = randomBytes(16).toString('hex');
    // The first replica to ask sets the day's salt; the others get it back.
    const theirs = await this.redis.set(this.keys.salt(day), mine, 'PX', SALT_TTL_MS, 'NX', 'GET').catch(unavailable);
    const salt = theirs ?? mine;
    this.#salts.set(day, salt);
    if (this.#salts.size > 2) this.#salts.delete(this.#salts.keys().next().value!);
    return salt;
  }

  // The day's name is worked out once a day, not for every hit.
  #dayStart = -1;
  #day = '';

  #dayOf(time: number): string {
    const dayStart = floorTo(time, 'day');
    if (dayStart !== this.#dayStart) {
      this.#day = bucketId({ granularity: 'day', start: dayStart });
      this.#dayStart = dayStart;
    }
    return this.#day;
  }

  /** The salt of the UTC day holding `time`: from memory, else from Redis (so it may fail with a 503). */
  async saltAt(time: number): Promise<string> {
    const day = this.#dayOf(time);
    return this.#salts.get(day) ?? this.#salt(day);
  }

  /** The visitor's hash for the day holding `time`. */
  async hash(time: number, ip: string, userAgent: string): Promise<string> {
    return this.hashNow(time, ip, userAgent) ?? hashVisitor(await this.#salt(this.#dayOf(time)), visitorIdentity(ip, userAgent));
  }

  /** The visitor's hash, when the day's salt is already in memory (nearly always): no await per hit. */
  hashNow(time: number, ip: string, userAgent: string): string | undefined {
    const salt = this.#salts.get(this.#dayOf(time));
    return salt === undefined ? undefined : hashVisitor(salt, visitorIdentity(ip, userAgent));
  }
}
