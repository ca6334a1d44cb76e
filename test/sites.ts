// web.sites: which site a tracker's page view belongs to, and the path it counts as (src/hits/sites.ts).
import test from 'ava';
import { BadRequestError, UriTooLongError } from '../src/errors.js';
import { countedPath, pageUrl, sitePrefix, type Site } from '../src/hits/sites.js';

const SITES: Site[] = [
  { domain: 'example.com', prefix: '/example.com' },
  { domain: 'www.example.com', prefix: '/example.com' },
  { websiteId: '50429a93-8479-4073-be80-d5d29c09c2ec', prefix: '/umami-site' },
  { domain: 'blog.example.org', websiteId: 'blog-id', prefix: '/blog' },
  { domain: 'root.example.net', prefix: '' },
];

const refusal = (error: unknown) => (error as { refusal?: string }).refusal;

test('with no sites, every page counts under /api itself', (t) => {
  t.is(sitePrefix([], {}), '');
  t.is(sitePrefix([], { domain: 'anything.example', websiteId: 'whatever' }), '');
  t.is(countedPath('', '/blog/post'), '/api/blog/post');
  t.is(countedPath('', '/'), '/api');
});

test('a site is found by domain, case-insensitively, and www. is a domain of its own', (t) => {
  t.is(sitePrefix(SITES, { domain: 'example.com' }), '/example.com');
  t.is(sitePrefix(SITES, { domain: 'EXAMPLE.com' }), '/example.com');
  t.is(sitePrefix(SITES, { domain: 'example.com.' }), '/example.com', 'a trailing dot is the same name');
  t.is(sitePrefix(SITES, { domain: 'www.example.com' }), '/example.com', 'listed on its own');
  t.is(sitePrefix(SITES, { domain: 'root.example.net' }), '', 'a site may count under /api itself');
  const error = t.throws(() => sitePrefix(SITES, { domain: 'www.blog.example.org' }), { instanceOf: BadRequestError });
  t.is(refusal(error), 'unknown_site');
  t.regex(error.message, /^Unknown site: no entry of web\.sites has domain "www\.blog\.example\.org"$/);
});

test('a site is found by website id, which wins over the domain', (t) => {
  t.is(sitePrefix(SITES, { websiteId: '50429a93-8479-4073-be80-d5d29c09c2ec' }), '/umami-site');
  t.is(sitePrefix(SITES, { websiteId: '50429A93-8479-4073-BE80-D5D29C09C2EC' }), '/umami-site', 'ids compare case-insensitively');
  t.is(sitePrefix(SITES, { websiteId: 'blog-id', domain: 'example.com' }), '/blog');
  t.is(sitePrefix(SITES, { websiteId: 'unknown-id', domain: 'example.com' }), '/example.com', 'an unknown id falls back to the domain');
  const error = t.throws(() => sitePrefix(SITES, { websiteId: 'unknown-id', domain: 'elsewhere.example' }), { instanceOf: BadRequestError });
  t.is(refusal(error), 'unknown_site');
  t.is(error.message, 'Unknown site: no entry of web.sites has website id "unknown-id" nor domain "elsewhere.example"');
  const neither = t.throws(() => sitePrefix(SITES, {}), { instanceOf: BadRequestError });
  t.is(refusal(neither), 'unknown_site');
});

test('a page path counts under its site\'s prefix, normalized like a hit', (t) => {
  t.is(countedPath('/example.com', '/blog/post'), '/api/example.com/blog/post');
  t.is(countedPath('/example.com', '/blog/post/'), '/api/example.com/blog/post');
  t.is(countedPath('/example.com', '//a///b/./c'), '/api/example.com/a/b/c');
  t.is(countedPath('/example.com', '/'), '/api/example.com');
  t.is(countedPath('/example.com', '/café'), '/api/example.com/café');
  t.is(countedPath('/example.com', '/a/b/../c'), '/api/example.com/a/c');
});

test('a page path cannot climb out of its site\'s prefix', (t) => {
  const error = t.throws(() => countedPath('/example.com', '/../other.com/x'), { instanceOf: BadRequestError });
  t.is(refusal(error), 'invalid_url');
  t.is(countedPath('/example.com', '/a/..'), '/api/example.com', '`/a/..` is the site root');
});

test('bad page paths are typed errors', (t) => {
  const control = t.throws(() => countedPath('', '/a\u0000b'), { instanceOf: BadRequestError });
  t.is(refusal(control), 'invalid_url');
  const long = t.throws(() => countedPath('/example.com', `/${'x'.repeat(2100)}`), { instanceOf: UriTooLongError });
  t.is(refusal(long), 'path_too_long');
});

test('a page URL gives its path, without query or fragment, decoded once', (t) => {
  t.deepEqual(pageUrl('https://example.com/blog/post?utm_source=x#top'), { path: '/blog/post', hostname: 'example.com' });
  t.deepEqual(pageUrl('https://Example.COM:8443/caf%C3%A9/100%2525'), { path: '/café/100%25', hostname: 'example.com' });
  t.deepEqual(pageUrl('http://example.com'), { path: '/', hostname: 'example.com' });
  t.deepEqual(pageUrl('https://example.com/app/#/settings', { withHash: true }), { path: '/app/#/settings', hostname: 'example.com' }, 'hash-based routing');
  t.deepEqual(pageUrl('/x?y=1', { base: 'https://localhost' }), { path: '/x', hostname: '' }, 'a path alone has no host');
  t.deepEqual(pageUrl('https://example.org/a', { base: 'https://localhost' }), { path: '/a', hostname: 'example.org' });
});

test('a bad page URL is refused as invalid_url', (t) => {
  for (const raw of ['not a url', '/relative/without/base', 'javascript:alert(1)', 'file:///etc/passwd', 'https://example.com/%FF']) {
    const error = t.throws(() => pageUrl(raw), { instanceOf: BadRequestError }, raw);
    t.is(refusal(error), 'invalid_url', raw);
    t.regex(error.message, /^Invalid page URL: /, raw);
  }
});

test('an encoded dot segment in a page URL stays inside its site', (t) => {
  // %2F decodes to a slash, and the `..` it makes must not leave the site.
  const error = t.throws(() => countedPath('/example.com', pageUrl('https://example.com/a%2F..%2F..%2Fother.com').path), { instanceOf: BadRequestError });
  t.is(refusal(error), 'invalid_url');
  t.is(countedPath('/example.com', pageUrl('https://example.com/a/b%2F..%2Fc').path), '/api/example.com/a/c');
});
