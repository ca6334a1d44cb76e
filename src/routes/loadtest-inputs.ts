// What the load-test routes accept (loadtest.ts, loadtest-search.ts): the options every run
// shares, a run's stages, and a search's objective and bounds, each with its exact 400 message.
import { z } from 'zod';
import { DISTRIBUTIONS } from '../loadgen/paths.js';
import { plannedDurationMs, plannedRequests, resolveStage, type StageInput } from '../loadgen/stages.js';
import { loopbackUrl } from '../loadgen/target.js';
import type { Settings } from '../settings.js';
import { flag, integer, oneOf } from './schemas.js';

type LoadtestSettings = Readonly<Settings['loadtest']>;

/** A loopback http(s) base URL (loadgen/target.ts), as its origin: never a third party. */
function loopbackTarget() {
  const error = 'Expected `{name}` to be a loopback http URL such as http://127.0.0.1:5000';
  return z
    .string({ error })
    .transform((raw, ctx) => {
      const url = loopbackUrl(raw);
      if (url === undefined) {
        ctx.issues.push({ code: 'custom', message: error, input: raw });
        return z.NEVER;
      }
      return url;
    })
    .meta({ format: 'uri' });
}

/** A job's id in a path: one schema, so that the document has one `JobId` parameter. */
export const jobIdParam = z.string().meta({ description: 'The job id, as in `Location` of a 202.', format: 'uuid', param: { id: 'JobId' } });

/** A number above 0 and at most `max` (JSON only): ms of latency, a share. */
function positive(max: number, unit: string) {
  const error = `Expected \`{name}\` to be a number above 0 and at most ${max}${unit}`;
  return z.number({ error }).gt(0, { error }).max(max, { error });
}

/** What every kind of run takes: how paths are drawn, where the load goes, and how to answer. */
export function sharedOptions(loadtest: LoadtestSettings) {
  return {
    distribution: oneOf(DISTRIBUTIONS).optional().meta({ description: `How paths are drawn; default \`loadtest.distribution\` (\`${loadtest.distribution}\`).` }),
    paths: integer(1, loadtest.maxPaths).optional().meta({ description: `Vocabulary size: 1 to \`loadtest.maxPaths\` (${loadtest.maxPaths}); default \`loadtest.paths\` (${loadtest.paths}).` }),
    seed: integer(0, 2 ** 32 - 1).optional().meta({ description: 'RNG seed; the report gives the one used, so any run can be replayed (with as many threads). Random when absent.' }),
    target: loopbackTarget().optional().meta({ description: 'A loopback base URL to load instead of this server; default `loadtest.target`, or this server.', param: { example: 'http://127.0.0.1:5001' } }),
    async: flag().optional().meta({ description: '`1`/`true`: answer 202 at once with the queued job. The header `Prefer: respond-async` does the same.' }),
  };
}

/** The options of `POST /test/{n}`, as query parameters or JSON body fields. */
export function simpleOptions(loadtest: LoadtestSettings) {
  return {
    concurrency: integer(1, loadtest.maxConcurrency).optional().meta({ description: `Requests in flight at most: 1 to \`loadtest.maxConcurrency\` (${loadtest.maxConcurrency}); default \`loadtest.defaultConcurrency\` (${loadtest.defaultConcurrency}).` }),
    rate: integer(1, loadtest.maxRate).optional().meta({ description: `Requests per second, 1 to \`loadtest.maxRate\` (${loadtest.maxRate}): the open model. Absent: the closed model.` }),
    warmupMs: integer(0, loadtest.maxDurationMs).optional().meta({ description: 'A warm-up this long before the `n` requests, at the same concurrency or rate: its hits count in Redis (and in `counted`), never in the figures.' }),
    ...sharedOptions(loadtest),
  };
}

/** As POST /test/{n} words it (loadtest.ts): zod's own message would name no field. */
const NOT_AN_OBJECT = 'Expected the JSON body to be an object';

const DURATION_OR_COUNT = 'Expected `{name}` to end after `durationMs` or after `requests`: one of the two';

