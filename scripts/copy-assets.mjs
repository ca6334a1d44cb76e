// Part of `npm run build`: tsc compiles only TypeScript, so the files the server reads at run time
// next to its code (Lua scripts, the dashboard's static files, the OpenAPI document) are copied
// from src/ to dist/ here, at the same relative paths.
import { cpSync, existsSync } from 'node:fs';

const ASSETS = ['redis/scripts', 'dashboard', 'openapi.json'];
const root = new URL('..', import.meta.url);
for (const asset of ASSETS) {
  const from = new URL(`src/${asset}`, root);
  if (existsSync(from)) cpSync(from, new URL(`dist/${asset}`, root), { recursive: true });
}
