// Renders the route declarations (src/routes/*) as the OpenAPI 3.1 document src/openapi.json,
// with zod-openapi: it renders zod 4 schemas from zod's own metadata (`.meta()`), so the routes'
// schemas need no wrapper or registry of this library, and it stays a build-time dependency.
// What every route shares is added here, once: the request id, the answers any request can get
// (414, 431, 500), the auth answers of each kind of route, the rate limits of its group, HEAD
// beside GET, and OPTIONS on every path.
import { readFileSync } from 'node:fs';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import { z } from 'zod';
import { corsGroup } from '../../src/cors.js';
import { routeGroup } from '../../src/ratelimit.js';
import type { Method, RouteDeclaration } from '../../src/routes/declare.js';
import { declaredRoutes } from '../../src/routes/index.js';
import { ErrorBody } from '../../src/routes/schemas.js';
import { parseSettings, type Settings } from '../../src/settings.js';
import * as shared from './shared.js';

const root = new URL('../../', import.meta.url);
const readJson = (file: string) => JSON.parse(readFileSync(new URL(file, root), 'utf8')) as Record<string, unknown>;

const ref = (kind: string, id: string) => ({ $ref: `#/components/${kind}/${id}` });
const RATE_LIMIT_HEADERS = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'RateLimit-Policy'];

/** A concrete path of a template, for routeGroup(). */
const samplePath = (template: string) => template.replaceAll(/\{\w+\}/g, 'x');

const CORS_HEADERS = ['Access-Control-Allow-Origin', 'Access-Control-Allow-Credentials', 'Access-Control-Expose-Headers'];
const PREFLIGHT_HEADERS = ['Access-Control-Allow-Origin', 'Access-Control-Allow-Credentials', 'Access-Control-Allow-Methods', 'Access-Control-Allow-Headers', 'Access-Control-Max-Age'];

/**
 * The CORS headers an operation's answers may carry (src/cors.ts): those of a route a group of
 * cors.routes covers; on OPTIONS, a preflight's, where a page may use some method. Optional: only
 * with cors.origins set, to a request from an allowed origin.
 */
function corsHeaders(path: string, method: Method, settings: Readonly<Settings>): string[] {
  const covers = (verb: string) => {
    const group = corsGroup(verb, samplePath(path), [settings.web.plausible.endpoint]);
    return group !== undefined && settings.cors.routes.includes(group);
  };
  if (method === 'options') return ['GET', 'HEAD', 'POST'].some(covers) ? PREFLIGHT_HEADERS : [];
  return covers(method.toUpperCase()) ? CORS_HEADERS : [];
}

function security(declaration: RouteDeclaration) {
  const token = [{ adminBearer: [] }, { adminBasic: [] }];
  if (declaration.auth === 'public') return [];
  // `{}`: no credentials at all, which admin routes accept from loopback when no token is
  // configured, and reads accept unless auth.protectStats.
  if (declaration.auth === 'admin') return [...token, {}];
  return [{}, ...token];
}

function responses(declaration: RouteDeclaration, method: Method, settings: Readonly<Settings>, head: boolean): ZodOpenApiResponsesObject {
  const group = routeGroup(method.toUpperCase(), samplePath(declaration.path));
  const limited = group !== undefined && settings.rateLimits[group].length > 0;
  const cors = corsHeaders(declaration.path, method, settings);
  const out: Record<number, unknown> = {};
  const declared: Record<number, RouteDeclaration['responses'][number]> = { ...declaration.responses };
  // Answers that do not depend on the route, unless it words them itself.
  declared[400] ??= { ref: 'MalformedRequest', description: shared.responses.MalformedRequest.description };
  if (declaration.auth === 'admin') {
    declared[401] ??= { ref: 'Unauthorized', description: shared.responses.Unauthorized.description };
    declared[403] ??= { ref: 'Forbidden', description: shared.responses.Forbidden.description };
  }
  if (declaration.auth === 'reader') {
    declared[401] ??= { ref: 'Unauthorized', description: 'Only with `auth.protectStats`: the admin token is missing or wrong.' };
    declared[403] ??= { ref: 'Forbidden', description: 'Only with `auth.protectStats` and no admin token configured: the client is not on loopback.' };
  }
  declared[414] ??= { ref: 'UriTooLong', description: shared.responses.UriTooLong.description };
  if (group !== undefined) declared[429] ??= { ref: 'TooManyRequests', description: `The \`${group}\` rate limit.` };
  declared[431] ??= { ref: 'HeaderFieldsTooLarge', description: shared.responses.HeaderFieldsTooLarge.description };
  declared[500] ??= { ref: 'InternalError', description: shared.responses.InternalError.description };

  for (const status of Object.keys(declared).map(Number).sort((a, b) => a - b)) {
    const response = declared[status]!;
    if (response.ref) {
      if (!(response.ref in shared.responses)) throw new Error(`${declaration.operationId}: no shared response ${response.ref}`);
      out[status] = { ...ref('responses', response.ref), description: response.description };
      continue;
    }
    const headers: Record<string, unknown> = {};
    for (const [name, header] of Object.entries(response.headers ?? {})) headers[name] = typeof header === 'string' ? ref('headers', header) : header;
    if (limited && status < 300) for (const name of RATE_LIMIT_HEADERS) headers[name] = ref('headers', name.replace('-', ''));
    // A preflight's headers only on its 2xx; an answer's on every status, errors included.
    if (method !== 'options' || status < 300) for (const name of cors) headers[name] = ref('headers', name.replaceAll('-', ''));
    headers['X-Request-Id'] = ref('headers', 'XRequestId');
    out[status] = {
      description: response.description,
      headers: headers as never,
      ...(response.content && !head ? { content: Object.fromEntries(Object.entries(response.content).map(([type, schema]) => [type, { schema }])) } : {}),
    };
  }
  return out as ZodOpenApiResponsesObject;
}

