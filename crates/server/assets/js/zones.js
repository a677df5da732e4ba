// Zone and line editor: draw on a frozen snapshot, save into the config
// file through the API (the running pipeline applies it at its next start).
import { api } from './api.js';
import { t } from './i18n.js';
import { h, errorBox } from './util.js';

const NAME_RE = /^[\p{L}\p{N} ._-]{1,64}$/u;

/** The editor panel for camera `id`. */
export function zoneEditor(id) {
  const img = h('img.editor-shot', { alt: '' });
  const canvas = h('canvas.editor-canvas');
  const list = h('ul.geometry');
  const msg = h('div.editor-msg', { role: 'status' });
  const name = h('input.editor-name', { placeholder: t('zones.name'), 'aria-label': t('zones.name') });
  const save = h('button.editor-save', { type: 'button', disabled: true }, t('zones.save'));
  const cancel = h('button', { type: 'button' }, t('zones.cancel'));
  let geo = { zones: [], lines: [] };
  let draft = null; // { kind: 'zone'|'line', points: [[x, y]...] }

  function draw() {
    const w = img.clientWidth;
    const hh = img.clientHeight;
    if (!w || !hh) return;
    canvas.width = w;
    canvas.height = hh;
    const g = canvas.getContext('2d');
    g.lineWidth = 2;
    g.font = '600 13px system-ui, sans-serif';
    const path = (pts, close) => { g.beginPath(); pts.forEach(([x, y], i) => (i ? g.lineTo(x * w, y * hh) : g.moveTo(x * w, y * hh))); if (close) g.closePath(); };
    for (const z of geo.zones) { path(z.polygon, true); g.strokeStyle = 'rgba(250,204,21,.9)'; g.stroke(); g.fillStyle = '#facc15'; g.fillText(z.name, z.polygon[0][0] * w + 4, z.polygon[0][1] * hh + 14); }
    for (const l of geo.lines) { path([l.from, l.to], false); g.strokeStyle = '#f87171'; g.stroke(); g.fillStyle = '#f87171'; g.fillText(l.name, l.from[0] * w + 4, l.from[1] * hh + 14); }
    if (draft && draft.points.length) {
      path(draft.points, draft.kind === 'zone' && draft.points.length > 2);
      g.strokeStyle = '#22c55e';
      g.setLineDash([6, 4]);
      g.stroke();
      g.setLineDash([]);
      g.fillStyle = '#22c55e';
      for (const [x, y] of draft.points) g.fillRect(x * w - 3, y * hh - 3, 6, 6);
    }
  }

  function ready() {
    const n = draft ? draft.points.length : 0;
    save.disabled = !draft || !NAME_RE.test(name.value.trim()) || (draft.kind === 'zone' ? n < 3 : n !== 2);
  }

  canvas.addEventListener('click', (ev) => {
    if (!draft) return;
    if (draft.kind === 'line' && draft.points.length === 2) draft.points = [];
    const r = canvas.getBoundingClientRect();
    const x = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
    const y = Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height));
    draft.points.push([Math.round(x * 1e4) / 1e4, Math.round(y * 1e4) / 1e4]);
    draw();
    ready();
  });
  name.addEventListener('input', ready);

  function start(kind, existing) {
    draft = { kind, points: [] };
    name.value = existing || '';
    msg.replaceChildren(h('span', t(kind === 'zone' ? 'zones.hint_zone' : 'zones.hint_line')));
    draw();
    ready();
  }

  async function send(method, kind, zname, body) {
    try {
      const r = await api.editGeometry(method, id, kind, zname, body);
      setGeometry(r.camera);
      draft = null;
      name.value = '';
      ready();
      msg.replaceChildren(h('span.ok', t(r.applied ? 'zones.applied' : 'zones.saved')));
    } catch (e) {
      msg.replaceChildren(errorBox(e));
    }
  }

  save.addEventListener('click', () => {
    if (!draft) return;
    const zname = name.value.trim();
    if (draft.kind === 'zone') send('PUT', 'zones', zname, { polygon: draft.points });
    else send('PUT', 'lines', zname, { from: draft.points[0], to: draft.points[1] });
  });
  cancel.addEventListener('click', () => { draft = null; name.value = ''; msg.replaceChildren(); draw(); ready(); });

  function setGeometry(cam) {
    geo = { zones: cam.zone || cam.zones || [], lines: cam.line || cam.lines || [] };
    const item = (kind, g) => h('li', h('b', g.name), ' ',
      h('button', { type: 'button', onclick: () => start(kind === 'zones' ? 'zone' : 'line', g.name) }, t('zones.redraw')),
      h('button.danger', { type: 'button', onclick: () => send('DELETE', kind, g.name) }, t('zones.delete')));
    list.replaceChildren(
      ...geo.zones.map((z) => item('zones', z)),
      ...geo.lines.map((l) => item('lines', l)));
    draw();
  }

  img.addEventListener('load', draw);
  window.addEventListener('resize', draw);
  api.overlay(id).then((ov) => {
    setGeometry({ zones: ov.zones || [], lines: ov.lines || [] });
    if (ov.snapshot) img.src = api.snapshotUrl(id, ov.ts);
    else msg.replaceChildren(h('span', t('cam.no_picture')));
  }).catch((e) => msg.replaceChildren(errorBox(e)));

  return h('section.panel.zone-editor',
    h('h2', t('zones.title')),
    h('p.note', t('zones.note')),
    h('div.editor-tools',
      h('button', { type: 'button', onclick: () => start('zone') }, t('zones.new_zone')),
      h('button', { type: 'button', onclick: () => start('line') }, t('zones.new_line')),
      name, save, cancel),
    h('div.editor-stage', img, canvas),
    msg,
    list);
}
