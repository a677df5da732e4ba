// Events: search by camera, kind and time range, paged by next_before_id.
import { api } from './api.js';
import { store, priorityOf } from './app.js';
import { t, tOr, fmtTime, fmtNum } from './i18n.js';
import { h, errorBox } from './util.js';

const KNOWN_KINDS = ['zone_enter', 'zone_exit', 'zone_dwell', 'line_cross'];
const PAGE = 50;

function toIso(v) { return v ? new Date(v).toISOString() : ''; }

export function render(el) {
  const form = h('form.search');
  const table = h('table.events');
  const pager = h('div.pager');
  const err = h('div');
  const cursors = []; // before_id of each page shown so far ('' = newest)
  let query = {};
  el.append(h('section.panel', h('h2', t('nav.events')), form, err, table, pager));

  async function buildForm() {
    let kinds = KNOWN_KINDS;
    try { kinds = [...new Set([...KNOWN_KINDS, ...Object.keys((await api.stats()).by_kind || {})])].sort(); } catch (_) { /* defaults */ }
    const sel = (name, opts) => h('select', { name }, h('option', { value: '' }, t('filter.all')), opts.map(([v, l]) => h('option', { value: v }, l)));
    form.replaceChildren(
      h('label', h('span', t('filter.camera')), sel('camera', [...store.cameras.keys()].map((c) => [c, store.cameraName(c)]))),
      h('label', h('span', t('filter.kind')), sel('kind', kinds.map((k) => [k, tOr(`kind.${k}`, k)]))),
      h('label', h('span', t('events.since')), h('input', { type: 'datetime-local', name: 'since', step: '1' })),
      h('label', h('span', t('events.until')), h('input', { type: 'datetime-local', name: 'until', step: '1' })),
      h('button', { type: 'submit' }, t('action.search')));
  }

  async function load(before) {
    err.replaceChildren();
    const params = { limit: PAGE, ...query };
    if (before) params.before_id = before;
    let page;
    try { page = await api.events(params); } catch (e) { err.replaceChildren(errorBox(e)); return; }
    const head = h('tr', ['field.time', 'field.kind', 'field.camera', 'field.label', 'field.track', 'field.rule', 'field.score', 'field.evidence'].map((k) => h('th', t(k))));
    const rows = page.events.map((e) => h(`tr.prio-${priorityOf(e.kind)}`, { dataset: { id: e.id }, onclick: () => { location.hash = `#/events/${e.id}`; } },
      h('td', h('a', { href: `#/events/${e.id}` }, fmtTime(e.ts, true))),
      h('td', tOr(`kind.${e.kind}`, e.kind)),
      h('td', store.cameraName(e.camera)),
      h('td', e.label || ''),
      h('td', e.track_id ?? ''),
      h('td', e.rule || ''),
      h('td', e.score ? fmtNum(e.score, { style: 'percent' }) : ''),
      h('td', e.evidence_url ? h('img.thumb', { src: e.evidence_url, alt: '', loading: 'lazy' }) : '')));
    table.replaceChildren(h('thead', head), h('tbody', rows.length ? rows : h('tr', h('td.empty', { colspan: 8 }, t('events.none')))));
    pager.replaceChildren(
      h('button', { type: 'button', disabled: cursors.length <= 1, onclick: () => { cursors.pop(); load(cursors[cursors.length - 1]); } }, t('action.newer')),
      h('span.page', t('events.page', { n: cursors.length })),
      h('button', { type: 'button', disabled: !page.next_before_id, onclick: () => { cursors.push(page.next_before_id); load(page.next_before_id); } }, t('action.older')));
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    query = {};
    for (const k of ['camera', 'kind']) if (f.get(k)) query[k] = f.get(k);
    for (const k of ['since', 'until']) if (f.get(k)) query[k] = toIso(f.get(k));
    cursors.length = 0;
    cursors.push('');
    load('');
  });
  buildForm().then(() => { cursors.push(''); load(''); });
}
