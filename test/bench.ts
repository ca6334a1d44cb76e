// A smoke test of `npm run bench`: a --smoke run (short phases, one round, small data), to keep the script
// from rotting. Its figures mean nothing here (the test suite loads the machine); only that each
// one is measured and written.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { tempDir } from './helpers/tmp.js';

const root = new URL('..', import.meta.url).pathname;

test('npm run bench measures every server, /stats and the load generator, and writes them as JSON', async (t) => {
  t.timeout(300_000);
  const out = join(await tempDir(t, 'hitcounter-bench-test-'), 'bench.json');
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--duration', '0.5', '--rounds', '1', '--paths', '1000', '--stats-paths', '20000', '--out', out], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  t.is(code, 0, output);
  const result = JSON.parse(await readFile(out, 'utf8')) as {
    api: Array<{ server: string; rps: number; cpuUsPerRequest: number; rpsVsKoa: number; cpuVsKoa: number }>;
    stats: Record<string, number>;
    loadgen: { rounds: Array<{ autocannon: number; loadgen: number; ratio: number }> };
  };
  t.deepEqual(result.api.map((row) => row.server), [
    'bare Koa hello-world',
    'naive Koa + router + ZINCRBY',
    'hitcounter, default settings, 1 worker',
    'hitcounter, default settings, 2 workers',
    'hitcounter, write-behind (default analytics)',
    'hitcounter, event log off',
    'hitcounter, counter only',
  ]);
  for (const row of result.api) {
    t.true(row.rps > 0 && row.cpuUsPerRequest > 0, row.server);
    t.true(Number.isFinite(row.rpsVsKoa) && Number.isFinite(row.cpuVsKoa), row.server);
  }
  t.is(result.api[0]!.rpsVsKoa, 1);
  t.true(result.stats.topRps! > 0);
  t.true(result.stats.fullFirstByteMs! <= result.stats.fullWallMs!);
  t.true(result.stats.fullWallMs! > 0);
  t.is(result.loadgen.rounds.length, 1);
  t.true(result.loadgen.rounds[0]!.loadgen > 0 && result.loadgen.rounds[0]!.autocannon > 0);
});
