// Every Redis key name is built here and nowhere else, once, at start-up.

export interface KeyOptions {
  /** Prepended to every key: lets several deployments (or test runs) share one Redis. */
  prefix: string;
  /** The all-time ranking: a sorted set of path → hits. */
  hits: string;
}

export interface Keys {
  readonly prefix: string;
  /** Sorted set: member = normalized path, score = all-time hits. */
  readonly hits: string;
}

export function createKeys({ prefix, hits }: KeyOptions): Keys {
  return Object.freeze({ prefix, hits: `${prefix}${hits}` });
}
