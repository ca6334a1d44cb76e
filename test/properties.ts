// Properties of normalization, and of the server on arbitrary bytes, checked with fast-check.
import test from 'ava';
import fc from 'fast-check';
import { HttpError } from '../src/errors.js';
import { MAX_PATH_BYTES, normalizePath } from '../src/hits/normalize.js';
import { withApp } from './helpers/app.js';
import { assertCountedExactly, tally } from './helpers/outcomes.js';
import { rawRequest, requestBytes } from './helpers/raw.js';

// Paths made of the pieces that matter: dots, slashes, escapes (good and bad), unicode, controls.
const piece = fc.oneof(
  fc.constantFrom('/', '//', '.', '..', '/./', '/../', '%2F', '%2E', '%2e%2e', '%25', '%', '%zz', '%C3%A9', '%FF', '%00', '?', '#', 'a', 'B', '~', '😀', 'é'),
  fc.string({ maxLength: 6 }),
  fc.stringMatching(/^%[0-9A-Fa-f]{2}$/),
);
const rawPath = fc.array(piece, { maxLength: 12 }).map((pieces) => `/api/${pieces.join('')}`);

/** The counted path as a client would send it again: each segment percent-encoded. */
const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/');

function tryNormalize(raw: string): string | undefined {
  try {
    return normalizePath(raw);
  } catch (error) {
    if (error instanceof HttpError && error.status >= 400 && error.status < 500) return undefined;
    throw error; // anything else is a bug: the property fails
  }
}

// fc.assert throws the counterexample it finds: t.notThrows fails the test with it.
test('normalization is idempotent: hitting the counted path again counts the same path', (t) => {
  t.notThrows(() => fc.assert(fc.property(rawPath, (raw) => {
    const counted = tryNormalize(raw);
    if (counted === undefined) return true;
    return normalizePath(encodePath(counted)) === counted;
  }), { numRuns: 5000 }));
});

test('normalization never yields a path outside /api, a dot segment, an empty segment or a control character', (t) => {
  t.notThrows(() => fc.assert(fc.property(rawPath, (raw) => {
    const counted = tryNormalize(raw);
    if (counted === undefined) return true;
    const segments = counted.split('/').slice(1);
    return (
      segments[0] === 'api' &&
      segments.slice(1).every((segment) => segment !== '' && segment !== '.' && segment !== '..') &&
      !/[\u0000-\u001f\u007f]/.test(counted) &&
      Buffer.byteLength(counted) <= MAX_PATH_BYTES
    );
  }), { numRuns: 5000 }));
});

test('normalization only ever fails with a 4xx error', (t) => {
  t.notThrows(() => fc.assert(fc.property(fc.string({ maxLength: 3000 }).map((s) => `/api/${s}`), (raw) => {
    tryNormalize(raw); // throws (failing the property) on anything but a 4xx HttpError
    return true;
  }), { numRuns: 3000 }));
});

test('random bytes as a path never get a 5xx from the server, and never count unless 2xx', withApp, async (t, app) => {
  const statuses: number[] = [];
  await t.notThrowsAsync(fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), fc.constantFrom('GET', 'POST', 'HEAD', 'DELETE'), async (bytes, method) => {
    const target = Buffer.concat([Buffer.from('/api/'), Buffer.from(bytes)]);
    const { status } = await rawRequest(app.url, requestBytes(method, target));
    statuses.push(status);
    return status < 500;
  }), { numRuns: 300 }));
  // Whatever the bytes (64 at most, never too long): counted, or refused as a bad path or an
  // unparsable request (400); and exactly the 2xx are counted.
  assertCountedExactly(t, tally(statuses), await app.totalHits(), { allowed: [400], sent: 300 });
  t.is((await app.http.get('health')).statusCode, 200);
});
