// The Node HTTP server around a Koa app. Requests that are too malformed to reach Koa
// (bad request line, oversized headers) still get the product's JSON error shape.
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type Koa from 'koa';

const STATUS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  HPE_URI_OVERFLOW: [414, 'URI Too Long'],
};

function rejectMalformed(error: NodeJS.ErrnoException & { reason?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason] = STATUS[error.code ?? ''] ?? [400, 'Bad Request'];
  // llhttp's reason says what was wrong ("Invalid char in url path"); raw non-ASCII bytes in
  // the URL land here, so the hint says how to send them.
  const detail = error.code === 'HPE_INVALID_URL' ? `${error.reason ?? 'invalid URL'}; percent-encode non-ASCII characters` : (error.reason ?? reason);
  const body = JSON.stringify({ error: `Malformed HTTP request: ${detail}` });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function createHttpServer(app: Koa, { maxHeaderBytes = 16_384 } = {}): Server {
  // Headers beyond maxHeaderBytes (the request line included) are refused with 431 by Node itself.
  const server = createServer({ maxHeaderSize: maxHeaderBytes }, app.callback());
  server.on('clientError', rejectMalformed);
  return server;
}
