// One declaration per route: method, path, who may call it, the zod schemas of its input, its
// responses and its handler. mountRoutes() mounts the declarations with their guard and their
// validation; scripts/openapi/document.ts renders the same declarations as src/openapi.json. The
// router, the validator and the document read one table, so they cannot drift apart.
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { z } from 'zod';
import { BadRequestError } from '../errors.js';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete' | 'head' | 'options' | 'trace';

/**
 * public: anyone. reader: anyone, unless auth.protectStats (then as admin). admin: the admin
 * token, or with none configured a loopback client.
 */
export type Auth = 'public' | 'reader' | 'admin';

/** A JSON Schema written out, for bodies zod does not describe (CSV, HTML, Prometheus text). */
export interface JsonSchema { [keyword: string]: unknown }

export interface HeaderDeclaration {
  description: string;
  schema: JsonSchema;
  required?: boolean;
}

export interface ResponseDeclaration {
  description: string;
  /** A shared response of the document (scripts/openapi/shared.ts), which this one narrows. */
  ref?: string;
  /** Body schema per content type. */
  content?: Record<string, z.ZodType | JsonSchema>;
  /** Headers by name: a shared header's id, or a header of its own. */
  headers?: Record<string, string | HeaderDeclaration>;
}

type Shape = z.ZodObject;
type Out<S> = S extends z.ZodType ? z.output<S> : Record<string, never>;

export interface Input<Q, P, B> {
  query: Out<Q>;
  params: Out<P>;
  body: Out<B>;
}

export interface RouteDeclaration<Q extends Shape | undefined = Shape | undefined, P extends Shape | undefined = Shape | undefined, B extends z.ZodType | undefined = z.ZodType | undefined> {
  operationId: string;
  /** `any`: every method reaches the handler, which judges it (the counting endpoint). */
  method: Method | 'any';
  /** The OpenAPI path template, such as /test/jobs/{id}; the Koa path is made from it. */
  path: string;
  /** The Koa path, when the template cannot say it (several segments in one parameter). */
  koaPath?: string;
  tags: string[];
  summary: string;
  description?: string;
  auth: Auth;
  query?: Q;
  params?: P;
  /** Request headers worth documenting (If-None-Match, Prefer); read by the handler, not validated. */
  headers?: Shape;
  body?: { schema: B; description: string; contentType?: string; required?: boolean };
  /** Middleware that runs after the guard and before validation (a body parser, a feature switch). */
  before?: Middleware[];
  /** Documented answers by status. The generator adds those every route shares (414, 431, 500, auth, rate limits). */
  responses: Record<number, ResponseDeclaration>;
  handler: (ctx: Context, input: Input<Q, P, B>) => unknown;
}

/** Declares a route; the identity, so that the handler's input is typed by the schemas. */
export function route<Q extends Shape | undefined = undefined, P extends Shape | undefined = undefined, B extends z.ZodType | undefined = undefined>(
  declaration: RouteDeclaration<Q, P, B>,
): RouteDeclaration {
  return declaration as unknown as RouteDeclaration;
}

/** /test/jobs/{id} → /test/jobs/:id */
export const koaPathOf = (declaration: Pick<RouteDeclaration, 'path' | 'koaPath'>) =>
  declaration.koaPath ?? declaration.path.replaceAll(/\{(\w+)\}/g, ':$1');

/** `hits[3].path` for zod's ['hits', 3, 'path']: how a message names a parameter. */
export const nameOf = (path: readonly PropertyKey[]) => path.reduce<string>((name, key) => (typeof key === 'number' ? `${name}[${key}]` : name ? `${name}.${String(key)}` : String(key)), '');

const once = (name: string) => `Expected \`${name}\` only once`;

