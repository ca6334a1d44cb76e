// src/openapi.json: a sound OpenAPI 3.1 document, in step with the routes the app mounts, and
// served at /openapi.json and (rendered, from this server only) at /docs.
import { readFileSync } from 'node:fs';
import type { Middleware } from 'koa';
import type Router from '@koa/router';
import test from 'ava';
import { pino } from 'pino';
import { createApp } from '../src/app.js';
import { createServices } from '../src/services.js';
import { RedisConnection } from '../src/redis/connection.js';
import { parseSettings } from '../src/settings.js';
import { defaultSettingsJson, withApp } from './helpers/app.js';
import { launchChromium } from './helpers/browser.js';
import { renderDocument } from '../scripts/openapi/document.js';
import { DOCUMENT_URL, HTTP_METHODS, contractViolations, deref, openapi, pointer, schemaAt } from './helpers/contract.js';

type Json = Record<string, unknown>;
const doc = openapi as Json & { paths: Record<string, Json>; components: Record<string, Record<string, Json>> };

/** Every object in the document with its pointer tokens, depth first. */
function* walk(value: unknown, tokens: string[] = []): Generator<[Json, string[]]> {
  if (value === null || typeof value !== 'object') return;
  if (!Array.isArray(value)) yield [value as Json, tokens];
  for (const [key, child] of Object.entries(value)) yield* walk(child, [...tokens, key]);
}

/** Every operation: [path, method, operation]. */
function* operations(): Generator<[string, string, Json]> {
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of HTTP_METHODS) if (item[method]) yield [path, method, item[method] as Json];
  }
}

// The document's shape (fields, unique operationIds, tags, security schemes, path parameters) is
// redocly's to lint: test/contract-walk.ts runs `redocly lint`.

