import test from 'ava';
import { normalizePath } from '../src/hits/normalize.js';
import { PathGenerator, seededIndexSource, vocabulary, vocabularyPath, type Distribution } from '../src/loadgen/paths.js';

const take = (distribution: Distribution, seed: number, count: number, paths = 1000) =>
  [...new PathGenerator(seededIndexSource({ distribution, paths, seed, zipfExponent: 1 })).take(count)].map((pick) => pick.path);

const frequencies = (picks: string[]) => {
  const counts = new Map<string, number>();
  for (const path of picks) counts.set(path, (counts.get(path) ?? 0) + 1);
  return counts;
};

for (const distribution of ['uniform', 'zipf'] as const) {
  test(`${distribution}: the same seed gives the same sequence`, (t) => {
    t.deepEqual(take(distribution, 42, 2000), take(distribution, 42, 2000));
  });

  test(`${distribution}: different seeds give different sequences`, (t) => {
    t.notDeepEqual(take(distribution, 1, 50), take(distribution, 2, 50));
  });

  test(`${distribution}: paths stay within the vocabulary`, (t) => {
    const allowed = new Set(vocabulary(100));
    for (const path of take(distribution, 7, 5000, 100)) t.true(allowed.has(path), path);
  });
}

test('uniform draws hit nearly every path about equally often', (t) => {
  const counts = frequencies(take('uniform', 7, 20_000, 100));
  t.true(counts.size > 95, `only ${counts.size} of 100 paths drawn`);
  for (const count of counts.values()) t.true(count > 100 && count < 300, `a path drawn ${count} times; expected about 200`);
});

test('zipf draws follow 1/k: the first path about twice as often as the second, ten times the tenth', (t) => {
  const counts = frequencies(take('zipf', 11, 200_000, 1000));
  const first = counts.get(vocabularyPath(0))!;
  const second = counts.get(vocabularyPath(1))!;
  const tenth = counts.get(vocabularyPath(9))!;
  t.true(Math.abs(first / second - 2) < 0.2, `first/second = ${first / second}`);
  t.true(Math.abs(first / tenth - 10) < 1.5, `first/tenth = ${first / tenth}`);
  const ranked = [...counts.values()].sort((a, b) => b - a);
  t.is(ranked[0], first, 'the first path is the most frequent');
});

test('every vocabulary path is distinct and already normal', (t) => {
  const paths = [...vocabulary(5000)];
  t.is(new Set(paths).size, paths.length);
  for (const path of paths) t.is(normalizePath(path), path);
});

test('take() is lazy: it draws one pick at a time', (t) => {
  let draws = 0;
  const iterator = new PathGenerator(() => { draws++; return 3; }).take(1_000_000);
  iterator.next();
  iterator.next();
  t.is(draws, 2);
});
