// The API contract as a test oracle: every response an integration test receives through
// startApp(...).http is checked against src/openapi.json (operation, status, headers, JSON body),
// so a test fails when the server and the document disagree, whichever of them is wrong.
import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { AfterResponseHook } from 'got';
import { declaredRoutes } from '../../src/routes/index.js';
import { parseSettings } from '../../src/settings.js';

type Json = Record<string, unknown>;

export const DOCUMENT_URL = new URL('../../src/openapi.json', import.meta.url);
export const openapi = JSON.parse(readFileSync(DOCUMENT_URL, 'utf8')) as Json;
// Any absolute URI will do: it only anchors the document's own "#/..." references for ajv.
const DOCUMENT_ID = 'https://hitcounter.invalid/openapi.json';

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Ajv for OpenAPI 3.1 schemas (JSON Schema 2020-12), with this document loaded as one schema. */
export function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats.default(ajv);
  // The document's top-level fields are not JSON Schema keywords: declared as annotations, so that
  // strict mode still rejects an unknown keyword (a typo) inside the schemas themselves.
  ajv.addVocabulary(Object.keys(openapi));
  ajv.addSchema({ ...openapi, $id: DOCUMENT_ID });
  return ajv;
}

const escapeToken = (token: string) => encodeURIComponent(token.replaceAll('~', '~0').replaceAll('/', '~1'));
export const pointer = (tokens: readonly string[]) => tokens.map((t) => `/${escapeToken(t)}`).join('');

const ajv = createAjv();
const validators = new Map<string, ValidateFunction>();
/** The validator of the schema at a JSON pointer (as tokens) into the document. */
export function schemaAt(tokens: readonly string[]): ValidateFunction {
  const key = pointer(tokens);
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.getSchema(`${DOCUMENT_ID}#${key}`);
    if (!validate) throw new Error(`No schema at #${key}`);
    validators.set(key, validate);
  }
  return validate;
}

/** The value at pointer tokens into the document. */
const at = (tokens: readonly string[]): Json => tokens.reduce<Json>((value, token) => value?.[token] as Json, openapi);

/** Follows a local "#/..." reference; returns the target and its pointer tokens. */
export function deref(value: unknown, tokens: string[]): { value: Json; tokens: string[] } {
  let current = value as Json;
  let where = tokens;
  for (let hops = 0; typeof current?.$ref === 'string'; hops++) {
    const ref = current.$ref as string;
    if (!ref.startsWith('#/') || hops > 10) throw new Error(`Unresolvable $ref ${ref} at #${pointer(where)}`);
    where = ref.slice(2).split('/').map((t) => decodeURIComponent(t).replaceAll('~1', '/').replaceAll('~0', '~'));
    const target = at(where);
    if (target === undefined) throw new Error(`$ref ${ref} at #${pointer(tokens)} resolves to nothing`);
    current = target;
  }
  return { value: current, tokens: where };
}

interface Template {
  path: string;
  regex: RegExp;
  params: number;
}

// A path parameter whose Koa route is a wildcard (`/api{/*rest}`) spans segments, which OpenAPI
// templates cannot say (the document says it in words): those paths come from the declarations.
const settings = parseSettings(JSON.parse(readFileSync(new URL('../../settings.json', import.meta.url), 'utf8')));
const declared = declaredRoutes(settings);
const multiSegment = new Set([...declared.api, ...declared.main].filter((route) => route.koaPath?.includes('*')).map((route) => route.path));

function compileTemplate(path: string): Template {
  let params = 0;
  const source = path.split(/(\{[^}]+\})/).map((part, i, parts) => {
    const name = /^\{([^}]+)\}$/.exec(part)?.[1];
    if (name === undefined) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    params++;
    // Only the last parameter of a multi-segment path takes the rest.
    return multiSegment.has(path) && i === parts.length - 2 ? '.+' : '[^/]+';
  }).join('');
  // @koa/router is not strict: one trailing slash is optional.
  return { path, regex: new RegExp(`^${source}/?$`), params };
}

const pathItems = openapi.paths as Record<string, Json>;
// Literal paths win over templated ones, as in OpenAPI (and /test/jobs over /test/{n} in the router).
const templates = Object.entries(pathItems)
  .map(([path]) => compileTemplate(path))
  .sort((a, b) => a.params - b.params);

export interface Lookup {
  /** Where the responses map is, as pointer tokens; or the map itself, for requests no operation takes. */
  responses: string[] | Json;
  /** How the request was matched, for messages. */
  operation: string;
}

