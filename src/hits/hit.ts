// What a write path is handed, and the keys a call of hits writes.
import { bucketId, bucketsAt } from '../analytics/buckets.js';
import type { ShardKeys } from '../redis/keys.js';
import type { HitCallKeys } from '../redis/script-args.js';

/** One hit, as the API route hands it over. */
export interface Hit {
  path: string;
  /** ms since the epoch, from the injected clock. */
  time: number;
  method: string;
  referrer: string;
  userAgent: string;
  /** The path as the event log keeps it (events.maxPathBytes); default: path. */
  eventPath?: string;
  /** Salted hash of IP and User-Agent (see analytics/visitors.ts); '' when visitors are off. */
  visitor: string;
  /**
   * Write-behind: the visitor's identity (visitorIdentity), hashed with its day's salt when the
   * hit is flushed; `visitor` is '' then.
   */
  unhashedVisitor?: string;
}

/**
 * The keys of one shard a call writes for a given minute and second. Bucket key names change once
 * a minute, so they are built then, not for every hit.
 */
export class CallKeys {
  #minuteStart = NaN;
  #buckets = { minute: '', hour: '', day: '', dayId: '' };

  constructor(readonly keys: ShardKeys) {}

  at(time: number, second: number, epoch: string): HitCallKeys {
    const minuteStart = Math.floor(time / 60_000) * 60_000;
    if (minuteStart !== this.#minuteStart) {
      const { minute, hour, day } = bucketsAt(time);
      this.#buckets = { minute: this.keys.bucket(minute), hour: this.keys.bucket(hour), day: this.keys.bucket(day), dayId: bucketId(day) };
      this.#minuteStart = minuteStart;
    }
    const { minute, hour, day, dayId } = this.#buckets;
    const keys = this.keys;
    return { hits: keys.hits, sequence: keys.hitSeq(epoch), minute, hour, day, second: keys.second(second), visitorsOf: (path) => keys.visitors(dayId, path) };
  }
}
