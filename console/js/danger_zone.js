// The Danger Zone: Stop/Start, Publish/Unpublish, Make Public/Private, Deprecate, Delete. Each
// is confirmed; a refusal shows the server's own message (e.g. "stop the API first").
import { management } from './api.js';
import { h, announce, showError, confirmAction } from './ui.js';

export function dangerZoneTab(ctx) {
  const rows = h('div', { class: 'danger-zone' });
  ctx.panel.append(h('h2', {}, 'Danger Zone'), rows);
  draw();

  function draw() {
    const api = ctx.api;
    const started = api.state === 'started';
    const published = api.lifecycleState === 'published';
    const isPublic = api.visibility === 'public';
    rows.replaceChildren(
      row(started ? 'Stop the API' : 'Start the API',
        started ? 'Clients are disconnected (SSE goaway, WebSocket 1013) and the paths answer 404.' : 'The gateway serves the deployed revision again.',
        started ? '_stop' : '_start', started ? 'Stop' : 'Start'),
      row(published ? 'Unpublish the API' : 'Publish the API',
        published ? 'It leaves the developer portal; traffic is not affected.' : 'It is listed in the developer portal (when public).',
        published ? '_unpublish' : '_publish', published ? 'Unpublish' : 'Publish'),
      row(isPublic ? 'Make private' : 'Make public',
        isPublic ? 'Only signed-in users of this console see it.' : 'Anyone can see it in the developer portal once published.',
        isPublic ? '_make-private' : '_make-public', isPublic ? 'Make Private' : 'Make Public'),
      api.lifecycleState === 'deprecated' ? null
        : row('Deprecate the API', 'No new subscriptions; existing ones keep working.', '_deprecate', 'Deprecate'),
      row('Delete the API', 'Needs the API stopped and every plan closed. This cannot be undone.', null, 'Delete'));
  }

  function row(title, text, action, label) {
    const button = h('button', { type: 'button', class: 'danger' }, label);
    button.addEventListener('click', async () => {
      if (!await confirmAction(`${title}?`, text, label)) return;
      button.disabled = true;
      try {
        if (action) {
          await management.apiAction(ctx.id, action);
          await ctx.reload();
          announce(`${title}: done.`);
          draw();
          rows.querySelector('button').focus();
        } else {
          await management.deleteApi(ctx.id);
          announce(`API ${ctx.id} deleted.`);
          location.hash = '#/apis';
        }
      } catch (err) {
        showError(err);
      } finally {
        button.disabled = false;
      }
    });
    return h('div', { class: 'danger-row' }, h('div', {}, h('h3', {}, title), h('p', {}, text)), button);
  }
}
