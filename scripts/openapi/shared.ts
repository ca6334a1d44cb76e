// The parts of the document no route declares: its frame (info, tags), the shared responses and
// headers every route refers to, and the security schemes. Rendered by document.ts. Written as
// OpenAPI objects, not zod: they are prose and headers, and only the Error body has a schema.

export const info = {
  "title": "hitcounter",
  "version": "0.1.0",
  "summary": "Count every request, rank every path, in one Redis sorted set.",
  "description": "`ANY /api/<path>` counts a hit for that path, `GET /stats` ranks every path by hits, and `POST /test/{n}` load-tests the server from inside itself.\n\n**Errors.** Every error, from every endpoint, is `{\"error\": \"<message>\"}` with a 4xx or 5xx status. A client's mistake is always a 4xx and never counts a hit.\n\n**Answers to any request.** Whatever the route: a request target over `server.maxUrlBytes` is `414`; a request too malformed for Node's HTTP parser is `400` and headers over `server.maxHeaderBytes` are `431` (both without `X-Request-Id`); an HTTP/1.1 request without a `Host` header is `400` (with `X-Request-Id`); a client that has not sent its request line and headers within `server.headersTimeoutMs` (10 s), or its whole request within `server.requestTimeoutMs` (30 s), gets `408` and the connection is closed; an unexpected failure is `500`. `HEAD` is answered wherever `GET` is, without a body, and `OPTIONS` on every path with `Allow` (both are operations of this document). A path no operation matches is `404` (`NotFound`); a known path with a method it has no operation for is `405` with `Allow` (`MethodNotAllowed`): OpenAPI describes the methods a path has, not the answer to the others, so this is said here. The same holds for methods OpenAPI cannot name (`PROPFIND`, …). `/api/{path}` takes one segment or several (`/api/a/b/c`); an OpenAPI path template stands for one, so tools that match requests to templates see only single-segment paths. `OPTIONS` is never rate-limited.\n\n**Request ids.** Every response but the `400`/`431` above carries `X-Request-Id`: the client's own when it sent a sane one.\n\n**Admin endpoints** (`POST /test/{n}`, `DELETE /test/jobs/{id}`, `DELETE /stats`, `POST /hits`) need the admin token, as a Bearer token or as the password of Basic auth. With no token configured they answer loopback clients only (`403` to anyone else). Reads are public unless `auth.protectStats` is on.\n\n**Rate limits** are per client IP and route group: `api` (`/api/*`; none by default: `api.floodLimit` already caps each client IP at 6000 hits per 10 s, in memory), `read` (`GET /stats`, `GET /test/jobs…`, 1200/min) and `write` (`POST /test/{n}`, the DELETEs, 20/min). Past a limit: `429` with `Retry-After`; limited routes carry the `RateLimit-*` headers.",
  "license": {
    "name": "MIT",
    "identifier": "MIT"
  }
} as const;

export const tags = [
  {
    "name": "hits",
    "description": "Counting"
  },
  {
    "name": "stats",
    "description": "Rankings, per-path detail, live traffic"
  },
  {
    "name": "events",
    "description": "The event log"
  },
  {
    "name": "loadtest",
    "description": "The built-in load generator and its jobs"
  },
  {
    "name": "health",
    "description": "Liveness"
  },
  {
    "name": "metrics",
    "description": "Prometheus"
  },
  {
    "name": "dashboard",
    "description": "The web dashboard"
  },
  {
    "name": "docs",
    "description": "This document"
  },
  {
    "name": "web",
    "description": "Counting from web pages: the pixel, the badge"
  }
];