const capitalized = (word: string) => word[0]!.toUpperCase() + word.slice(1);

function operation(declaration: RouteDeclaration, method: Method, settings: Readonly<Settings>): ZodOpenApiOperationObject {
  // HEAD beside a GET, and each method of an `any` route, is an operation of its own.
  const head = method === 'head' && declaration.method !== 'head';
  const operationId = declaration.method === 'any' || head ? `${declaration.operationId}${capitalized(method)}` : declaration.operationId;
  return {
    tags: declaration.tags,
    operationId,
    summary: head ? `${declaration.summary} (headers only)` : declaration.summary,
    ...(declaration.description ? { description: declaration.description } : {}),
    security: security(declaration),
    requestParams: {
      ...(declaration.params ? { path: declaration.params } : {}),
      ...(declaration.query ? { query: declaration.query } : {}),
      ...(declaration.headers ? { header: declaration.headers } : {}),
    },
    ...(declaration.body && !head
      ? { requestBody: { description: declaration.body.description, required: declaration.body.required ?? false, content: { [declaration.body.contentType ?? 'application/json']: { schema: declaration.body.schema } } } }
      : {}),
    responses: responses(declaration, method, settings, head),
  };
}

/** The methods a declaration documents: `any` is the counting endpoint's api.countMethods. */
function methodsOf(declaration: RouteDeclaration, settings: Readonly<Settings>): Method[] {
  if (declaration.method !== 'any') return [declaration.method];
  return settings.api.countMethods.map((method) => method.toLowerCase() as Method);
}

export function buildDocument(): Record<string, unknown> {
  const settings = parseSettings(readJson('settings.json'));
  const table = declaredRoutes(settings);
  const paths: ZodOpenApiPathsObject = {};
  const firstOfPath = new Map<string, RouteDeclaration>();
  for (const declaration of [...table.api, ...table.main]) {
    if (!firstOfPath.has(declaration.path)) firstOfPath.set(declaration.path, declaration);
    const item = (paths[declaration.path] ??= { parameters: [ref('parameters', 'RequestId')] as never });
    for (const method of methodsOf(declaration, settings)) {
      const key = method as keyof typeof item & Method;
      (item as Record<string, unknown>)[key] = operation(declaration, method, settings);
      // @koa/router answers HEAD wherever it answers GET.
      if (method === 'get' && !methodsOf(declaration, settings).includes('head')) (item as Record<string, unknown>).head = operation(declaration, 'head', settings);
    }
  }
  // Every path answers OPTIONS with the methods it has (router.allowedMethods()), unless it
  // declares its own.
  for (const [path, declaration] of firstOfPath) {
    const item = paths[path] as Record<string, unknown>;
    if (item.options) continue;
    item.options = operation({
      ...declaration,
      operationId: `${declaration.operationId}Options`,
      method: 'options',
      summary: 'The methods this path answers',
      description: undefined,
      auth: 'public',
      query: undefined,
      // A request header of the path's first operation (Prefer, Idempotency-Key) is not OPTIONS's.
      headers: undefined,
      body: undefined,
      // A path CORS covers has the preflight's headers too, which a shared response cannot add.
      responses: { 200: corsHeaders(path, 'options', settings).length > 0
        ? { description: shared.responses.AllowedMethods.description, headers: { Allow: 'Allow' } }
        : { ref: 'AllowedMethods', description: shared.responses.AllowedMethods.description } },
    }, 'options', settings);
  }

  const version = (readJson('package.json') as { version: string }).version;
  const document = createDocument({
    openapi: '3.1.1',
    info: { ...shared.info, version },
    servers: [{ url: '/', description: 'This server' }],
    tags: shared.tags,
    paths,
    components: {
      schemas: { Error: ErrorBody },
      responses: shared.responses as never,
      headers: shared.headers as never,
      parameters: shared.parameters as never,
      securitySchemes: shared.securitySchemes as never,
    },
  }, {
    // zod leaves `examples` and `default` out of a schema that transforms its input (the
    // parameter schemas coerce query strings); they describe the input, so they are put back.
    override: ({ jsonSchema, zodSchema }) => {
      const meta = z.globalRegistry.get(zodSchema as unknown as z.ZodType);
      if (meta?.examples !== undefined && jsonSchema.examples === undefined) jsonSchema.examples = meta.examples as unknown[];
      if (meta?.default !== undefined && jsonSchema.default === undefined) jsonSchema.default = meta.default;
    },
  }) as unknown as Record<string, unknown>;
  return tidyParameters(document);
}

interface RenderedParameter { in: string; required?: boolean; description?: string; schema?: { description?: string } }

/**
 * Two touches zod-openapi leaves to us: it gives a parameter its schema's description and keeps it
 * in the schema too (once is enough); and it takes a parameter whose schema coerces its input
 * (z.preprocess) for optional, while a path parameter is always required.
 */
function tidyParameters(document: Record<string, unknown>): Record<string, unknown> {
  for (const item of Object.values(document.paths as Record<string, Record<string, { parameters?: RenderedParameter[] }>>)) {
    for (const operation of Object.values(item)) {
      for (const parameter of (typeof operation === 'object' && operation?.parameters) || []) {
        if (parameter.schema?.description !== undefined && parameter.schema.description === parameter.description) delete parameter.schema.description;
        if (parameter.in === 'path') parameter.required = true;
      }
    }
  }
  return document;
}

/** The document as committed: two-space JSON and a final newline. */
export const renderDocument = () => `${JSON.stringify(buildDocument(), null, 2)}\n`;
