// Sends requests byte for byte over a raw socket, so tests can send what no HTTP client would.
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  head: string;
  body: string;
}

export function rawRequest(baseUrl: string, bytes: Buffer | string, timeoutMs = 120_000): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    // A deadline, not a wait: a server that never answers fails the request after a minute of
    // silence, rather than the test by its own timeout. No busy machine is silent that long.
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('raw request timed out')));
    // write, not end: Node's HTTP server drops a half-closed client before answering it.
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const bytes = Buffer.concat(chunks);
      const split = bytes.indexOf('\r\n\r\n');
      // Headers are latin1 on the wire; the JSON body is UTF-8.
      const head = bytes.subarray(0, split === -1 ? bytes.length : split).toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (!match) return reject(new Error(`no HTTP response: ${JSON.stringify(head.slice(0, 80))}`));
      resolve({ status: Number(match[1]), head, body: split === -1 ? '' : bytes.subarray(split + 4).toString('utf8') });
    });
  });
}

/** A complete HTTP/1.1 request with Connection: close. */
export function requestBytes(method: string, target: Buffer | string, headers: Record<string, string> = {}, body: Buffer | string = ''): Buffer {
  const lines = Object.entries({ Host: 'hitcounter.test', Connection: 'close', 'Content-Length': String(Buffer.byteLength(body)), ...headers })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return Buffer.concat([Buffer.from(`${method} `, 'latin1'), Buffer.from(target as string, typeof target === 'string' ? 'latin1' : undefined), Buffer.from(` HTTP/1.1\r\n${lines}\r\n`, 'latin1'), Buffer.from(body as string, typeof body === 'string' ? 'utf8' : undefined)]);
}
