// Lists: plate hotlists (add, import one by one, remove) and face
// watchlists (read-only here; enrolment with photos and legal basis is
// `kuzet watchlist add` or POST /api/watchlists/{name}/persons).
import { api } from './api.js';
import { t, fmtTime } from './i18n.js';
import { h, errorBox } from './util.js';

function hotlistsPanel() {
  const body = h('div');
  const msg = h('div', { role: 'status' });
  const form = h('form.search.hotlist-add',
    h('label', h('span', t('lists.list')), h('input', { name: 'list', required: true, placeholder: 'stolen' })),
    h('label', h('span', t('search.plate')), h('input', { name: 'plate', required: true, autocomplete: 'off' })),
    h('label', h('span', t('lists.reason')), h('input', { name: 'reason' })),
    h('label', h('span', t('lists.priority')), h('input', { name: 'priority', type: 'number', value: '5', min: '0', max: '1000' })),
    h('button', { type: 'submit' }, t('lists.add')));

  async function load() {
    let lists;
    try { lists = await api.hotlists(); } catch (e) { body.replaceChildren(errorBox(e)); return; }
    if (!lists.length) { body.replaceChildren(h('div.empty', t('lists.none'))); return; }
    body.replaceChildren(...lists.map((l) => h('div.hotlist',
      h('h3', l.name, l.description ? h('small', ` — ${l.description}`) : null),
      l.items.length
        ? h('table.events', h('tr', ['search.plate', 'lists.reason', 'lists.priority', 'lists.expires', ''].map((k) => h('th', k ? t(k) : ''))),
          l.items.map((e) => h('tr', { dataset: { id: e.id } },
            h('td.plate-text', e.plate), h('td', e.reason || ''), h('td', String(e.priority ?? '')),
            h('td', e.expires ? fmtTime(e.expires, true) : '—'),
            h('td', h('button.danger', { type: 'button', onclick: () => remove(e.id) }, t('zones.delete'))))))
        : h('div.empty', t('lists.empty')))));
  }

  async function remove(id) {
    try { await api.removeHotlistEntry(id); msg.replaceChildren(); await load(); } catch (e) { msg.replaceChildren(errorBox(e)); }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const entry = { plate: f.get('plate').trim(), priority: Number(f.get('priority') || 0) };
    if (f.get('reason')) entry.reason = f.get('reason');
    try {
      await api.addHotlistEntries(f.get('list').trim(), entry);
      form.elements.plate.value = '';
      msg.replaceChildren(h('span.ok', t('lists.added')));
      await load();
    } catch (e) { msg.replaceChildren(errorBox(e)); }
  });
  load();
  return h('section.panel', h('h2', t('lists.hotlists')), form, msg, body);
}

function watchlistsPanel() {
  const body = h('div');
  api.watchlists().then((lists) => {
    if (!lists.length) { body.replaceChildren(h('div.empty', t('lists.none'))); return; }
    body.replaceChildren(h('table.events',
      h('tr', ['lists.list', 'lists.category', 'lists.threshold', 'lists.priority', 'lists.persons'].map((k) => h('th', t(k)))),
      lists.map(({ watchlist: w, persons }) => h('tr',
        h('td', w.name), h('td', w.category), h('td', String(w.threshold)), h('td', String(w.priority)), h('td', String(persons.length))))));
  }).catch((e) => body.replaceChildren(e.status === 403 ? h('div.empty', t('lists.faces_off')) : errorBox(e)));
  return h('section.panel', h('h2', t('lists.watchlists')), h('p.note', t('lists.watchlists_note')), body);
}

export function render(el) {
  el.append(h('div.search-view', hotlistsPanel(), watchlistsPanel()));
}
