// Which site a tracked page view belongs to (web.sites), and the path it counts as. The trackers'
// endpoints (Plausible's, Umami's) receive page URLs of other people's websites; each site counts
// under a prefix of /api of its own, so that two sites' /about stay two paths.
//
// With web.sites empty there is one site: a page's path counts as /api + path. With sites listed,
// a hit must name one of them, by Umami's website id or by domain (Plausible's `d`, Umami's
// `hostname`, else the page URL's host); any other is refused as `unknown_site`. Domains compare
// case-insensitively and without a trailing dot, and nothing else: `www.example.com` is another
// domain than `example.com` (list both, with the same prefix, to count them together).
import { BadRequestError } from '../errors.js';
import type { Refused } from './count-hit.js';
import { API_ROOT, normalizeDecodedPath } from './normalize.js';

/** One entry of web.sites. */
export interface Site {
  domain?: string;
  websiteId?: string;
  /** Under /api: '' (the root) or a path such as /example.com. */
  prefix: string;
}

/** What a hit says about its site. */
export interface SiteHint {
  domain?: string | undefined;
  websiteId?: string | undefined;
}

const canonicalDomain = (domain: string) => domain.trim().toLowerCase().replace(/\.$/, '');
const canonicalId = (id: string) => id.trim().toLowerCase();

const refused = (message: string, refusal: string): Refused => Object.assign(new BadRequestError(message), { refusal });

/**
 * The prefix under /api the hit counts under: '' when no sites are configured, else the prefix of
 * the first site whose websiteId matches, or failing that the first whose domain matches.
 * @throws BadRequestError with `refusal` `unknown_site` when sites are configured and none matches
 */
export function sitePrefix(sites: readonly Site[], hint: SiteHint): string {
  if (sites.length === 0) return '';
  const id = hint.websiteId ? canonicalId(hint.websiteId) : undefined;
  const domain = hint.domain ? canonicalDomain(hint.domain) : undefined;
  const byId = id ? sites.find((site) => site.websiteId !== undefined && canonicalId(site.websiteId) === id) : undefined;
  const site = byId ?? (domain ? sites.find((site) => site.domain !== undefined && canonicalDomain(site.domain) === domain) : undefined);
  if (site) return site.prefix;
  const named = [id ? `website id "${hint.websiteId}"` : '', domain ? `domain "${hint.domain}"` : ''].filter(Boolean).join(' nor ');
  throw refused(`Unknown site: no entry of web.sites has ${named || 'a domain or website id, and the hit named neither'}`, 'unknown_site');
}

/**
 * The path a page counts as: the page's path (decoded) normalized on its own, then put under
 * /api + prefix. Normalized first, so that a `..` in a page's path cannot climb into another
 * site's prefix.
 * @throws BadRequestError (refusal `invalid_url`) for a control character or a `..` above the page's root
 * @throws UriTooLongError (refusal `path_too_long`) when the result is over 2048 bytes
 */
export function countedPath(prefix: string, pagePath: string): string {
  try {
    const page = normalizeDecodedPath(`${API_ROOT}/${pagePath}`).slice(API_ROOT.length);
    return normalizeDecodedPath(`${API_ROOT}${prefix}${page}`);
  } catch (error) {
    const status = (error as { status?: number }).status;
    throw Object.assign(error as Error, { refusal: status === 414 ? 'path_too_long' : 'invalid_url' });
  }
}

export interface PageUrl {
  /** The path, decoded once: what countedPath takes. */
  path: string;
  /** The URL's host name, '' for a path alone. */
  hostname: string;
}

/**
 * The path and host of a page URL: absolute (http or https), or a path resolved against `base`
 * when one is given. The query never counts; the fragment counts only with `withHash` (Plausible's
 * hash-based routing), as part of the path.
 * @throws BadRequestError (refusal `invalid_url`) for anything else, or a path that is not UTF-8
 */
export function pageUrl(raw: string, { base, withHash = false }: { base?: string; withHash?: boolean } = {}): PageUrl {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    throw refused(`Invalid page URL: ${JSON.stringify(raw.slice(0, 100))} is not ${base ? 'a URL or a path' : 'an absolute URL'}`, 'invalid_url');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw refused(`Invalid page URL: expected http or https, not ${JSON.stringify(url.protocol.slice(0, 20))}`, 'invalid_url');
  }
  const encoded = withHash ? url.pathname + url.hash : url.pathname;
  try {
    return { path: decodeURIComponent(encoded), hostname: URL.canParse(raw) ? url.hostname : '' };
  } catch {
    throw refused('Invalid page URL: malformed percent-encoding or invalid UTF-8 in its path', 'invalid_url');
  }
}
