// The APIs list: runtime and lifecycle state, entrypoints, context paths, and live figures from
// each ApiView's `stats` (this node's counters), polled; messages/s is the difference of the
// delivered-message counter between two polls.
import { management } from './api.js';
import { h, render, table, badge, showError } from './ui.js';

const POLL_MS = 2000;

export function apisListPage() {
  const region = h('div', { 'aria-live': 'off' }, h('p', {}, 'Loading…'));
  render(
    h('div', { class: 'page-head' },
      h('h1', {}, 'APIs'),
      h('a', { class: 'button primary', href: '#/create' }, 'Create API')),
    region);
  const previous = new Map();
  let timer = null;
  let stopped = false;
  async function refresh() {
    try {
      const apis = await management.listApis();
      if (stopped) return;
      const now = performance.now();
      const rates = new Map();
      for (const api of apis) {
        const stats = api.stats || {};
        const out = (stats.messagesOut || 0) + (stats.messagesIn || 0);
        const before = previous.get(api.id);
        rates.set(api.id, before ? Math.max(0, (out - before.count) / ((now - before.at) / 1000)) : null);
        previous.set(api.id, { count: out, at: now });
      }
      region.replaceChildren(apisTable(apis, rates));
    } catch (err) {
      if (!stopped) showError(err);
    }
    if (!stopped) timer = setTimeout(refresh, POLL_MS);
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function apisTable(apis, rates) {
  return table('Every API of this environment', [
    ['Name', (api) => h('a', { href: `#/apis/${encodeURIComponent(api.id)}` }, api.name || api.id)],
    ['Runtime', (api) => badge(api.state || 'stopped')],
    ['Lifecycle', (api) => badge(api.lifecycleState || 'created')],
    ['Deployment', (api) => badge((api.deploymentState || 'not_deployed').replace('_', ' '), api.deploymentState)],
    ['Entrypoints', (api) => entrypointTypes(api.definition).join(', ')],
    ['Context paths', (api) => contextPaths(api.definition).join(', ')],
    ['Connections', (api) => String((api.stats && api.stats.openStreams) || 0)],
    ['Messages/s', (api) => {
      const rate = rates.get(api.id);
      return rate === null || rate === undefined ? '…' : rate.toFixed(1);
    }],
  ], apis);
}

export function entrypointTypes(definition = {}) {
  return (definition.entrypoints || []).map((e) => e.type);
}

/** An API's context paths; a virtual-host entry `{path, host}` shows as `host/path`. */
export function contextPaths(definition = {}) {
  return (definition.contextPaths || []).map((p) => (typeof p === 'string' ? p : `${p.host || ''}${p.path}`));
}
