#!/usr/bin/env node
// Checks, before the typecheck and ava, for the programs the tests run. A test never installs
// anything: root on Debian gets the missing packages here, with one apt-get update and one
// apt-get install; anyone else is stopped at once with the command to run.
// Only Node's standard library may be used here.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CHROMIUM = '/usr/bin/chromium';

/** Each program the tests run and the Debian package that provides it. */
export const REQUIREMENTS = [
  { program: 'redis-server', package: 'redis-server' },
  { program: 'redis-cli', package: 'redis-tools' },
  { program: 'openssl', package: 'openssl' },
  // playwright-core is pointed at this exact file; a chromium elsewhere would not be used.
  { program: 'chromium', package: 'chromium', path: CHROMIUM },
];

/**
 * What to do, given which programs are found, whether we are root and whether apt-get exists.
 * @param {{ found: (program: string) => boolean, root: boolean, apt: boolean }} facts
 */
export function decide({ found, root, apt }) {
  const missing = REQUIREMENTS.filter((requirement) => !found(requirement.program));
  if (missing.length === 0) return { action: 'none' };
  const packages = missing.map((requirement) => requirement.package);
  if (apt && root) {
    return { action: 'install', packages, commands: [['apt-get', 'update'], ['apt-get', 'install', '-y', ...packages]] };
  }
  const programs = missing.map((requirement) => requirement.program).join(', ');
  const one = missing.length === 1;
  const needs = `npm test needs ${programs}, which ${one ? 'is' : 'are'} not installed.`;
  if (apt) {
    return {
      action: 'stop',
      message: `${needs} Install ${one ? 'it' : 'them'}, then run npm test again:\n  sudo apt-get update && sudo apt-get install -y ${packages.join(' ')}`,
    };
  }
  const where = missing.map((requirement) => `  ${requirement.program}: ${requirement.path ? `at ${requirement.path}` : 'on PATH'}`).join('\n');
  return { action: 'stop', message: `${needs} Install ${one ? 'it' : 'them'} so that ${one ? 'it is' : 'they are'} found here, then run npm test again:\n${where}` };
}

const executable = (file) => {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
};

// Debian has put redis-server in /usr/sbin, which is not on every user's PATH; the tests' own
// lookup (src/redis/embedded.ts) looks there too.
const searchDirs = () => [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'].filter(Boolean);
const onPath = (program) => searchDirs().some((dir) => executable(join(dir, program)));

export function locate(program) {
  const fixed = REQUIREMENTS.find((requirement) => requirement.program === program)?.path;
  return fixed ? executable(fixed) : onPath(program);
}

const say = (message) => console.log(`# preflight: ${message}`);
const facts = () => ({ found: locate, root: process.getuid?.() === 0, apt: onPath('apt-get') });

/** Checks, installs as root on Debian, or explains; true when every program is there. */
export function preflight() {
  const decision = decide(facts());
  if (decision.action === 'stop') {
    console.error(decision.message);
    return false;
  }
  if (decision.action === 'install') {
    say(`installing ${decision.packages.join(' ')} with apt-get (Debian, running as root)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const [command, ...args] of decision.commands) {
      const result = spawnSync(command, args, { stdio: 'inherit', env });
      if (result.status !== 0) {
        console.error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
        return false;
      }
    }
    const still = REQUIREMENTS.filter((requirement) => !locate(requirement.program)).map((requirement) => requirement.program);
    if (still.length > 0) {
      console.error(`apt-get installed ${decision.packages.join(' ')}, yet ${still.join(', ')} still cannot be found`);
      return false;
    }
  }
  say(`${REQUIREMENTS.map((requirement) => requirement.program).join(', ')}: all present`);
  return true;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exit(preflight() ? 0 : 1);
}
