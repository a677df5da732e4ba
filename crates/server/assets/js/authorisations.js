// Legal authorisations for live face matching and retrospective face searches:
// investigators and supervisors request them, a second supervisor approves,
// supervisors revoke with a reason, auditors read. The four-eyes rule, the
// urgent lapse (24 h live / 48 h retrospective) and the separation of
// missing-person from criminal lists are the server's; a refused call shows
// the server's reason.
import { api } from './api.js';
import { store } from './app.js';
import { t, fmtTime } from './i18n.js';
import { h, errorBox } from './util.js';

const PURPOSES = ['live', 'retrospective', 'both'];
const CLASSES = ['criminal', 'missing'];

/** Epoch ms of a `datetime-local` value (local time), or null when empty. */
function localMs(v) {
  if (!v) return null;
  const ms = new Date(v).getTime();
  return Number.isNaN(ms) ? NaN : ms;
}

function requestForm(onDone) {
  const msg = h('div', { role: 'status', id: 'auth-status' });
  const form = h('form.search.auth-request', { id: 'auth-request' },
    h('label', h('span', t('auth.purpose')), h('select', { name: 'purpose' },
      ...PURPOSES.map((p) => h('option', { value: p }, t(`auth.purpose.${p}`))))),
    h('label', h('span', t('auth.legal_ground')), h('input', { name: 'legal_ground', required: true, autocomplete: 'off' })),
    h('label', h('span', t('lists.authority')), h('input', { name: 'authority', required: true })),
    h('label', h('span', t('auth.decision_ref')), h('input', { name: 'decision_ref', required: true, autocomplete: 'off' })),
    h('label', h('span', t('auth.cameras')), h('input', { name: 'cameras', required: true, placeholder: 'gate,stadium' })),
    h('label', h('span', t('auth.watchlists')), h('input', { name: 'watchlists', required: true, placeholder: 'wanted' })),
    h('label', h('span', t('auth.list_class')), h('select', { name: 'list_class' },
      ...CLASSES.map((c) => h('option', { value: c }, t(`auth.class.${c}`))))),
    h('label', h('span', t('auth.window_start')), h('input', { name: 'window_start', type: 'datetime-local' })),
    h('label', h('span', t('auth.window_end')), h('input', { name: 'window_end', type: 'datetime-local' })),
    h('label', h('span', t('lists.expires')), h('input', { name: 'expires', type: 'date', required: true })),
    h('label.check', h('input', { name: 'urgent', type: 'checkbox' }), h('span', t('auth.urgent'))),
    h('button', { type: 'submit', id: 'auth-submit' }, t('auth.request')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    // The decision expires at the end of the chosen day, local time.
    const expires = new Date(`${f.get('expires')}T23:59:59`).getTime();
    if (Number.isNaN(expires) || expires <= Date.now()) {
      msg.replaceChildren(h('div.error', t('auth.expiry_past'))); return;
    }
    const start = localMs(f.get('window_start'));
    const end = localMs(f.get('window_end'));
    if (Number.isNaN(start) || Number.isNaN(end) || (start !== null && end !== null && end <= start)) {
      msg.replaceChildren(h('div.error', t('auth.window_bad'))); return;
    }
    const body = {
      purpose: f.get('purpose'),
      legal_ground: f.get('legal_ground').trim(),
      authority: f.get('authority').trim(),
      decision_ref: f.get('decision_ref').trim(),
      cameras: f.get('cameras').trim(),
      watchlists: f.get('watchlists').split(',').map((s) => s.trim()).filter(Boolean),
      list_class: f.get('list_class'),
      expires: String(expires),
      urgent: !!f.get('urgent'),
    };
    if (start !== null) body.window_start = String(start);
    if (end !== null) body.window_end = String(end);
    const button = form.elements['auth-submit'];
    button.disabled = true;
    try {
      const a = await api.requestAuthorisation(body);
      msg.replaceChildren(h('span.ok', t('auth.requested', { id: a.id, status: t(`auth.status.${a.status}`) })));
      form.elements.decision_ref.value = '';
      await onDone();
    } catch (e) {
      msg.replaceChildren(errorBox(e));
    } finally {
      button.disabled = false;
    }
  });
  return h('div', h('h3', t('auth.request_title')), h('p.note', t('auth.note')), form, msg);
}

