// What clients were told, checked against what was counted. A test that sends many requests
// looks at every answer: counted must equal the 2xx answers, and every other answer must be one
// the test expects, or a 503 (or a dropped connection) could pass for a lost hit.
import type { ExecutionContext } from 'ava';
import type { Got } from 'got';
import type { LoadReport } from '../../src/loadgen/merge.js';
import { eventually } from './eventually.js';

/** Answers by status, and requests that got none by error code. */
export interface Tally {
  statuses: ReadonlyMap<number, number>;
  errors: ReadonlyMap<string, number>;
}

export const is2xx = (status: number) => status >= 200 && status < 300;

const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);

/** The tally of a list of statuses, for tests that send requests without hammer(). */
export function tally(statuses: Iterable<number>): Tally {
  const counts = new Map<number, number>();
  for (const status of statuses) counts.set(status, (counts.get(status) ?? 0) + 1);
  return { statuses: counts, errors: new Map() };
}

export function successes(tally: Tally): number {
  return sum([...tally.statuses].filter(([status]) => is2xx(status)).map(([, n]) => n));
}

/** e.g. "200 × 10962, 503 × 38; ECONNREFUSED × 2" */
export function breakdown(tally: Tally): string {
  const statuses = [...tally.statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${status} × ${n}`);
  const errors = [...tally.errors].sort(([a], [b]) => a.localeCompare(b)).map(([code, n]) => `${code} × ${n}`);
  return [statuses.join(', ') || 'no answers', ...(errors.length > 0 ? [errors.join(', ')] : [])].join('; ');
}

export interface ExpectedAnswers {
  /** Non-2xx statuses the test expects (e.g. 503 while Redis is down); any other fails. */
  allowed?: readonly number[];
  /** Error codes of requests that got no answer the test expects (e.g. ECONNREFUSED after shutdown). */
  allowedErrors?: readonly string[];
  /** How many requests were sent, when the test knows: every one must be in the tally. */
  sent?: number;
}

/**
 * Waits until Redis answers and the server has resolved every hit it answered 503 (taking back
 * the ones Redis applied anyway), so that what Redis holds can be compared with the answers.
 */
export async function settled(app: { http: Got }, timeoutMs = 120_000): Promise<void> {
  await eventually(async () => {
    const health = await app.http.get('health', { responseType: 'json' });
    return health.statusCode === 200 && (health.body as { unresolvedHits: number }).unresolvedHits === 0;
  }, { timeoutMs, what: 'Redis up and no unresolved hits' });
}

/** Every answer is a 2xx or one the test expects, and every error one it expects. Returns the breakdown. */
export function assertOnlyExpected(t: ExecutionContext, tally: Tally, expected: ExpectedAnswers = {}): string {
  const { allowed = [], allowedErrors = [], sent } = expected;
  const summary = breakdown(tally);
  const unexpected = [...tally.statuses.keys()].filter((status) => !is2xx(status) && !allowed.includes(status));
  t.deepEqual(unexpected, [], `only 2xx or ${allowed.join('/') || 'nothing else'} expected; got ${summary}`);
  const unexpectedErrors = [...tally.errors.keys()].filter((code) => !allowedErrors.includes(code));
  t.deepEqual(unexpectedErrors, [], `only ${allowedErrors.join('/') || 'answers'} expected; got ${summary}`);
  if (sent !== undefined) t.is(sum(tally.statuses.values()) + sum(tally.errors.values()), sent, `every request sent has an outcome: ${summary}`);
  return summary;
}

/** counted == the number of 2xx answers, and every other outcome is one the test expects. */
export function assertCountedExactly(t: ExecutionContext, tally: Tally, counted: number, expected: ExpectedAnswers = {}): void {
  const summary = assertOnlyExpected(t, tally, expected);
  t.log(`answers: ${summary}; counted: ${counted}`);
  t.is(counted, successes(tally), `counted must equal the 2xx answers (${summary})`);
}

/** One tally of several (e.g. the loads of two replicas). */
export function merged(tallies: readonly Tally[]): Tally {
  const statuses = new Map<number, number>();
  const errors = new Map<string, number>();
  for (const tally of tallies) {
    for (const [status, n] of tally.statuses) statuses.set(status, (statuses.get(status) ?? 0) + n);
    for (const [code, n] of tally.errors) errors.set(code, (errors.get(code) ?? 0) + n);
  }
  return { statuses, errors };
}

/**
 * A load-test report adds up, each figure checked against the others it is made of (see
 * src/loadgen/merge.ts): succeeded is the 2xx status counts, non2xx the rest, failed non-2xx plus
 * errors, completed every answer and error, one per second in perSecond; a run that was not
 * cancelled completed or dropped every request it was asked for; the stages add up to the run
 * (the measured ones) and to the warm-up.
 */
export function assertReportAddsUp(t: ExecutionContext, report: LoadReport): void {
  const codes = Object.entries(report.statusCodes).map(([status, n]) => [Number(status), n] as const);
  const twoHundreds = sum(codes.filter(([status]) => is2xx(status)).map(([, n]) => n));
  const others = sum(codes.filter(([status]) => !is2xx(status)).map(([, n]) => n));
  const errors = sum(Object.values(report.errors));
  const context = JSON.stringify({ ...report, latencyMs: undefined, perSecond: undefined });
  t.is(report.succeeded, twoHundreds, `succeeded is the 2xx status counts: ${context}`);
  t.is(report.non2xx, others, `non2xx is the other status counts: ${context}`);
  t.is(report.failed, others + errors, `failed is non-2xx plus errors: ${context}`);
  t.is(report.completed, twoHundreds + others + errors, `completed is every answer and every error: ${context}`);
  t.is(sum(report.perSecond), report.completed, 'perSecond spreads exactly the completed requests');
  if (report.requested !== null) {
    if (report.cancelled) t.true(report.completed + report.dropped <= report.requested, context);
    else t.is(report.completed + report.dropped, report.requested, `an uncancelled run completed or dropped every request: ${context}`);
  }
  const measured = report.stages.filter((stage) => !stage.warmup);
  const warmups = report.stages.filter((stage) => stage.warmup);
  for (const name of ['completed', 'succeeded', 'failed', 'non2xx', 'dropped'] as const) {
    t.is(sum(measured.map((stage) => stage[name])), report[name], `the measured stages' ${name} add up to the run's: ${context}`);
    t.is(sum(warmups.map((stage) => stage[name])), report.warmup?.[name] ?? 0, `the warm-up stages' ${name} add up to the warm-up's: ${context}`);
  }
}
