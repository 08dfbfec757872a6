// Management tokens: the configured ones and the store's, created (the clear token is shown
// once) with a role (admin, or viewer: read only) and revoked. The server keeps an administrator's
// token while no other administrator's stays valid as long, and says so.
import { management } from './api.js';
import {
  h, field, table, badge, announce, showError, render, actionButton, confirmAction, clearFieldErrors,
} from './ui.js';

export function tokensPage() {
  const list = h('div', {}, h('p', {}, 'Loading…'));
  // Not a live region: a screen reader must not read the secret aloud (the status line says
  // that it was created).
  const shown = h('div');
  const name = h('input', { type: 'text', required: true, maxlength: 64, pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]*', autocomplete: 'off' });
  const expires = h('input', { type: 'datetime-local' });
  const role = h('select', {}, [['admin', 'Administrator: reads and changes everything'], ['viewer', 'Viewer: reads only']]
    .map(([value, label]) => h('option', { value }, label)));
  const form = h('form', { 'aria-labelledby': 'new-token-title' },
    h('h2', { id: 'new-token-title' }, 'Create a token'),
    field('Name', name, { name: 'name', hint: 'Letters, digits, ".", "_" or "-", starting with a letter or digit: the audit log shows it as the actor of this token\'s calls.' }),
    field('Role', role, { name: 'role', hint: 'A viewer\'s token is refused every change (403): for dashboards, audits and CI checks.' }),
    field('Expires (optional, your local time)', expires, { name: 'expiresAt', hint: 'From then on the token is refused. Leave empty for a token that does not expire.' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create token')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const request = { name: name.value.trim(), role: role.value };
    if (expires.value) request.expiresAt = new Date(expires.value).toISOString();
    try {
      const created = await management.createToken(request);
      shown.replaceChildren(h('p', { class: 'note' },
        `Token ${created.name} (shown once; copy it now): `, h('code', { class: 'secret' }, created.token)));
      announce(created.active
        ? `Token ${created.name} created; it is shown below, once.`
        : `Token ${created.name} created; it is shown below, once. It does not open this node, where tokens are configured.`);
      form.reset();
      clearFieldErrors(form);
      await refresh();
    } catch (err) {
      showError(err, form);
    }
  });
  render(h('h1', {}, 'Tokens'),
    h('p', {}, 'Management tokens open this console, the management API and the CLI. Revoke the one printed at first start once you have your own.'),
    shown, list, form);

  async function refresh() {
    const tokens = await management.tokens();
    list.replaceChildren(table('Management tokens', [
      ['Name', (t) => t.name],
      ['Role', (t) => t.role],
      ['Source', (t) => t.source],
      ['State', (t) => (t.expired ? badge('expired') : badge(t.active ? 'active' : 'inactive', t.active ? 'started' : 'stopped'))],
      ['Created', (t) => t.createdAt || ''],
      ['Expires', (t) => t.expiresAt || 'never'],
      ['Actions', (t) => (t.source !== 'store' ? '' : actionButton(`Revoke ${t.name}`, async () => {
        if (!await confirmAction(`Revoke token ${t.name}?`, 'Calls with it are refused from now on. If it is the token you signed in with, you are signed out. The last administrator\'s token that stays valid this long is kept.', 'Revoke')) return;
        await management.revokeToken(t.name);
        announce(`Token ${t.name} revoked.`);
        await refresh();
      }, { class: 'danger' }))],
    ], tokens));
  }

  refresh().catch((err) => showError(err));
}
