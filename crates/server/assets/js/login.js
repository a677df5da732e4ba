// The login page: shown instead of the app until a session exists. The
// session lives in an HttpOnly cookie the page itself never sees.
import { api } from './api.js';
import { t } from './i18n.js';
import { h } from './util.js';

/** Resolves with the user once the server accepts a name and password. */
export function askLogin() {
  return new Promise((resolve) => {
    const name = h('input', { id: 'login-name', name: 'username', autocomplete: 'username', required: true });
    const password = h('input', { id: 'login-password', type: 'password', name: 'password', autocomplete: 'current-password', required: true });
    const error = h('div.error', { id: 'login-error', role: 'alert', hidden: true });
    const button = h('button', { id: 'login-submit', type: 'submit' }, t('login.submit'));
    const form = h('form.login', { id: 'login', 'aria-labelledby': 'login-title' },
      h('h2', { id: 'login-title' }, t('login.title')),
      h('label', t('login.name'), name),
      h('label', t('login.password'), password),
      button,
      error,
      h('p.muted', t('login.first')),
      h('p.muted', h('a', { href: '/transparency', id: 'login-transparency' }, t('transparency.title'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      error.hidden = true;
      try {
        const user = await api.login(name.value.trim(), password.value);
        password.value = '';
        resolve(user);
      } catch (e) {
        error.textContent = e.status === 401 ? t('login.wrong')
          : e.status === 429 ? t('login.locked') : String(e.message || e);
        error.hidden = false;
        password.select();
      } finally {
        button.disabled = false;
      }
    });
    document.getElementById('nav').hidden = true;
    document.getElementById('view').replaceChildren(form);
    name.focus();
  });
}
