// The public transparency report (no login): what this installation does with
// biometrics and how often, from `/api/transparency`. Only totals are shown;
// the server never sends names, cameras or times on this route.
import { setLang, initialLang, t, fmtNum, fmtTime, onLangChange, current } from './i18n.js';
import { h, errorBox } from './util.js';

/** Count keys in the order a reader asks about them, grouped. */
const GROUPS = [
  ['transparency.group.searches', ['face_searches', 'face_identifications', 'lost_child_searches']],
  ['transparency.group.matches', ['face_matches', 'face_matches_confirmed', 'face_matches_rejected_as_false', 'face_matches_pending']],
  ['transparency.group.release', ['exports', 'dispatches']],
  ['transparency.group.authorisations', ['authorisations', 'authorisations_approved', 'authorisations_revoked', 'authorisations_lapsed_and_purged']],
  ['transparency.group.lists', ['watchlist_enrolments', 'watchlist_removals']],
  ['transparency.group.access', ['refused_requests', 'failed_logins']],
];

function countValue(v) {
  if (v === null || v === undefined) return t('transparency.not_recorded');
  if (typeof v === 'object') {
    // A breakdown (e.g. authorisations by state): its parts, summed first.
    const parts = Object.entries(v);
    const total = parts.reduce((a, [, n]) => a + (Number(n) || 0), 0);
    return `${fmtNum(total)} (${parts.map(([k, n]) => `${k}: ${fmtNum(n)}`).join(', ')})`;
  }
  return fmtNum(v);
}

function render(view, r, at) {
  const status = h('section.panel', { id: 'transparency-status' },
    h('h2', t('transparency.status')),
    h('p', t(r.biometrics_enabled ? 'transparency.biometrics_on' : 'transparency.biometrics_off')),
    h('p.muted', t(r.law_enforcement ? 'transparency.law_enforcement' : 'transparency.not_law_enforcement')),
    h('p.muted', t('transparency.generated', { time: fmtTime(at, true) })));
  const counts = h('section.panel', { id: 'transparency-counts' }, h('h2', t('transparency.counts')));
  for (const [title, keys] of GROUPS) {
    const rows = keys
      .filter((k) => k in (r.counts || {}))
      .map((k) => h('tr', { 'data-count': k }, h('th', t(`transparency.count.${k}`)), h('td.num', countValue(r.counts[k]))));
    if (rows.length) counts.append(h('h3', t(title)), h('table.events.kv', h('tbody', ...rows)));
  }
  const known = new Set(GROUPS.flatMap(([, k]) => k));
  const other = Object.keys(r.counts || {}).filter((k) => !known.has(k));
  if (other.length) {
    counts.append(h('h3', t('transparency.group.other')),
      h('table.events.kv', h('tbody', ...other.map((k) => h('tr', { 'data-count': k }, h('th', k), h('td.num', countValue(r.counts[k])))))));
  }
  const register = h('section.panel', { id: 'transparency-register' },
    h('h2', t('transparency.register')),
    h('p.muted', t('transparency.register_note')),
    h('table.events.register',
      h('thead', h('tr', h('th', t('transparency.module')), h('th', t('transparency.purpose')), h('th', t('transparency.risk')), h('th', t('transparency.safeguards')))),
      h('tbody', ...(r.register || []).map((m) => h('tr', { 'data-module': m.module },
        h('td', h('code', m.module)), h('td', m.purpose), h('td', m.risk_class), h('td', m.safeguards))))));
  const sharing = h('section.panel', { id: 'transparency-sharing' },
    h('h2', t('transparency.sharing')),
    h('p.muted', t('transparency.sharing_note')));
  const shared = r.camera_sharing || [];
  if (!shared.length) {
    sharing.append(h('p', t('transparency.sharing_none')));
  } else {
    sharing.append(h('table.events.register',
      h('thead', h('tr', h('th', t('transparency.owner_kind')), h('th', t('transparency.cameras')), h('th', t('transparency.analytics')),
        h('th', t('transparency.viewer_roles')), h('th', t('transparency.retention')), h('th', t('transparency.valid_until')))),
      h('tbody', ...shared.map((a) => h('tr', { 'data-owner-kind': a.owner_kind },
        h('td', t(`transparency.kind.${a.owner_kind}`)),
        h('td.num', fmtNum(a.cameras)),
        h('td', a.analytics.length ? a.analytics.join(', ') : t('transparency.detection_only')),
        h('td', a.viewer_roles ? a.viewer_roles.join(', ') : t('transparency.all_roles')),
        h('td', a.retention_days ? t('transparency.days', { n: fmtNum(a.retention_days) }) : t('transparency.no_cap')),
        h('td', a.valid_until || t('transparency.open_ended')))))));
  }
  view.replaceChildren(status, counts, sharing, register);
}

async function main() {
  await setLang(initialLang());
  const sel = document.getElementById('lang');
  sel.value = current();
  sel.addEventListener('change', () => setLang(sel.value));
  const view = document.getElementById('view');
  let report = null;
  let at = Date.now();
  const show = () => { if (report) render(view, report, at); };
  onLangChange(show);
  try {
    const res = await fetch('/api/transparency', { headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`${t('transparency.unavailable')} (HTTP ${res.status})`);
    report = await res.json();
    at = Date.now();
    show();
  } catch (e) {
    view.replaceChildren(errorBox(e));
  }
  document.body.dataset.ready = 'true';
}

main();
