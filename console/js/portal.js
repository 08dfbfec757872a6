// The developer portal: published public APIs, readable without signing in; each API's
// entrypoints and how to call them; an application asks for a subscription to a plan and, when
// the plan accepts subscriptions automatically, receives its API key (shown once).
import { portal } from './api.js';
import { h, field, render, table, badge, announce, showError } from './ui.js';

const GATEWAY_KEY = 'tidegate.gateway-url';

export function portalPage(id) {
  if (id) return apiDetail(id);
  const region = h('div', {}, h('p', {}, 'Loading…'));
  render(h('h1', {}, 'Developer portal'),
    h('p', {}, 'Published APIs you can use. Pick one to see how to call it and to get an API key.'),
    region);
  portal.apis().then((apis) => {
    region.replaceChildren(table('Published APIs', [
      ['API', (api) => h('a', { href: `#/portal/${encodeURIComponent(api.id)}` }, api.name || api.id)],
      ['Entrypoints', (api) => entrypoints(api).join(', ')],
      ['Context paths', (api) => paths(api).join(', ')],
      ['State', (api) => badge(api.lifecycleState || 'published')],
    ], apis));
  }).catch((err) => {
    region.replaceChildren(h('p', { class: 'error' }, err.message));
    showError(err);
  });
  return null;
}

function apiDetail(id) {
  const region = h('div', {}, h('p', {}, 'Loading…'));
  const title = h('h1', {}, id);
  render(h('p', {}, h('a', { href: '#/portal' }, '← All published APIs')), title, region);
  portal.api(id).then((api) => {
    title.textContent = api.name || api.id;
    const gateway = localStorage.getItem(GATEWAY_KEY) || `${location.protocol}//${location.hostname}:8082`;
    const base = `${gateway}${paths(api)[0] || ''}`;
    const how = [];
    const types = entrypoints(api);
    if (types.includes('http-get')) how.push(['Poll (HTTP GET)', `curl '${base}'`]);
    if (types.includes('sse')) how.push(['Stream (SSE)', `curl -N -H 'Accept: text/event-stream' '${base}'`]);
    if (types.includes('http-post')) how.push(['Publish (HTTP POST)', `curl -X POST -d 'hello' '${base}'`]);
    if (types.includes('websocket')) how.push(['WebSocket', `websocat '${base.replace(/^http/, 'ws')}'`]);
    if (types.includes('webhook')) how.push(['Webhook', 'Subscribe with a callback URL; the gateway POSTs each message to it.']);
    const plans = (api.plans || []).filter((p) => (p.status || 'published') === 'published');
    region.replaceChildren(
      h('section', { class: 'card', 'aria-labelledby': 'how-title' },
        h('h2', { id: 'how-title' }, 'How to call it'),
        h('dl', {}, how.map(([label, line]) => [h('dt', {}, label), h('dd', {}, h('pre', {}, h('code', {}, line)))])),
        h('p', { class: 'hint' }, 'With an API key, add -H \'X-Gravitee-Api-Key: <key>\' (or ?api-key=<key>).')),
      h('section', { class: 'card', 'aria-labelledby': 'plans-title' },
        h('h2', { id: 'plans-title' }, 'Plans'),
        table('Plans you can use', [
          ['Plan', (p) => p.name],
          ['Security', (p) => (p.security === 'keyless' ? 'none needed' : p.security)],
          ['Subscriptions', (p) => (p.security === 'keyless' ? '—' : p.validation === 'manual' ? 'reviewed' : 'automatic')],
        ], plans)),
      subscribeForm(api, plans.filter((p) => p.security !== 'keyless')));
  }).catch((err) => {
    region.replaceChildren(h('p', { class: 'error' }, err.status === 404 ? `No published API ${id}.` : err.message));
    showError(err);
  });
  return null;
}

function subscribeForm(api, plans) {
  if (!plans.length) {
    return h('p', {}, 'Every plan of this API is keyless: call it without a key.');
  }
  const application = h('input', { type: 'text', required: true, autocomplete: 'organization' });
  const plan = h('select', {}, plans.map((p) => h('option', { value: p.id }, p.name)));
  const result = h('div', { role: 'status', 'aria-live': 'polite' });
  const form = h('form', { class: 'card', 'aria-labelledby': 'sub-title' },
    h('h2', { id: 'sub-title' }, 'Get an API key'),
    field('Your application', application, { name: 'application', hint: 'A name for the program that will call the API.' }),
    field('Plan', plan, { name: 'plan' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Request a subscription')),
    result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const answer = await portal.subscribe(api.id, application.value.trim(), plan.value);
      if (answer.key) {
        result.replaceChildren(h('p', { class: 'note' }, 'Your API key (shown once; copy it now): ', h('code', { class: 'secret' }, answer.key)));
        announce('Subscription accepted; your API key is shown.');
      } else {
        result.replaceChildren(h('p', { class: 'note' }, `Subscription ${answer.id} is ${answer.status}: the API's owner reviews it.`));
        announce(`Subscription ${answer.status}.`);
      }
    } catch (err) {
      showError(err, form);
    }
  });
  return form;
}

/** Entrypoint types: the portal lists them as names (`["http-get", …]`). */
function entrypoints(api) {
  return ((api.definition || api).entrypoints || []).map((e) => (typeof e === 'string' ? e : e.type));
}

function paths(api) {
  return ((api.definition || api).contextPaths || []).map((p) => (typeof p === 'string' ? p : p.path));
}
