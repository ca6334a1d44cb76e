// The one client address every part of the app uses (admin's loopback check, rate limits,
// visitors, logs). Koa's own `proxy` option believes X-Forwarded-For from any peer, so a client
// could name itself 127.0.0.1 or rotate past its rate limit; here the header is believed only as
// far as it was written by a trusted proxy (proxy-addr, Express's algorithm): walking from the
// peer leftwards through X-Forwarded-For, the first address that is not a trusted proxy is the
// client. A peer that is not trusted itself is the client, whatever the header says.
import type { Middleware } from 'koa';
import proxyaddr from 'proxy-addr';

export interface ClientIpOptions {
  /** server.trustProxy: off, X-Forwarded-For is never read. */
  trustProxy: boolean;
  /** server.trustedProxies: addresses and CIDR ranges of the proxies in front of this server. */
  trustedProxies: readonly string[];
}

/** Sets ctx.ip (Koa's request.ip) to the resolved client address; must run before anything reads it. */
export function clientIp({ trustProxy, trustedProxies }: ClientIpOptions): Middleware {
  // Without trusted proxies the peer is the client: no header to parse for every request.
  if (!trustProxy) {
    return function peerIsClient(ctx, next) {
      ctx.request.ip = ctx.req.socket.remoteAddress ?? '';
      return next();
    };
  }
  const trust = proxyaddr.compile([...trustedProxies]);
  return function resolveClientIp(ctx, next) {
    ctx.request.ip = proxyaddr(ctx.req, trust) || '';
    return next();
  };
}
