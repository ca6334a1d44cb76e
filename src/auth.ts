// Admin endpoints (load tests, cancelling jobs, resetting counts) need the admin token:
// `Authorization: Bearer <token>`, or Basic auth with the token as the password (GoatCounter's
// convention, so curl -u :token works). With no token configured they answer loopback clients only.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Middleware } from 'koa';
import { ForbiddenError, SettingsError, UnauthorizedError } from './errors.js';
import { isLoopbackHost } from './loopback.js';

export const TOKEN_ENV = 'HITCOUNTER_ADMIN_TOKEN';

/**
 * The admin token, from HITCOUNTER_ADMIN_TOKEN or the file named by auth.tokenFile (a Docker or
 * Kubernetes secret). Never from settings.json, which is meant to be committed.
 */
export function loadAdminToken(tokenFile: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env[TOKEN_ENV]?.trim();
  if (fromEnv) return fromEnv;
  if (!tokenFile) return undefined;
  let token: string;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch (error) {
    throw new SettingsError(`Invalid setting \`auth.tokenFile\`: cannot read ${tokenFile}: ${(error as Error).message}`);
  }
  if (!token) throw new SettingsError(`Invalid setting \`auth.tokenFile\`: ${tokenFile} is empty`);
  return token;
}

/** The credential a request offers, from Bearer or from Basic's password. */
function offered(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value = ''] = header.trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme!)) return value;
  if (/^basic$/i.test(scheme!)) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? undefined : decoded.slice(colon + 1);
  }
  return undefined;
}

// Digests have equal lengths, so the comparison takes the same time whatever was offered.
const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Whether a browser sent this from a page of another origin. A page anywhere can make a browser
 * send a simple POST or a DELETE to a loopback server without a preflight, and a loopback client
 * without a token is admin; so is a browser that remembers Basic auth. Admin endpoints answer no
 * page but this server's own (the dashboard): that is what Origin and Sec-Fetch-Site tell.
 */
function fromAnotherOrigin(origin: string, fetchSite: string, host: string): boolean {
  if (fetchSite === 'cross-site' || fetchSite === 'same-site') return true;
  if (!origin) return false;
  try {
    return new URL(origin).host !== host;
  } catch {
    return true; // "null" (a sandboxed page, a file) or garbage: not this server's page
  }
}

/** The token check: with no token configured, loopback clients only. */
function requireToken(token: string | undefined): Middleware {
  const expected = token === undefined ? undefined : digest(token);
  return async function tokenCheck(ctx, next) {
    if (expected === undefined) {
      if (!isLoopbackHost(ctx.ip)) {
        throw new ForbiddenError(`Admin endpoints answer only loopback clients until an admin token is set (${TOKEN_ENV} or auth.tokenFile)`);
      }
      return next();
    }
    const credential = offered(ctx.get('Authorization'));
    if (credential === undefined) throw new UnauthorizedError('Admin token required: send Authorization: Bearer <token>');
    if (!timingSafeEqual(digest(credential), expected)) throw new UnauthorizedError('Invalid admin token');
    return next();
  };
}

/** Admin endpoints: this server's own pages only, then the token. */
export function requireAdmin(token: string | undefined): Middleware {
  const tokenCheck = requireToken(token);
  return async function admin(ctx, next) {
    if (fromAnotherOrigin(ctx.get('Origin'), ctx.get('Sec-Fetch-Site'), ctx.host)) {
      throw new ForbiddenError('Admin endpoints do not answer pages of another origin');
    }
    return tokenCheck(ctx, next);
  };
}

/** Passes everything when reads are public; otherwise the same check as admin endpoints. */
// Reads may come from pages of other origins (cors.routes `read`): protected reads check the token only.
export function requireReader(token: string | undefined, protectStats: boolean): Middleware {
  return protectStats ? requireToken(token) : (_ctx, next) => next();
}
