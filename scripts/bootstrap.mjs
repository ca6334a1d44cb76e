#!/usr/bin/env node
// Zero-dependency bootstrap behind `npm start` and `npm test` on a fresh clone: it installs the
// dependencies when they are missing or stale and, with --build, compiles the server when the
// sources are newer than the build. Only Node's standard library may be used here.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (message) => console.error(`hitcounter: ${message}`);

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  say(`Node ${process.versions.node} is too old; hitcounter needs Node 20.19 or newer (https://nodejs.org).`);
  process.exit(1);
}

function run(command, args) {
  say(`running ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.status !== 0) {
    say(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status || 1);
  }
}

const mtime = (file) => (existsSync(file) ? statSync(file).mtimeMs : 0);

function newestUnder(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(path) : statSync(path).mtimeMs);
  }
  return newest;
}

// npm writes node_modules/.package-lock.json on every install: older than package-lock.json
// means someone pulled new dependencies since.
const installed = join(root, 'node_modules', '.package-lock.json');
if (mtime(installed) === 0 || mtime(installed) < mtime(join(root, 'package-lock.json'))) {
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

if (process.argv.includes('--build')) {
  const built = mtime(join(root, 'dist', 'server.js'));
  const sources = Math.max(newestUnder(join(root, 'src')), mtime(join(root, 'tsconfig.json')), mtime(join(root, 'tsconfig.build.json')));
  if (built < sources) run('npm', ['run', 'build', '--silent']);
}
