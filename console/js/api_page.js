// One API's page: a header (name, states) and tabs, each a link (#/apis/{id}/{tab}) so that the
// browser's back button and a shared link land on the same tab. The ApiView is read once per
// visit; actions re-read it.
import { management } from './api.js';
import { h, render, badge, field, announce, showError, actionButton } from './ui.js';
import { contextPaths, entrypointTypes } from './apis_list.js';
import { plansTab } from './plans.js';
import { subscriptionsTab } from './subscriptions.js';
import { deploymentsTab } from './deployments.js';
import { dangerZoneTab } from './danger_zone.js';
import { tryItTab } from './try_it.js';

const TABS = [
  ['general', 'General Info', generalTab],
  ['entrypoints', 'Entrypoints', (ctx) => definitionTab(ctx, ['contextPaths', 'entrypoints', 'cors'], 'Entrypoints and context paths')],
  ['endpoint', 'Endpoint', (ctx) => definitionTab(ctx, ['endpoint'], 'Endpoint')],
  ['plans', 'Plans', plansTab],
  ['subscriptions', 'Subscriptions', subscriptionsTab],
  ['deployments', 'Deployments', deploymentsTab],
  ['try-it', 'Try it', tryItTab],
  ['danger-zone', 'Danger Zone', dangerZoneTab],
];

export function apiPage(id, tab) {
  const panel = h('section', { class: 'card', id: 'tab-panel', 'aria-live': 'off' }, h('p', {}, 'Loading…'));
  const title = h('h1', {}, id);
  const states = h('p', { class: 'states' });
  const tabs = h('nav', { 'aria-label': 'API sections' }, h('ul', { class: 'tabs' },
    TABS.map(([key, label]) => h('li', {}, h('a', {
      href: `#/apis/${encodeURIComponent(id)}/${key}`,
      'aria-current': key === tab ? 'page' : undefined,
    }, label)))));
  render(h('p', {}, h('a', { href: '#/apis' }, '← All APIs')), title, states, tabs, panel);
  let stop = null;
  let gone = false;
  const ctx = {
    id,
    panel,
    api: null,
    etag: null,
    /** Re-reads the API and redraws the header (after an action). */
    async reload() {
      const { data, etag } = await management.getApi(id);
      ctx.api = data;
      ctx.etag = etag;
      title.textContent = data.name || data.id;
      states.replaceChildren('Runtime ', badge(data.state || 'stopped'), ' · Lifecycle ', badge(data.lifecycleState || 'created'),
        ' · ', badge(data.visibility || 'private'), ' · ', badge((data.deploymentState || 'not_deployed').replace('_', ' '), data.deploymentState));
      return data;
    },
  };
  ctx.reload().then(() => {
    if (gone) return;
    const entry = TABS.find(([key]) => key === tab) || TABS[0];
    panel.replaceChildren();
    panel.setAttribute('aria-label', entry[1]);
    stop = entry[2](ctx) || null;
  }).catch((err) => {
    panel.replaceChildren(h('p', { class: 'error' }, err.status === 404 ? `There is no API ${id}.` : err.message));
    showError(err);
  });
  return () => {
    gone = true;
    if (typeof stop === 'function') stop();
  };
}

function generalTab(ctx) {
  const { api } = ctx;
  const name = h('input', { type: 'text', value: api.name || api.definition.name });
  const form = h('form', { 'aria-labelledby': 'general-title' },
    h('h2', { id: 'general-title' }, 'General Info'),
    h('dl', { class: 'summary' },
      h('dt', {}, 'Id'), h('dd', {}, api.id),
      h('dt', {}, 'Entrypoints'), h('dd', {}, entrypointTypes(api.definition).join(', ')),
      h('dt', {}, 'Context paths'), h('dd', {}, contextPaths(api.definition).join(', ')),
      h('dt', {}, 'Endpoint'), h('dd', {}, (api.definition.endpoint || {}).type || ''),
      h('dt', {}, 'Deployed revision'), h('dd', {}, api.deployedRevision == null ? 'never deployed' : String(api.deployedRevision)),
      h('dt', {}, 'Open connections'), h('dd', {}, String((api.stats && api.stats.openStreams) || 0)),
      h('dt', {}, 'Messages in / out'), h('dd', {}, `${(api.stats && api.stats.messagesIn) || 0} / ${(api.stats && api.stats.messagesOut) || 0}`),
      h('dt', {}, 'Updated'), h('dd', {}, api.updatedAt || '')),
    field('API name', name, { name: 'definition.name' }),
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, 'Save'),
      api.deploymentState !== 'deployed' ? actionButton('Deploy API', async () => {
        const { revision } = await management.deploy(api.id);
        await ctx.reload();
        announce(`Revision ${revision} is being deployed.`);
      }, { class: 'primary' }) : null));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await management.updateApi(api.id, { ...ctx.api.definition, name: name.value }, ctx.etag);
      await ctx.reload();
      announce('Saved. Deploy the API to put the change on the gateway.');
    } catch (err) {
      showError(err, form);
    }
  });
  ctx.panel.append(form);
}

/** Edits `keys` of the definition as JSON; saved with the ETag read (412 if someone else saved). */
function definitionTab(ctx, keys, heading) {
  const { api } = ctx;
  const part = Object.fromEntries(keys.filter((k) => api.definition[k] !== undefined).map((k) => [k, api.definition[k]]));
  const text = h('textarea', { rows: 16, spellcheck: 'false', class: 'code' });
  text.value = JSON.stringify(part, null, 2);
  const form = h('form', { 'aria-labelledby': 'def-title' },
    h('h2', { id: 'def-title' }, heading),
    field(`${heading} (JSON, as in the configuration file)`, text, {
      name: `definition.${keys[0]}`,
      hint: 'Saving stores a new version; the gateway changes at the next deployment.',
    }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    let changed;
    try {
      changed = JSON.parse(text.value);
    } catch (err) {
      showError({ message: 'That is not valid JSON.', errors: [{ location: `definition.${keys[0]}`, message: err.message }] }, form);
      return;
    }
    const definition = { ...ctx.api.definition };
    for (const key of keys) delete definition[key];
    try {
      await management.updateApi(api.id, { ...definition, ...changed }, ctx.etag);
      await ctx.reload();
      announce('Saved. Deploy the API (Deployments) to put the change on the gateway.');
    } catch (err) {
      showError(err, form);
    }
  });
  ctx.panel.append(form);
}
