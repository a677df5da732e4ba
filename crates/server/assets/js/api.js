// The public HTTP API, and nothing else.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.hint = body && body.hint;
  }
}

export async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' } });
  let body = null;
  try { body = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}

export async function sendJSON(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let out = null;
  try { out = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok) throw new ApiError(r.status, out);
  return out;
}

export const api = {
  cameras: () => getJSON('/api/cameras'),
  events: (params) => getJSON('/api/events?' + new URLSearchParams(params)),
  event: (id) => getJSON(`/api/events/${encodeURIComponent(id)}`),
  review: (id, body) => sendJSON('POST', `/api/events/${encodeURIComponent(id)}/review`, body),
  reviewHistory: (id) => getJSON(`/api/events/${encodeURIComponent(id)}/review`),
  stats: () => getJSON('/api/stats'),
  timeline: (params = {}) => getJSON('/api/stats/timeline?' + new URLSearchParams(params)),
  overlay: (cam) => getJSON(`/api/cameras/${encodeURIComponent(cam)}/overlay`),
  snapshotUrl: (cam, ts) => `/api/cameras/${encodeURIComponent(cam)}/snapshot?ts=${ts}`,
  evidenceUrl: (hash) => `/api/evidence/${encodeURIComponent(hash)}`,
  mapCameras: () => getJSON('/api/map/cameras'),
  editGeometry: (method, cam, kind, name, body) => sendJSON(method,
    `/api/cameras/${encodeURIComponent(cam)}/${kind}/${encodeURIComponent(name)}`, body),
  hotlists: () => getJSON('/api/hotlists'),
  addHotlistEntries: (list, entries) => sendJSON('POST', `/api/hotlists/${encodeURIComponent(list)}/entries`, entries),
  removeHotlistEntry: (id) => sendJSON('DELETE', `/api/hotlist-entries/${encodeURIComponent(id)}`),
  watchlists: () => getJSON('/api/watchlists'),
  plates: (params) => getJSON('/api/plates?' + new URLSearchParams(params)),
  faceSearch: async (params, file) => {
    const r = await fetch('/api/faces/search?' + new URLSearchParams(params), {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': file.type || 'image/jpeg' },
      body: file,
    });
    let out = null;
    try { out = await r.json(); } catch (_) { /* not JSON */ }
    if (!r.ok) throw new ApiError(r.status, out);
    return out;
  },
  basemap: () => getJSON('/assets/geo/almaty.geojson'),
};
