// Random hit paths for the load generator. The RNG is seeded, so a seed replays a run exactly,
// and paths come from a bounded vocabulary so they repeat and /stats shows a ranking.
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

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

/** Draws integers uniformly from [0, size). */
export type IndexSource = (size: number) => number;

export function seededIndexSource(seed: number): IndexSource {
  const rng = xoroshiro128plus(seed);
  return (size) => uniformInt(rng, 0, size - 1);
}

export interface PathPick {
  index: number;
  path: string;
}

export class PathGenerator {
  constructor(private readonly vocabulary: number, private readonly draw: IndexSource) {}

  next(): PathPick {
    const index = this.draw(this.vocabulary);
    return { index, path: vocabularyPath(index) };
  }

  /** The next `count` picks, lazily: nothing is materialized beyond the one being consumed. */
  *take(count: number): Generator<PathPick> {
    for (let i = 0; i < count; i++) yield this.next();
  }
}
