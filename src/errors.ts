// Every typed error of the product lives here, and errorHandler() is the one place
// where an error becomes an HTTP response: `{"error": "<message>"}` with its status.
import type { Middleware } from 'koa';

/** A client-visible failure with an HTTP status; its message is sent as is. */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly headers: Record<string, string>;
  constructor(readonly status: number, message: string, options: { headers?: Record<string, string>; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.headers = options.headers ?? {};
  }
}

export class BadRequestError extends HttpError {
  override name = 'BadRequestError';
  constructor(message: string) { super(400, message); }
}

export class NotFoundError extends HttpError {
  override name = 'NotFoundError';
  constructor(message: string) { super(404, message); }
}

export class UriTooLongError extends HttpError {
  override name = 'UriTooLongError';
  constructor(message: string) { super(414, message); }
}

/** Credentials missing or wrong; WWW-Authenticate says which schemes are accepted. */
export class UnauthorizedError extends HttpError {
  override name = 'UnauthorizedError';
  constructor(message: string) {
    super(401, message, { headers: { 'WWW-Authenticate': 'Bearer realm="hitcounter", Basic realm="hitcounter"' } });
  }
}

export class ForbiddenError extends HttpError {
  override name = 'ForbiddenError';
  constructor(message: string) { super(403, message); }
}

export class PayloadTooLargeError extends HttpError {
  override name = 'PayloadTooLargeError';
  constructor(message: string) { super(413, message); }
}

export class ConflictError extends HttpError {
  override name = 'ConflictError';
  constructor(message: string) { super(409, message); }
}

/** A shared limit is reached; Retry-After says when to try again. */
export class TooManyRequestsError extends HttpError {
  override name = 'TooManyRequestsError';
  constructor(message: string, retryAfterSeconds: number) {
    super(429, message, { headers: { 'Retry-After': String(retryAfterSeconds) } });
  }
}

/** Redis could not be reached in time: the client may retry, and nothing was counted. */
export class ServiceUnavailableError extends HttpError {
  override name = 'ServiceUnavailableError';
  constructor(message: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(503, message, { headers: { 'Retry-After': String(options.retryAfterSeconds ?? 1) }, cause: options.cause });
  }
}

/** A bad settings.json field or env override; stops the server at start-up. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** The embedded Redis could not be found, installed or started. */
export class EmbeddedRedisError extends Error {
  override name = 'EmbeddedRedisError';
}

interface ExposedError { status?: unknown; statusCode?: unknown; expose?: unknown; message: string; headers?: unknown }

// Errors thrown by koa itself, @koa/router and koa-bodyparser follow the http-errors
// convention: a 4xx status plus `expose` means the message is meant for the client.
function asHttpError(error: unknown): HttpError | undefined {
  if (error instanceof HttpError) return error;
  const e = error as ExposedError;
  const status = Number(e?.status ?? e?.statusCode);
  if (status >= 400 && status < 500 && e.expose !== false) {
    const headers = e.headers && typeof e.headers === 'object' ? (e.headers as Record<string, string>) : {};
    return new HttpError(status, e.message, { headers });
  }
  return undefined;
}

/** Must run inside requestContext(), whose per-request logger it uses. */
export function errorHandler(): Middleware {
  return async function handleErrors(ctx, next) {
    try {
      await next();
      // Nothing answered: no route, or the router's allowedMethods() found the path but not
      // the method (it has already set the Allow header). 501 is never right for a client's mistake.
      if (ctx.body === undefined && ctx.status === 404) {
        throw new NotFoundError(`No route for ${ctx.method} ${ctx.path}`);
      }
      if (ctx.body === undefined && (ctx.status === 405 || ctx.status === 501)) {
        throw new HttpError(405, `Method ${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow')}`);
      }
    } catch (error) {
      const known = asHttpError(error);
      if (known) {
        ctx.status = known.status;
        ctx.set(known.headers);
        ctx.body = { error: known.message };
        // Per-request 503s would flood the log during an outage; the server logs the
        // connection going down and coming back instead.
        if (known.status >= 500) ctx.state.log.debug({ err: known.cause ?? known }, known.message);
        return;
      }
      ctx.state.log.error({ err: error, method: ctx.method, url: ctx.url }, 'unhandled error');
      ctx.status = 500;
      ctx.body = { error: 'Internal server error' };
    }
  };
}