function row(a, load, msg) {
  const role = store.user && store.user.role;
  const me = store.user && store.user.name;
  const act = async (f) => {
    try { await f(); msg.replaceChildren(); await load(); } catch (e) { msg.replaceChildren(errorBox(e)); }
  };
  const actions = [];
  const open = ['pending', 'urgent', 'active'].includes(a.status);
  // Four eyes: the server refuses the requester's own approval; the button
  // is not offered for it either.
  if (role === 'supervisor' && !a.approved && open && a.requested_by !== me) {
    actions.push(h('button.approve', { type: 'button', onclick: () => act(() => api.approveAuthorisation(a.id)) }, t('auth.approve')));
  }
  if (role === 'supervisor' && open) {
    actions.push(h('button.danger', {
      type: 'button',
      onclick: () => {
        const reason = window.prompt(t('auth.revoke_reason'));
        if (reason && reason.trim()) act(() => api.revokeAuthorisation(a.id, reason.trim()));
      },
    }, t('auth.revoke')));
  }
  const window_ = a.window_start || a.window_end
    ? `${a.window_start ? fmtTime(a.window_start, true) : '…'} – ${a.window_end ? fmtTime(a.window_end, true) : '…'}`
    : '—';
  let status = t(`auth.status.${a.status}`);
  if (a.status === 'urgent' && a.urgent_deadline) status += ` (${t('auth.until', { time: fmtTime(a.urgent_deadline, true) })})`;
  return h('tr', { dataset: { auth: a.id, status: a.status }, class: `auth-${a.status}` },
    h('td', String(a.id)),
    h('td.auth-status', status),
    h('td', t(`auth.purpose.${a.purpose}`)),
    h('td', a.scope_text || a.cameras.join(', ')),
    h('td', a.watchlists.join(', '), h('small', ` (${t(`auth.class.${a.list_class}`)})`)),
    h('td', a.legal_ground, h('br'), h('small', `${a.authority} · ${a.decision_ref}`)),
    h('td', window_),
    h('td', fmtTime(a.expires, true)),
    h('td', a.requested_by, a.approved_by ? h('small', ` → ${a.approved_by}`) : null,
      a.revoked_by ? h('small', ` ✕ ${a.revoked_by}: ${a.revoke_reason || ''}`) : null),
    h('td', ...actions));
}

export function render(el) {
  const body = h('div', { id: 'authorisations' });
  const msg = h('div', { role: 'status' });
  async function load() {
    let list;
    try { ({ authorisations: list } = await api.authorisations()); } catch (e) {
      body.replaceChildren(e.status === 403 ? h('div.empty', t('auth.off')) : errorBox(e));
      return false;
    }
    body.replaceChildren(list.length
      ? h('table.events',
        h('tr', ['auth.id', 'auth.status', 'auth.purpose', 'auth.cameras', 'auth.watchlists', 'auth.legal_ground',
          'auth.window', 'lists.expires', 'auth.people', ''].map((k) => h('th', k ? t(k) : ''))),
        list.map((a) => row(a, load, msg)))
      : h('div.empty', t('auth.none')));
    return true;
  }
  const panel = h('section.panel', h('h2', t('auth.title')), msg, body);
  load().then((ok) => {
    const role = store.user && store.user.role;
    if (ok && ['investigator', 'supervisor'].includes(role)) panel.append(requestForm(load));
  });
  // Statuses change with time (urgent lapses, expiries): refresh while open.
  const timer = setInterval(load, 30000);
  el.append(h('div.search-view', panel));
  return () => clearInterval(timer);
}
