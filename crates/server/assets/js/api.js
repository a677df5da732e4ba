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

/** `json` goes as a JSON body; `file` (a Blob, e.g. a photo) as a raw body. */
async function send(method, path, json, file) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (file !== undefined) {
    init.headers['Content-Type'] = file.type || 'image/jpeg';
    init.body = file;
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
  eventTrack: (id) => getJSON(`/api/events/${encodeURIComponent(id)}/track`),
  review: (id, body) => send('POST', `/api/events/${encodeURIComponent(id)}/review`, body),
  reviewHistory: (id) => getJSON(`/api/events/${encodeURIComponent(id)}/review`),
  exportEvent: (id) => getJSON(`/api/events/${encodeURIComponent(id)}/export`),
  dispatch: (id, body) => send('POST', `/api/events/${encodeURIComponent(id)}/dispatch`, body),
  /** The package with the sealed originals of masked files (investigators, supervisors; audited with the reason). */
  exportOriginals: (id, reason) => send('POST', `/api/events/${encodeURIComponent(id)}/export/originals`, { reason }),
  stats: () => getJSON('/api/stats'),
  timeline: (params = {}) => getJSON('/api/stats/timeline?' + new URLSearchParams(params)),
  overlay: (cam) => getJSON(`/api/cameras/${encodeURIComponent(cam)}/overlay`),
  snapshotUrl: (cam, ts) => `/api/cameras/${encodeURIComponent(cam)}/snapshot?ts=${ts}`,
  evidenceUrl: (hash) => `/api/evidence/${encodeURIComponent(hash)}`,
  lockEvent: (id, body) => send('POST', `/api/events/${encodeURIComponent(id)}/lock`, body),
  unlockEvent: (id) => send('DELETE', `/api/events/${encodeURIComponent(id)}/lock`),
  /** The sealed original of masked evidence, as a Blob (the request is audited). */
  unmask: async (hash, reason) => {
    const r = await fetch(`/api/evidence/${encodeURIComponent(hash)}/unmask`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ reason }),
    });
    if (!r.ok) {
      let body = null;
      try { body = await r.json(); } catch (_) { /* not JSON */ }
      if (r.status === 401) window.dispatchEvent(new Event(UNAUTHENTICATED));
      throw new ApiError(r.status, body);
    }
    return r.blob();
  },
  mapCameras: () => getJSON('/api/map/cameras'),
  editGeometry: (method, cam, kind, name, body) => send(method,
    `/api/cameras/${encodeURIComponent(cam)}/${kind}/${encodeURIComponent(name)}`, body),
  hotlists: () => getJSON('/api/hotlists'),
  addHotlistEntries: (list, entries) => send('POST', `/api/hotlists/${encodeURIComponent(list)}/entries`, entries),
  removeHotlistEntry: (id) => send('DELETE', `/api/hotlist-entries/${encodeURIComponent(id)}`),
  watchlists: () => getJSON('/api/watchlists'),
  enrol: (list, params, file) => send('POST', `/api/watchlists/${encodeURIComponent(list)}/persons?` + new URLSearchParams(params), undefined, file),
  removePerson: (id) => send('DELETE', `/api/persons/${encodeURIComponent(id)}`),
  authorisations: () => getJSON('/api/authorisations'),
  requestAuthorisation: (body) => send('POST', '/api/authorisations', body),
  approveAuthorisation: (id) => send('POST', `/api/authorisations/${encodeURIComponent(id)}/approve`, {}),
  revokeAuthorisation: (id, reason) => send('POST', `/api/authorisations/${encodeURIComponent(id)}/revoke`, { reason }),
  plates: (params) => getJSON('/api/plates?' + new URLSearchParams(params)),
  faceSearch: (params, file) => send('POST', '/api/faces/search?' + new URLSearchParams(params), undefined, file),
  basemap: () => getJSON('/assets/geo/almaty.geojson'),
  me: () => getJSON('/api/auth/me'),
  login: (name, password) => send('POST', '/api/auth/login', { name, password }),
  logout: () => send('POST', '/api/auth/logout'),
};
