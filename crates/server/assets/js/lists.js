// Lists: plate hotlists (add, import one by one, remove) and face
// watchlists: enrolment from a photo with its legal basis, the persons of each
// list and their removal (roles and biometric gating are the server's: a
// refused call shows the server's reason).
import { api } from './api.js';
import { store } from './app.js';
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

const CATEGORIES = ['wanted', 'missing', 'debtor', 'custom'];

/** Enrolment form: one photo per submission (the server refuses photos with no
 * face, several faces unless "largest", or too low quality, and says why). */
function enrolForm(onDone) {
  const msg = h('div', { role: 'status', id: 'enrol-status' });
  const form = h('form.search.enrol', { id: 'enrol' },
    h('label', h('span', t('lists.list')), h('input', { name: 'list', required: true, placeholder: 'missing-2026' })),
    h('label', h('span', t('lists.category')), h('select', { name: 'category' },
      ...CATEGORIES.map((c) => h('option', { value: c }, t(`lists.cat.${c}`))))),
    h('label', h('span', t('lists.person')), h('input', { name: 'name', required: true, autocomplete: 'off' })),
    h('label', h('span', t('lists.case_number')), h('input', { name: 'case_number', required: true, autocomplete: 'off' })),
    h('label', h('span', t('lists.authority')), h('input', { name: 'authority', required: true })),
    h('label', h('span', t('lists.expires')), h('input', { name: 'expires', type: 'date', required: true })),
    h('label', h('span', t('lists.notes')), h('input', { name: 'notes' })),
    h('label.check', h('input', { name: 'largest', type: 'checkbox' }), h('span', t('lists.largest'))),
    h('label', h('span', t('lists.photo')), h('input', { name: 'photo', type: 'file', accept: 'image/jpeg,image/png', required: true })),
    h('button', { type: 'submit', id: 'enrol-submit' }, t('lists.enrol')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const photo = f.get('photo');
    if (!photo || !photo.size) { msg.replaceChildren(h('div.error', t('lists.photo_needed'))); return; }
    // The legal basis expires at the end of the chosen day, local time.
    const day = new Date(`${f.get('expires')}T23:59:59`);
    if (Number.isNaN(day.getTime()) || day.getTime() <= Date.now()) {
      msg.replaceChildren(h('div.error', t('lists.expiry_past'))); return;
    }
    const params = {
      name: f.get('name').trim(),
      category: f.get('category'),
      case_number: f.get('case_number').trim(),
      authority: f.get('authority').trim(),
      expires: String(day.getTime()),
      largest: f.get('largest') ? 'true' : 'false',
    };
    if (f.get('notes')) params.notes = f.get('notes').trim();
    const button = form.elements['enrol-submit'];
    button.disabled = true;
    msg.replaceChildren(h('span.muted', t('lists.enrolling')));
    try {
      const p = await api.enrol(f.get('list').trim(), params, photo);
      msg.replaceChildren(h('span.ok', t('lists.enrolled', { name: p.name, list: p.watchlist })));
      form.elements.name.value = '';
      form.elements.photo.value = '';
      await onDone();
    } catch (e) {
      msg.replaceChildren(errorBox(e));
    } finally {
      button.disabled = false;
    }
  });
  return h('div', h('h3', t('lists.enrol_title')), h('p.note', t('lists.watchlists_note')), form, msg);
}

function watchlistsPanel() {
  const body = h('div', { id: 'watchlists' });
  const msg = h('div', { role: 'status' });
  async function remove(p) {
    if (!window.confirm(t('lists.remove_confirm', { name: p.name }))) return;
    try { await api.removePerson(p.id); msg.replaceChildren(); await load(); } catch (e) { msg.replaceChildren(errorBox(e)); }
  }
  async function load() {
    let lists;
    try { lists = await api.watchlists(); } catch (e) {
      body.replaceChildren(e.status === 403 ? h('div.empty', t('lists.faces_off')) : errorBox(e));
      return false;
    }
    body.replaceChildren(lists.length
      ? h('div', ...lists.map(({ watchlist: w, persons }) => h('div.watchlist', { dataset: { list: w.name } },
        h('h3', w.name, h('small', ` — ${t(`lists.cat.${w.category}`)} · ${t('lists.threshold')} ${Number(w.threshold).toFixed(2)} · ${t('lists.priority')} ${w.priority}`)),
        persons.length
          ? h('table.events',
            h('tr', ['lists.person', 'lists.case_number', 'lists.authority', 'lists.expires', 'lists.templates', ''].map((k) => h('th', k ? t(k) : ''))),
            persons.map((p) => {
              const expired = p.legal.expires && p.legal.expires <= Date.now();
              return h('tr', { dataset: { person: p.id }, class: expired ? 'expired' : '' },
                h('td', p.name, p.temporary ? h('small', ` (${t('lists.temporary')})`) : null),
                h('td', p.legal.case_number || '—'), h('td', p.legal.authority || '—'),
                h('td', p.legal.expires ? fmtTime(p.legal.expires, true) + (expired ? ` (${t('lists.expired')})` : '') : '—'),
                h('td', String(p.templates)),
                h('td', h('button.danger', { type: 'button', onclick: () => remove(p) }, t('zones.delete'))));
            }))
          : h('div.empty', t('lists.empty')))))
      : h('div.empty', t('lists.none')));
    return true;
  }
  const panel = h('section.panel', h('h2', t('lists.watchlists')), msg, body);
  load().then((ok) => {
    const role = store.user && store.user.role;
    if (ok && ['investigator', 'supervisor'].includes(role)) panel.append(enrolForm(load));
  });
  return panel;
}

export function render(el) {
  el.append(h('div.search-view', hotlistsPanel(), watchlistsPanel()));
}