export const headers = {
  "XRequestId": {
    "description": "The request's id: the client's own `X-Request-Id` when it sent a sane one, else a UUID. Every log line about the request carries it.",
    "required": true,
    "schema": {
      "type": "string",
      "pattern": "^[\\w.:-]{1,128}$"
    }
  },
  "PageCsp": {
    "description": "Everything the page loads comes from this server: `default-src 'none'; script-src 'self'; … connect-src 'self'; …`.",
    "required": true,
    "schema": {
      "type": "string",
      "pattern": "connect-src 'self'"
    }
  },
  "ETag": {
    "description": "The content's version.",
    "required": true,
    "schema": {
      "type": "string"
    }
  },
  "RetryAfter": {
    "description": "Seconds to wait before trying again.",
    "required": true,
    "schema": {
      "type": "integer",
      "minimum": 0
    }
  },
  "XTotalCount": {
    "description": "How many rows there are in all (distinct paths, under `prefix` when given).",
    "required": true,
    "schema": {
      "type": "integer",
      "minimum": 0
    }
  },
  "Link": {
    "description": "RFC 8288 `<…>; rel=\"next\"` while more rows follow.",
    "schema": {
      "type": "string",
      "pattern": "^<[^>]+>; rel=\"next\"$"
    }
  },
  "JobLocation": {
    "description": "The job: `/test/jobs/<id>`.",
    "required": true,
    "schema": {
      "type": "string",
      "pattern": "^/test/jobs/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    }
  },
  "Allow": {
    "description": "The methods the path answers.",
    "required": true,
    "schema": {
      "type": "string"
    }
  },
  "WWWAuthenticate": {
    "description": "`Bearer realm=\"hitcounter\", Basic realm=\"hitcounter\"`.",
    "required": true,
    "schema": {
      "type": "string"
    }
  },
  "StatsAttachment": {
    "description": "`attachment; filename=\"stats.csv\"`.",
    "required": true,
    "schema": {
      "type": "string",
      "const": "attachment; filename=\"stats.csv\""
    }
  },
  "EventsAttachment": {
    "description": "`attachment; filename=\"events.csv\"`.",
    "required": true,
    "schema": {
      "type": "string",
      "const": "attachment; filename=\"events.csv\""
    }
  },
  "RateLimitLimit": {
    "description": "Requests allowed in the tightest window of the route group (IETF draft header); on rate-limited routes only, when their group has windows.",
    "schema": {
      "type": "integer",
      "minimum": 0
    }
  },
  "RateLimitRemaining": {
    "description": "Requests left in that window.",
    "schema": {
      "type": "integer",
      "minimum": 0
    }
  },
  "RateLimitReset": {
    "description": "Seconds until that window resets.",
    "schema": {
      "type": "integer",
      "minimum": 0
    }
  },
  "RateLimitPolicy": {
    "description": "Every window of the group: `<points>;w=<seconds>`, comma-separated.",
    "schema": {
      "type": "string"
    }
  },
  "AccessControlAllowOrigin": {
    "description": "CORS, off by default: only with `cors.origins` set, on a route a group of `cors.routes` covers (`count`: `/api/*` and the other counting endpoints; `read`: `/stats`, `/stats.csv`, `/stats/path`, `/events`, `/events.csv`, `/health`; `stream`: `/stats/stream`; never an admin route), to a request whose `Origin` is allowed. On every answer of such a route, errors included. The origin itself when `cors.origins` lists it, else `*` when it holds `\"*\"`.",
    "schema": {
      "type": "string"
    }
  },
  "AccessControlAllowCredentials": {
    "description": "`true` with `cors.credentials`, to an origin `cors.origins` lists by name (never beside `*`): the page may send credentials (cookies, the Basic auth a browser remembers, `sendBeacon`'s) and read the answer.",
    "schema": {
      "type": "string",
      "const": "true"
    }
  },
  "AccessControlExposeHeaders": {
    "description": "The headers a page may read besides the safelisted ones, beside `Access-Control-Allow-Origin`: `X-Request-Id`, `X-Total-Count`, `Link`, `Retry-After`, `Allow`, `Content-Disposition` and the `RateLimit-*` headers.",
    "schema": {
      "type": "string"
    }
  },
  "AccessControlAllowMethods": {
    "description": "A CORS preflight's answer (`Access-Control-Request-Method` of a method a page may use here, from an allowed origin): `GET,HEAD,POST` on counting routes, `GET,HEAD` on reads, `GET` on `/stats/stream`.",
    "schema": {
      "type": "string"
    }
  },
  "AccessControlAllowHeaders": {
    "description": "A CORS preflight's answer: the request headers a page may send, `Content-Type,Authorization,X-Request-Id,Idempotency-Key`.",
    "schema": {
      "type": "string"
    }
  },
  "AccessControlMaxAge": {
    "description": "A CORS preflight's answer: how many seconds the browser may keep it.",
    "schema": {
      "type": "integer",
      "minimum": 0
    }
  }
};

const ERROR_BODY = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };

