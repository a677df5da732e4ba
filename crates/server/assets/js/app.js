// The situation centre: hash router, the shared live feed, header tools.
import { api, UNAUTHENTICATED } from './api.js';
import { askLogin } from './login.js';
import { openStream } from './sse.js';
import { setLang, initialLang, t, fmtTime, onLangChange, current } from './i18n.js';
import { h } from './util.js';
import * as live from './live.js';
import * as cameras from './cameras.js';
import * as events from './events.js';
import * as detail from './detail.js';
import * as map from './map.js';
import * as stats from './stats.js';
import * as search from './search.js';
import * as lists from './lists.js';
import * as authorisations from './authorisations.js';

/** Priority per event kind; a kind not listed here is `medium`. */
export const PRIORITY = {
  zone_dwell: 'high',
  intrusion: 'high',
  watchlist_match: 'high',
  face_match: 'high',
  plate_hotlist: 'high',
  hotlist_match: 'high',
  fall: 'high',
  fight: 'high',
  weapon: 'high',
  loitering: 'high',
  abandoned_object: 'high',
  fire: 'high',
  smoke: 'high',
  fire_located: 'high',
  line_cross: 'medium',
  crowd_density: 'medium',
  crowd_gathering: 'medium',
  zone_enter: 'low',
  zone_exit: 'low',
  crowd_dispersal: 'low',
  crowd_density_cleared: 'low',
  abandoned_cleared: 'low',
  fire_cleared: 'low',
  smoke_cleared: 'low',
};
export const priorityOf = (kind) => PRIORITY[kind] || 'medium';
export const PRIORITIES = ['high', 'medium', 'low'];

const FEED_MAX = 500;
const ACK_KEY = 'kuzet.acked';

/** Everything views share: the live feed, acknowledgements, camera names. */
export const store = {
  feed: [], // newest first
  acked: new Set(),
  cameras: new Map(), // id -> camera JSON
  conn: 'connecting',
  sound: false,
  listeners: new Set(),
  emit(what, data) { this.listeners.forEach((f) => f(what, data)); },
  subscribe(f) { this.listeners.add(f); return () => this.listeners.delete(f); },
  isPinned(e) { return priorityOf(e.kind) === 'high' && !this.acked.has(e.id); },
  pinned() { return this.feed.filter((e) => this.isPinned(e)); },
  /** Unpins `id`; `remote` (default) also records the acknowledgement on
   * the server, where the review panel's actions already have. */
  ack(id, remote = true) {
    if (remote && this.mayReview()) api.review(id, { action: 'ack' }).catch((e) => console.warn('acknowledgement not recorded:', e.message));
    this.acked.add(id);
    try { localStorage.setItem(ACK_KEY, JSON.stringify([...this.acked].slice(-2000))); } catch (_) { /* full */ }
    this.emit('ack', id);
    updateHeader();
  },
  user: null,
  /** Roles the route policy lets review events (viewers and auditors only look). */
  mayReview() { return !!this.user && ['operator', 'investigator', 'supervisor', 'admin'].includes(this.user.role); },
  // Export and dispatch (server policy: operator, investigator, supervisor).
  mayRelease() { return !!this.user && ['operator', 'investigator', 'supervisor'].includes(this.user.role); },
  // Evidence lock (server policy: investigators and supervisors lock,
  // supervisors unlock) and un-masking (investigators and supervisors).
  mayLock() { return !!this.user && ['investigator', 'supervisor'].includes(this.user.role); },
  mayUnlock() { return !!this.user && this.user.role === 'supervisor'; },
  mayUnmask() { return !!this.user && ['investigator', 'supervisor'].includes(this.user.role); },
    cameraName(id) { const c = this.cameras.get(id); return c && c.name ? c.name : id; },
};

try { JSON.parse(localStorage.getItem(ACK_KEY) || '[]').forEach((id) => store.acked.add(id)); } catch (_) { /* none */ }

let audio = null;
function beep(priority) {
  if (!store.sound || !audio) return;
  const o = audio.createOscillator();
  const g = audio.createGain();
  o.frequency.value = priority === 'high' ? 880 : 660;
  g.gain.setValueAtTime(0.0001, audio.currentTime);
  g.gain.exponentialRampToValueAtTime(0.3, audio.currentTime + 0.02);
  g.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + (priority === 'high' ? 0.6 : 0.25));
  o.connect(g).connect(audio.destination);
  o.start();
  o.stop(audio.currentTime + 0.7);
}

