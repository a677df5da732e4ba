// Search: plates by wildcard (and vehicles by type and colour), faces by an
// uploaded photo. Every result links to its evidence. Events by time, camera
// and kind are the Events view.
import { api } from './api.js';
import { store } from './app.js';
import { t, tOr, fmtTime, fmtNum } from './i18n.js';
import { h, errorBox } from './util.js';

const VEHICLE_TYPES = ['car', 'bus', 'truck', 'motorcycle'];
const COLOURS = ['white', 'silver', 'grey', 'black', 'red', 'blue', 'green', 'yellow', 'orange', 'brown', 'beige', 'purple'];

const iso = (v) => (v ? new Date(v).toISOString() : undefined);
const thumb = (hash, alt, cls = 'thumb') => (hash
  ? h('a', { href: api.evidenceUrl(hash), target: '_blank', rel: 'noopener' }, h(`img.${cls}`, { src: api.evidenceUrl(hash), alt, loading: 'lazy' }))
  : '—');
const cameraSelect = (name) => h('select', { name }, h('option', { value: '' }, t('filter.all')),
  [...store.cameras.keys()].map((c) => h('option', { value: c }, store.cameraName(c))));
const range = () => [
  h('label', h('span', t('events.since')), h('input', { type: 'datetime-local', name: 'since', step: '1' })),
  h('label', h('span', t('events.until')), h('input', { type: 'datetime-local', name: 'until', step: '1' })),
];

/** A search form of `fields`, the time range and a button; on submit,
 * `run(formData, params)` (params already holding the range) returns what
 * to show below it. */
function searchForm(cls, fields, run) {
  const form = h(`form.search.${cls}`, ...fields, ...range(), h('button', { type: 'submit' }, t('action.search')));
  const out = h('div.results');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const params = {};
    if (f.get('since')) params.since = iso(f.get('since'));
    if (f.get('until')) params.until = iso(f.get('until'));
    out.replaceChildren(h('div.empty', '…'));
    try { out.replaceChildren(await run(f, params)); } catch (e) { out.replaceChildren(errorBox(e)); }
  });
  return [form, out];
}

const choice = (name, values, prefix) => h('select', { name }, h('option', { value: '' }, t('filter.all')),
  values.map((v) => h('option', { value: v }, tOr(`${prefix}.${v}`, v))));

function platesPanel() {
  const [form, out] = searchForm('search-plates', [
    h('label', h('span', t('search.plate')), h('input', { name: 'pattern', placeholder: t('search.plate_hint'), autocomplete: 'off' })),
    h('label', h('span', t('filter.camera')), cameraSelect('camera')),
    h('label', h('span', t('search.type')), choice('type', VEHICLE_TYPES, 'vehicle')),
    h('label', h('span', t('search.colour')), choice('colour', COLOURS, 'colour')),
  ], async (f, params) => {
    params.limit = 200;
    for (const k of ['pattern', 'camera']) if (f.get(k)) params[k] = f.get(k);
    const r = await api.plates(params);
    // Type and colour narrow the plate query in the browser: reads carry both.
    const reads = (r.reads || []).filter((x) => (!f.get('type') || x.vehicle_type === f.get('type'))
      && (!f.get('colour') || x.colour === f.get('colour')));
    if (!reads.length) return h('div.empty', t('search.none'));
    return h('table.events.plate-results',
      h('tr', ['search.plate', 'detail.plate', 'detail.vehicle', 'field.camera', 'field.time', 'search.type', 'search.colour', 'field.score', 'search.hotlist'].map((k) => h('th', t(k)))),
      reads.map((x) => h('tr', { dataset: { plate: x.plate } },
        h('td.plate-text', h('a', { href: x.frame ? api.evidenceUrl(x.frame) : '#', target: '_blank', rel: 'noopener' }, x.plate)),
        h('td', thumb(x.plate_crop, x.plate)),
        h('td', thumb(x.vehicle_crop, x.vehicle_type || '')),
        h('td', store.cameraName(x.camera)),
        h('td', fmtTime(x.first_seen, true)),
        h('td', x.vehicle_type ? tOr(`vehicle.${x.vehicle_type}`, x.vehicle_type) : '—'),
        h('td', x.colour ? tOr(`colour.${x.colour}`, x.colour) : '—'),
        h('td', fmtNum(x.confidence, { style: 'percent', maximumFractionDigits: 0 })),
        h('td', x.hotlist_hits ? h('b.hit', String(x.hotlist_hits)) : ''))));
  });
  return h('section.panel', h('h2', t('search.plates_title')), form, out);
}

function facesPanel() {
  const [form, out] = searchForm('search-faces', [
    h('label', h('span', t('search.photo')), h('input', { type: 'file', name: 'photo', accept: 'image/jpeg,image/png', required: true })),
    h('label', h('span', t('search.reason')), h('input', { name: 'reason', required: true, minlength: 5, placeholder: t('search.reason_hint') })),
    h('label', h('span', t('search.authorisation')), h('input', { name: 'authorisation', type: 'number', min: 1, required: true, placeholder: t('search.authorisation_hint') })),
    h('label', h('span', t('filter.camera')), cameraSelect('cameras')),
  ], async (f, params) => {
    params.reason = f.get('reason');
    params.authorisation = f.get('authorisation');
    if (f.get('cameras')) params.cameras = f.get('cameras');
    const r = await api.faceSearch(params, f.get('photo'));
    if (!r.appearances.length) return h('div.empty', t('search.none'));
    return h('table.events.face-results',
      h('tr', ['detail.crop', 'field.camera', 'search.first_seen', 'search.last_seen', 'field.score', 'search.sightings'].map((k) => h('th', t(k)))),
      r.appearances.map((a) => h('tr',
        h('td', thumb(a.best.crop, a.camera)),
        h('td', store.cameraName(a.camera)),
        h('td', fmtTime(a.first_seen, true)),
        h('td', fmtTime(a.last_seen, true)),
        h('td', fmtNum(a.best_score, { maximumFractionDigits: 3 })),
        h('td', String(a.sightings)))));
  });
  return h('section.panel', h('h2', t('search.faces_title')), h('p.note', t('search.faces_note')), form, out);
}

export function render(el) {
  el.append(h('div.search-view', platesPanel(), facesPanel()));
}
