// Event detail: every field, the evidence images and clip, the evidence
// lock and the audited un-mask of masked images.
import { api } from './api.js';
import { store, priorityOf } from './app.js';
import { t, tOr, fmtTime, fmtNum } from './i18n.js';
import { h, s, errorBox } from './util.js';
import { reviewPanel, packageView } from './review.js';
import { trackPanel, drawTrajectory } from './track.js';

function drawBox(canvas, img, bbox) {
  const w = img.clientWidth;
  const hh = img.clientHeight;
  if (!w || !img.naturalWidth) return;
  canvas.width = w;
  canvas.height = hh;
  const k = w / img.naturalWidth;
  const g = canvas.getContext('2d');
  g.strokeStyle = '#f87171';
  g.lineWidth = 3;
  g.strokeRect(bbox.x1 * k, bbox.y1 * k, (bbox.x2 - bbox.x1) * k, (bbox.y2 - bbox.y1) * k);
}

/** The event's video clip (`details.clip`), or null. */
function clipView(clip) {
  if (!clip || !clip.hash) return null;
  const secs = fmtNum((clip.duration_ms || 0) / 1000, { maximumFractionDigits: 1 });
  return h('figure.clip',
    h('video.evidence-clip', {
      src: api.evidenceUrl(clip.hash), controls: true, preload: 'metadata', muted: true, playsinline: true,
      width: clip.width, height: clip.height,
    }),
    h('figcaption', t('detail.clip', { seconds: secs, frames: clip.frames ?? '—' })));
}

/** Lock state and, for the roles the server allows, lock / unlock. */
function lockPanel(e) {
  const panel = h('section.lock-panel');
  const msg = h('div.lock-msg', { role: 'status' });
  const draw = () => {
    const l = e.lock;
    const state = l
      ? h('p.lock-state.locked', { dataset: { locked: 'true' } },
        h('strong', t('lock.locked')), ' ',
        t('lock.by', { case: l.case_ref, who: l.locked_by, when: fmtTime(l.locked, true) }),
        h('br'), h('span.lock-reason', l.reason))
      : h('p.lock-state', { dataset: { locked: 'false' } }, t('lock.unlocked'));
    const controls = [];
    if (!l && store.mayLock()) {
      const caseRef = h('input.lock-case', { type: 'text', maxlength: 200, placeholder: t('lock.case'), 'aria-label': t('lock.case') });
      const reason = h('input.lock-reason', { type: 'text', maxlength: 500, placeholder: t('lock.reason'), 'aria-label': t('lock.reason') });
      const form = h('form.lock-form', {
        hidden: true,
        onsubmit: (ev) => {
          ev.preventDefault();
          msg.replaceChildren();
          api.lockEvent(e.id, { case_ref: caseRef.value, reason: reason.value })
            .then((lock) => { e.lock = lock; draw(); })
            .catch((err) => msg.replaceChildren(errorBox(err)));
        },
      }, caseRef, reason, h('button.lock-submit', { type: 'submit' }, t('lock.confirm')));
      controls.push(h('button.lock', { type: 'button', onclick: () => { form.hidden = false; caseRef.focus(); } }, t('lock.lock')), form);
    }
    if (l && store.mayUnlock()) {
      controls.push(h('button.unlock', {
        type: 'button',
        onclick: () => {
          msg.replaceChildren();
          api.unlockEvent(e.id).then(() => { e.lock = null; draw(); }).catch((err) => msg.replaceChildren(errorBox(err)));
        },
      }, t('lock.unlock')));
    }
    panel.replaceChildren(h('h3', t('lock.title')), state, ...controls, msg);
  };
  draw();
  return panel;
}

/** For masked images: a badge, and for allowed roles the audited un-mask,
 * which shows the original in place under a banner. */
function maskControls(figure, img, hash, masked) {
  if (!masked.includes(hash)) return;
  figure.classList.add('masked');
  const cap = figure.querySelector('figcaption');
  cap.append(' ', h('span.masked-badge', t('unmask.masked')));
  if (!store.mayUnmask()) return;
  const reason = h('input.unmask-reason', { type: 'text', maxlength: 500, placeholder: t('unmask.reason'), 'aria-label': t('unmask.reason') });
  const msg = h('div.unmask-msg', { role: 'status' });
  const form = h('form.unmask-form', {
    hidden: true,
    onsubmit: (ev) => {
      ev.preventDefault();
      msg.replaceChildren();
      api.unmask(hash, reason.value).then((blob) => {
        img.src = URL.createObjectURL(blob);
        figure.classList.add('unmasked');
        figure.prepend(h('div.unmasked-banner', { role: 'alert' }, t('unmask.banner')));
        form.remove();
        btn.remove();
      }).catch((err) => msg.replaceChildren(errorBox(err)));
    },
  }, reason, h('button.unmask-submit', { type: 'submit' }, t('unmask.confirm')), msg);
  const btn = h('button.unmask', { type: 'button', onclick: () => { form.hidden = false; reason.focus(); } }, t('unmask.action'));
  figure.append(btn, form);
}

