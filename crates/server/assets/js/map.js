// Map: cameras by latitude/longitude over an offline GeoJSON basemap,
// drawn as SVG with an equirectangular projection (fine at city scale).
import { api } from './api.js';
import { t, tOr, current } from './i18n.js';
import { h, s, errorBox } from './util.js';

const W = 1600;
const H = 900;
const PAD = 40;

function rings(geom) {
  if (!geom) return [];
  if (geom.type === 'Polygon') return geom.coordinates;
  if (geom.type === 'MultiPolygon') return geom.coordinates.flat();
  return [];
}

/** Fires of the last day: bearing rays of tower alarms and the positions
 * their crossings gave, with their 95 % ellipse (the uncertainty circle for
 * events stored before fixes carried one). `mToUnits` converts metres to
 * map units through the projection's scale. */
async function drawFires(g, proj, unitsPerLonDeg) {
  const since = new Date(Date.now() - 24 * 3600e3).toISOString();
  let alarms = [];
  let located = [];
  try {
    const [a, b, c] = await Promise.all([
      api.events({ kind: 'fire', since, limit: 50 }),
      api.events({ kind: 'smoke', since, limit: 50 }),
      api.events({ kind: 'fire_located', since, limit: 20 }),
    ]);
    alarms = [...a.events, ...b.events];
    located = c.events;
  } catch (_) { return; /* no permission or no store: the map still shows cameras */ }
  const mToUnits = unitsPerLonDeg / 111320; // at the map's mid latitude, east-west
  for (const e of alarms) {
    const br = e.details && e.details.bearing;
    if (!br) continue;
    const range = 30000;
    const a = (br.azimuth_deg * Math.PI) / 180;
    const [x0, y0] = proj([br.lon, br.lat]);
    const x1 = x0 + Math.sin(a) * range * mToUnits;
    const y1 = y0 - Math.cos(a) * range * mToUnits;
    g.append(s('line', { x1: x0, y1: y0, x2: x1, y2: y1, class: `bearing kind-${e.kind}` }, s('title', {}, `${tOr(`kind.${e.kind}`, e.kind)} #${e.id}: ${br.azimuth_deg.toFixed(1)}°`)));
  }
  for (const e of located) {
    const d = e.details || {};
    if (typeof d.lat !== 'number') continue;
    const [x, y] = proj([d.lon, d.lat]);
    const go = () => { location.hash = `#/events/${e.id}`; };
    const el = d.ellipse;
    // The map is north-up with y pointing down, so SVG's clockwise rotation
    // turns the x axis (east, azimuth 90°) onto the major axis's azimuth.
    const area = el && typeof el.semi_major_m === 'number'
      ? s('ellipse', {
        cx: x, cy: y,
        rx: Math.max(8, el.semi_major_m * mToUnits),
        ry: Math.max(8, el.semi_minor_m * mToUnits),
        transform: `rotate(${el.major_azimuth_deg - 90} ${x} ${y})`,
        class: 'fix-area',
      })
      : s('circle', { cx: x, cy: y, r: Math.max(8, (d.uncertainty_m || 0) * mToUnits), class: 'fix-area' });
    const extent = el && typeof el.semi_major_m === 'number'
      ? `${Math.round(el.semi_major_m)} × ${Math.round(el.semi_minor_m)} m (95 %)`
      : `±${Math.round(d.uncertainty_m || 0)} m`;
    g.append(s('g', { class: 'fire-fix', onclick: go, 'data-id': e.id },
      area,
      s('circle', { cx: x, cy: y, r: 6, class: 'fix-dot' }),
      s('title', {}, `${tOr('kind.fire_located', 'fire_located')} #${e.id}: ${d.lat.toFixed(4)}, ${d.lon.toFixed(4)} ${extent}`)));
  }
}