function addLive(e) {
  if (store.feed.some((x) => x.id === e.id)) return;
  store.feed.unshift(e);
  if (store.feed.length > FEED_MAX) store.feed.length = FEED_MAX;
  const p = priorityOf(e.kind);
  if (p !== 'low') beep(p);
  store.emit('event', e);
  updateHeader();
}

async function startFeed() {
  let newest = null;
  try {
    const page = await api.events({ limit: 100 });
    store.feed = page.events;
    newest = page.events.length ? page.events[0].id : null;
    store.emit('reset');
  } catch (e) {
    console.warn('cannot load recent events:', e.message);
  }
  openStream('/api/events/stream', {
    lastId: newest,
    onEvent: (_kind, ev) => addLive(ev),
    onState: (st) => { store.conn = st; updateHeader(); },
  });
}

export async function refreshCameras() {
  const list = await api.cameras();
  store.cameras = new Map(list.map((c) => [c.id, c]));
  return list;
}

function updateHeader() {
  const conn = document.getElementById('conn');
  conn.textContent = t(`conn.${store.conn}`);
  conn.className = `conn conn-${store.conn}`;
  const n = store.pinned().length;
  const pc = document.getElementById('pinned-count');
  pc.hidden = n === 0;
  pc.textContent = t('pinned.count', { n });
  const snd = document.getElementById('sound');
  snd.textContent = t(store.sound ? 'sound.on' : 'sound.off');
  snd.setAttribute('aria-pressed', String(store.sound));
}

const ROUTES = {
  live: (_) => live.render,
  cameras: (arg) => (arg ? (el) => cameras.renderOne(el, arg) : cameras.render),
  events: (arg) => (arg ? (el) => detail.render(el, arg) : events.render),
  map: (_) => map.render,
  stats: (_) => stats.render,
  search: (_) => search.render,
  lists: (_) => lists.render,
  authorisations: (_) => authorisations.render,
};

let cleanup = null;
function route() {
  const [, name = 'live', arg] = (location.hash || '#/live').split('/').map(decodeURIComponent);
  const make = ROUTES[name] || ROUTES.live;
  if (cleanup) { try { cleanup(); } catch (_) { /* view gone */ } }
  cleanup = null;
  const view = document.getElementById('view');
  view.replaceChildren();
  view.dataset.view = ROUTES[name] ? name : 'live';
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.route === view.dataset.view));
  const c = make(arg)(view);
  cleanup = typeof c === 'function' ? c : null;
}

function tick() {
  document.getElementById('clock').textContent = fmtTime(Date.now(), true);
}

/** The signed-in user and a sign-out button in the header. */
function showUser(user) {
  document.getElementById('nav').hidden = false;
  const tools = document.querySelector('.top .tools');
  const out = h('button', { id: 'logout', type: 'button', 'data-i18n': 'user.logout' }, t('user.logout'));
  out.addEventListener('click', async () => {
    try { await api.logout(); } finally { window.location.reload(); }
  });
  tools.prepend(h('span.user', { id: 'user', title: user.role }, `${user.name} · ${user.role}`), out);
}

async function main() {
  await setLang(initialLang());
  const sel = document.getElementById('lang');
  sel.value = current();
  sel.addEventListener('change', () => setLang(sel.value));
  document.getElementById('sound').addEventListener('click', () => {
    store.sound = !store.sound;
    if (store.sound && !audio) audio = new AudioContext();
    if (store.sound) beep('medium');
    updateHeader();
  });
  updateHeader();
  tick();
  setInterval(tick, 1000);
  // Every view needs a session: ask for one first, and again if it expires.
  let user = null;
  try { user = await api.me(); } catch (e) { if (e.status !== 401) throw e; }
  if (!user) user = await askLogin();
  showUser(user);
  store.user = user;
  window.addEventListener(UNAUTHENTICATED, () => window.location.reload());
  onLangChange(() => { updateHeader(); tick(); route(); });
  updateHeader();
  try { await refreshCameras(); } catch (e) { console.warn('cannot load cameras:', e.message); }
  window.addEventListener('hashchange', route);
  route();
  await startFeed();
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  document.getElementById('view').replaceChildren(h('div.error', String(e.message || e)));
  throw e;
});
