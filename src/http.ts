// The Node HTTP server around a Koa app. Requests that are too malformed to reach Koa
// (bad request line, oversized headers) still get the product's JSON error shape.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type Koa from 'koa';

const STATUS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  HPE_URI_OVERFLOW: [414, 'URI Too Long'],
  // headersTimeout or requestTimeout ran out before the request was received in full.
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
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
  // A HEAD request gets no body, even this one (headers too large still have a request line).
  const head = (error as { rawPacket?: Buffer }).rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${head ? '' : body}`,
  );
}

/** What the server takes from settings.server; the defaults are settings.json's. */
export interface HttpOptions {
  maxHeaderBytes?: number;
  /** How long a client may take to send the request line and headers (slowloris). */
  headersTimeoutMs?: number;
  /** How long a client may take to send its whole request, body included. Not the response: SSE and exports run on. */
  requestTimeoutMs?: number;
  /** How long a keep-alive connection may sit idle between requests. */
  keepAliveTimeoutMs?: number;
  /** Connections open at once (per process); beyond it new ones are closed at once. */
  maxConnections?: number;
}

export interface HttpServer extends Server {
  /**
   * For shutdown, after close(): destroys every connection with no request in progress (idle
   * keep-alive, silent, or still sending its request line and headers), and ends each of the
   * others as soon as its response is complete. Requests in progress finish.
   */
  closeQuietConnections(): void;
}

export function createHttpServer(app: Koa, options: HttpOptions = {}): HttpServer {
  const { maxHeaderBytes = 16_384, headersTimeoutMs = 10_000, requestTimeoutMs = 30_000, keepAliveTimeoutMs = 5_000, maxConnections = 10_000 } = options;
  const server = createServer({
    // Headers beyond maxHeaderBytes (the request line included) are refused with 431 by Node itself.
    maxHeaderSize: maxHeaderBytes,
    headersTimeout: headersTimeoutMs,
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    // How often Node looks for connections past headersTimeout/requestTimeout (its default, 30 s,
    // would let a silent connection live up to 30 s past a 10 s headersTimeout).
    connectionsCheckingInterval: Math.min(1000, headersTimeoutMs, requestTimeoutMs),
    // Node's own refusal is a bare 400; limits.ts requireHost answers in the JSON shape instead.
    requireHostHeader: false,
  }, app.callback()) as HttpServer;
  server.maxConnections = maxConnections;
  server.on('clientError', rejectMalformed);

  // Per socket, its responses in progress (more than one when a client pipelines).
  const busy = new Map<Socket, Set<ServerResponse>>();
  let closing = false;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const responses = busy.get(socket) ?? new Set<ServerResponse>();
    busy.set(socket, responses.add(res));
    // Shutting down: this answer is the connection's last (Node closes it once it is sent).
    if (closing) res.shouldKeepAlive = false;
    res.once('close', () => {
      responses.delete(res);
      if (responses.size === 0) busy.delete(socket);
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      busy.delete(socket);
    });
  });
  server.closeQuietConnections = () => {
    closing = true;
    for (const socket of sockets) {
      const responses = busy.get(socket);
      // No request read on it: nothing was counted, so nothing is lost by closing it now.
      if (!responses) socket.destroy();
      // Closing a connection ourselves once its answer is out would race a next request the
      // client already sent on it (read and counted, then no way to answer): Node's own
      // Connection: close handling after the answer does it in order.
      else for (const res of responses) if (!res.headersSent) res.shouldKeepAlive = false;
    }
  };
  return server;
}
