// The review panel of an event: status, the two-person rule, actions with a
// comment, assignment, export and dispatch (enabled only when the server
// would allow them: a face match needs two confirmations), the export with
// originals (investigators, supervisors: a reason, audited) and the history. Keys: c confirm, r reject (focuses
// the reason), s assign, a acknowledge — only while no text field has focus.
import { api } from './api.js';
import { store } from './app.js';
import { t, tOr, fmtTime } from './i18n.js';
import { h, errorBox } from './util.js';

const STATUS_CLASS = {
  new: 'st-new',
  acknowledged: 'st-ack',
  pending_confirmation: 'st-pending',
  confirmed: 'st-confirmed',
  rejected: 'st-rejected',
};

/** Builds the panel for event `e`; returns [element, cleanup]. */
export function reviewPanel(e) {
  const box = h('section.review', { 'aria-label': t('review.title') });
  const comment = h('textarea.review-comment', { rows: 2, placeholder: t('review.comment_hint'), 'aria-label': t('review.comment') });
  const assignee = h('input.review-assignee', { type: 'text', placeholder: t('review.assignee_hint'), 'aria-label': t('review.assignee') });
  const msg = h('div.review-msg', { role: 'status' });
  let alive = true;

  async function act(action) {
    msg.replaceChildren();
    const body = { action };
    if (comment.value.trim()) body.comment = comment.value.trim();
    if (action === 'assign') body.assignee = assignee.value.trim();
    try {
      await api.review(e.id, body);
      if (action !== 'assign') comment.value = '';
      if (action === 'ack' || action === 'confirm' || action === 'reject') store.ack(e.id, false);
      await load();
      msg.replaceChildren(h('span.ok', t(`review.done.${action}`)));
    } catch (err) {
      if (action === 'reject' && err.status === 409) comment.focus();
      msg.replaceChildren(errorBox(err));
    }
  }

  /** Mirrors the server's release rule (store::release_check): never a
   * rejected event; a kind needing several confirmations only once confirmed. */
  const releasable = (st) => st.status !== 'rejected'
    && (st.confirmations_required <= 1 || st.status === 'confirmed');

  async function exportPackage() {
    msg.replaceChildren();
    try {
      const pkg = await api.exportEvent(e.id);
      download(pkg, `kuzet-event-${e.id}.json`);
      msg.replaceChildren(h('span.ok', t('review.done.export', { n: pkg.files.length })));
    } catch (err) {
      msg.replaceChildren(errorBox(err));
    }
  }

  function download(pkg, name) {
    const url = URL.createObjectURL(new Blob([JSON.stringify(pkg, null, 1)], { type: 'application/json' }));
    const a = h('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // Export with the un-masked originals: asks for the case and reason (the
  // server audits it) and says plainly when the two-person rule refuses it.
  const origReason = h('input.export-originals-reason', { type: 'text', maxlength: 500,
    placeholder: t('originals.reason'), 'aria-label': t('originals.reason') });
  const origMsg = h('div.export-originals-msg', { role: 'status' });
  const origForm = h('form.export-originals-form', {
    hidden: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      origMsg.replaceChildren();
      try {
        const pkg = await api.exportOriginals(e.id, origReason.value.trim());
        download(pkg, `kuzet-event-${e.id}-originals.json`);
        origReason.value = '';
        origForm.hidden = true;
        origMsg.replaceChildren(h('span.ok', t('originals.done', { n: pkg.files.length })));
      } catch (err) {
        // 409: the release rule refused it (the two-person rule, or an
        // event rejected as a false alarm); say which, in the server's words.
        const twoPerson = err.status === 409 && /two-person/.test(String(err.message));
        origMsg.replaceChildren(err.status === 409
          ? h('div.error.export-originals-refused', { role: 'alert' },
            twoPerson ? h('b', t('originals.refused')) : null, twoPerson ? ' ' : null,
            String(err.message), err.hint ? h('div.hint', err.hint) : null)
          : errorBox(err));
      }
    },
  }, origReason, h('button.export-originals-submit', { type: 'submit' }, t('originals.confirm')));
  const origButton = h('button.export-originals', { type: 'button', title: t('originals.title'),
    onclick: () => { origForm.hidden = false; origMsg.replaceChildren(); origReason.focus(); } }, t('originals.action'));

  async function dispatchEvent() {
    msg.replaceChildren();
    const body = {};
    if (comment.value.trim()) body.note = comment.value.trim();
    try {
      await api.dispatch(e.id, body);
      comment.value = '';
      await load();
      msg.replaceChildren(h('span.ok', t('review.done.dispatch')));
    } catch (err) {
      msg.replaceChildren(errorBox(err));
    }
  }

  const button = (action, key) => h(`button.review-${action}`, { type: 'button', onclick: () => act(action), title: `${t(`review.action.${action}`)} (${key})` }, t(`review.action.${action}`));

  async function load() {
    const r = await api.reviewHistory(e.id);
    if (!alive) return;
    const st = r.state;
    const need = st.confirmations_required;
    const got = st.confirmed_by.length;
    box.replaceChildren(
      h('h3', t('review.title')),
      h('div.review-state',
        h(`span.review-status.${STATUS_CLASS[st.status] || 'st-new'}`, { 'data-status': st.status }, tOr(`review.status.${st.status}`, st.status)),
        need > 1 ? h('span.review-rule', t('review.two_person', { got, need })) : null,
        st.assignee ? h('span.review-assigned', t('review.assigned_to', { name: st.assignee })) : null),
      ...(store.mayReview() ? [comment,
        h('div.review-actions',
          button('ack', 'a'), button('confirm', 'c'), button('reject', 'r'),
          assignee, button('assign', 's'), button('comment', '—'), button('reopen', '—'))] : []),
      ...(store.mayRelease() ? [h('div.review-release',
        h('button.review-export', { type: 'button', disabled: !releasable(st), onclick: exportPackage,
          title: releasable(st) ? t('review.action.export') : t('review.release_blocked', { need }) }, t('review.action.export')),
        h('button.review-dispatch', { type: 'button', disabled: !releasable(st), onclick: dispatchEvent,
          title: releasable(st) ? t('review.action.dispatch') : t('review.release_blocked', { need }) }, t('review.action.dispatch')),
        releasable(st) ? null : h('span.review-release-note', t('review.release_blocked', { need })))] : []),
      // Not disabled before the rule is met: the server's refusal (409,
      // audited) is shown as it is, so the reason is never guessed here.
      ...(store.mayUnmask() ? [h('div.review-originals', origButton, origForm, origMsg)] : []),
      msg,
      r.history.length
        ? h('ol.review-history', r.history.map((x) => h('li',
          h('time', fmtTime(x.ts, true)), ' ', h('b', x.actor), ' ', tOr(`review.action.${x.action}`, x.action),
          x.assignee ? ` → ${x.assignee}` : '', x.comment ? h('q', x.comment) : null)))
        : h('div.empty', t('review.no_history')));
  }

  function onKey(ev) {
    if (!store.mayReview()) return;
    const tag = (document.activeElement && document.activeElement.tagName) || '';
    if (tag === 'TEXTAREA' || tag === 'INPUT' || tag === 'SELECT' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === 'c') act('confirm');
    else if (ev.key === 'a') act('ack');
    else if (ev.key === 'r') { if (comment.value.trim()) act('reject'); else { ev.preventDefault(); comment.focus(); } }
    else if (ev.key === 's') { ev.preventDefault(); assignee.focus(); }
  }
  document.addEventListener('keydown', onKey);
  load().catch((err) => { if (alive) box.replaceChildren(errorBox(err)); });
  return [box, () => { alive = false; document.removeEventListener('keydown', onKey); }];
}

/** The evidence package of a traffic offence: frames in order with their
 * offsets from the decisive moment, and the crops (vehicle, plate, regions). */
export function packageView(pkg) {
  if (!pkg || !Array.isArray(pkg.frames)) return null;
  const crops = [];
  if (pkg.vehicle_crop) crops.push([t('detail.vehicle'), pkg.vehicle_crop]);
  if (pkg.plate && pkg.plate.crop) crops.push([`${t('detail.plate')}: ${pkg.plate.text}`, pkg.plate.crop]);
  for (const [name, hash] of Object.entries(pkg.regions || {})) crops.push([name, hash]);
  return h('section.package',
    h('h3', t('detail.package'), pkg.complete ? null : h('span.incomplete', ` (${t('detail.incomplete')})`)),
    h('div.crops', crops.map(([label, hash]) => h('figure', h('img', { src: api.evidenceUrl(hash), alt: label }), h('figcaption', label)))),
    h('p.plate-status', `${t('detail.plate')}: `, pkg.plate ? pkg.plate.text : tOr(`plate.${pkg.plate_status}`, pkg.plate_status || '—')),
    h('div.filmstrip', pkg.frames.map((f) => h(`figure.phase-${f.phase}`,
      h('img', { src: api.evidenceUrl(f.evidence), alt: `${f.phase} ${f.offset_ms} ms`, loading: 'lazy' }),
      h('figcaption', `${f.offset_ms > 0 ? '+' : ''}${(f.offset_ms / 1000).toFixed(1)} s`)))));
}
