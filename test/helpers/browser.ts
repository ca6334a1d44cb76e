// Debian's chromium for the browser tests, through playwright-core, which never downloads one.
// A machine without it gets it from apt when the tests run as root on Debian (as CI does), or a
// failure that says how to get it: a browser test never passes without a browser.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { canAptInstall } from '../../src/redis/embedded.js';

export const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const HELP = `The browser tests need Debian's chromium at ${CHROMIUM}: sudo apt-get update && sudo apt-get install -y chromium`;

let installing: Promise<void> | undefined;

async function ensureChromium(): Promise<void> {
  if (existsSync(CHROMIUM)) return;
  if (!canAptInstall()) throw new Error(HELP);
  installing ??= new Promise<void>((resolve, reject) => {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['update'], ['install', '-y', 'chromium']]) {
      if (spawnSync('apt-get', args, { stdio: 'inherit', env }).status !== 0) return reject(new Error(`apt-get ${args.join(' ')} failed. ${HELP}`));
    }
    resolve();
  });
  await installing;
}

export async function launchChromium(): Promise<Browser> {
  await ensureChromium();
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
}
