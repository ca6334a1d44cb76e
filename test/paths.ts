import test from 'ava';
import { PathGenerator, seededIndexSource, vocabularyPath } from '../src/loadgen/paths.js';
import { normalizePath } from '../src/hits/normalize.js';

const take = (seed: number, count: number, vocabulary = 1000) =>
  [...new PathGenerator(vocabulary, seededIndexSource(seed)).take(count)].map((pick) => pick.path);

test('the same seed gives the same sequence', (t) => {
  t.deepEqual(take(42, 500), take(42, 500));
});

test('different seeds give different sequences', (t) => {
  t.notDeepEqual(take(1, 50), take(2, 50));
});

test('paths stay within the vocabulary, so they repeat', (t) => {
  const paths = take(7, 5000, 100);
  const distinct = new Set(paths);
  t.true(distinct.size <= 100);
  t.true(distinct.size > 90, `uniform draws over 100 paths in 5000 tries should hit nearly all, got ${distinct.size}`);
});

test('every vocabulary path is distinct and already normal', (t) => {
  const paths = Array.from({ length: 5000 }, (_, i) => vocabularyPath(i));
  t.is(new Set(paths).size, paths.length);
  for (const path of paths) t.is(normalizePath(path), path);
});

test('take() is lazy: it yields one pick at a time', (t) => {
  let draws = 0;
  const generator = new PathGenerator(10, () => { draws++; return 3; });
  const iterator = generator.take(1_000_000);
  iterator.next();
  iterator.next();
  t.is(draws, 2);
});