/** One stage of `POST /test`. */
export function stageSchema(loadtest: LoadtestSettings) {
  const rateError = `Expected \`{name}\` to be an integer from 1 to ${loadtest.maxRate}, or a pair of them [from, to] for a ramp`;
  const rateValue = z.number({ error: rateError }).int({ error: rateError }).min(1, { error: rateError }).max(loadtest.maxRate, { error: rateError });
  return z
    .strictObject({
      durationMs: integer(1, loadtest.maxDurationMs).optional().meta({ description: 'The stage ends after this long (closed: no new request is sent after it).' }),
      requests: integer(1, loadtest.maxRequests).optional().meta({ description: 'The stage ends after this many requests.' }),
      concurrency: integer(1, loadtest.maxConcurrency).optional().meta({ description: `Closed stage: requests in flight. Open stage: connections at most. Default \`loadtest.defaultConcurrency\` (${loadtest.defaultConcurrency}).` }),
      // The pair is rendered as a plain array of two: Prism 5 (the contract walk) cannot read prefixItems.
      rate: z.union([rateValue, z.tuple([rateValue, rateValue]).meta({ override: ({ jsonSchema }: { jsonSchema: Record<string, unknown> }) => { jsonSchema.items = (jsonSchema.prefixItems as unknown[])[0]; delete jsonSchema.prefixItems; } })], { error: rateError }).optional().meta({ description: 'Requests per second (the open model), or `[from, to]`: a linear ramp over the stage. Absent: the closed model.' }),
      warmup: z.boolean({ error: 'Expected `{name}` to be true or false' }).optional().meta({ description: 'Its requests count in Redis, never in the figures.' }),
    }, { error: 'Expected `{name}` to be an object such as {"durationMs": 10000, "rate": 500}' })
    .superRefine((stage, ctx) => {
      if ((stage.durationMs === undefined) === (stage.requests === undefined)) ctx.addIssue({ code: 'custom', message: DURATION_OR_COUNT, input: stage });
    })
    .meta({ id: 'LoadStage', description: 'A stage: a duration or a count, and a concurrency (closed) or a rate (open, maybe ramped).', override: { examples: [{ durationMs: 10_000, rate: [500, 3000] }] } });
}

/** Whole-run bounds of a list of stages: their length, requests and duration in all. */
function checkStages(loadtest: LoadtestSettings, stages: readonly StageInput[], ctx: z.RefinementCtx, path: PropertyKey[]): void {
  const plans = stages.map((stage) => resolveStage(stage, loadtest.defaultConcurrency));
  if (plans.every((stage) => stage.warmup)) {
    ctx.addIssue({ code: 'custom', path, message: 'Expected `{name}` to have a stage that is not a warm-up', input: stages });
    return;
  }
  const over = plans.findIndex((stage) => stage.requests !== null && stage.requests > loadtest.maxRequests);
  if (over >= 0) {
    ctx.addIssue({ code: 'custom', path: [...path, over], message: `Expected \`{name}\` to send at most ${loadtest.maxRequests} requests (its rate and duration make ${plans[over]!.requests})`, input: stages });
    return;
  }
  const requests = plannedRequests(plans.filter((stage) => stage.requests !== null));
  if (requests !== null && requests > loadtest.maxRequests) {
    ctx.addIssue({ code: 'custom', path, message: `Expected \`{name}\` to send at most ${loadtest.maxRequests} requests in all (loadtest.maxRequests), not ${requests}`, input: stages });
    return;
  }
  const duration = plannedDurationMs(plans.filter((stage) => stage.durationMs !== null));
  if (duration !== null && duration > loadtest.maxDurationMs) {
    ctx.addIssue({ code: 'custom', path, message: `Expected \`{name}\` to last at most ${loadtest.maxDurationMs} ms in all (loadtest.maxDurationMs), not ${Math.round(duration)}`, input: stages });
  }
}

/** The body of `POST /test`: stages, and the options every run shares. */
export function stagedBody(loadtest: LoadtestSettings) {
  const stagesError = `Expected \`{name}\` to be a list of 1 to ${loadtest.maxStages} stages`;
  return z
    .strictObject({
      stages: z.array(stageSchema(loadtest), { error: stagesError }).min(1, { error: stagesError }).max(loadtest.maxStages, { error: stagesError }).meta({ description: 'Run one after the other. The report gives each stage\'s figures and the whole run\'s (warm-up stages left out).' }),
      ...sharedOptions(loadtest),
    }, { error: NOT_AN_OBJECT })
    .superRefine((body, ctx) => checkStages(loadtest, body.stages, ctx, ['stages']))
    .meta({ id: 'StagedRun', description: 'A run in stages.', override: { examples: [{ stages: [{ durationMs: 2000, rate: 500, warmup: true }, { durationMs: 5000, rate: 500 }, { durationMs: 10_000, rate: [500, 3000] }], seed: 42 }] } });
}

