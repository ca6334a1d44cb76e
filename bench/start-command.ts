// `npm start`'s command, read from package.json: the bench and the tests run the server with its
// node flags (the heap limit among them), so what they measure is what users run.
import { readFileSync } from 'node:fs';

/** The built server entry that `npm start` runs. */
export const SERVER = 'dist/server.js';

/** `npm start`'s node flags, e.g. ['--max-old-space-size=1024']. */
export function startFlags(): string[] {
  const start = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const [node, ...rest] = start.split(' ');
  if (node !== 'node' || rest.at(-1) !== SERVER) throw new Error(`Expected \`npm start\` to be node [flags] ${SERVER}, not ${start}`);
  return rest.slice(0, -1);
}
