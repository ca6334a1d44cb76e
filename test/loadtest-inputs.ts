// What the load-test routes accept: every bad stage, objective and bound of POST /test,
// POST /test/search and POST /test/{n} is a 400 with its exact message that sends nothing, and a
// few small good bodies run. Small bounds (SMALL) make each whole-run bound cheap to reach.
import test from 'ava';
import type { JobReport } from '../src/loadgen/jobs.js';
import type { SearchReport } from '../src/loadgen/search.js';
import { PATIENT_LOADGEN_MS, withApp } from './helpers/app.js';

const SMALL = withApp.using({
  tweak: (s) => {
    s.loadtest.maxStages = 3;
    s.loadtest.maxRequests = 100;
    s.loadtest.maxDurationMs = 10_000;
    s.loadtest.maxRate = 1000;
  },
});

const STAGES = 'Expected `stages` to be a list of 1 to 3 stages';
const RATE = (name: string) => `Expected \`${name}\` to be an integer from 1 to 1000, or a pair of them [from, to] for a ramp`;
const ONE_OF_TWO = (name: string) => `Expected \`${name}\` to end after \`durationMs\` or after \`requests\`: one of the two`;
const STAGE_OBJECT = (name: string) => `Expected \`${name}\` to be an object such as {"durationMs": 10000, "rate": 500}`;
const OBJECTIVE = 'Expected `objective` to bound at least one of p50, p90, p99, p99_9, errors';
const LATENCY = (name: string) => `Expected \`objective.${name}\` to be a number above 0 and at most ${PATIENT_LOADGEN_MS} (ms)`;
const PERCENT = 'Expected `objective.errors` to be a percentage from 0 to 100';
const NOT_AN_OBJECT = 'Expected the JSON body to be an object';

const tenRequests = { requests: 10 };
/** A search that passes every whole-run check of SMALL, for rows that break one field. */
const search = { objective: { p99: 50 }, minRate: 10, maxRate: 20, stepDurationMs: 1000, warmupMs: 0, maxSteps: 2 };

type Row = [path: string, body: unknown, error: string];

