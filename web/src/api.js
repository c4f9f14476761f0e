// The JSON API (golive/api, described at /api/openapi.json), as the pages call it: same
// origin, the session in the HttpOnly golive_session cookie, and for changes the CSRF double
// submit (the golive_csrf cookie's value in X-CSRF-Token; see golive/api/auth.py).

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** A request to the API; resolves to the parsed body (null for 204), rejects with ApiError. */
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = cookie("golive_csrf");
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "golive cannot be reached; check your connection");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || `golive answered ${response.status}`,
      error.field,
    );
  }
  return data;
}

/** The live rooms, by name. */
export async function liveRooms() {
  const { rooms } = await api("/api/rooms");
  return rooms;
}

/**
 * The live room called `name` (lowercase), or null when it is not live: GET /api/rooms/{name}
 * answers 404 not_found for a room that is not live (the browser's console notes each such
 * answer; that is the API saying "offline", not a fault).
 */
export async function liveRoom(name) {
  try {
    return await api(`/api/rooms/${encodeURIComponent(name)}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

/** The recordings of the streamer `name` (README, "Recordings"), newest first. */
export async function recordingsOf(name) {
  const { recordings } = await api(`/api/users/${encodeURIComponent(name)}/recordings`);
  return recordings;
}

/** Delete one of your recordings. */
export async function deleteRecording(id) {
  await api(`/api/recordings/${encodeURIComponent(id)}`, { method: "DELETE" });
}