/**
 * The one place a schema failure becomes a 400. Schemas word their messages with `{name}` for the
 * parameter they are attached to (schemas.ts); an unknown parameter lists the known ones.
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown, { repeatable = true }: { repeatable?: boolean } = {}): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const unknown = issues.find((issue) => issue.code === 'unrecognized_keys');
  if (unknown) {
    const known = Object.keys(objectAt(schema, unknown.path)?.shape ?? {});
    const expected = known.length > 0 ? `expected one of: ${known.join(', ')}` : 'this endpoint takes none';
    throw new BadRequestError(`Unknown parameter \`${nameOf([...unknown.path, unknown.keys[0]!])}\`; ${expected}`);
  }
  const [issue] = issues;
  const name = nameOf(issue!.path);
  // A query parameter given twice reaches the schema as an array; the schema's own message would
  // blame its type. In a JSON body (repeatable: false) an array is a value like any other.
  if (repeatable && Array.isArray(pathValue(value, issue!.path))) throw new BadRequestError(once(name));
  throw new BadRequestError(issue!.message.replaceAll('{name}', name));
}

/** The object schema at `path` inside `schema` (through optional, pipes and arrays), to list its keys. */
function objectAt(schema: z.ZodType, path: readonly PropertyKey[]): { shape: Record<string, unknown> } | undefined {
  let at: unknown = schema;
  const unwrap = () => {
    for (let def = (at as { def?: Record<string, unknown> }).def; def; def = (at as { def?: Record<string, unknown> }).def) {
      if (def.type === 'optional' || def.type === 'nullable' || def.type === 'default') at = def.innerType;
      else if (def.type === 'pipe') at = def.in;
      else break;
    }
  };
  unwrap();
  for (const key of path) {
    const def = (at as { def?: Record<string, unknown> }).def;
    if (typeof key === 'number' && def?.type === 'array') at = def.element;
    else at = ((at as { shape?: Record<string, unknown> }).shape ?? {})[key as string];
    unwrap();
  }
  return at as { shape: Record<string, unknown> } | undefined;
}

function pathValue(value: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>((at, key) => (at as Record<PropertyKey, unknown> | undefined)?.[key], value);
}

export interface Guards {
  admin: Middleware;
  reader: Middleware;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A literal path wins over a template, as in OpenAPI: /test/{n} must not take /test/jobs, or POST
 * /test/jobs would be a load test of n=jobs, and the router would count POST among the methods of
 * /test/jobs (so no 405). So does the more literal of two templates: /test/jobs/{id} must not take
 * /test/jobs/<id>.csv. path-to-regexp cannot keep a parameter off a word, so a template that would
 * match a sibling is mounted as a RegExp that leaves the siblings out; its captures become the
 * named parameters again (see below).
 */
function routePath(declaration: RouteDeclaration, siblings: readonly string[]): string | RegExp {
  if (declaration.koaPath || !declaration.path.includes('{')) return koaPathOf(declaration);
  const sourceOf = (path: string) => path.split(/\{\w+\}/).map(escape).join('([^/]+?)');
  const template = new RegExp(`^${sourceOf(declaration.path)}/?$`);
  // A sibling is taken when this template would match it: a literal as it is, a template with a
  // longer literal part (`/test/jobs/{id}.csv` beside `/test/jobs/{id}`) with its parameters filled.
  const taken = siblings.filter((path) => path !== declaration.path && template.test(path.replaceAll(/\{\w+\}/g, 'x')));
  if (taken.length === 0) return koaPathOf(declaration);
  const excluded = taken.map((path) => sourceOf(path).replaceAll('([^/]+?)', '[^/]+?'));
  return new RegExp(`^(?!(?:${excluded.join('|')})/?$)${sourceOf(declaration.path)}/?$`);
}

/** Mounts declarations: guard, then `before`, then validation of params, query and body, then the handler. */
export function mountRoutes(router: Router, declarations: readonly RouteDeclaration[], guards: Guards): void {
  const paths = [...new Set(declarations.map((declaration) => declaration.path))];
  for (const declaration of declarations) {
    const { query, params, body, handler } = declaration;
    const path = routePath(declaration, paths);
    const chain: Middleware[] = [];
    if (path instanceof RegExp) {
      // A RegExp route has captures, not names: named as the template names them, decoded once.
      const names = [...declaration.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!);
      chain.push((ctx, next) => {
        const captures = (ctx as unknown as { captures: string[] }).captures;
        (ctx as unknown as { params: Record<string, string> }).params = Object.fromEntries(names.map((name, i) => [name, safeDecode(captures[i]!)]));
        return next();
      });
    }
    if (declaration.auth !== 'public') chain.push(guards[declaration.auth]);
    chain.push(...(declaration.before ?? []));
    chain.push(async (ctx) => {
      // Path parameters first: they name the resource, and `n` out of range is the first thing to say.
      const input = {
        params: params ? validate(params, ctx.params) : {},
        query: query ? validate(query, ctx.query) : {},
        body: body?.schema ? validate(body.schema, ctx.request.body ?? {}, { repeatable: false }) : {},
      } as Input<Shape, Shape, z.ZodType>;
      await handler(ctx, input);
    });
    if (declaration.method === 'any') router.all(declaration.operationId, path, ...chain);
    else router.register(path as string, [declaration.method.toUpperCase()], chain, { name: declaration.operationId, pathAsRegExp: path instanceof RegExp });
  }
}
