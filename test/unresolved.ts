// UnresolvedHits (src/hits/unresolved.ts), the ledger of hits whose outcome Redis has not told
// yet: applied up to the last sequence number Redis recorded, not applied above it once the
// connection has been closed for settleMs, and closing times remembered for hits that arrive
// late. Pure: every time is an argument, taken from a ManualClock.
import test from 'ava';
import { KEEP_CLOSES_MS, UnresolvedHits } from '../src/hits/unresolved.js';
import { ManualClock } from './helpers/clock.js';

const SETTLE_MS = 1000;

function ledger() {
  return { clock: new ManualClock(), hits: new UnresolvedHits<string>(SETTLE_MS) };
}

/** Adds hits seq → `<epoch>#<seq>` so that each says where it came from. */
function addAll(hits: UnresolvedHits<string>, epoch: string, seqs: number[]): void {
  for (const seq of seqs) hits.add(epoch, seq, `${epoch}#${seq}`);
}

const appliedSeqs = (resolution: { applied: Array<{ seq: number }> }) => resolution.applied.map(({ seq }) => seq);

test('hits are kept per epoch and sequence number until resolved', (t) => {
  const { hits } = ledger();
  t.is(hits.size, 0);
  addAll(hits, 'a', [1, 2, 3]);
  addAll(hits, 'b', [7]);
  hits.add('a', 2, 'a#2 again'); // one hit per sequence number: a second add replaces it
  t.is(hits.size, 4);
  t.deepEqual(hits.epochs(), ['a', 'b']);
  t.deepEqual([...hits.items()], ['a#1', 'a#2 again', 'a#3', 'b#7']);
  t.deepEqual(hits.resolve('unknown', 10, 0), { applied: [], notApplied: [] });
});

test('on an open connection, hits up to the last applied were applied; the others wait, however long', (t) => {
  const { clock, hits } = ledger();
  addAll(hits, 'a', [1, 2, 3, 4]);
  addAll(hits, 'b', [1]);
  const resolution = hits.resolve('a', 2, clock.advance(24 * 3_600_000));
  t.deepEqual(resolution.applied, [{ epoch: 'a', seq: 1, hit: 'a#1' }, { epoch: 'a', seq: 2, hit: 'a#2' }]);
  t.deepEqual(resolution.notApplied, [], 'a command still queued on an open connection may yet be applied');
  t.is(hits.size, 5, 'applied hits stay until the caller has taken them back');
  t.deepEqual(appliedSeqs(hits.resolve('a', 2, clock.now())), [1, 2], 'so a retry after a failed take-back finds them again');
  hits.retracted('a', 1);
  hits.retracted('a', 2);
  t.deepEqual([...hits.items()], ['a#3', 'a#4', 'b#1'], 'epoch b untouched');
  t.deepEqual(appliedSeqs(hits.resolve('a', 4, clock.now())), [3, 4]);
});

test('once closed, the hits above the last applied are not applied: after settleMs, not a moment before', (t) => {
  const { clock, hits } = ledger();
  addAll(hits, 'a', [1, 2, 3, 4]);
  hits.closed('a', clock.now());
  clock.advance(SETTLE_MS - 1);
  t.deepEqual(hits.resolve('a', 2, clock.now()).notApplied, [], 'Redis may still be draining what it had read');
  t.is(hits.size, 4);
  clock.advance(1);
  const resolution = hits.resolve('a', 2, clock.now());
  t.deepEqual(appliedSeqs(resolution), [1, 2]);
  t.deepEqual(resolution.notApplied, ['a#3', 'a#4']);
  t.deepEqual([...hits.items()], ['a#1', 'a#2'], 'the not-applied ones are handed back and forgotten');
  t.deepEqual(hits.resolve('a', 2, clock.now()).notApplied, [], 'and handed back only once');
});

test('an epoch keeps its first closing time', (t) => {
  const { clock, hits } = ledger();
  addAll(hits, 'a', [1]);
  hits.closed('a', clock.now());
  hits.closed('a', clock.advance(SETTLE_MS - 1));
  clock.advance(1);
  t.deepEqual(hits.resolve('a', 0, clock.now()).notApplied, ['a#1']);
});

test('a closed epoch is forgotten once empty; an open one is kept', (t) => {
  const { clock, hits } = ledger();
  addAll(hits, 'open', [1]);
  addAll(hits, 'closed', [1, 2]);
  hits.closed('closed', clock.now());
  hits.retracted('open', 1);
  t.deepEqual(hits.epochs(), ['open', 'closed'], 'an open connection may still add to its epoch');
  hits.retracted('closed', 1);
  t.deepEqual(hits.epochs(), ['open', 'closed'], 'hit 2 is still unresolved');
  // Hit 2 resolved as not applied: the epoch is empty, and prune() is what forgets it.
  t.deepEqual(hits.resolve('closed', 1, clock.advance(SETTLE_MS)).notApplied, ['closed#2']);
  t.deepEqual(hits.epochs(), ['open', 'closed']);
  hits.prune();
  t.deepEqual(hits.epochs(), ['open']);
  // Retracting the last hit of a closed epoch forgets it straight away.
  addAll(hits, 'other', [5]);
  hits.closed('other', clock.now());
  hits.retracted('other', 5);
  t.deepEqual(hits.epochs(), ['open']);
  t.is(hits.size, 0);
});

test('a hit that arrives after its epoch closed settles from the closing time', (t) => {
  // ioredis reports the close before it rejects the commands in flight: their hits come after.
  const { clock, hits } = ledger();
  const closedAt = clock.now();
  hits.closed('a', closedAt);
  hits.add('a', 3, 'a#3');
  clock.set(closedAt + SETTLE_MS);
  t.deepEqual(hits.resolve('a', 2, clock.now()).notApplied, ['a#3']);
  t.deepEqual(hits.epochs(), ['a']);
  hits.prune();
  t.deepEqual(hits.epochs(), []);
});

test(`closing times are remembered for ${KEEP_CLOSES_MS / 1000} s, counted on the times later closes give`, (t) => {
  const { clock, hits } = ledger();
  const start = clock.now();
  hits.closed('a', start);
  hits.closed('b', start + 1);
  hits.closed('c', start + 30_000);
  // A close KEEP_CLOSES_MS - 1 after `a` forgets nothing: a late hit of `a` still finds its close.
  hits.closed('x', start + KEEP_CLOSES_MS - 1);
  hits.add('a', 1, 'a#1');
  t.deepEqual(hits.resolve('a', 0, start + KEEP_CLOSES_MS).notApplied, ['a#1']);
  // A close exactly KEEP_CLOSES_MS after `b` forgets it (and `a`), but not `c`.
  hits.closed('y', start + 1 + KEEP_CLOSES_MS);
  hits.add('b', 1, 'b#1');
  hits.add('c', 1, 'c#1');
  clock.set(start + 10 * KEEP_CLOSES_MS);
  t.deepEqual(hits.resolve('b', 0, clock.now()).notApplied, [], 'a forgotten close: taken for an open connection, so the hit waits');
  t.deepEqual(hits.resolve('c', 0, clock.now()).notApplied, ['c#1']);
});