test('every $ref resolves, and every schema compiles with ajv (JSON Schema 2020-12) and accepts its examples', (t) => {
  const problems: string[] = [];
  let compiled = 0;
  for (const [node, tokens] of walk(doc)) {
    if (typeof node.$ref === 'string') {
      try {
        deref(node, tokens);
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
  }
  const schemas: string[][] = Object.keys(doc.components.schemas ?? {}).map((name) => ['components', 'schemas', name]);
  // Schemas of parameters, headers and media types (never the inside of a schema, which compiles with it).
  for (const [node, tokens] of walk(doc)) {
    if (node.schema && typeof node.schema === 'object' && !tokens.includes('schemas') && !tokens.includes('schema')) schemas.push([...tokens, 'schema']);
  }
  for (const tokens of schemas) {
    try {
      const validate = schemaAt(tokens);
      compiled++;
      const examples = (deref({ $ref: `#${pointer(tokens)}` }, []).value.examples as unknown[] | undefined) ?? [];
      for (const example of examples) if (!validate(example)) problems.push(`#${pointer(tokens)}: example ${JSON.stringify(example)} is invalid`);
    } catch (error) {
      problems.push(`#${pointer(tokens)}: ${(error as Error).message}`);
    }
  }
  t.deepEqual(problems, []);
  t.true(compiled > 50, `compiled ${compiled} schemas`);
});

// @koa/router answers HEAD wherever it answers GET, and OPTIONS on every path it knows
// (allowedMethods), so those are only compared where they are mounted of their own.
function withoutImplied(operations: Set<string>): Set<string> {
  return new Set([...operations].filter((op) => !(op.startsWith('HEAD ') && operations.has(`GET ${op.slice(5)}`)) && !op.startsWith('OPTIONS ')));
}

/** Koa path syntax (path-to-regexp v8) as OpenAPI templates: `{…}` groups are optional, so both forms. */
function openApiTemplates(koaPath: string): string[] {
  const group = /\{([^{}]*)\}/.exec(koaPath);
  if (group) {
    const before = koaPath.slice(0, group.index);
    const after = koaPath.slice(group.index + group[0].length);
    return [...openApiTemplates(before + after), ...openApiTemplates(before + group[1] + after)];
  }
  return [koaPath.replace(/[:*](\w+)/g, '{$1}')];
}

/** The routers createApp mounted: router.routes() middleware keeps a reference to its router. */
function routersOf(app: { middleware: Middleware[] }): Router[] {
  return app.middleware.flatMap((fn) => ((fn as { router?: Router }).router ? [(fn as { router?: Router }).router!] : []));
}

function mountedOperations(): Set<string> {
  const settings = parseSettings({ ...defaultSettingsJson(), redis: { ...defaultSettingsJson().redis, url: 'redis://127.0.0.1:1' } });
  // Never connected: building the app only registers its routes.
  const redisConnection = new RedisConnection({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 100, connectTimeoutMs: 100 });
  const app = createApp(createServices(settings, redisConnection, { logger: pino({ level: 'silent' }) }));
  const mounted = new Set<string>();
  const documentedPaths = Object.keys(doc.paths);
  for (const router of routersOf(app)) {
    for (const layer of router.stack) {
      // A RegExp route (a template kept off its literal siblings, see declare.ts) is the
      // documented template it matches.
      const templates = typeof layer.path === 'string' ? openApiTemplates(layer.path) : documentedPaths.filter((path) => layer.regexp.test(path.replaceAll(/\{\w+\}/g, '1')));
      // router.all: every method reaches the handler, which answers those it does not take with
      // 405; the document lists the methods that have an operation (api.countMethods).
      const any = layer.methods.length > HTTP_METHODS.length;
      const methods = any ? settings.api.countMethods.map((m) => m.toLowerCase()) : layer.methods.map((m) => m.toLowerCase()).filter((m) => (HTTP_METHODS as readonly string[]).includes(m));
      for (const template of templates) for (const method of methods) mounted.add(`${method.toUpperCase()} ${template}`);
    }
  }
  redisConnection.client.disconnect();
  return withoutImplied(mounted);
}

test('koa paths become OpenAPI templates', (t) => {
  t.deepEqual(openApiTemplates('/api{/*rest}'), ['/api', '/api/{rest}']);
  t.deepEqual(openApiTemplates('/test/:n'), ['/test/{n}']);
  t.deepEqual(openApiTemplates('/stats.csv'), ['/stats.csv']);
});

test('every mounted route is documented, method by method, and every documented operation is mounted', (t) => {
  const mounted = mountedOperations();
  const documented = withoutImplied(new Set([...operations()].map(([path, method]) => `${method.toUpperCase()} ${path}`)));
  const undocumented = [...mounted].filter((op) => !documented.has(op)).sort();
  const unmounted = [...documented].filter((op) => !mounted.has(op)).sort();
  const report = [
    undocumented.length > 0 ? `Mounted but not documented in src/openapi.json:\n${undocumented.map((op) => `  ${op}`).join('\n')}` : '',
    unmounted.length > 0 ? `Documented in src/openapi.json but not mounted:\n${unmounted.map((op) => `  ${op}`).join('\n')}` : '',
  ].filter(Boolean).join('\n');
  t.true(report === '', report);
  t.true(mounted.size > 20);
});

test('src/openapi.json is what the route declarations give (npm run openapi), byte for byte', (t) => {
  t.is(readFileSync(DOCUMENT_URL, 'utf8'), renderDocument(), 'src/openapi.json is stale: run npm run openapi');
});

test('the contract checker catches what it should', (t) => {
  const ok = { method: 'GET', path: '/health', status: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'abc' } };
  const body = Buffer.from(JSON.stringify({ status: 'ok', redis: { status: 'up', latencyMs: 0.2 }, unresolvedHits: 0, retractedHits: 0, pendingHits: 0 }));
  t.deepEqual(contractViolations({ ...ok, body }), []);
  t.regex(contractViolations({ ...ok, status: 418, body }).join(), /GET \/health: status 418 is not documented/);
  t.regex(contractViolations({ ...ok, body: Buffer.from('{"status":"ok"}') }).join(), /must have required property 'redis'/);
  t.regex(contractViolations({ ...ok, headers: { 'content-type': 'application/json' }, body }).join(), /required header X-Request-Id is missing/);
  t.regex(contractViolations({ ...ok, headers: { ...ok.headers, 'content-type': 'text/plain' }, body }).join(), /content type "text\/plain" is not documented/);
  // A request no operation takes: 404 on an unknown path, 405 on a known one (the document says so in words).
  const error = Buffer.from('{"error":"No route for GET /nope"}');
  t.deepEqual(contractViolations({ ...ok, path: '/nope', status: 404, body: error }), []);
  t.regex(contractViolations({ ...ok, path: '/nope', status: 200, body }).join(), /no operation \(unknown path: 404\): status 200 is not documented/);
  t.regex(contractViolations({ ...ok, method: 'PUT', status: 404, body: error }).join(), /no operation \(known path: 405\): status 404 is not documented/);
  t.deepEqual(contractViolations({ ...ok, method: 'PUT', status: 405, headers: { ...ok.headers, allow: 'HEAD, GET' }, body: error }), []);
  // Literal paths win over templates; a wildcard spans segments.
  t.deepEqual(contractViolations({ ...ok, path: '/test/jobs', body: Buffer.from('[]') }), []);
  t.deepEqual(contractViolations({ ...ok, path: '/api/a/b/c', body: Buffer.from('{"path":"/api/a/b/c","hits":1}') }), []);
});

test('GET /openapi.json serves this document', withApp, async (t, app) => {
  const response = await app.http.get('openapi.json', { responseType: 'buffer' });
  t.is(response.statusCode, 200);
  t.regex(response.headers['content-type']!, /^application\/json/);
  t.true(response.body.equals(readFileSync(DOCUMENT_URL)));
});

for (const path of ['openapi.json', 'docs']) {
  test(`GET /${path} sends a strong ETag, and 304 to an If-None-Match that holds it`, withApp, async (t, app) => {
    const first = await app.http.get(path, { responseType: 'buffer' });
    t.is(first.statusCode, 200);
    const etag = first.headers.etag!;
    t.regex(etag, /^"[\w-]{27}"$/, 'strong: a quoted hash, no W/');
    t.is(first.headers['cache-control'], 'no-cache');
    const second = await app.http.get(path, { responseType: 'buffer' });
    t.is(second.headers.etag, etag, 'the same content, the same ETag');
    t.true(second.body.equals(first.body));

    for (const method of ['GET', 'HEAD'] as const) {
      const revalidated = await app.http(path, { method, headers: { 'If-None-Match': etag }, responseType: 'buffer' });
      t.is(revalidated.statusCode, 304, method);
      t.is(revalidated.headers.etag, etag, method);
      t.is(revalidated.body.length, 0, method);
    }
    t.is((await app.http.get(path, { headers: { 'If-None-Match': `W/${etag}, "other"` } })).statusCode, 304, 'a weak match is enough for If-None-Match');
    const changed = await app.http.get(path, { headers: { 'If-None-Match': '"an-older-version"' }, responseType: 'buffer' });
    t.is(changed.statusCode, 200);
    t.true(changed.body.equals(first.body));
  });
}

test('POST /test/jobs is a 405 with the methods of /test/jobs, which OPTIONS lists: it is no load test of n=jobs', withApp, async (t, app) => {
  // fetch, not app.http: the contract checker looks POST /test/jobs up as POST /test/{n}, though
  // the literal path wins over the template (in OpenAPI as in the router).
  const refused = await fetch(`${app.url}/test/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"concurrency":2}' });
  t.is(refused.status, 405);
  t.deepEqual(refused.headers.get('allow')!.split(', ').sort(), ['GET', 'HEAD']);
  t.deepEqual(await refused.json(), { error: `Method POST is not allowed on /test/jobs; allowed: ${refused.headers.get('allow')}` });
  t.truthy(refused.headers.get('x-request-id'));

  const options = await app.http('test/jobs', { method: 'OPTIONS', responseType: 'text' });
  t.is(options.statusCode, 200);
  t.deepEqual(options.headers.allow!.split(', ').sort(), ['GET', 'HEAD']);
  t.is(options.body, '');
  // /test/{n} itself is unchanged: POST, and a clear 400 for an `n` that is no integer.
  t.is((await app.http('test/5', { method: 'OPTIONS' })).headers.allow, 'POST');
  t.deepEqual((await app.http.post('test/abc')).body, { error: 'Expected `n` to be an integer from 1 to 1000000' });
  t.deepEqual((await app.http.get('test/jobs')).body, [], 'no job was started');
});

const EXPECTED_TYPE: Record<string, RegExp> = { css: /^text\/css/, js: /^text\/javascript/, png: /^image\/png$/, map: /^application\/json/ };

test('GET /docs is a page that loads only same-origin files, each with its right type', withApp, async (t, app) => {
  const page = await app.http.get('docs', { responseType: 'text' });
  t.is(page.statusCode, 200);
  t.regex(page.headers['content-type']!, /^text\/html/);
  t.regex(String(page.headers['content-security-policy']), /connect-src 'self'/);
  const origins = [...page.body.matchAll(/(?:https?:)?\/\/[^\s"'<>/]+/g)].map((m) => m[0]).filter((origin) => !origin.endsWith(new URL(app.url).host));
  t.deepEqual(origins, [], 'no other origin in the page');
  const assets = [...page.body.matchAll(/\b(?:href|src)="([^"]+)"/g)].map((m) => m[1]!);
  t.true(assets.some((a) => a.startsWith('/docs/swagger-ui.css')) && assets.some((a) => a.startsWith('/docs/swagger-ui-bundle.js')));
  for (const asset of [...assets, '/docs/swagger-ui.css.map']) {
    t.true(asset.startsWith('/docs/'), `${asset} is on this server`);
    const response = await app.http.get(asset.slice(1), { responseType: 'buffer' });
    t.is(response.statusCode, 200, asset);
    const extension = new URL(asset, app.url).pathname.split('.').at(-1)!;
    t.regex(response.headers['content-type']!, EXPECTED_TYPE[extension]!, asset);
    t.regex(String(response.headers['cache-control']), /max-age=31536000/, asset);
    t.true(response.body.length > 0, asset);
  }
  const init = await app.http.get('docs/init.js', { responseType: 'text' });
  t.regex(init.body, /url: '\/openapi\.json'/);
  t.regex(init.body, /validatorUrl: null/);
});

test('GET /docs/{file} serves only its list: other files and traversal are 404', withApp, async (t, app) => {
  for (const name of ['index.html', 'swagger-initializer.js', 'package.json', '..%2Fpackage.json', '..%2F..%2Fpackage.json', '%2E%2E%2Fopenapi.json', 'constructor', '__proto__']) {
    const response = await app.http.get(`docs/${name}`);
    t.is(response.statusCode, 404, name);
    t.like(response.body, { error: `No docs file ${decodeURIComponent(name)}` }, name);
  }
});

test('/docs renders in a browser without any request off this server', withApp, async (t, app) => {
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const offsite: string[] = [];
  const consoleErrors: string[] = [];
  page.on('request', (request) => {
    if (new URL(request.url()).hostname !== '127.0.0.1' && !request.url().startsWith('data:')) offsite.push(request.url());
  });
  page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  await page.goto(`${app.url}/docs`);
  await page.locator('.swagger-ui .info .title').filter({ hasText: 'hitcounter' }).waitFor({ timeout: 30_000 });
  const rendered = await page.locator('.opblock').count();
  t.is(rendered, [...operations()].length, 'every operation is rendered');
  t.deepEqual(offsite, []);
  t.deepEqual(consoleErrors, []);
});