export function render(el, id) {
  const box = h('div.detail');
  el.append(box);
  let alive = true;
  let stopReview = null;
  let timer = null;
  api.event(id).then((e) => {
    if (!alive) return;
    const p = priorityOf(e.kind);
    const ackBtn = () => (store.isPinned(e)
      ? h('button.ack', { type: 'button', onclick: (ev) => { store.ack(e.id); ev.target.replaceWith(h('span.acked', t('action.acked'))); } }, t('action.ack'))
      : null);
    const field = (k, v) => [h('dt', t(k)), h('dd', v)];
    const bboxText = e.bbox ? `${fmtNum(e.bbox.x1, { maximumFractionDigits: 0 })}, ${fmtNum(e.bbox.y1, { maximumFractionDigits: 0 })} — ${fmtNum(e.bbox.x2, { maximumFractionDigits: 0 })}, ${fmtNum(e.bbox.y2, { maximumFractionDigits: 0 })}` : '—';
    const images = h('div.evidence');
    const masked = e.masked_evidence || [];
    if (e.evidence_url) {
      const img = h('img.evidence-crop', { src: e.evidence_url, alt: t('detail.crop') });
      const fig = h('figure', img, h('figcaption', t('detail.crop')));
      maskControls(fig, img, e.evidence, masked);
      images.append(fig);
    }
    const frameHash = e.details && e.details.frame_evidence;
    let onTrajectory = null;
    if (frameHash) {
      const img = h('img.evidence-frame', { src: api.evidenceUrl(frameHash), alt: t('detail.frame') });
      const canvas = h('canvas.overlay');
      if (e.bbox) img.addEventListener('load', () => drawBox(canvas, img, e.bbox));
      // The track's path, in the same frame pixels as the box.
      const path = s('svg', { class: 'overlay trajectory-layer', preserveAspectRatio: 'none' });
      onTrajectory = (points) => drawTrajectory(path, img, points);
      const fig = h('figure', h('div.shot', img, canvas, path), h('figcaption', t('detail.frame')));
      maskControls(fig, img, frameHash, masked);
      images.append(fig);
    }
    const clip = clipView(e.details && e.details.clip);
    if (clip) images.append(clip);
    if (!images.children.length) images.append(h('div.empty', t('detail.no_evidence')));
    // A recent event's clip is encoded once its seconds after have passed:
    // look for it a few times.
    if (!clip && Date.now() - e.ts < 60000) {
      let tries = 0;
      const poll = () => {
        if (!alive || ++tries > 15) return;
        api.event(e.id).then((fresh) => {
          const c = alive && clipView(fresh.details && fresh.details.clip);
          if (c) {
            images.querySelector('.empty')?.remove();
            images.append(c);
          } else timer = setTimeout(poll, 2000);
        }).catch(() => { timer = setTimeout(poll, 2000); });
      };
      timer = setTimeout(poll, 2000);
    }
    const [review, stop] = reviewPanel(e);
    stopReview = stop;
    box.replaceChildren(
      h('header.detail-head',
        h('a.back', { href: '#/live' }, `← ${t('action.back')}`),
        h(`h2.prio-${p}`, h('span.prio', t(`prio.${p}`)), ' ', tOr(`kind.${e.kind}`, e.kind), ` #${e.id}`),
        ackBtn()),
      h('div.detail-body',
        h('div.detail-main', images, packageView(e.details && e.details.evidence_package), trackPanel(e, onTrajectory)),
        h('div.detail-side', review, lockPanel(e), h('dl.fields',
          ...field('field.id', String(e.id)),
          ...field('field.time', fmtTime(e.ts, true)),
          ...field('field.kind', tOr(`kind.${e.kind}`, e.kind)),
          ...field('field.camera', h('a', { href: `#/cameras/${encodeURIComponent(e.camera)}` }, store.cameraName(e.camera))),
          ...field('field.label', e.label || '—'),
          ...field('field.track', e.track_id ?? '—'),
          ...field('field.rule', e.rule || '—'),
          ...field('field.score', e.score ? fmtNum(e.score, { style: 'percent', maximumFractionDigits: 1 }) : '—'),
          ...field('field.bbox', bboxText),
          ...field('field.details', h('pre', JSON.stringify(e.details ?? {}, null, 2)))))));
  }).catch((err) => { if (alive) box.replaceChildren(errorBox(err)); });
  return () => { alive = false; clearTimeout(timer); if (stopReview) stopReview(); };
}
