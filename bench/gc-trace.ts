// Reads V8's --trace-gc-nvp output (one line per GC, name=value pairs): bench/promotion.ts.

export interface GcFigures {
  requests: number;
  promotedKBPerRequest: number;
  scavenges: number;
  fullGcs: number;
  /** The full GCs' final pauses, summed (incremental marking steps before them are not in it). */
  fullGcPauseMs: number;
  p99: number;
}

/** Sums the main isolate's --trace-gc-nvp lines (the isolate with the most of them: worker threads have their own). */
export function gcFigures(trace: string): Omit<GcFigures, 'requests' | 'promotedKBPerRequest' | 'p99'> & { promotedBytes: number } {
  const lines = [...trace.matchAll(/^\[\d+:(0x[0-9a-f]+)\][^\n]*?gc=(\w+)[^\n]*$/gm)];
  const counts = new Map<string, number>();
  for (const [, isolate] of lines) counts.set(isolate!, (counts.get(isolate!) ?? 0) + 1);
  const main = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  const figures = { promotedBytes: 0, scavenges: 0, fullGcs: 0, fullGcPauseMs: 0 };
  for (const [line, isolate, kind] of lines) {
    if (isolate !== main) continue;
    const field = (name: string) => Number(new RegExp(` ${name}=([\\d.]+)`).exec(line)?.[1] ?? 0);
    if (kind === 's') {
      figures.scavenges++;
      figures.promotedBytes += field('promoted');
    } else if (kind === 'mc') {
      figures.fullGcs++;
      figures.fullGcPauseMs += field('pause');
    }
  }
  return figures;
}
