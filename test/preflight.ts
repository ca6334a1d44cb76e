// `npm test` checks for the programs the tests run before ava starts (scripts/preflight.mjs):
// root on Debian installs what is missing with one apt-get install, anyone else is stopped at once
// with the command to run. The decision is a pure function; one check runs the script itself.
import { spawnSync } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { CHROMIUM, decide, REQUIREMENTS } from '../scripts/preflight.mjs';
import { tempDir } from './helpers/tmp.js';

const SCRIPT = fileURLToPath(new URL('../scripts/preflight.mjs', import.meta.url));
const PROGRAMS = ['redis-server', 'redis-cli', 'openssl', 'chromium'];
const all = () => true;
const without = (...absent: string[]) => (program: string) => !absent.includes(program);
/** The package list of the `sudo apt-get …` line in a message, or undefined when there is none. */
const sudoPackages = (message: string) => /^ {2}sudo apt-get update && sudo apt-get install -y (.+)$/m.exec(message)?.[1]?.split(' ');

test('the requirements are the programs the tests run, each with its Debian package', (t) => {
  t.deepEqual(REQUIREMENTS.map((r) => [r.program, r.package]), [
    ['redis-server', 'redis-server'],
    ['redis-cli', 'redis-tools'],
    ['openssl', 'openssl'],
    ['chromium', 'chromium'],
  ]);
  t.is(CHROMIUM, '/usr/bin/chromium');
});

test('all present: nothing to do, whoever runs it', (t) => {
  for (const root of [true, false]) {
    for (const apt of [true, false]) t.deepEqual(decide({ found: all, root, apt }), { action: 'none' }, `root=${root} apt=${apt}`);
  }
});

test('root with apt-get: one update and one install of exactly the missing packages', (t) => {
  t.deepEqual(decide({ found: without('redis-cli', 'chromium'), root: true, apt: true }), {
    action: 'install',
    packages: ['redis-tools', 'chromium'],
    commands: [['apt-get', 'update'], ['apt-get', 'install', '-y', 'redis-tools', 'chromium']],
  });
  t.deepEqual(decide({ found: without(...PROGRAMS), root: true, apt: true }), {
    action: 'install',
    packages: ['redis-server', 'redis-tools', 'openssl', 'chromium'],
    commands: [['apt-get', 'update'], ['apt-get', 'install', '-y', 'redis-server', 'redis-tools', 'openssl', 'chromium']],
  });
});

test('not root: stop with the exact sudo apt-get command for the missing packages', (t) => {
  const decision = decide({ found: without('openssl', 'chromium'), root: false, apt: true });
  t.is(decision.action, 'stop');
  const message = decision.action === 'stop' ? decision.message : '';
  t.deepEqual(sudoPackages(message), ['openssl', 'chromium']);
  t.regex(message, /needs openssl, chromium, which are not installed/);
});

test('no apt-get: stop naming the missing programs and where they must be', (t) => {
  for (const root of [true, false]) {
    const decision = decide({ found: without('redis-server', 'chromium'), root, apt: false });
    t.is(decision.action, 'stop', `root=${root}`);
    const message = decision.action === 'stop' ? decision.message : '';
    t.regex(message, /needs redis-server, chromium, which are not installed/);
    t.regex(message, /^ {2}redis-server: on PATH$/m);
    t.regex(message, /^ {2}chromium: at \/usr\/bin\/chromium$/m);
    t.notRegex(message, /apt-get|redis-cli|openssl/);
  }
});

test('run as a non-root user without redis-cli, the script stops at once with the apt command', async (t) => {
  // A PATH holding only stand-ins: redis-server and openssl are found, redis-cli is not, and an
  // apt-get that says so if the script ever runs it.
  const bin = await tempDir(t, 'hitcounter-preflight-');
  await chmod(bin, 0o755);
  for (const [name, body] of [['redis-server', 'exit 0'], ['openssl', 'exit 0'], ['apt-get', 'echo "stand-in apt-get was run: $*"; exit 1']] as const) {
    await writeFile(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }
  const asRoot = process.getuid?.() === 0;
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((file) => existsSync(file));
  if (asRoot && !setpriv) return t.fail('running as root needs setpriv (util-linux) to run the script as a non-root user');
  const [command, ...args] = asRoot
    ? [setpriv!, '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, SCRIPT]
    : [process.execPath, SCRIPT];

  const result = spawnSync(command, args, { env: { PATH: bin }, encoding: 'utf8', timeout: 30_000 });
  const output = `${result.stdout}${result.stderr}`;

  t.is(result.signal, null, output);
  t.is(result.status, 1, output);
  t.deepEqual(sudoPackages(result.stderr), ['redis-tools', ...(existsSync(CHROMIUM) ? [] : ['chromium'])], output);
  t.notRegex(output, /stand-in apt-get was run/, 'stops without trying to install');
});
