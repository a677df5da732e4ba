// The public HTTP API, and nothing else.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.hint = body && body.hint;
  }
}

/** Fired on any 401, so the app can ask for a login again (session expired). */
export const UNAUTHENTICATED = 'kuzet:unauthenticated';

async function send(method, path, json) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  const r = await fetch(path, init);
  let body = null;
  try { body = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok) {
    if (r.status === 401 && path !== '/api/auth/login') window.dispatchEvent(new Event(UNAUTHENTICATED));
    throw new ApiError(r.status, body);
  }
  return body;
}

export function getJSON(path) { return send('GET', path); }

export const api = {
  cameras: () => getJSON('/api/cameras'),
  events: (params) => getJSON('/api/events?' + new URLSearchParams(params)),
  event: (id) => getJSON(`/api/events/${encodeURIComponent(id)}`),
  stats: () => getJSON('/api/stats'),
  overlay: (cam) => getJSON(`/api/cameras/${encodeURIComponent(cam)}/overlay`),
  snapshotUrl: (cam, ts) => `/api/cameras/${encodeURIComponent(cam)}/snapshot?ts=${ts}`,
  evidenceUrl: (hash) => `/api/evidence/${encodeURIComponent(hash)}`,
  mapCameras: () => getJSON('/api/map/cameras'),
  basemap: () => getJSON('/assets/geo/almaty.geojson'),
  me: () => getJSON('/api/auth/me'),
  login: (name, password) => send('POST', '/api/auth/login', { name, password }),
  logout: () => send('POST', '/api/auth/logout'),
};
