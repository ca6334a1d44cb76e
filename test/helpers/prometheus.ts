// Reads a /metrics exposition for tests. Families, types and counter/gauge samples come from
// parse-prometheus-text-format; that parser (1.1.1) folds a labelled histogram's series into one
// sample and drops their _count and _sum, so histogram series are read from the text's lines.
import parse, { type MetricFamily } from 'parse-prometheus-text-format';

type Labels = Record<string, string>;

const includes = (have: Labels | undefined, want: Labels) => Object.entries(want).every(([key, value]) => have?.[key] === value);

function labelsOf(text: string | undefined): Labels {
  const labels: Labels = {};
  for (const [, key, value] of (text ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  return labels;
}

export class Exposition {
  readonly families: Map<string, MetricFamily>;

  constructor(readonly text: string) {
    this.families = new Map(parse(text).map((family) => [family.name, family]));
  }

  #family(name: string): MetricFamily {
    const family = this.families.get(name);
    if (!family) throw new Error(`no metric family ${name} in:\n${this.text}`);
    return family;
  }

  /** A counter's or gauge's samples whose labels include `labels`, summed. */
  value(name: string, labels: Labels = {}): number {
    const family = this.#family(name);
    if (family.type !== 'COUNTER' && family.type !== 'GAUGE') throw new Error(`${name} is a ${family.type}`);
    return family.metrics.filter((sample) => includes(sample.labels, labels)).reduce((sum, sample) => sum + Number(sample.value), 0);
  }

  /** A histogram's observations and their sum, over the series whose labels include `labels`. */
  histogram(name: string, labels: Labels = {}): { count: number; sum: number } {
    if (this.#family(name).type !== 'HISTOGRAM') throw new Error(`${name} is not a histogram`);
    const totals = { count: 0, sum: 0 };
    for (const line of this.text.split('\n')) {
      const match = /^(\w+?)_(count|sum)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match || match[1] !== name || !includes(labelsOf(match[3]), labels)) continue;
      totals[match[2] as 'count' | 'sum'] += Number(match[4]);
    }
    return totals;
  }
}
