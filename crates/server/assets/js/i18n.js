// UI strings from /assets/i18n/{kk,ru,en}.json; dates and numbers via Intl.

export const LANGS = { kk: 'kk-KZ', ru: 'ru-RU', en: 'en-GB' };
let lang = 'en';
let dict = {};
let fallback = {};
const listeners = new Set();

async function load(code) {
  const r = await fetch(`/assets/i18n/${code}.json`);
  if (!r.ok) throw new Error(`cannot load translations ${code}: HTTP ${r.status}`);
  return r.json();
}

export function current() { return lang; }
export function locale() { return LANGS[lang]; }

export async function setLang(code) {
  if (!LANGS[code]) code = 'en';
  if (!Object.keys(fallback).length) fallback = await load('en');
  dict = code === 'en' ? fallback : await load(code);
  lang = code;
  try { localStorage.setItem('kuzet.lang', code); } catch (_) { /* private mode */ }
  document.documentElement.lang = code;
  translate(document);
  listeners.forEach((f) => f(code));
}

export function initialLang() {
  let saved = null;
  try { saved = localStorage.getItem('kuzet.lang'); } catch (_) { /* private mode */ }
  if (saved && LANGS[saved]) return saved;
  const nav = (navigator.language || 'en').slice(0, 2);
  return LANGS[nav] ? nav : 'en';
}

export function onLangChange(f) { listeners.add(f); return () => listeners.delete(f); }

/** The string for `key`, with {name} placeholders filled from `vars`. */
export function t(key, vars) {
  let v = dict[key] ?? fallback[key];
  if (v === undefined) return vars && vars.fallback !== undefined ? vars.fallback : key;
  if (vars) v = v.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? vars[k] : m));
  return v;
}

/** Like t() but a missing key shows `raw` (kinds, states from the server). */
export function tOr(key, raw) { return t(key, { fallback: raw }); }

export function translate(root) {
  root.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll('[data-i18n-title]').forEach((el) => { el.title = t(el.dataset.i18nTitle); });
}

export function fmtNum(n, opts) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return new Intl.NumberFormat(locale(), opts).format(n);
}

export function fmtTime(ms, withDate = false) {
  if (ms === null || ms === undefined) return '—';
  const o = withDate
    ? { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }
    : { hour: '2-digit', minute: '2-digit', second: '2-digit' };
  return new Intl.DateTimeFormat(locale(), o).format(new Date(ms));
}

/** Hours and minutes only, for chart axes. */
export function fmtHourMinute(ms) {
  return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit' }).format(new Date(ms));
}

export function fmtBytes(n) {
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return fmtNum(n, { style: 'unit', unit: units[i], maximumFractionDigits: 1 });
}
