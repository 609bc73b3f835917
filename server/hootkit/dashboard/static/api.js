/** Talks to the Hootkit JSON API: JSON in and out, the CSRF header on every change, failures as ApiError. */

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const FALLBACK = {
  0: 'Cannot reach the Hootkit server. Check that it is running, then try again.',
  401: 'Please sign in.',
  403: 'You are not allowed to do that.',
  404: 'Not found.',
  429: 'Too many tries. Please wait a minute and try again.',
  500: 'The server had a problem. Please try again.',
};

let csrf = null;
let onUnauthorized = () => {};

/** A failed call: `status` is the HTTP status (0 when the server could not be reached), `message` the words to show. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function setCsrf(token) {
  csrf = token || null;
}

/** Called with the ApiError whenever a signed-in call answers 401 (the session ended). */
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

/** One API call. `expect401` marks calls where 401 is an ordinary answer (login, me). */
export async function request(method, path, body, { expect401 = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (CHANGES.has(method) && csrf) headers['X-CSRF-Token'] = csrf;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, FALLBACK[0]);
  }
  const data = await readJson(response);
  if (!response.ok) {
    const error = new ApiError(response.status, describe(response.status, data));
    if (response.status === 401 && !expect401) onUnauthorized(error);
    throw error;
  }
  return data;
}

export const api = {
  get: (path, options) => request('GET', path, undefined, options),
  post: (path, body = {}, options) => request('POST', path, body, options),
  put: (path, body = {}, options) => request('PUT', path, body, options),
  del: (path, options) => request('DELETE', path, undefined, options),
};

/** Builds an API path from fixed parts and ids, escaping each id (device ids may be MAC addresses). */
export function path(strings, ...ids) {
  return strings.reduce((out, part, i) => out + part + (i < ids.length ? encodeURIComponent(ids[i]) : ''), '');
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return {}; // not JSON (e.g. a proxy's HTML error page): the status says enough
  }
}

function describe(status, data) {
  const detail = data && data.detail;
  if (typeof detail === 'string' && detail.trim()) return detail;
  if (Array.isArray(detail) && detail.length) {
    // FastAPI validation errors: [{loc: [...], msg: "..."}]
    return detail.map((item) => (item && item.msg ? item.msg : JSON.stringify(item))).join('; ');
  }
  return FALLBACK[status] || (status >= 500 ? FALLBACK[500] : `The server answered ${status}.`);
}
