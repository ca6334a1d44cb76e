#!/usr/bin/env node
// `npm test`: the programs the tests run (preflight.mjs), typecheck, then ava. ava runs with
// --tap and its TAP stream is parsed, so the closing `N passed, N failed, N skipped` line comes
// from the runner's own per-test results.
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser } from 'tap-parser';
import { preflight } from './preflight.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const extraArgs = process.argv.slice(2);

if (!preflight()) process.exit(1);

console.log('# typecheck: tsc --noEmit');
const typecheck = spawnSync(bin('tsc'), ['--noEmit', '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
if (typecheck.status !== 0) {
  console.log('typecheck failed');
  process.exit(typecheck.status || 1);
}

const ava = spawn(bin('ava'), ['--tap', ...extraArgs], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
const failures = [];
const parser = new Parser();
parser.on('assert', (result) => {
  const mark = result.skip || result.todo ? '-' : result.ok ? '✔' : '✘';
  console.log(`${mark} ${result.name}${result.skip ? ' (skipped)' : result.todo ? ' (todo)' : ''}`);
  if (!result.ok && !result.todo) failures.push(result);
});
parser.on('extra', (text) => process.stdout.write(text));
ava.stdout.pipe(parser);

const [code] = await Promise.all([
  new Promise((resolve) => ava.on('close', (exitCode) => resolve(exitCode ?? 1))),
  new Promise((resolve) => parser.on('complete', resolve)),
]);
const results = parser.results ?? { pass: 0, fail: 0, skip: 0, todo: 0 };
for (const failure of failures) {
  console.log(`\n✘ ${failure.name}`);
  if (failure.diag) console.log(JSON.stringify(failure.diag, null, 2));
}
console.log(`\n${results.pass} passed, ${results.fail} failed, ${results.skip + results.todo} skipped`);
process.exit(code !== 0 ? code : results.fail > 0 ? 1 : 0);
