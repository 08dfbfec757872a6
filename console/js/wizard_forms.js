// What the creation wizard asks, as data: each entrypoint's and endpoint's options with their
// defaults (the product's, docs/configuration.md), the controls bound to the wizard's state, and
// how a choice becomes the `apis[]` definition the management API stores. Options left at their
// default are not written, so a wizard-made definition reads like a hand-written one.
import { h, field } from './ui.js';

/** [key (dotted = nested), control, label, default] per entrypoint type, in the seed's order. */
export const ENTRYPOINTS = [
  { type: 'http-get', label: 'HTTP GET', options: [
    ['messagesLimitCount', 'number', 'Messages per request, at most', 500],
    ['messagesLimitDurationMs', 'number', 'Longest wait for messages (ms)', 5000],
    ['headersInPayload', 'checkbox', 'Message headers in the answer', false],
    ['metadataInPayload', 'checkbox', 'Message metadata in the answer', false],
  ] },
  { type: 'websocket', label: 'WebSocket', options: [
    ['publisher.enabled', 'checkbox', 'Clients may publish messages', true],
    ['subscriber.enabled', 'checkbox', 'Clients receive messages', true],
  ] },
  { type: 'sse', label: 'Server-Sent Events (SSE)', options: [
    ['heartbeatIntervalInMs', 'number', 'Heartbeat interval (ms, at least 2000)', 5000],
    ['metadataAsComment', 'checkbox', 'Message metadata as comments', false],
    ['headersAsComment', 'checkbox', 'Message headers as comments', false],
  ] },
  { type: 'http-post', label: 'HTTP POST', options: [
    ['requestHeadersToMessage', 'checkbox', 'Copy the request headers into the message', false],
  ] },
  { type: 'webhook', label: 'Webhook', options: [] },
];

/** Endpoint types and their options; `list` controls take comma-separated values. */
export const ENDPOINTS = [
  { type: 'mock', label: 'Mock', hint: 'Generates messages: for trying an API without a broker.', options: [
    ['messageInterval', 'number', 'Interval between messages (ms)', 1000],
    ['messageContent', 'text', 'Message content', 'mock message'],
    ['messageCount', 'number', 'Messages per client (empty: unlimited)', ''],
  ] },
  { type: 'kafka', label: 'Kafka', hint: 'A Kafka cluster.', options: [
    ['bootstrapServers', 'text', 'Bootstrap servers (host:port, comma-separated)', ''],
    ['consumer.topics', 'list', 'Topics to read (comma-separated; empty: no reading)', ''],
    ['producer.topics', 'list', 'Topic to write to (empty: no publishing)', ''],
  ] },
  { type: 'mqtt5', label: 'MQTT', hint: 'An MQTT 3.1.1 or 5 broker.', options: [
    ['serverHost', 'text', 'Broker host', ''],
    ['serverPort', 'number', 'Broker port', 1883],
    ['consumer.topic', 'text', 'Topic filter to read (empty: no reading)', ''],
    ['producer.topic', 'text', 'Topic to publish to (empty: no publishing)', ''],
  ] },
  { type: 'in-memory', label: 'In-memory topic', hint: 'A topic held by the gateway itself: pub/sub without a broker.', options: [
    ['topic', 'text', 'Topic name', ''],
  ] },
];

/** The wizard's starting choices: the seed's quickstart shape, keyless. */
export function initialChoices() {
  const values = (options) => Object.fromEntries(options.map(([key, , , value]) => [key, value]));
  return {
    name: '',
    id: '',
    architecture: '',
    contextPaths: '',
    corsForConsole: false,
    entrypoints: Object.fromEntries(ENTRYPOINTS.map((e) => [e.type, { enabled: false, values: values(e.options) }])),
    endpointType: 'mock',
    endpoints: Object.fromEntries(ENDPOINTS.map((e) => [e.type, values(e.options)])),
    plans: [{ id: 'keyless', name: 'Default Keyless (UNSECURED)', security: 'keyless', validation: 'auto' }],
  };
}

