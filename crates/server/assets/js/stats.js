// Statistics: events per kind and per camera, camera fps and drops, as SVG bars.
import { api } from './api.js';
import { store, refreshCameras, priorityOf } from './app.js';
import { t, tOr, fmtNum, fmtBytes } from './i18n.js';
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

export function render(el) {
  let alive = true;
  Promise.all([api.stats(), refreshCameras()]).then(([st, cams]) => {
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
        tile('stats.evidence', `${fmtNum(st.evidence_files)} · ${fmtBytes(st.evidence_bytes || 0)}`)),
      h('div.charts',
        bars(t('stats.by_kind'), kinds, { cls: (r) => `prio-${priorityOf(r.key)}` }),
        bars(t('stats.by_camera'), perCam),
        bars(t('stats.fps'), live.map((c) => ({ label: c.name || c.id, value: c.fps || 0 })), { digits: 1 }),
        bars(t('stats.dropped'), live.map((c) => ({ label: c.name || c.id, value: c.dropped || 0 })), { cls: () => 'bar-warn' })));
  }).catch((e) => { if (alive) el.append(errorBox(e)); });
  return () => { alive = false; };
}