interface ResponseOptions {
  /** Headers besides X-Request-Id, each a shared header whose id is its name without dashes. */
  headers?: string[];
  /** X-Request-Id: the shared (required) header, none (Node's own answers), or optional. */
  requestId?: boolean | 'optional';
}

function headersOf({ headers: names = [], requestId = true }: ResponseOptions) {
  const out: Record<string, unknown> = Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${name.replaceAll('-', '')}` }]));
  if (requestId === 'optional') out['X-Request-Id'] = { ...headers.XRequestId, required: false };
  else if (requestId) out['X-Request-Id'] = { $ref: '#/components/headers/XRequestId' };
  return Object.keys(out).length > 0 ? { headers: out } : {};
}

/** A response with the error body, {"error": "…"}. */
const error = (description: string, options: ResponseOptions = {}) => ({ description, ...headersOf(options), content: ERROR_BODY });
/** A response without a body. */
const empty = (description: string, options: ResponseOptions = {}) => ({ description, ...headersOf(options) });

export const responses = {
  BadRequest: error("A client mistake (see the operation), or a request Node's HTTP parser rejected, then without `X-Request-Id`.", { requestId: 'optional' }),
  MalformedRequest: error("A request too malformed for Node's HTTP parser (raw non-ASCII bytes in the URL, a bad request line); it has no `X-Request-Id`.", { requestId: false }),
  Unauthorized: error("The admin token is missing or wrong.", { headers: ["WWW-Authenticate"] }),
  Forbidden: error("No admin token is configured and the client is not on loopback; or, on an admin endpoint, the request came from a page of another origin (`Origin`, `Sec-Fetch-Site`), which admin endpoints never answer."),
  NotFound: error("Not found."),
  MethodNotAllowed: error("The path exists, but not with this method.", { headers: ["Allow"] }),
  Conflict: error("Conflict with the current state."),
  PayloadTooLarge: error("The JSON body is over `server.maxBodyBytes` (16384)."),
  UriTooLong: error("The request target is over `server.maxUrlBytes` (8192)."),
  TooManyRequests: error("A rate limit or a shared cap is reached.", { headers: ["Retry-After","RateLimit-Limit","RateLimit-Remaining","RateLimit-Reset","RateLimit-Policy"] }),
  HeaderFieldsTooLarge: error("The request line and headers are over `server.maxHeaderBytes` (16384); refused by Node itself, so it has no `X-Request-Id`.", { requestId: false }),
  InternalError: error("An unexpected error: `{\"error\": \"Internal server error\"}`."),
  RedisUnavailable: error("Redis could not be reached within `redis.commandTimeoutMs` (2 s), or refused the command for now without running it (out of memory at `maxmemory`, a cluster failing over, a replica that is read-only): nothing was counted or changed.", { headers: ["Retry-After"] }),
  ServiceUnavailable: error("Temporarily unavailable.", { headers: ["Retry-After"] }),
  NotModified: empty("The `If-None-Match` ETag still holds: no body.", { headers: ["ETag"] }),
  AllowedMethods: empty("The methods the path answers, in `Allow`, and an empty body.", { headers: ["Allow"] }),
};

export const securitySchemes = {
  "adminBearer": {
    "type": "http",
    "scheme": "bearer",
    "description": "The admin token (`HITCOUNTER_ADMIN_TOKEN` or the file named by `auth.tokenFile`): `Authorization: Bearer <token>`. With no token configured, loopback clients need none."
  },
  "adminBasic": {
    "type": "http",
    "scheme": "basic",
    "description": "The admin token as the password of Basic auth, any user name (`curl -u :$TOKEN`)."
  }
};

export const parameters = {
  "RequestId": {
    "name": "X-Request-Id",
    "in": "header",
    "required": false,
    "description": "Your own request id, echoed back and stamped on every log line about the request, when it matches `^[\\w.:-]{1,128}$`; otherwise the server makes one up.",
    "schema": {
      "type": "string"
    }
  }
};
