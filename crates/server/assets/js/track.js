// The object behind an alert: its track's seen interval and frames, its
// trajectory drawn over the evidence frame, and every event it raised as a
// timeline (from /api/events/{id}/track).
import { api } from './api.js';
import { t, tOr, fmtTime, fmtNum } from './i18n.js';
import { h, s } from './util.js';

/** Draws `points` (frame pixels) as a path with a start dot and an end arrow
 * on an SVG laid over `img`, once the image's natural size is known. */
export function drawTrajectory(svg, img, points) {
  const draw = () => {
    if (!img.naturalWidth || points.length < 2) return;
    svg.setAttribute('viewBox', `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    const r = Math.max(4, img.naturalWidth / 160);
    const first = points[0];
    const last = points[points.length - 1];
    svg.replaceChildren(
      s('path', { d, class: 'trajectory', 'stroke-width': r / 1.5 }),
      s('circle', { cx: first.x, cy: first.y, r, class: 'trajectory-start' }),
      s('circle', { cx: last.x, cy: last.y, r: r * 1.4, class: 'trajectory-end' }));
  };
  if (img.complete) draw(); else img.addEventListener('load', draw);
}

function duration(ms) {
  const sec = Math.round(ms / 1000);
  return sec < 60 ? `${sec} s` : `${Math.floor(sec / 60)} min ${sec % 60} s`;
}

/** The track panel for event `e`; `onTrajectory(points)` is called with the
 * trajectory when there is one, so the detail view can draw it on its frame. */
export function trackPanel(e, onTrajectory) {
  const panel = h('section.panel.track', { id: 'track' }, h('h3', t('track.title')));
  if (e.track_id === undefined || e.track_id === null) {
    panel.append(h('div.empty', t('track.none')));
    return panel;
  }
  const body = h('div', h('div.muted', t('track.loading')));
  panel.append(body);
  api.eventTrack(e.id).then((r) => {
    const parts = [];
    if (r.track) {
      const tr = r.track;
      parts.push(h('dl.fields.track-summary',
        h('dt', t('field.label')), h('dd', tr.label || '—'),
        h('dt', t('track.seen')), h('dd', `${fmtTime(tr.first_seen, true)} — ${fmtTime(tr.last_seen)}`),
        h('dt', t('track.duration')), h('dd', duration(tr.last_seen - tr.first_seen)),
        h('dt', t('track.frames')), h('dd', fmtNum(tr.frames)),
        h('dt', t('track.points')), h('dd', fmtNum(tr.trajectory.length))));
      if (tr.best_crop_url) parts.push(h('figure.track-crop', h('img', { src: tr.best_crop_url, alt: t('track.best_crop') }), h('figcaption', t('track.best_crop'))));
      if (tr.trajectory.length >= 2 && onTrajectory) onTrajectory(tr.trajectory);
    } else {
      parts.push(h('p.muted', t('track.not_stored')));
    }
    const start = r.track ? r.track.first_seen : (r.events[0] ? r.events[0].ts : e.ts);
    parts.push(h('h4', t('track.events', { n: r.events.length })),
      h('ol.track-events', ...r.events.map((x) => h('li', { class: x.id === e.id ? 'current' : '', dataset: { id: x.id } },
        h('span.offset', `+${duration(x.ts - start)}`), ' ',
        x.id === e.id
          ? h('strong', tOr(`kind.${x.kind}`, x.kind), x.rule ? ` · ${x.rule}` : '')
          : h('a', { href: `#/events/${x.id}` }, tOr(`kind.${x.kind}`, x.kind), x.rule ? ` · ${x.rule}` : ''),
        h('span.muted', ` ${fmtTime(x.ts)}`)))));
    if (r.truncated) parts.push(h('p.muted', t('track.truncated')));
    body.replaceChildren(...parts);
  }).catch((err) => body.replaceChildren(h('div.error', String(err.message || err))));
  return panel;
}
