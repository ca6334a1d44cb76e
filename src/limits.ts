// Limits on what a client may send, so hostile input costs little and always ends in a 4xx.
// (Header size is Node's maxHeaderSize, set in http.ts.)
import type { Middleware } from 'koa';
import bodyParser from 'koa-bodyparser';
import { BadRequestError, UriTooLongError } from './errors.js';

/** 414 for a request target longer than maxBytes, before any route looks at it. */
export function limitUrlLength(maxBytes: number): Middleware {
  return async function urlLength(ctx, next) {
    // Node hands the target over as latin1: one character per byte.
    if (ctx.url.length > maxBytes) throw new UriTooLongError(`URI too long: over ${maxBytes} bytes`);
    return next();
  };
}

/**
 * 400 for an HTTP/1.1 request without a Host header (RFC 9112 §3.2). Node would refuse it itself
 * with a bare 400 and no body (requireHostHeader); http.ts turns that off so that the refusal
 * comes from here, in the JSON error shape and with an X-Request-Id like every other error.
 */
export function requireHost(): Middleware {
  return async function host(ctx, next) {
    const { httpVersionMajor, httpVersionMinor, headers } = ctx.req;
    if (httpVersionMajor === 1 && httpVersionMinor >= 1 && headers.host === undefined) {
      throw new BadRequestError('Missing Host header: HTTP/1.1 requests must send one');
    }
    return next();
  };
}

/** How deeply arrays and objects nest; a scalar is depth 0. */
export function jsonDepth(value: unknown): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * A JSON body parser with limits: over maxBytes is a 413 (from raw-body), malformed JSON a 400,
 * nesting deeper than maxDepth a 400. Only JSON is parsed; any other body is ignored.
 */
export function jsonBody({ maxBytes, maxDepth }: { maxBytes: number; maxDepth: number }): Middleware[] {
  const parse = bodyParser({ enableTypes: ['json'], strict: true, jsonLimit: `${maxBytes}b` });
  const depth: Middleware = async (ctx, next) => {
    if (jsonDepth(ctx.request.body) > maxDepth) throw new BadRequestError(`Expected a JSON body nested at most ${maxDepth} levels deep`);
    return next();
  };
  return [parse, depth];
}
