// A page of another origin for the browser tests: a second local HTTP server on 127.0.0.1 (its own
// port, so another origin than the app's) that serves one HTML page at /, never cached. Closed
// when the test ends.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';

export interface PageServer {
  /** http://127.0.0.1:<port>/, the page. */
  url: string;
  /** http://127.0.0.1:<port>, what a cross-origin Referer of the page holds (plus the `/`). */
  origin: string;
  /** How many times the page was served. */
  served(): number;
}

export async function servePage(t: ExecutionContext, html: string): Promise<PageServer> {
  let served = 0;
  const server = createServer((req, res) => {
    if (req.url !== '/') {
      res.writeHead(404).end();
      return;
    }
    served++;
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: `${origin}/`, origin, served: () => served };
}
