#!/usr/bin/env node
// `npm test`: the programs the tests run (preflight.mjs), then the typecheck and ava side by side
// (tsx runs the tests without type information, so neither waits on the other; together they
// take about 10 s less than one after the other). ava runs with --tap and its TAP stream is
// parsed, so the closing `N passed, N failed, N skipped` line comes from the runner's own per-test
// results; a failed typecheck is reported just before it and fails the run.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser } from 'tap-parser';
import { preflight } from './preflight.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const extraArgs = process.argv.slice(2);

if (!preflight()) process.exit(1);

console.log('# typecheck: tsc --noEmit, alongside the tests');
const tsc = spawn(bin('tsc'), ['--noEmit', '--pretty', 'false', '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
let tscOutput = '';
tsc.stdout.on('data', (chunk) => { tscOutput += chunk; });
tsc.stderr.on('data', (chunk) => { tscOutput += chunk; });
const typechecked = new Promise((resolve) => tsc.on('close', (exitCode) => resolve(exitCode ?? 1)));

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

const [code, , tscCode] = await Promise.all([
  new Promise((resolve) => ava.on('close', (exitCode) => resolve(exitCode ?? 1))),
  new Promise((resolve) => parser.on('complete', resolve)),
  typechecked,
]);
const results = parser.results ?? { pass: 0, fail: 0, skip: 0, todo: 0 };
for (const failure of failures) {
  console.log(`\n✘ ${failure.name}`);
  if (failure.diag) console.log(JSON.stringify(failure.diag, null, 2));
}
if (tscCode !== 0) console.log(`\n${tscOutput.trim()}\n✘ typecheck failed (tsc --noEmit exited ${tscCode})`);
else console.log('\n✔ typecheck');
console.log(`\n${results.pass} passed, ${results.fail} failed, ${results.skip + results.todo} skipped`);
process.exit(code !== 0 ? code : results.fail > 0 || tscCode !== 0 ? 1 : 0);