/** A control bound to `values[key]`, labelled; `name` is the location server errors use. */
export function optionField(values, [key, kind, label], name) {
  const control = kind === 'checkbox'
    ? h('input', { type: 'checkbox', checked: Boolean(values[key]) })
    : h('input', { type: kind === 'number' ? 'number' : 'text', value: values[key] ?? '', inputmode: kind === 'number' ? 'numeric' : undefined });
  control.addEventListener(kind === 'checkbox' ? 'change' : 'input', () => {
    values[key] = kind === 'checkbox' ? control.checked : control.value;
  });
  control.dataset.option = key;
  return field(label, control, { name });
}

/** `{a.b: 1}` → `{a: {b: 1}}`, leaving out values equal to their default. */
function configuration(options, values) {
  const out = {};
  for (const [key, kind, , fallback] of options) {
    let value = values[key];
    if (value === '' || value === undefined || value === null || value === fallback) continue;
    if (kind === 'number') value = Number(value);
    if (kind === 'list') value = String(value).split(',').map((s) => s.trim()).filter(Boolean);
    if (kind === 'number' && String(value) === String(fallback)) continue;
    const path = key.split('.');
    let at = out;
    for (const part of path.slice(0, -1)) at = at[part] = at[part] || {};
    at[path[path.length - 1]] = value;
  }
  return out;
}

/** The enabled entrypoints, in the order they are written (indexes for error locations). */
export function enabledEntrypoints(choices) {
  return ENTRYPOINTS.filter((e) => choices.entrypoints[e.type].enabled);
}

/** The `apis[]` entry the wizard's choices describe. */
export function definitionOf(choices) {
  const entrypoints = enabledEntrypoints(choices).map((e) => {
    const config = configuration(e.options, choices.entrypoints[e.type].values);
    return Object.keys(config).length ? { type: e.type, configuration: config } : { type: e.type };
  });
  const endpoint = ENDPOINTS.find((e) => e.type === choices.endpointType);
  const config = configuration(endpoint.options, choices.endpoints[endpoint.type]);
  // A broker side is on when its topic is given.
  for (const side of ['consumer', 'producer']) {
    if (config[side] && endpoint.type === 'kafka') config[side].enabled = true;
  }
  const definition = {
    id: choices.id,
    name: choices.name,
    contextPaths: choices.contextPaths.split(/[\s,]+/).filter(Boolean),
    entrypoints,
    endpoint: Object.keys(config).length ? { type: endpoint.type, configuration: config } : { type: endpoint.type },
    plans: choices.plans.map(planDefinition),
  };
  if (choices.corsForConsole) definition.cors = { allowOrigin: [location.origin] };
  return definition;
}

function planDefinition(plan) {
  const out = { id: plan.id, name: plan.name, security: plan.security };
  if (plan.security !== 'keyless' && plan.validation === 'manual') out.validation = 'manual';
  return out;
}

/** An id from a name: lower case, letters, digits and `-` (the config's id alphabet). */
export function slug(name) {
  return name.toLowerCase().trim().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
}

/**
 * Checks the plans before the server does ("Validate my plans"): at least one, unique ids, names
 * set, one keyless plan at most. Returns [{location, message}].
 */
export function planProblems(plans) {
  const problems = [];
  if (!plans.length) problems.push({ location: 'definition.plans', message: 'An API needs at least one plan.' });
  const seen = new Set();
  plans.forEach((plan, i) => {
    if (!plan.name.trim()) problems.push({ location: `definition.plans[${i}].name`, message: 'Give the plan a name.' });
    if (!/^[a-zA-Z0-9._-]+$/.test(plan.id)) {
      problems.push({ location: `definition.plans[${i}].id`, message: 'Letters, digits, ".", "_" and "-" only.' });
    } else if (seen.has(plan.id)) {
      problems.push({ location: `definition.plans[${i}].id`, message: 'Another plan has this id.' });
    }
    seen.add(plan.id);
  });
  if (plans.filter((p) => p.security === 'keyless').length > 1) {
    problems.push({ location: 'definition.plans', message: 'One keyless plan is enough: a request without a credential can use only one.' });
  }
  return problems;
}