const stages: Row[] = [
  ['test', {}, STAGES],
  ['test', { stages: 'all' }, STAGES],
  ['test', { stages: tenRequests }, STAGES],
  ['test', { stages: [] }, STAGES],
  ['test', { stages: [tenRequests, tenRequests, tenRequests, tenRequests] }, STAGES],
  ['test', { stages: [5] }, STAGE_OBJECT('stages[0]')],
  ['test', { stages: [tenRequests, null] }, STAGE_OBJECT('stages[1]')],
  ['test', { stages: [[tenRequests]] }, STAGE_OBJECT('stages[0]')],
  ['test', { stages: [{}] }, ONE_OF_TWO('stages[0]')],
  ['test', { stages: [{ concurrency: 5 }] }, ONE_OF_TWO('stages[0]')],
  ['test', { stages: [{ requests: 10, durationMs: 1000 }] }, ONE_OF_TWO('stages[0]')],
  ['test', { stages: [tenRequests, { rate: 5 }] }, ONE_OF_TWO('stages[1]')],
  ['test', { stages: [{ durationMs: 0 }] }, 'Expected `stages[0].durationMs` to be an integer from 1 to 10000'],
  ['test', { stages: [{ durationMs: 10_001 }] }, 'Expected `stages[0].durationMs` to be an integer from 1 to 10000'],
  ['test', { stages: [{ durationMs: 2.5 }] }, 'Expected `stages[0].durationMs` to be an integer from 1 to 10000'],
  ['test', { stages: [{ requests: 0 }] }, 'Expected `stages[0].requests` to be an integer from 1 to 100'],
  ['test', { stages: [tenRequests, { requests: 101 }] }, 'Expected `stages[1].requests` to be an integer from 1 to 100'],
  ['test', { stages: [{ requests: 'ten' }] }, 'Expected `stages[0].requests` to be an integer from 1 to 100'],
  ['test', { stages: [{ requests: 10, concurrency: 0 }] }, 'Expected `stages[0].concurrency` to be an integer from 1 to 1000'],
  ['test', { stages: [{ requests: 10, concurrency: 1001 }] }, 'Expected `stages[0].concurrency` to be an integer from 1 to 1000'],
  ['test', { stages: [{ requests: 10, rate: 0 }] }, RATE('stages[0].rate')],
  ['test', { stages: [{ requests: 10, rate: 1001 }] }, RATE('stages[0].rate')],
  ['test', { stages: [{ requests: 10, rate: 2.5 }] }, RATE('stages[0].rate')],
  ['test', { stages: [tenRequests, { requests: 10, rate: 'fast' }] }, RATE('stages[1].rate')],
  ['test', { stages: [{ requests: 10, rate: { from: 5, to: 10 } }] }, RATE('stages[0].rate')],
  // A bad end of a ramp is named as such.
  ['test', { stages: [{ requests: 10, rate: [5, 0] }] }, RATE('stages[0].rate[1]')],
  ['test', { stages: [{ requests: 10, rate: [1001, 5] }] }, RATE('stages[0].rate[0]')],
  ['test', { stages: [{ requests: 10, rate: [5, 2.5] }] }, RATE('stages[0].rate')],
  ['test', { stages: [{ requests: 10, rate: [5, 'x'] }] }, RATE('stages[0].rate')],
  ['test', { stages: [{ requests: 10, rate: [5] }] }, RATE('stages[0].rate')],
  ['test', { stages: [{ requests: 10, rate: [5, 10, 15] }] }, RATE('stages[0].rate')],
  ['test', { stages: [{ requests: 10, warmup: 'yes' }, tenRequests] }, 'Expected `stages[0].warmup` to be true or false'],
  ['test', { stages: [{ requests: 10, warmup: 1 }, tenRequests] }, 'Expected `stages[0].warmup` to be true or false'],
  ['test', { stages: [tenRequests, { requests: 10, speed: 3 }] }, 'Unknown parameter `stages[1].speed`; expected one of: durationMs, requests, concurrency, rate, warmup'],
  ['test', { stages: [tenRequests], speed: 3 }, 'Unknown parameter `speed`; expected one of: stages, distribution, paths, seed, target, async'],
  // Whole-run bounds.
  ['test', { stages: [{ requests: 10, warmup: true }] }, 'Expected `stages` to have a stage that is not a warm-up'],
  ['test', { stages: [{ requests: 10, warmup: true }, { durationMs: 1000, rate: 5, warmup: true }] }, 'Expected `stages` to have a stage that is not a warm-up'],
  ['test', { stages: [{ durationMs: 1000, rate: 200 }] }, 'Expected `stages[0]` to send at most 100 requests (its rate and duration make 200)'],
  // A ramp sends its mean rate's worth: (50 + 250) / 2 for a second.
  ['test', { stages: [tenRequests, { durationMs: 1000, rate: [50, 250] }] }, 'Expected `stages[1]` to send at most 100 requests (its rate and duration make 150)'],
  // A warm-up's requests are sent too.
  ['test', { stages: [{ durationMs: 1000, rate: 101, warmup: true }, tenRequests] }, 'Expected `stages[0]` to send at most 100 requests (its rate and duration make 101)'],
  ['test', { stages: [{ requests: 40 }, { requests: 40, warmup: true }, { requests: 40 }] }, 'Expected `stages` to send at most 100 requests in all (loadtest.maxRequests), not 120'],
  ['test', { stages: [{ durationMs: 1000, rate: 60 }, { requests: 50 }] }, 'Expected `stages` to send at most 100 requests in all (loadtest.maxRequests), not 110'],
  ['test', { stages: [{ durationMs: 6000 }, { durationMs: 6000 }] }, 'Expected `stages` to last at most 10000 ms in all (loadtest.maxDurationMs), not 12000'],
  // An open stage bounded by its count lasts count / rate.
  ['test', { stages: [{ requests: 100, rate: 3 }] }, 'Expected `stages` to last at most 10000 ms in all (loadtest.maxDurationMs), not 33333'],
  // The options every run shares.
  ['test', { stages: [tenRequests], distribution: 'normal' }, 'Expected `distribution` to be one of: uniform, zipf'],
  ['test', { stages: [tenRequests], paths: 0 }, 'Expected `paths` to be an integer from 1 to 1000000'],
  ['test', { stages: [tenRequests], seed: -1 }, 'Expected `seed` to be an integer from 0 to 4294967295'],
  ['test', { stages: [tenRequests], target: 'http://example.com' }, 'Expected `target` to be a loopback http URL such as http://127.0.0.1:5000'],
  ['test', { stages: [tenRequests], async: 'maybe' }, 'Expected `async` to be 1, 0, true or false'],
  ['test?async=maybe', { stages: [tenRequests] }, 'Expected `async` to be 1, 0, true or false'],
  ['test?speed=3', { stages: [tenRequests] }, 'Unknown parameter `speed`; expected one of: async'],
  ['test', [tenRequests], NOT_AN_OBJECT],
];

