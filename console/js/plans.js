// Plans of an API: list, create, publish, deprecate, close. A new plan (or a change of one)
// reaches the gateway with the next deployment; a plan's status takes effect at once.
import { management } from './api.js';
import { h, field, table, badge, announce, showError, actionButton, confirmAction } from './ui.js';

export function plansTab(ctx) {
  const list = h('div');
  const name = h('input', { type: 'text', required: true });
  const id = h('input', { type: 'text' });
  const security = h('select', {}, [['api-key', 'API key'], ['keyless', 'Keyless (public)'], ['jwt', 'JWT']]
    .map(([value, label]) => h('option', { value }, label)));
  const validation = h('select', {}, [['auto', 'Accept subscriptions automatically'], ['manual', 'Review each subscription']]
    .map(([value, label]) => h('option', { value }, label)));
  const form = h('form', { 'aria-labelledby': 'new-plan-title' },
    h('h3', { id: 'new-plan-title' }, 'Create a plan'),
    field('Plan name', name, { name: 'name' }),
    field('Plan id', id, { name: 'id', hint: 'Optional: the name is used when empty.' }),
    field('Security', security, { name: 'security' }),
    field('Subscriptions', validation, { name: 'validation' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create plan')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const plan = { name: name.value, security: security.value, validation: validation.value, status: 'staging' };
    if (id.value.trim()) plan.id = id.value.trim();
    try {
      await management.createPlan(ctx.id, plan);
      announce(`Plan ${plan.name} created (staging): publish it, then deploy the API.`);
      form.reset();
      await refresh();
    } catch (err) {
      showError(err, form);
    }
  });
  ctx.panel.append(h('h2', {}, 'Plans'), list, form);

  async function refresh() {
    const plans = await management.plans(ctx.id);
    list.replaceChildren(table('Plans of this API', [
      ['Name', (p) => p.name],
      ['Id', (p) => p.id],
      ['Security', (p) => p.security],
      ['Status', (p) => badge(p.status || 'published')],
      ['Actions', (p) => h('div', { class: 'row-actions' }, planActions(p))],
    ], plans));
  }

  function planActions(plan) {
    const status = plan.status || 'published';
    const act = (label, action, confirmText) => actionButton(`${label} ${plan.name}`, async () => {
      if (confirmText && !await confirmAction(`${label} plan ${plan.name}?`, confirmText, label)) return;
      await management.planAction(ctx.id, plan.id, action);
      announce(`Plan ${plan.name}: ${label.toLowerCase()}d.`);
      await refresh();
    });
    return [
      status === 'staging' ? act('Publish', '_publish') : null,
      status === 'published' ? act('Deprecate', '_deprecate', 'Existing subscriptions keep working; no new ones are accepted.') : null,
      status !== 'closed' ? act('Close', '_close', 'Every subscription to the plan ends and its clients are refused at once.') : null,
    ];
  }

  refresh().catch((err) => showError(err));
}