/** The responses that apply to a request: its operation's, or those for requests without one. */
export function lookup(method: string, path: string): Lookup {
  const verb = method.toLowerCase();
  const matched = templates.filter((t) => t.regex.test(path));
  // The most literal template that matches owns the path, whatever the method (as in the router).
  for (const { path: template } of matched.filter((t) => t.params === matched[0]?.params)) {
    const item = pathItems[template]!;
    // The router answers HEAD wherever it answers GET.
    const chosen = item[verb] ? verb : verb === 'head' && item.get ? 'get' : undefined;
    if (chosen) return { responses: ['paths', template, chosen, 'responses'], operation: `${chosen.toUpperCase()} ${template}` };
  }
  // No operation: the answers the document's description gives for those, all shared responses.
  const shared = (name: string) => ({ $ref: `#/components/responses/${name}` });
  const common = { 400: shared('MalformedRequest'), 414: shared('UriTooLong'), 429: shared('TooManyRequests'), 431: shared('HeaderFieldsTooLarge') };
  if (matched.length > 0) return { responses: { ...common, 405: shared('MethodNotAllowed') }, operation: 'no operation (known path: 405)' };
  return { responses: { ...common, 404: shared('NotFound') }, operation: 'no operation (unknown path: 404)' };
}

const mediaType = (contentType: string) => contentType.split(';')[0]!.trim().toLowerCase();
const isJson = (type: string) => type === 'application/json' || type.endsWith('+json');

function coerce(value: string, schema: Json): unknown {
  const type = schema.type;
  if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return value;
}

export interface ObservedResponse {
  method: string;
  path: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `  ${e.instancePath || '(root)'} ${e.message}${e.params && Object.keys(e.params).length > 0 ? ` ${JSON.stringify(e.params)}` : ''}`).join('\n');
}

/** Every way a response departs from the document; empty when it conforms. */
export function contractViolations(response: ObservedResponse): string[] {
  const { method, path, status, headers, body } = response;
  const found = lookup(method, path);
  return violations(found, status, method, headers, body).map((problem) => `${found.operation}: ${problem}`);
}

function violations(found: Lookup, status: number, method: string, headers: ObservedResponse['headers'], body: Buffer): string[] {
  const responses = Array.isArray(found.responses) ? at(found.responses) : found.responses;
  const key = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => k in responses);
  if (key === undefined) return [`status ${status} is not documented (documented: ${Object.keys(responses).join(', ')})`];
  const { value: documented, tokens } = deref(responses[key], Array.isArray(found.responses) ? [...found.responses, key] : ['(no operation)', key]);
  const problems: string[] = [];

  for (const [name, raw] of Object.entries((documented.headers as Json | undefined) ?? {})) {
    const { value: header, tokens: headerTokens } = deref(raw, [...tokens, 'headers', name]);
    const value = headers[name.toLowerCase()];
    if (value === undefined) {
      if (header.required === true) problems.push(`required header ${name} is missing`);
      continue;
    }
    if (!header.schema) continue;
    const schema = deref(header.schema, [...headerTokens, 'schema']);
    const validate = schemaAt(schema.tokens);
    const text = Array.isArray(value) ? value.join(', ') : value;
    if (!validate(coerce(text, schema.value))) problems.push(`header ${name}: ${JSON.stringify(text)} does not match its schema:\n${describeErrors(validate.errors)}`);
  }

  // HEAD, 204 and 304 have no body whatever the operation documents.
  if (method === 'HEAD' || status === 204 || status === 304) return problems;
  const content = documented.content as Json | undefined;
  if (!content) {
    if (body.length > 0) problems.push(`a body of ${body.length} bytes where none is documented`);
    return problems;
  }
  const type = mediaType(String(headers['content-type'] ?? ''));
  const keys = Object.keys(content);
  const media = keys.find((k) => mediaType(k) === type) ?? keys.find((k) => k === `${type.split('/')[0]}/*`) ?? keys.find((k) => k === '*/*');
  if (media === undefined) return [...problems, `content type ${JSON.stringify(headers['content-type'])} is not documented (documented: ${keys.join(', ')})`];
  if (!isJson(type)) return problems;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return [...problems, `the body is not JSON: ${JSON.stringify(body.toString('utf8').slice(0, 200))}`];
  }
  const validate = schemaAt([...tokens, 'content', media, 'schema']);
  if (!validate(parsed)) {
    const excerpt = JSON.stringify(parsed).slice(0, 500);
    problems.push(`the body does not match ${pointer([...tokens, 'content', media, 'schema'])}:\n${describeErrors(validate.errors)}\n  body: ${excerpt}`);
  }
  return problems;
}

/** For got: throws when a response breaks the contract, which fails the request and so the test. */
export const checkContract: AfterResponseHook = (response) => {
  const method = response.request.options.method;
  const path = response.requestUrl.pathname;
  const problems = contractViolations({ method, path, status: response.statusCode, headers: response.headers, body: response.rawBody });
  if (problems.length > 0) {
    throw new Error(`Response breaks src/openapi.json: ${method} ${path} → ${response.statusCode}\n${problems.map((p) => `- ${p}`).join('\n')}`);
  }
  return response;
};
