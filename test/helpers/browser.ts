// Debian's chromium for the browser tests, through playwright-core, which never downloads one.
// `npm test` makes sure it is there before ava starts (scripts/preflight.mjs); a test only
// launches it, and fails saying how to get it when it is missing: a browser test never passes
// without a browser.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const HELP = `The browser tests need Debian's chromium at ${CHROMIUM}, which is missing. npm test installs it when run as root on Debian; otherwise run: sudo apt-get update && sudo apt-get install -y chromium`;

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(HELP);
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
}