const searches: Row[] = [
  ['test/search', { ...search, objective: undefined }, OBJECTIVE],
  ['test/search', { ...search, objective: {} }, OBJECTIVE],
  ['test/search', { ...search, objective: 20 }, OBJECTIVE],
  ['test/search', { ...search, objective: [{ p99: 20 }] }, OBJECTIVE],
  ['test/search', { ...search, objective: { p95: 20 } }, 'Unknown parameter `objective.p95`; expected one of: p50, p90, p99, p99_9, errors'],
  ['test/search', { ...search, objective: { p50: 0 } }, LATENCY('p50')],
  ['test/search', { ...search, objective: { p90: -1 } }, LATENCY('p90')],
  ['test/search', { ...search, objective: { p99: PATIENT_LOADGEN_MS + 1 } }, LATENCY('p99')],
  ['test/search', { ...search, objective: { p99_9: '20ms' } }, LATENCY('p99_9')],
  ['test/search', { ...search, objective: { errors: -1 } }, PERCENT],
  ['test/search', { ...search, objective: { errors: 101 } }, PERCENT],
  ['test/search', { ...search, objective: { p99: 20, errors: '1%' } }, PERCENT],
  ['test/search', { ...search, minRate: undefined }, 'Expected `minRate` to be an integer from 1 to 1000'],
  ['test/search', { ...search, minRate: 0 }, 'Expected `minRate` to be an integer from 1 to 1000'],
  ['test/search', { ...search, minRate: 2.5 }, 'Expected `minRate` to be an integer from 1 to 1000'],
  ['test/search', { ...search, maxRate: undefined }, 'Expected `maxRate` to be an integer from 1 to 1000'],
  ['test/search', { ...search, maxRate: 1001 }, 'Expected `maxRate` to be an integer from 1 to 1000'],
  ['test/search', { ...search, minRate: 30 }, 'Expected `minRate` (30) to be at most `maxRate` (20)'],
  ['test/search', { ...search, stepDurationMs: 99 }, 'Expected `stepDurationMs` to be an integer from 100 to 10000'],
  ['test/search', { ...search, stepDurationMs: 10_001 }, 'Expected `stepDurationMs` to be an integer from 100 to 10000'],
  ['test/search', { ...search, warmupMs: -1 }, 'Expected `warmupMs` to be an integer from 0 to 10000'],
  ['test/search', { ...search, warmupMs: 10_001 }, 'Expected `warmupMs` to be an integer from 0 to 10000'],
  ['test/search', { ...search, precision: 0 }, 'Expected `precision` to be a number from 0.001 to 1'],
  ['test/search', { ...search, precision: 1.5 }, 'Expected `precision` to be a number from 0.001 to 1'],
  ['test/search', { ...search, precision: 'fine' }, 'Expected `precision` to be a number from 0.001 to 1'],
  ['test/search', { ...search, maxSteps: 0 }, 'Expected `maxSteps` to be an integer from 1 to 50'],
  ['test/search', { ...search, maxSteps: 51 }, 'Expected `maxSteps` to be an integer from 1 to 50'],
  ['test/search', { ...search, concurrency: 0 }, 'Expected `concurrency` to be an integer from 1 to 1000'],
  // Whole-search bounds: the defaults (20 steps of 1 s warm-up and 5 s) are past SMALL's 10 s.
  ['test/search', { objective: { p99: 50 }, minRate: 10, maxRate: 20 }, 'Expected `maxSteps` × (`warmupMs` + `stepDurationMs`) to be at most 10000 ms (loadtest.maxDurationMs), not 20 × 6000'],
  ['test/search', { ...search, maxSteps: 3, stepDurationMs: 3000, warmupMs: 500 }, 'Expected `maxSteps` × (`warmupMs` + `stepDurationMs`) to be at most 10000 ms (loadtest.maxDurationMs), not 3 × 3500'],
  // A step's warm-up is sent at its rate too: 100/s for 1.5 s.
  ['test/search', { ...search, maxRate: 100, warmupMs: 500 }, 'Expected a step at `maxRate` to send at most 100 requests (loadtest.maxRequests), not 150'],
  ['test/search', { ...search, distribution: 'normal' }, 'Expected `distribution` to be one of: uniform, zipf'],
  ['test/search', { ...search, target: 'http://10.0.0.1:5000' }, 'Expected `target` to be a loopback http URL such as http://127.0.0.1:5000'],
  ['test/search', { ...search, rate: 10 }, 'Unknown parameter `rate`; expected one of: objective, minRate, maxRate, stepDurationMs, warmupMs, precision, maxSteps, concurrency, distribution, paths, seed, target, async'],
  ['test/search?speed=3', search, 'Unknown parameter `speed`; expected one of: async'],
  ['test/search', [search], NOT_AN_OBJECT],
];

