// Live: the alert feed. High-priority alerts stay pinned until acknowledged.
import { store, priorityOf, PRIORITIES } from './app.js';
import { t, tOr, fmtTime, fmtNum } from './i18n.js';
import { h } from './util.js';

const filters = { kind: '', camera: '', priority: '' };

function matches(e) {
  return (!filters.kind || e.kind === filters.kind)
    && (!filters.camera || e.camera === filters.camera)
    && (!filters.priority || priorityOf(e.kind) === filters.priority);
}

export function alertRow(e, { selected = false } = {}) {
  const p = priorityOf(e.kind);
  const pinned = store.isPinned(e);
  const who = [e.label, e.track_id !== undefined && e.track_id !== null ? `#${e.track_id}` : null].filter(Boolean).join(' ');
  return h(`li.alert.prio-${p}${pinned ? '.pinned' : ''}${selected ? '.selected' : ''}`,
    { dataset: { id: e.id, kind: e.kind, priority: p }, tabindex: '-1',
      onclick: (ev) => { if (!ev.target.closest('button')) location.hash = `#/events/${e.id}`; } },
    h('span.prio', t(`prio.${p}`)),
    h('span.time', fmtTime(e.ts)),
    h('span.kind', tOr(`kind.${e.kind}`, e.kind)),
    h('span.cam', store.cameraName(e.camera)),
    h('span.who', who, e.rule ? h('span.rule', ` · ${e.rule}`) : null),
    h('span.score', e.score ? fmtNum(e.score, { style: 'percent' }) : ''),
    e.evidence_url ? h('img.thumb', { src: e.evidence_url, alt: '', loading: 'lazy' }) : h('span.thumb'),
    pinned
      ? h('button.ack', { type: 'button', onclick: () => store.ack(e.id) }, t('action.ack'))
      : h('span.acked', priorityOf(e.kind) === 'high' ? t('action.acked') : ''));
}

function select(label, value, options, onchange) {
  return h('label.filter', h('span', label),
    h('select', { onchange: (ev) => onchange(ev.target.value) },
      h('option', { value: '' }, t('filter.all')),
      options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
}

export function render(el) {
  let selected = null; // event id
  const pinnedList = h('ul.alerts.pinned-list');
  const feedList = h('ul.alerts.feed');
  const filterBar = h('div.filters');
  const pinnedBox = h('section.panel.pinned-panel', h('h2', t('live.pinned')), pinnedList);

  function visible() { return store.feed.filter(matches); }

  function drawFilters() {
    const kinds = [...new Set(store.feed.map((e) => e.kind).concat(Object.keys({ zone_dwell: 1, line_cross: 1, zone_enter: 1, zone_exit: 1 })))].sort();
    filterBar.replaceChildren(
      select(t('filter.kind'), filters.kind, kinds.map((k) => [k, tOr(`kind.${k}`, k)]), (v) => { filters.kind = v; draw(); }),
      select(t('filter.camera'), filters.camera, [...store.cameras.keys()].map((c) => [c, store.cameraName(c)]), (v) => { filters.camera = v; draw(); }),
      select(t('filter.priority'), filters.priority, PRIORITIES.map((p) => [p, t(`prio.${p}`)]), (v) => { filters.priority = v; draw(); }),
      h('div.keys', t('live.keys')));
  }

  function draw() {
    const list = visible();
    const pinned = list.filter((e) => store.isPinned(e));
    pinnedBox.hidden = pinned.length === 0;
    pinnedList.replaceChildren(...pinned.map((e) => alertRow(e, { selected: e.id === selected })));
    const rest = list.filter((e) => !store.isPinned(e));
    feedList.replaceChildren(...(rest.length ? rest.map((e) => alertRow(e, { selected: e.id === selected })) : [h('li.empty', t('live.empty'))]));
  }

  function order() { return [...pinnedList.querySelectorAll('.alert'), ...feedList.querySelectorAll('.alert')].map((li) => Number(li.dataset.id)); }

  function move(d) {
    const ids = order();
    if (!ids.length) return;
    const i = ids.indexOf(selected);
    selected = ids[Math.max(0, Math.min(ids.length - 1, i < 0 ? 0 : i + d))];
    draw();
    const li = el.querySelector(`.alert[data-id="${selected}"]`);
    if (li) li.scrollIntoView({ block: 'nearest' });
  }

  function onKey(ev) {
    if (ev.target.closest('input, select, textarea') || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === 'j') move(1);
    else if (ev.key === 'k') move(-1);
    else if (ev.key === 'a' && selected !== null) {
      const e = store.feed.find((x) => x.id === selected);
      if (e && store.isPinned(e)) store.ack(selected);
    } else if ((ev.key === 'Enter' || ev.key === 'o') && selected !== null) location.hash = `#/events/${selected}`;
    else return;
    ev.preventDefault();
  }

  el.append(h('div.live-layout',
    h('div.live-main', pinnedBox, h('section.panel', h('h2', t('live.feed')), feedList)),
    h('aside.panel.live-side', h('h2', t('live.filters')), filterBar)));
  drawFilters();
  draw();
  const unsub = store.subscribe((what) => { if (what === 'reset' || what === 'event') drawFilters(); draw(); });
  document.addEventListener('keydown', onKey);
  return () => { unsub(); document.removeEventListener('keydown', onKey); };
}
