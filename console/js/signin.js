// Sign-in: the admin token (printed once by tidegate at first start, or configured under
// `management.tokens`) is checked against the API before it is kept, for this tab only.
import { management } from './api.js';
import { h, field, render, showError, announce } from './ui.js';

export function signInPage() {
  const tokenInput = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', required: true });
  const envInput = h('input', { type: 'text', name: 'environment', value: 'DEFAULT', required: true });
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'signin-title' },
    field('Admin token', tokenInput, {
      name: 'token',
      hint: 'tidegate prints a token once on its first start; create others on the Tokens page, or configure them under management.tokens. Kept in this tab only.',
    }),
    field('Environment', envInput, { name: 'environment' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await management.verify(tokenInput.value.trim(), envInput.value.trim());
      announce('Signed in.');
      const next = sessionStorage.getItem('tidegate.after-sign-in') || '#/apis';
      sessionStorage.removeItem('tidegate.after-sign-in');
      location.hash = next === '#/signin' ? '#/apis' : next;
    } catch (err) {
      if (err.status === 401) err.errors = [{ location: 'token', message: 'This token is not accepted.' }];
      showError(err, form);
    } finally {
      button.disabled = false;
    }
  });
  render(h('h1', { id: 'signin-title' }, 'Sign in to the tidegate console'), form,
    h('p', {}, 'Looking for APIs to use? ', h('a', { href: '#/portal' }, 'Open the developer portal'), ' (no sign-in).'));
  tokenInput.focus();
}
