// maia's HTTP API as the page uses it: same origin, the session cookie, and the CSRF
// header on everything that changes something (GET needs none).

const CSRF = { "X-Maia-CSRF": "1" };

/// An answer that was not 2xx: the API's own error code and message.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function failure(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  const error = body.error || {};
  return new ApiError(response.status, error.code || "http_" + response.status,
    error.message || response.statusText);
}

/// `method` on `path`, with `body` as JSON if given; the parsed answer (null for 204).
export async function call(method, path, body) {
  const headers = method === "GET" ? {} : { ...CSRF };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    throw await failure(response);
  }
  return response.status === 204 ? null : response.json();
}

/// `POST path` with `body`, answered as a stream: the response once its status is 2xx
/// (its events are read with `sse.js`). `signal` aborts it, which maia takes as the client
/// leaving: the answer so far is kept, its trace `cancelled`.
export async function postStream(path, body, signal) {
  const response = await fetch(path, {
    method: "POST",
    headers: { ...CSRF, "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) {
    throw await failure(response);
  }
  return response;
}

/// `POST path` with `form` as `multipart/form-data` (the browser writes the boundary).
export async function upload(path, form) {
  const response = await fetch(path, {
    method: "POST",
    headers: { ...CSRF },
    credentials: "same-origin",
    body: form,
  });
  if (!response.ok) {
    throw await failure(response);
  }
  return response.json();
}
