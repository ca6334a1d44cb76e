import test from 'ava';
import { BadRequestError, UriTooLongError } from '../src/errors.js';
import { MAX_PATH_BYTES, normalizePath } from '../src/hits/normalize.js';

const good: Array<[raw: string, counted: string, why: string]> = [
  ['/api/hello/world', '/api/hello/world', 'already normal'],
  ['/api/hello/world/', '/api/hello/world', 'one trailing slash dropped'],
  ['/api/', '/api', 'the root with a slash'],
  ['/api', '/api', 'the root'],
  ['/api/a?x=1&y=2', '/api/a', 'query dropped'],
  ['/api/a/?x=1', '/api/a', 'query and trailing slash'],
  ['/api//a///b', '/api/a/b', 'runs of slashes'],
  ['/api/a/./b/.', '/api/a/b', 'dot segments'],
  ['/api/a/b/../c', '/api/a/c', 'dot-dot inside /api'],
  ['/api/a/..', '/api', 'dot-dot back to the root'],
  ['/api/Hello/WORLD', '/api/Hello/WORLD', 'case kept'],
  ['/api/caf%C3%A9', '/api/café', 'UTF-8 percent-decoded'],
  ['/api/a%20b', '/api/a b', 'space decoded'],
  ['/api/a%2Fb', '/api/a/b', 'an encoded slash is a slash after the one decode'],
  ['/api/%2525', '/api/%25', 'decoded exactly once, not twice'],
  ['/api/a%2F%2E%2E%2Fb', '/api/b', 'encoded dot segments resolve after decoding'],
  ['/api/...', '/api/...', 'three dots are a name'],
  ['/api/.hidden', '/api/.hidden', 'a leading dot is a name'],
  ['/api/caf\u00c3\u00a9', '/api/café', 'raw UTF-8 bytes (as Node hands them over, latin1)'],
  ['/api/😀', '/api/😀', 'astral characters'],
];

for (const [raw, counted, why] of good) {
  test(`normalizes ${JSON.stringify(raw)}: ${why}`, (t) => {
    t.is(normalizePath(raw), counted);
  });
}

const bad: Array<[raw: string, error: typeof BadRequestError | typeof UriTooLongError, message: RegExp, why: string]> = [
  ['/api/%zz', BadRequestError, /malformed percent-encoding/, 'bad hex'],
  ['/api/%', BadRequestError, /malformed percent-encoding/, 'truncated escape'],
  ['/api/%C3', BadRequestError, /invalid UTF-8/, 'truncated UTF-8 sequence'],
  ['/api/%FF', BadRequestError, /invalid UTF-8/, 'byte that is never UTF-8'],
  ['/api/%C0%AF', BadRequestError, /invalid UTF-8/, 'overlong encoding of /'],
  ['/api/%ED%A0%80', BadRequestError, /invalid UTF-8/, 'UTF-16 surrogate'],
  ['/api/\u00ff', BadRequestError, /invalid UTF-8/, 'raw byte that is not UTF-8'],
  ['/api/a%00b', BadRequestError, /control characters/, 'NUL'],
  ['/api/a%0A', BadRequestError, /control characters/, 'newline'],
  ['/api/a%1F', BadRequestError, /control characters/, 'U+001F'],
  ['/api/a%7F', BadRequestError, /control characters/, 'DEL'],
  ['/api/..', BadRequestError, /climbs out of \/api/, 'dot-dot above /api'],
  ['/api/a/../../b', BadRequestError, /climbs out of \/api/, 'dot-dot above /api after a segment'],
  ['/api/%2E%2E/x', BadRequestError, /climbs out of \/api/, 'encoded dot-dot above /api'],
  [`/api/${'a'.repeat(MAX_PATH_BYTES)}`, UriTooLongError, /over 2048 bytes/, 'too long'],
  [`/api/${'%C3%A9'.repeat(1100)}`, UriTooLongError, /over 2048 bytes/, 'too long in bytes, not in characters'],
];

for (const [raw, error, message, why] of bad) {
  test(`rejects ${JSON.stringify(raw.slice(0, 40))}: ${why}`, (t) => {
    t.throws(() => normalizePath(raw), { instanceOf: error, message });
  });
}

test('a path of exactly 2048 bytes is accepted', (t) => {
  const path = `/api/${'a'.repeat(MAX_PATH_BYTES - 5)}`;
  t.is(Buffer.byteLength(path), MAX_PATH_BYTES);
  t.is(normalizePath(path), path);
});

test('the fast path and the full path agree on already-normal input', (t) => {
  // Percent-encoding an unreserved character forces the slow path; the result must not change.
  for (const raw of ['/api/a/b', '/api/x-y_z~1', "/api/it's(ok)", '/api/a.b/c..d']) {
    t.is(normalizePath(raw.replace(/a/g, '%61')), normalizePath(raw), raw);
  }
});
