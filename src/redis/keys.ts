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
  /** Sorted set: member = load-test job id, score = creation time (ms). Lists the jobs. */
  readonly jobs: string;
  /** Sorted set: member = id of a running job, score = when its lease expires (ms). Caps running jobs. */
  readonly runningJobs: string;
  /** String: the job's JSON, with a TTL. */
  job(id: string): string;
  /** String: present while a cancel of the job has been asked for and not yet carried out. */
  jobCancel(id: string): string;
  /** String: the sequence number of the last hit Redis applied from one connection (its epoch). */
  hitSeq(epoch: string): string;
  /** Set: sequence numbers of that connection's hits already taken back. */
  hitRetracted(epoch: string): string;
}

export function createKeys({ prefix, hits }: KeyOptions): Keys {
  const jobs = `${prefix}hitcounter:jobs`;
  return Object.freeze({
    prefix,
    hits: `${prefix}${hits}`,
    jobs,
    runningJobs: `${jobs}:running`,
    job: (id: string) => `${jobs}:${id}`,
    jobCancel: (id: string) => `${jobs}:${id}:cancel`,
    hitSeq: (epoch: string) => `${prefix}hitcounter:seq:${epoch}`,
    hitRetracted: (epoch: string) => `${prefix}hitcounter:seq:${epoch}:retracted`,
  });
}
