// Durability `replicated`: a hit is acknowledged only once a replica has it (WAIT 1). On a Redis
// without replicas no hit can be: each is answered 503, and the ones the master applied anyway are
// taken back, so nothing answered 503 stays counted. (The cluster case is in test/cluster.ts.)
import test from 'ava';
import { startApp, withApp } from './helpers/app.js';
import { settled } from './helpers/outcomes.js';

test('replicated durability without a replica: 503 for every hit, and none stays counted', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.redis.durability = 'replicated'; s.redis.replicationTimeoutMs = 20; } });
  const answers = await Promise.all(Array.from({ length: 20 }, () => app.http.get('api/unreplicated')));
  t.deepEqual([...new Set(answers.map((answer) => answer.statusCode))], [503]);
  t.true(answers.every((answer) => answer.headers['retry-after'] !== undefined));
  // The master applied them; they are resolved like lost replies and taken back.
  await settled(app);
  t.is(await app.totalHits(), 0);
  const health = (await app.http.get('health')).body as unknown as { retractedHits: number; unresolvedHits: number };
  t.is(health.unresolvedHits, 0);
  // How many the master applied depends on how the 20 fell into batches (once a WAIT has failed,
  // batches are refused unsent for a second); each hit it applied left its event in the log, which
  // a retraction keeps. Every one of those, and nothing else, was taken back.
  const { events } = (await app.http.get<{ events: unknown[] }>('events?path=/api/unreplicated&limit=1000')).body;
  t.true(events.length >= 1, 'the master applied at least the first batch');
  t.is(health.retractedHits, events.length);
});

test('local durability (the default) acknowledges on the master alone', withApp, async (t, app) => {
  t.is(app.settings.redis.durability, 'local');
  t.is((await app.http.get('api/local')).statusCode, 200);
  t.is(await app.totalHits(), 1);
});
