// Cameras: a wall of live cards (snapshot + tracks + zones/lines) and one
// camera's own view.
import { api } from './api.js';
import { store, refreshCameras } from './app.js';
import { t, tOr, fmtNum, fmtTime } from './i18n.js';
import { h, errorBox } from './util.js';
import { alertRow } from './live.js';
import { zoneEditor } from './zones.js';

const REFRESH_MS = 1000;
const COLOURS = ['#38bdf8', '#f472b6', '#a3e635', '#fbbf24', '#c084fc', '#34d399', '#fb923c'];

function drawOverlay(canvas, img, ov) {
  const bw = img.clientWidth;
  const bh = img.clientHeight;
  if (!bw || !bh || !img.naturalWidth) return;
  // The picture is letterboxed (object-fit: contain): draw in its content box.
  const k = Math.min(bw / img.naturalWidth, bh / img.naturalHeight);
  const w = img.naturalWidth * k;
  const hgt = img.naturalHeight * k;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(bw * dpr);
  canvas.height = Math.round(bh * dpr);
  canvas.style.width = `${bw}px`;
  canvas.style.height = `${bh}px`;
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, dpr * (bw - w) / 2, dpr * (bh - hgt) / 2);
  g.clearRect(-bw, -bh, 3 * bw, 3 * bh);
  g.lineWidth = 2;
  g.font = '600 14px system-ui, sans-serif';
  for (const z of ov.zones || []) {
    if (!z.polygon || z.polygon.length < 3) continue;
    g.beginPath();
    z.polygon.forEach(([x, y], i) => (i ? g.lineTo(x * w, y * hgt) : g.moveTo(x * w, y * hgt)));
    g.closePath();
    g.fillStyle = 'rgba(250, 204, 21, 0.12)';
    g.strokeStyle = 'rgba(250, 204, 21, 0.9)';
    g.fill();
    g.stroke();
    g.fillStyle = '#facc15';
    g.fillText(z.name, z.polygon[0][0] * w + 4, z.polygon[0][1] * hgt + 16);
  }
  for (const l of ov.lines || []) {
    g.beginPath();
    g.moveTo(l.from[0] * w, l.from[1] * hgt);
    g.lineTo(l.to[0] * w, l.to[1] * hgt);
    g.strokeStyle = '#f87171';
    g.setLineDash([8, 6]);
    g.stroke();
    g.setLineDash([]);
    g.fillStyle = '#f87171';
    g.fillText(l.name, l.from[0] * w + 4, l.from[1] * hgt + 16);
  }
  for (const o of ov.objects || []) {
    const [x1, y1, x2, y2] = o.box;
    const c = COLOURS[o.track_id % COLOURS.length];
    g.strokeStyle = c;
    g.strokeRect(x1 * w, y1 * hgt, (x2 - x1) * w, (y2 - y1) * hgt);
    const label = `#${o.track_id} ${o.label}`;
    const tw = g.measureText(label).width + 6;
    g.fillStyle = c;
    g.fillRect(x1 * w, Math.max(0, y1 * hgt - 18), tw, 18);
    g.fillStyle = '#0b1118';
    g.fillText(label, x1 * w + 3, Math.max(14, y1 * hgt - 4));
  }
}

/** One camera card; `update(cam)` refreshes it (status + picture). */
function card(cam, { big = false } = {}) {
  const img = h('img.snap', { alt: '' });
  const canvas = h('canvas.overlay');
  const placeholder = h('div.no-picture', t('cam.no_picture'));
  const state = h('span.state');
  const figures = h('dl.figures');
  const el = h(`article.cam-card${big ? '.big' : ''}`, { dataset: { id: cam.id } },
    h('header', h('a.name', { href: `#/cameras/${encodeURIComponent(cam.id)}` }, cam.name || cam.id), state),
    h('div.shot', img, canvas, placeholder),
    figures);
  let lastTs = null;
  let ov = null;
  img.addEventListener('load', () => { placeholder.hidden = true; if (ov) drawOverlay(canvas, img, ov); });

  async function update(c) {
    state.textContent = tOr(`state.${c.state}`, c.state);
    state.className = `state state-${c.state}`;
    const fig = (k, v) => [h('dt', t(k)), h('dd', v)];
    figures.replaceChildren(
      ...fig('cam.fps', fmtNum(c.fps ?? 0, { maximumFractionDigits: 1 })),
      ...fig('cam.frames', fmtNum(c.frames ?? 0)),
      ...fig('cam.dropped', fmtNum(c.dropped ?? 0)),
      ...fig('cam.queue', fmtNum(c.queue_depth ?? 0)),
      ...(big ? fig('cam.last_frame', c.last_frame ? fmtTime(c.last_frame, true) : '—') : []));
    try {
      ov = await api.overlay(c.id);
    } catch (_) { return; }
    if (ov.snapshot && ov.ts !== lastTs) {
      lastTs = ov.ts;
      img.src = api.snapshotUrl(c.id, ov.ts);
    } else if (ov.snapshot && img.complete) {
      drawOverlay(canvas, img, ov);
    }
    placeholder.hidden = !!ov.snapshot;
  }
  return { el, update };
}

function loop(fn) {
  let stop = false;
  let timer = null;
  const go = async () => {
    if (stop) return;
    try { await fn(); } catch (e) { console.warn(e.message || e); }
    if (!stop) timer = setTimeout(go, REFRESH_MS);
  };
  go();
  return () => { stop = true; clearTimeout(timer); };
}

export function render(el) {
  const wall = h('div.wall');
  const err = h('div');
  el.append(err, wall);
  const cards = new Map();
  return loop(async () => {
    let list;
    try { list = await refreshCameras(); err.replaceChildren(); } catch (e) { err.replaceChildren(errorBox(e)); return; }
    if (!list.length) wall.replaceChildren(h('div.empty', t('cam.none')));
    for (const c of list) {
      if (!cards.has(c.id)) { const k = card(c); cards.set(c.id, k); wall.append(k.el); }
    }
    await Promise.all(list.map((c) => cards.get(c.id).update(c)));
  });
}

export function renderOne(el, id) {
  const recent = h('ul.alerts');
  let k = null;
  const side = h('section.panel', h('h2', t('cam.recent')), recent);
  const main = h('div');
  el.append(h('div.camera-layout', h('div', main, zoneEditor(id)), side));
  const stopRecent = loop(async () => {
    const page = await api.events({ camera: id, limit: 20 });
    recent.replaceChildren(...(page.events.length ? page.events.map((e) => alertRow(e)) : [h('li.empty', t('events.none'))]));
  });
  const stopCard = loop(async () => {
    const list = await refreshCameras();
    const c = list.find((x) => x.id === id);
    if (!c) { main.replaceChildren(errorBox(new Error(t('cam.unknown', { id })))); return; }
    if (!k) { k = card(c, { big: true }); main.replaceChildren(k.el); }
    await k.update(c);
  });
  return () => { stopRecent(); stopCard(); };
}
