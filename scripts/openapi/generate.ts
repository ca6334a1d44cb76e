// npm run openapi: writes src/openapi.json from the route declarations (see document.ts).
// --check: writes nothing, and fails when the committed file is not what the declarations give.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderDocument } from './document.js';

const file = new URL('../../src/openapi.json', import.meta.url);
const rendered = renderDocument();
if (process.argv.includes('--check')) {
  if (readFileSync(file, 'utf8') !== rendered) {
    console.error('src/openapi.json is stale: run npm run openapi');
    process.exit(1);
  }
  console.log('src/openapi.json is up to date');
} else {
  writeFileSync(file, rendered);
  console.log(`wrote src/openapi.json (${rendered.length} bytes)`);
}
