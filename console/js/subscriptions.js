// Subscriptions of an API: list, request one for an application, accept, reject, close; an
// api-key subscription's keys: renew (the new key is shown once), revoke.
import { management } from './api.js';
import { h, field, table, badge, announce, showError, actionButton, confirmAction } from './ui.js';

export function subscriptionsTab(ctx) {
  const list = h('div');
  const keys = h('div', { class: 'keys' });
  const shownKey = h('div', { role: 'status', 'aria-live': 'polite' });
  const application = h('select', {});
  const plan = h('select', {});
  const form = h('form', { 'aria-labelledby': 'new-sub-title' },
    h('h3', { id: 'new-sub-title' }, 'Subscribe an application'),
    field('Application', application, { name: 'application' }),
    field('Plan', plan, { name: 'plan' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Subscribe')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const sub = await management.subscribe(ctx.id, application.value, plan.value);
      announce(`Subscription ${sub.id} is ${sub.status}.`);
      showKey(sub);
      await refresh();
    } catch (err) {
      showError(err, form);
    }
  });
  ctx.panel.append(h('h2', {}, 'Subscriptions'), shownKey, list, keys, form);

  /** A clear key is returned once (accept of an api-key subscription, renew): show it now. */
  function showKey(answer) {
    const key = answer && (answer.key || (answer.apiKey && answer.apiKey.key));
    if (!key) return;
    shownKey.replaceChildren(h('p', { class: 'note' }, 'The API key (shown once; copy it now): ', h('code', { class: 'secret' }, key)));
  }

  async function refresh() {
    const [subs, apps, plans] = await Promise.all([
      management.subscriptions(ctx.id), management.applications(), management.plans(ctx.id),
    ]);
    application.replaceChildren(...apps.map((a) => h('option', { value: a.id }, `${a.name} (${a.id})`)));
    plan.replaceChildren(...plans.filter((p) => p.security !== 'keyless' && p.status !== 'closed')
      .map((p) => h('option', { value: p.id }, `${p.name} (${p.security})`)));
    list.replaceChildren(table('Subscriptions to this API', [
      ['Id', (s) => s.id],
      ['Application', (s) => s.application],
      ['Plan', (s) => s.plan],
      ['Status', (s) => badge(s.status || 'accepted')],
      ['Actions', (s) => h('div', { class: 'row-actions' }, actions(s))],
    ], subs));
  }

  function actions(sub) {
    const status = sub.status || 'accepted';
    const act = (label, action, confirmText) => actionButton(`${label} ${sub.id}`, async () => {
      if (confirmText && !await confirmAction(`${label} subscription ${sub.id}?`, confirmText, label)) return;
      const answer = await management.subscriptionAction(ctx.id, sub.id, action);
      announce(`Subscription ${sub.id}: ${label.toLowerCase()}.`);
      showKey(answer);
      await refresh();
    });
    return [
      status === 'pending' ? act('Accept', '_accept') : null,
      status === 'pending' ? act('Reject', '_reject', 'The application is told no; it may ask again.') : null,
      status === 'accepted' ? act('Pause', '_pause') : null,
      status === 'paused' ? act('Resume', '_resume') : null,
      ['accepted', 'paused', 'pending'].includes(status)
        ? act('Close', '_close', 'Its keys stop working at once and its live streams end.') : null,
      actionButton(`API keys of ${sub.id}`, () => showKeys(sub)),
    ];
  }

  async function showKeys(sub) {
    const list = await management.apiKeys(ctx.id, sub.id);
    keys.replaceChildren(
      h('h3', {}, `API keys of ${sub.id}`),
      table(`API keys of subscription ${sub.id}`, [
        ['Key', (k) => k.id || k.hash],
        ['Expires', (k) => k.expireAt || 'never'],
        ['State', (k) => badge(k.revoked ? 'revoked' : 'active')],
        ['Actions', (k) => (k.revoked ? '' : actionButton(`Revoke ${k.id || 'key'}`, async () => {
          if (!await confirmAction('Revoke this key?', 'Requests with it are refused at once; live streams opened with it end.', 'Revoke')) return;
          await management.revokeKey(ctx.id, sub.id, k.id);
          announce('Key revoked.');
          await showKeys(sub);
        }))],
      ], list),
      h('div', { class: 'actions' }, actionButton('Renew key', async () => {
        const answer = await management.renewKey(ctx.id, sub.id);
        showKey(answer);
        announce('New key issued; the old one keeps working for its grace period.');
        await showKeys(sub);
      })));
  }

  refresh().catch((err) => showError(err));
}
