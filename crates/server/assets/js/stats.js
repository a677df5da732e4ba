// Statistics: events per hour, review outcomes, events per kind and per
// camera, camera fps and drops, as SVG charts.
import { api } from './api.js';
import { store, refreshCameras, priorityOf } from './app.js';
import { t, tOr, fmtNum, fmtBytes, fmtHourMinute } from './i18n.js';
import { h, s, errorBox } from './util.js';

function bars(title, rows, { cls = () => '', digits = 0 } = {}) {
  const rowH = 40;
  const labelW = 320;
  const W = 860;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const svg = s('svg', { viewBox: `0 0 ${W} ${Math.max(1, rows.length) * rowH + 10}`, class: 'bars' });
  rows.forEach((r, i) => {
    const y = i * rowH + 5;
    const w = ((W - labelW - 120) * r.value) / max;
    svg.append(
      s('text', { x: labelW - 12, y: y + 26, 'text-anchor': 'end', class: 'bar-label' }, r.label),
      s('rect', { x: labelW, y: y + 4, width: Math.max(2, w), height: rowH - 10, rx: 4, class: `bar ${cls(r)}` }),
      s('text', { x: labelW + w + 10, y: y + 26, class: 'bar-value' }, fmtNum(r.value, { maximumFractionDigits: digits })));
  });
  return h('section.panel.chart', h('h2', title), rows.length ? svg : h('div.empty', t('events.none')));
}

/** Events per hour over the last day as stacked columns by priority. */
function timeline(tl) {
  const W = 860;
  const H = 220;
  const n = Math.max(1, Math.round((tl.until - tl.since) / tl.bucket_ms));
  const per = Array.from({ length: n }, () => ({ high: 0, medium: 0, low: 0 }));
  for (const b of tl.buckets) {
    const i = Math.floor((b.start - tl.since) / tl.bucket_ms);
    if (i >= 0 && i < n) per[i][priorityOf(b.kind)] += b.count;
  }
  const max = Math.max(1, ...per.map((p) => p.high + p.medium + p.low));
  const colW = (W - 60) / n;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H + 30}`, class: 'timeline' });
  per.forEach((p, i) => {
    let y = H;
    for (const prio of ['low', 'medium', 'high']) {
      const hh = ((H - 10) * p[prio]) / max;
      if (hh > 0) svg.append(s('rect', { x: 50 + i * colW, y: y - hh, width: Math.max(1, colW - 2), height: hh, class: `bar prio-${prio}` }));
      y -= hh;
    }
    if (i % Math.ceil(n / 8) === 0) {
      svg.append(s('text', { x: 50 + i * colW, y: H + 22, class: 'bar-label' }, fmtHourMinute(tl.since + i * tl.bucket_ms)));
    }
  });
  svg.append(s('text', { x: 44, y: 16, 'text-anchor': 'end', class: 'bar-value' }, fmtNum(max)));
  const total = per.reduce((a, p) => a + p.high + p.medium + p.low, 0);
  return h('section.panel.chart', h('h2', t('stats.timeline')), total ? svg : h('div.empty', t('events.none')));
}

export function render(el) {
  let alive = true;
  Promise.all([api.stats(), refreshCameras(), api.timeline()]).then(([st, cams, tl]) => {
    if (!alive) return;
    const kinds = Object.entries(st.by_kind || {}).sort((a, b) => b[1] - a[1]).map(([k, v]) => ({ key: k, label: tOr(`kind.${k}`, k), value: v }));
    const perCam = Object.entries(st.by_camera || {}).sort((a, b) => b[1] - a[1]).map(([k, v]) => ({ label: store.cameraName(k), value: v }));
    const live = cams.filter((c) => c.configured);
    const tile = (k, v) => h('div.tile', h('div.tile-value', v), h('div.tile-label', t(k)));
    el.append(
      h('div.tiles',
        tile('stats.total_events', fmtNum(st.events)),
        tile('stats.cameras', fmtNum(st.cameras)),
        tile('stats.tracks', fmtNum(st.tracks)),
        tile('stats.evidence', `${fmtNum(st.evidence_files)} · ${fmtBytes(st.evidence_bytes || 0)}`),
        tile('stats.confirmed', fmtNum(tl.reviews.confirmed)),
        tile('stats.rejected', fmtNum(tl.reviews.rejected)),
        tile('stats.pending', fmtNum(tl.reviews.pending_confirmation))),
      h('div.charts',
        timeline(tl),
        bars(t('stats.by_kind'), kinds, { cls: (r) => `prio-${priorityOf(r.key)}` }),
        bars(t('stats.by_camera'), perCam),
        bars(t('stats.fps'), live.map((c) => ({ label: c.name || c.id, value: c.fps || 0 })), { digits: 1 }),
        bars(t('stats.dropped'), live.map((c) => ({ label: c.name || c.id, value: c.dropped || 0 })), { cls: () => 'bar-warn' })));
  }).catch((e) => { if (alive) el.append(errorBox(e)); });
  return () => { alive = false; };
}