const simple: Row[] = [
  ['test/10?warmupMs=-1', undefined, 'Expected `warmupMs` to be an integer from 0 to 10000'],
  ['test/10?warmupMs=10001', undefined, 'Expected `warmupMs` to be an integer from 0 to 10000'],
  ['test/10?warmupMs=soon', undefined, 'Expected `warmupMs` to be an integer from 0 to 10000'],
  ['test/10?warmupMs=1&warmupMs=2', undefined, 'Expected `warmupMs` only once'],
  ['test/10', { warmupMs: 2.5 }, 'Expected `warmupMs` to be an integer from 0 to 10000'],
  ['test/101', undefined, 'Expected `n` to be an integer from 1 to 100'],
  ['test/10?rate=200&warmupMs=1000', undefined, 'Expected `n` and the warm-up to send at most 100 requests in all (loadtest.maxRequests), not 210'],
  ['test/50?rate=100&warmupMs=1000', undefined, 'Expected `n` and the warm-up to send at most 100 requests in all (loadtest.maxRequests), not 150'],
];

for (const [path, json, error] of [...stages, ...searches, ...simple]) {
  const title = `POST /${path}${json === undefined ? '' : ` ${JSON.stringify(json)}`} is a 400 that sends nothing`;
  test(title, SMALL, async (t, app) => {
    const response = await app.http.post(path, json === undefined ? {} : { json });
    t.is(response.statusCode, 400);
    t.deepEqual(response.body, { error });
    t.is(await app.totalHits(), 0);
  });
}

test('a malformed JSON body is a 400 that sends nothing', SMALL, async (t, app) => {
  for (const path of ['test', 'test/search']) {
    const response = await app.http.post(path, { body: '{"stages": [', headers: { 'content-type': 'application/json' } });
    t.is(response.statusCode, 400, path);
    t.is(typeof (response.body as unknown as { error: unknown }).error, 'string', path);
  }
  t.is(await app.totalHits(), 0);
});

test('a body that is not JSON is ignored: POST /test then has no stages', SMALL, async (t, app) => {
  const response = await app.http.post('test', { body: JSON.stringify({ stages: [tenRequests] }), headers: { 'content-type': 'text/plain' } });
  t.is(response.statusCode, 400);
  t.deepEqual(response.body, { error: STAGES });
  t.is(await app.totalHits(), 0);
});

const runs: Array<[path: string, body: unknown, stages: number, hits: number]> = [
  ['test', { stages: [{ requests: 20, concurrency: 2 }, { requests: 20, concurrency: 4 }] }, 2, 40],
  ['test', { stages: [{ requests: 10, concurrency: 2, warmup: true }, { requests: 20, concurrency: 2 }, { requests: 20, rate: [50, 100] }], seed: 7 }, 3, 50],
  ['test', { stages: [{ durationMs: 200, rate: 100 }], distribution: 'uniform', paths: 5 }, 1, 20],
  ['test/20?warmupMs=0', undefined, 1, 20],
  ['test/20?warmupMs=100&rate=100', undefined, 2, 30],
];

for (const [path, json, stageCount, hits] of runs) {
  test(`POST /${path}${json === undefined ? '' : ` ${JSON.stringify(json)}`} runs: 200 with ${stageCount} stages`, SMALL, async (t, app) => {
    const response = await app.http.post<JobReport>(path, json === undefined ? {} : { json });
    t.is(response.statusCode, 200, JSON.stringify(response.body));
    t.is(response.body.stages.length, stageCount);
    t.is(response.body.succeeded + (response.body.warmup?.succeeded ?? 0), hits);
    t.is(await app.totalHits(), hits);
  });
}

test('POST /test/search within the bounds runs: 200 with its steps', SMALL, async (t, app) => {
  // No step can miss an objective that allows every error: the ramp goes minRate, then maxRate.
  const response = await app.http.post<SearchReport>('test/search', { json: { objective: { errors: 100 }, minRate: 10, maxRate: 20, stepDurationMs: 100, warmupMs: 0, maxSteps: 2 } });
  t.is(response.statusCode, 200, JSON.stringify(response.body));
  t.deepEqual(response.body.steps.map((step) => [step.rate, step.met]), [[10, true], [20, true]]);
  t.is(response.body.breakingPoint, 20);
  t.is(await app.totalHits(), response.body.succeeded);
});
