// Turns the raw request target of a hit into the path that is counted, or says why it can't.
// Pure and synchronous: the same input always counts as the same path.
import { BadRequestError, UriTooLongError } from '../errors.js';

export const API_ROOT = '/api';
export const MAX_PATH_BYTES = 2048;

// Most hits are already normal: plain segments of unreserved characters, no dot segments,
// no empty segments, no trailing slash. Those skip decoding and segment resolution entirely.
const ALREADY_NORMAL = /^\/api(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~!$&'()*+,;=:@]+)*$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
const RAW_NON_ASCII = /[\u0080-\u00ff]/g;

/**
 * Normalizes a raw request target (`ctx.url`, still percent-encoded) under /api:
 * drops the query, percent-decodes once as UTF-8, collapses runs of `/`, resolves `.` and `..`,
 * drops one trailing `/`, keeps case.
 * @throws BadRequestError for bad encoding, control characters, or a `..` that leaves /api
 * @throws UriTooLongError when the result is over MAX_PATH_BYTES bytes of UTF-8
 */
export function normalizePath(rawTarget: string): string {
  const q = rawTarget.search(/[?#]/);
  const raw = q === -1 ? rawTarget : rawTarget.slice(0, q);
  if (ALREADY_NORMAL.test(raw)) return checkLength(raw);
  return checkLength(resolveSegments(decode(raw)));
}

/**
 * Normalizes a path that is already decoded (a query parameter, which the URL parser decoded
 * once) to the form hits are stored in: the same as normalizePath but without decoding it again,
 * so `?path=/api/100%25` is the stored `/api/100%`, and `?`/`#` are part of the path.
 * @throws BadRequestError for control characters, or a `..` that leaves /api
 * @throws UriTooLongError when the result is over MAX_PATH_BYTES bytes of UTF-8
 */
export function normalizeDecodedPath(decoded: string): string {
  if (CONTROL.test(decoded)) throw new BadRequestError('Invalid path: control characters are not allowed');
  return checkLength(resolveSegments(decoded));
}

function decode(raw: string): string {
  // Node's strict parser refuses raw bytes above 0x7f, but a lenient one hands them over as
  // latin1 characters; re-encoding them as %XX lets the one decode below judge them as UTF-8 too.
  const ascii = raw.replace(RAW_NON_ASCII, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  let decoded: string;
  try {
    decoded = decodeURIComponent(ascii);
  } catch {
    throw new BadRequestError('Invalid path: malformed percent-encoding or invalid UTF-8');
  }
  if (CONTROL.test(decoded)) throw new BadRequestError('Invalid path: control characters are not allowed');
  return decoded;
}

function resolveSegments(decoded: string): string {
  const segments = decoded.split('/');
  const out: string[] = [];
  // Segments before "api" are empty (leading and doubled slashes); the first real one must be "api".
  let i = 0;
  while (i < segments.length && segments[i] === '') i++;
  if (segments[i] !== 'api') throw new BadRequestError(`Invalid path: must start with ${API_ROOT}`);
  for (i++; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) throw new BadRequestError(`Invalid path: ".." climbs out of ${API_ROOT}`);
      out.pop();
      continue;
    }
    out.push(segment);
  }
  return out.length === 0 ? API_ROOT : `${API_ROOT}/${out.join('/')}`;
}

function checkLength(path: string): string {
  // Each UTF-16 unit is at most 3 UTF-8 bytes, so short paths need no byte count.
  if (path.length * 3 > MAX_PATH_BYTES && Buffer.byteLength(path) > MAX_PATH_BYTES) {
    throw new UriTooLongError(`Path too long: over ${MAX_PATH_BYTES} bytes after normalization`);
  }
  return path;
}

/** True when `path` is `prefix` itself or below it; no prefix (or /api) takes every path. */
export const underPrefix = (path: string, prefix: string | undefined): boolean =>
  prefix === undefined || prefix === API_ROOT || path === prefix || path.startsWith(`${prefix}/`);
