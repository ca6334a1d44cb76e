// How the dashboard talks to the API: JSON answers, the admin token, and one place that learns
// whether the API is healthy, so every panel reports failures the same way.
const TOKEN_KEY = 'hitcounter.adminToken';

export class ApiError extends Error {
  /** status 0: no answer at all (server down or unreachable). */
  constructor(status, message, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.retryAfter = retryAfter;
  }

  /** The server or its Redis is in trouble, as opposed to a mistake in what was asked. */
  get outage() {
    return this.status === 0 || this.status >= 500;
  }
}

export const adminToken = {
  get: () => sessionStorage.getItem(TOKEN_KEY) ?? '',
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
};

let askForToken = async () => '';
/** `ask(reason)` resolves with a token to try, or '' when the user gives up. */
export function onTokenNeeded(ask) {
  askForToken = ask;
}

const healthListeners = new Set();
/** `listener(source, error)`: error is null once that source works again. */
export function onHealth(listener) {
  healthListeners.add(listener);
}
export function reportHealth(source, error) {
  for (const listener of healthListeners) listener(source, error);
}

async function toError(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (typeof body?.error === 'string') message = body.error;
  } catch {
    // Not the API's JSON error shape (a proxy's page, say): the status line says enough.
  }
  const retryAfter = Number(response.headers.get('Retry-After')) || null;
  return new ApiError(response.status, message, retryAfter);
}

/**
 * Calls the API and resolves with { body, headers }; `body`, when given, is sent as JSON. A 401
 * asks for the admin token and tries again with it; outages (no answer, 5xx) are reported under
 * `source` for the banner.
 */
export async function api(path, { method = 'GET', source = 'api', signal, body } = {}) {
  let prompts = 0;
  const json = body === undefined ? undefined : JSON.stringify(body);
  for (;;) {
    const token = adminToken.get();
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (json !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, { method, headers, signal, cache: 'no-store', body: json });
    } catch (error) {
      if (error.name === 'AbortError') throw error;
      const failure = new ApiError(0, 'The server cannot be reached.');
      reportHealth(source, failure);
      throw failure;
    }
    if (response.ok) {
      reportHealth(source, null);
      return { body: response.status === 204 ? null : await response.json(), headers: response.headers, status: response.status };
    }
    const error = await toError(response);
    reportHealth(source, error.outage ? error : null);
    if (error.status === 401 && prompts < 3) {
      prompts++;
      const given = await askForToken(token ? 'The server refused that token. Check it and try again.' : error.message);
      if (given) {
        adminToken.set(given);
        continue;
      }
    }
    throw error;
  }
}