const OBJECTIVE_KEYS = ['p50', 'p90', 'p99', 'p99_9', 'errors'] as const;

/** The body of `POST /test/search`. */
export function searchBody(loadtest: LoadtestSettings) {
  const objectiveError = `Expected \`{name}\` to bound at least one of ${OBJECTIVE_KEYS.join(', ')}`;
  const latency = (name: string) => positive(loadtest.requestTimeoutMs, ' (ms)').optional().meta({ description: `The step's ${name} latency must be at most this, in ms.` });
  const objective = z
    .strictObject({
      p50: latency('p50'),
      p90: latency('p90'),
      p99: latency('p99'),
      p99_9: latency('p99.9'),
      errors: z.number({ error: 'Expected `{name}` to be a percentage from 0 to 100' }).min(0, { error: 'Expected `{name}` to be a percentage from 0 to 100' }).max(100, { error: 'Expected `{name}` to be a percentage from 0 to 100' }).optional().meta({ description: 'Percent of the step\'s requests that may fail (non-2xx or no answer) or be dropped (not sent on time).' }),
    }, { error: objectiveError })
    .refine((given) => OBJECTIVE_KEYS.some((key) => given[key] !== undefined), { error: objectiveError })
    .meta({ id: 'SearchObjective', description: 'What a step must meet.', override: { examples: [{ p99: 20, errors: 0.1 }] } });
  return z
    .strictObject({
      objective,
      minRate: integer(1, loadtest.maxRate).meta({ description: 'The first step\'s rate.' }),
      maxRate: integer(1, loadtest.maxRate).meta({ description: 'No step goes above it.' }),
      stepDurationMs: integer(100, loadtest.maxDurationMs).optional().meta({ description: 'Each step\'s measured duration.', default: 5000 }),
      warmupMs: integer(0, loadtest.maxDurationMs).optional().meta({ description: 'A warm-up at the step\'s rate before each step (its hits count in Redis, not in the step).', default: 1000 }),
      precision: z.number({ error: 'Expected `{name}` to be a number from 0.001 to 1' }).min(0.001, { error: 'Expected `{name}` to be a number from 0.001 to 1' }).max(1, { error: 'Expected `{name}` to be a number from 0.001 to 1' }).optional().meta({ description: 'Bisecting stops once (first failing − best passing) / best passing is at most this.', default: 0.05 }),
      maxSteps: integer(1, 50).optional().meta({ description: 'Steps at most.', default: 20 }),
      concurrency: integer(1, loadtest.maxConcurrency).optional().meta({ description: `Connections at most in each step; default \`loadtest.defaultConcurrency\` (${loadtest.defaultConcurrency}).` }),
      ...sharedOptions(loadtest),
    }, { error: NOT_AN_OBJECT })
    .superRefine((body, ctx) => {
      if (body.minRate > body.maxRate) {
        ctx.addIssue({ code: 'custom', path: ['minRate'], message: `Expected \`minRate\` (${body.minRate}) to be at most \`maxRate\` (${body.maxRate})`, input: body.minRate });
        return;
      }
      const step = (body.stepDurationMs ?? 5000) + (body.warmupMs ?? 1000);
      const steps = body.maxSteps ?? 20;
      if (steps * step > loadtest.maxDurationMs) {
        ctx.addIssue({ code: 'custom', path: ['maxSteps'], message: `Expected \`maxSteps\` × (\`warmupMs\` + \`stepDurationMs\`) to be at most ${loadtest.maxDurationMs} ms (loadtest.maxDurationMs), not ${steps} × ${step}`, input: steps });
        return;
      }
      const requests = Math.round((body.maxRate * step) / 1000);
      if (requests > loadtest.maxRequests) {
        ctx.addIssue({ code: 'custom', path: ['maxRate'], message: `Expected a step at \`maxRate\` to send at most ${loadtest.maxRequests} requests (loadtest.maxRequests), not ${requests}`, input: body.maxRate });
      }
    })
    .meta({ id: 'SearchRequest', description: 'A search for the highest rate that meets an objective.', override: { examples: [{ objective: { p99: 20, errors: 0.1 }, minRate: 500, maxRate: 20_000 }] } });
}
