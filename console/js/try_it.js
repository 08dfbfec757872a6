// Try it: live messages of the API over WebSocket or SSE, a test message published, and the curl
// and websocat lines for the API. The gateway (8082) is another origin than the console (8084):
// a WebSocket is allowed unless the API restricts origins; SSE and HTTP need the API's CORS to
// allow this console's origin (the wizard offers it), which the panel says when it is missing.
import { h, field, announce } from './ui.js';

const GATEWAY_KEY = 'tidegate.gateway-url';
/** Lines kept in the live view: older ones are dropped. */
const MAX_LINES = 50;

export function tryItTab(ctx) {
  const { definition } = ctx.api;
  const types = (definition.entrypoints || []).map((e) => e.type);
  const path = (definition.contextPaths || []).map((p) => (typeof p === 'string' ? p : p.path))[0] || '/';
  const gateway = h('input', { type: 'url', value: localStorage.getItem(GATEWAY_KEY) || `${location.protocol}//${location.hostname}:8082` });
  const transport = h('select', {}, [['websocket', 'WebSocket'], ['sse', 'Server-Sent Events']]
    .filter(([type]) => types.includes(type)).map(([value, label]) => h('option', { value }, label)));
  const log = h('ol', { class: 'live', role: 'log', 'aria-label': 'Messages received', 'aria-live': 'polite' });
  const connectButton = h('button', { type: 'button', class: 'primary' }, 'Connect');
  const message = h('input', { type: 'text', value: 'hello from the console' });
  const publishButton = h('button', { type: 'button' }, 'Publish test message');
  const lines = h('div', { class: 'command-lines' });
  const cors = h('p', { class: 'note', role: 'note' });
  let live = null;

  const allowed = corsAllows(definition, location.origin);
  cors.textContent = allowed
    ? `This API's CORS allows ${location.origin}: SSE and HTTP calls work from this page.`
    : `The gateway is another origin (${gateway.value}). WebSocket works from here; SSE and HTTP POST need the API's CORS to allow ${location.origin} (Entrypoints tab: "cors": {"allowOrigin": ["${location.origin}"]}, then deploy).`;

  const canPublish = types.includes('http-post') || (types.includes('websocket') && publisherOn(definition));
  ctx.panel.append(h('h2', {}, 'Try it'),
    ctx.api.state !== 'started' ? h('p', { class: 'note' }, 'The API is not started: start it in the Danger Zone first.') : null,
    cors,
    field('Gateway URL', gateway, { hint: 'Where clients reach the gateway (its listener, port 8082 by default).' }),
    transport.options.length ? field('Receive over', transport) : h('p', {}, 'This API has no WebSocket or SSE entrypoint to watch live.'),
    h('div', { class: 'actions' }, transport.options.length ? connectButton : null),
    log,
    canPublish ? [field('Test message', message), h('div', { class: 'actions' }, publishButton)] : null,
    h('h3', {}, 'From a terminal'), lines);

  const url = (scheme) => `${gateway.value.replace(/\/$/, '').replace(/^http/, scheme)}${path}`;
  function drawLines() {
    localStorage.setItem(GATEWAY_KEY, gateway.value);
    const http = url('http');
    const out = [];
    if (types.includes('http-get')) out.push(`curl '${http}'`);
    if (types.includes('sse')) out.push(`curl -N -H 'Accept: text/event-stream' '${http}'`);
    if (types.includes('http-post')) out.push(`curl -X POST -d 'hello' '${http}'`);
    if (types.includes('websocket')) out.push(`websocat '${url('ws')}'`);
    lines.replaceChildren(...out.map((line) => h('pre', {}, h('code', {}, line))));
  }
  gateway.addEventListener('change', drawLines);
  drawLines();

  function show(text) {
    log.append(h('li', {}, text));
    while (log.children.length > MAX_LINES) log.firstElementChild.remove();
  }

  function disconnect() {
    if (live) live.close();
    live = null;
    connectButton.textContent = 'Connect';
  }

  connectButton.addEventListener('click', () => {
    if (live) return disconnect();
    log.replaceChildren();
    if (transport.value === 'websocket') {
      const socket = new WebSocket(url('ws'));
      socket.onopen = () => announce('Connected over WebSocket.');
      socket.onmessage = (event) => show(typeof event.data === 'string' ? event.data : '(binary message)');
      socket.onclose = (event) => {
        if (live === socket) disconnect();
        announce(`WebSocket closed (${event.code}${event.reason ? `: ${event.reason}` : ''}).`, event.code === 1000 ? 'info' : 'error');
      };
      live = socket;
    } else {
      const source = new EventSource(url('http'));
      source.onopen = () => announce('Connected over SSE.');
      source.onmessage = (event) => show(event.data);
      source.addEventListener('goaway', () => { disconnect(); announce('The API stopped (goaway).', 'error'); });
      source.onerror = () => {
        disconnect();
        announce(allowed ? 'The SSE stream failed or ended.' : `The SSE stream failed: the API's CORS must allow ${location.origin}.`, 'error');
      };
      live = source;
    }
    connectButton.textContent = 'Disconnect';
  });

  publishButton.addEventListener('click', async () => {
    if (live instanceof WebSocket && live.readyState === WebSocket.OPEN && publisherOn(definition)) {
      live.send(message.value);
      announce('Sent over the WebSocket.');
      return;
    }
    try {
      const response = await fetch(url('http'), { method: 'POST', body: message.value, headers: { 'Content-Type': 'text/plain' } });
      announce(response.ok ? `Published (${response.status}).` : `The gateway answered ${response.status}: ${await response.text()}`, response.ok ? 'info' : 'error');
    } catch (err) {
      announce(`Cannot publish from this page: ${allowed ? err.message : `the API's CORS must allow ${location.origin}`}.`, 'error');
    }
  });

  return disconnect;
}

function publisherOn(definition) {
  const ws = (definition.entrypoints || []).find((e) => e.type === 'websocket');
  return Boolean(ws) && !(ws.configuration && ws.configuration.publisher && ws.configuration.publisher.enabled === false);
}

function corsAllows(definition, origin) {
  const cors = definition.cors;
  if (!cors || cors.enabled === false) return false;
  const allow = cors.allowOrigin;
  return allow === '*' || (Array.isArray(allow) && allow.some((o) => o === '*' || o.toLowerCase() === origin.toLowerCase()));
}
