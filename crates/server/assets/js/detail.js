// Event detail: every field and the evidence images.
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

export function render(el, id) {
  const box = h('div.detail');
  el.append(box);
  let alive = true;
  let stopReview = null;
  api.event(id).then((e) => {
    if (!alive) return;
    const p = priorityOf(e.kind);
    const ackBtn = () => (store.isPinned(e)
      ? h('button.ack', { type: 'button', onclick: (ev) => { store.ack(e.id); ev.target.replaceWith(h('span.acked', t('action.acked'))); } }, t('action.ack'))
      : null);
    const field = (k, v) => [h('dt', t(k)), h('dd', v)];
    const bboxText = e.bbox ? `${fmtNum(e.bbox.x1, { maximumFractionDigits: 0 })}, ${fmtNum(e.bbox.y1, { maximumFractionDigits: 0 })} — ${fmtNum(e.bbox.x2, { maximumFractionDigits: 0 })}, ${fmtNum(e.bbox.y2, { maximumFractionDigits: 0 })}` : '—';
    const images = h('div.evidence');
    if (e.evidence_url) {
      images.append(h('figure', h('img.evidence-crop', { src: e.evidence_url, alt: t('detail.crop') }), h('figcaption', t('detail.crop'))));
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
      images.append(h('figure', h('div.shot', img, canvas, path), h('figcaption', t('detail.frame'))));
    }
    if (!images.children.length) images.append(h('div.empty', t('detail.no_evidence')));
    const [review, stop] = reviewPanel(e);
    stopReview = stop;
    box.replaceChildren(
      h('header.detail-head',
        h('a.back', { href: '#/live' }, `← ${t('action.back')}`),
        h(`h2.prio-${p}`, h('span.prio', t(`prio.${p}`)), ' ', tOr(`kind.${e.kind}`, e.kind), ` #${e.id}`),
        ackBtn()),
      h('div.detail-body',
        h('div.detail-main', images, packageView(e.details && e.details.evidence_package), trackPanel(e, onTrajectory)),
        h('div.detail-side', review, h('dl.fields',
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
  return () => { alive = false; if (stopReview) stopReview(); };
}
