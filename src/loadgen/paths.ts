// Random hit paths for the load generator. The RNG is seeded, so a seed replays a run exactly,
// and paths come from a bounded vocabulary so they repeat and /stats shows a ranking.
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import zipfian from 'zipfian-integer';

export const DISTRIBUTIONS = ['uniform', 'zipf'] as const;
export type Distribution = (typeof DISTRIBUTIONS)[number];

const SECTIONS = ['blog', 'docs', 'products', 'users', 'pricing', 'news', 'help', 'about'] as const;
const WORDS = [
  'alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel',
  'india', 'juliett', 'kilo', 'lima', 'mike', 'november', 'oscar', 'papa',
  'quebec', 'romeo', 'sierra', 'tango', 'uniform', 'victor', 'whiskey', 'xray',
  'yankee', 'zulu', 'hello', 'world', 'getting-started', 'install', 'faq', 'changelog',
] as const;

/** The index-th path of the vocabulary: stable, readable and distinct for every index. */
export function vocabularyPath(index: number): string {
  const section = SECTIONS[index % SECTIONS.length]!;
  const rest = Math.floor(index / SECTIONS.length);
  const word = WORDS[rest % WORDS.length]!;
  const round = Math.floor(rest / WORDS.length);
  return round === 0 ? `/api/${section}/${word}` : `/api/${section}/${word}-${round}`;
}

/** Every path of a vocabulary of `size`, lazily, in index order. */
export function* vocabulary(size: number): Generator<string> {
  for (let i = 0; i < size; i++) yield vocabularyPath(i);
}

/** Draws vocabulary indices in [0, size). */
export type IndexSource = () => number;

export interface PathSpec {
  distribution: Distribution;
  /** Vocabulary size. */
  paths: number;
  seed: number;
  /** Zipf's s: 1 means the k-th path is drawn 1/k as often as the first. */
  zipfExponent: number;
}

export function seededIndexSource({ distribution, paths, seed, zipfExponent }: PathSpec): IndexSource {
  const rng = xoroshiro128plus(seed);
  if (distribution === 'uniform') return () => uniformInt(rng, 0, paths - 1);
  // Rejection-inversion sampling: O(1) memory whatever the vocabulary size.
  return zipfian(0, paths - 1, zipfExponent, () => uniformFloat64(rng));
}

export interface PathPick {
  index: number;
  path: string;
}

export class PathGenerator {
  constructor(private readonly draw: IndexSource) {}

  next(): PathPick {
    const index = this.draw();
    return { index, path: vocabularyPath(index) };
  }

  /** The next `count` picks, lazily: nothing is materialized beyond the one being consumed. */
  *take(count: number): Generator<PathPick> {
    for (let i = 0; i < count; i++) yield this.next();
  }
}