export function render(el) {
  const box = h('div.map-wrap');
  const note = h('div.map-note');
  el.append(h('section.panel', h('h2', t('map.title')), box, note));
  let alive = true;
  let timer = null;
  Promise.all([api.basemap(), api.mapCameras()]).then(([base, cams]) => {
    if (!alive) return;
    const pts = [];
    base.features.forEach((f) => rings(f.geometry).forEach((r) => pts.push(...r)));
    cams.features.forEach((f) => pts.push(f.geometry.coordinates));
    const lons = pts.map((p) => p[0]);
    const lats = pts.map((p) => p[1]);
    const [minLon, maxLon, minLat, maxLat] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
    const kx = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
    const scale = Math.min((W - 2 * PAD) / ((maxLon - minLon) * kx || 1), (H - 2 * PAD) / ((maxLat - minLat) || 1));
    const ox = (W - (maxLon - minLon) * kx * scale) / 2;
    const oy = (H - (maxLat - minLat) * scale) / 2;
    const proj = ([lon, lat]) => [ox + (lon - minLon) * kx * scale, oy + (maxLat - lat) * scale];
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'map', role: 'img' });
    const districts = s('g', { class: 'districts' });
    const labels = s('g', { class: 'district-labels' });
    for (const f of base.features) {
      for (const r of rings(f.geometry)) {
        districts.append(s('polygon', { points: r.map((p) => proj(p).join(',')).join(' ') }, s('title', {}, f.properties.name)));
      }
      const outer = rings(f.geometry)[0] || [];
      if (outer.length) {
        const c = outer.reduce((a, p) => [a[0] + p[0] / outer.length, a[1] + p[1] / outer.length], [0, 0]);
        const [x, y] = proj(c);
        const name = current() === 'en' ? f.properties.name : (f.properties.name_kk || f.properties.name);
        labels.append(s('text', { x, y, 'text-anchor': 'middle' }, name));
      }
    }
    svg.append(districts, labels);
    const dots = s('g', { class: 'cams' });
    const placed = [];
    for (const f of cams.features) {
      const p = f.properties;
      const [x, y] = proj(f.geometry.coordinates);
      // Cameras close together: alternate their labels left and right.
      const crowded = placed.filter(([px, py]) => Math.hypot(px - x, py - y) < 120).length;
      placed.push([x, y]);
      const left = crowded % 2 === 1;
      const dy = 8 + Math.floor(crowded / 2) * 28;
      const go = () => { location.hash = `#/cameras/${encodeURIComponent(p.id)}`; };
      dots.append(s('g', { class: `cam state-${p.state}`, 'data-id': p.id, onclick: go, tabindex: '0', onkeydown: (ev) => { if (ev.key === 'Enter') go(); } },
        s('circle', { cx: x, cy: y, r: 14 }),
        s('text', { x: left ? x - 20 : x + 20, y: y + dy, 'text-anchor': left ? 'end' : 'start' }, p.name || p.id),
        s('title', {}, `${p.name || p.id} — ${tOr(`state.${p.state}`, p.state)}`)));
    }
    svg.append(dots);
    const fires = s('g', { class: 'fires' });
    svg.append(fires);
    drawFires(fires, proj, scale * kx);
    box.replaceChildren(svg);
    const attribution = base.properties && base.properties.note;
    note.replaceChildren(h('span', t('map.located', { n: cams.features.length })), attribution ? h('span.attribution', ` · ${t('map.basemap_note')}`) : null);
    // States change: recolour every few seconds without redrawing the map.
    const recolour = async () => {
      try {
        const now = await api.mapCameras();
        for (const f of now.features) {
          const g = dots.querySelector(`[data-id="${CSS.escape(f.properties.id)}"]`);
          if (g) g.setAttribute('class', `cam state-${f.properties.state}`);
        }
      } catch (_) { /* next time */ }
      if (alive) timer = setTimeout(recolour, 3000);
    };
    timer = setTimeout(recolour, 3000);
  }).catch((e) => { if (alive) box.replaceChildren(errorBox(e)); });
  return () => { alive = false; clearTimeout(timer); };
}
