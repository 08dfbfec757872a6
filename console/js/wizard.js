// The creation wizard, step by step as in the seed: API details → entrypoints ("Introspect
// Messages From Event-Driven Backend", then which entrypoints, their context paths and options)
// → endpoint → security (plans, "Validate my plans") → summary ("Save API", "Save & Deploy
// API") → confirmation ("Open my API in API Management"). The server's validation errors are
// put back on the step and field they belong to.
import { management } from './api.js';
import { h, field, render, announce, showError, showFieldErrors, clearFieldErrors } from './ui.js';
import {
  ENTRYPOINTS, ENDPOINTS, initialChoices, optionField, enabledEntrypoints, definitionOf, slug, planProblems,
} from './wizard_forms.js';

const STEPS = ['API details', 'Entrypoints', 'Endpoint', 'Security', 'Summary'];

export function wizardPage() {
  const choices = initialChoices();
  let idEdited = false;
  const view = h('div');
  render(h('h1', {}, 'Create API'), view);
  show(0);

  /** Renders step `index`; `errors` from the server are placed on its fields. */
  function show(index, errors = []) {
    const form = h('form', { class: 'card wizard', novalidate: true, 'aria-labelledby': 'step-title' });
    const body = [detailsStep, entrypointsStep, endpointStep, securityStep, summaryStep][index](form);
    const nav = h('div', { class: 'actions' },
      index > 0 ? h('button', { type: 'button', onclick: () => show(index - 1) }, 'Previous') : null,
      index < STEPS.length - 1 ? h('button', { type: 'submit', class: 'primary' }, 'Next') : null);
    form.append(h('h2', { id: 'step-title' }, `Step ${index + 1} of ${STEPS.length}: ${STEPS[index]}`), ...body.flat(Infinity).filter(Boolean), nav);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const problems = checkStep(index);
      if (problems.length) {
        showFieldErrors(form, problems);
        announce(`Fix ${problems.length === 1 ? 'this field' : 'these fields'} first: ${problems.map((p) => p.message).join(' ')}`, 'error');
        return;
      }
      show(index + 1);
    });
    view.replaceChildren(progress(index), form);
    const heading = form.querySelector('h2');
    heading.setAttribute('tabindex', '-1');
    heading.focus();
    if (errors.length) showError({ message: 'The server refused the API; see the marked fields.', errors }, form);
  }

  function progress(current) {
    return h('nav', { 'aria-label': 'Wizard steps' }, h('ol', { class: 'steps' },
      STEPS.map((name, i) => h('li', { 'aria-current': i === current ? 'step' : undefined, class: i < current ? 'done' : undefined }, name))));
  }

  /** What must be set before leaving a step (the server checks the rest). */
  function checkStep(index) {
    const problems = [];
    if (index === 0) {
      if (!choices.name.trim()) problems.push({ location: 'definition.name', message: 'Give the API a name.' });
      if (!/^[a-zA-Z0-9._-]+$/.test(choices.id)) problems.push({ location: 'definition.id', message: 'The id takes letters, digits, ".", "_" and "-".' });
    }
    if (index === 1) {
      if (!choices.architecture) problems.push({ location: 'architecture', message: 'Choose how the API works.' });
      if (!enabledEntrypoints(choices).length) problems.push({ location: 'entrypoints', message: 'Select at least one entrypoint.' });
      if (!choices.contextPaths.trim()) problems.push({ location: 'definition.contextPaths', message: 'Give at least one context path, e.g. /my-api.' });
    }
    if (index === 3) problems.push(...planProblems(choices.plans));
    return problems;
  }

  function detailsStep() {
    const name = h('input', { type: 'text', value: choices.name, required: true, autocomplete: 'off' });
    const id = h('input', { type: 'text', value: choices.id, required: true, autocomplete: 'off' });
    name.addEventListener('input', () => {
      choices.name = name.value;
      if (!idEdited) id.value = choices.id = slug(name.value);
    });
    id.addEventListener('input', () => {
      idEdited = true;
      choices.id = id.value;
    });
    return [
      field('API name', name, { name: 'definition.name' }),
      field('API id', id, { name: 'definition.id', hint: 'Used in URLs, logs and metrics: letters, digits, ".", "_", "-".' }),
    ];
  }

  function entrypointsStep(form) {
    const architecture = h('fieldset', { class: 'field choices', dataset: { field: 'architecture' } },
      h('legend', {}, 'How does the API work?'),
      h('p', { class: 'error', hidden: true }),
      choiceButton('Introspect Messages From Event-Driven Backend',
        'Clients receive and publish messages over HTTP, WebSocket, SSE or webhooks; the gateway talks to a broker (or a mock).',
        choices.architecture === 'message', () => { choices.architecture = 'message'; rerender(); }),
      choiceButton('Proxy Generic Protocol', 'Not offered by tidegate: it is an event-native gateway.', false, null));
    const parts = [architecture];
    if (choices.architecture) {
      const list = h('fieldset', { class: 'field', dataset: { field: 'entrypoints' } },
        h('legend', {}, 'Entrypoints: how clients reach the API'),
        h('p', { class: 'error', hidden: true }),
        ENTRYPOINTS.map((e) => {
          const box = h('input', { type: 'checkbox', checked: choices.entrypoints[e.type].enabled });
          box.addEventListener('change', () => { choices.entrypoints[e.type].enabled = box.checked; rerender(); });
          return field(e.label, box, { name: `entrypoint.${e.type}` });
        }));
      const paths = h('input', { type: 'text', value: choices.contextPaths, placeholder: '/my-api' });
      paths.addEventListener('input', () => { choices.contextPaths = paths.value; });
      const cors = h('input', { type: 'checkbox', checked: choices.corsForConsole });
      cors.addEventListener('change', () => { choices.corsForConsole = cors.checked; });
      parts.push(list,
        field('Context paths', paths, { name: 'definition.contextPaths', hint: 'Where the API is served on the gateway, e.g. /my-api (several: comma-separated).' }),
        enabledEntrypoints(choices).map((e, i) => h('fieldset', { class: 'field', dataset: { field: `definition.entrypoints[${i}]` } },
          h('legend', {}, `${e.label} options`),
          h('p', { class: 'error', hidden: true }),
          e.options.length ? e.options.map((o) => optionField(choices.entrypoints[e.type].values, o, `definition.entrypoints[${i}].configuration.${o[0]}`))
            : h('p', { class: 'hint' }, 'Subscribers register their callback URL when they subscribe.'))),
        field(`Let this console's Try it panel call the API from the browser (CORS for ${location.origin})`, cors, {
          name: 'definition.cors',
          hint: 'SSE and HTTP calls from the console are cross-origin (the gateway is on another port); WebSocket works without it.',
        }));
    }
    function rerender() {
      rebuild(form, 1);
    }
    return parts;
  }

  /** Re-renders step `index` in place after a choice changed, keeping focus near where it was. */
  function rebuild(_form, index) {
    const active = document.activeElement;
    const text = active && (active.labels && active.labels[0] ? active.labels[0].textContent : active.textContent);
    show(index);
    const again = [...view.querySelectorAll('input, button')].find((el) =>
      (el.labels && el.labels[0] ? el.labels[0].textContent : el.textContent) === text);
    if (again) again.focus();
  }

  function choiceButton(title, text, pressed, onclick) {
    return h('button', { type: 'button', class: 'choice', 'aria-pressed': String(pressed), disabled: !onclick, onclick: onclick || undefined },
      h('strong', {}, title), h('span', {}, text));
  }

  function endpointStep(form) {
    const note = h('p', { class: 'note', role: 'note', hidden: true });
    const applyMockRule = () => {
      const ws = choices.entrypoints.websocket;
      note.hidden = true;
      if (choices.endpointType === 'mock' && ws.enabled && ws.values['publisher.enabled']) {
        ws.values['publisher.enabled'] = false;
      }
      if (choices.endpointType === 'mock' && ws.enabled) {
        note.hidden = false;
        note.textContent = 'A mock takes no published messages: the WebSocket entrypoint only delivers.';
      }
    };
    applyMockRule();
    const types = h('fieldset', { class: 'field', dataset: { field: 'definition.endpoint.type' } },
      h('legend', {}, 'Endpoint: where messages come from and go to'),
      h('p', { class: 'error', hidden: true }),
      ENDPOINTS.map((e) => {
        const radio = h('input', { type: 'radio', name: 'endpoint-type', value: e.type, checked: choices.endpointType === e.type });
        radio.addEventListener('change', () => { choices.endpointType = e.type; rebuild(form, 2); });
        return field(e.label, radio, { hint: e.hint });
      }));
    const endpoint = ENDPOINTS.find((e) => e.type === choices.endpointType);
    return [types, note, h('fieldset', { class: 'field', dataset: { field: 'definition.endpoint' } },
      h('legend', {}, `${endpoint.label} options`),
      h('p', { class: 'error', hidden: true }),
      endpoint.options.map((o) => optionField(choices.endpoints[endpoint.type], o, `definition.endpoint.configuration.${o[0]}`)))];
  }

  function securityStep(form) {
    const rows = choices.plans.map((plan, i) => {
      const name = h('input', { type: 'text', value: plan.name });
      name.addEventListener('input', () => { plan.name = name.value; });
      const id = h('input', { type: 'text', value: plan.id });
      id.addEventListener('input', () => { plan.id = id.value; });
      const security = h('select', {}, [['keyless', 'Keyless (public)'], ['api-key', 'API key']]
        .map(([value, label]) => h('option', { value, selected: plan.security === value }, label)));
      security.addEventListener('change', () => { plan.security = security.value; rebuild(form, 3); });
      const validation = h('select', {}, [['auto', 'Accept subscriptions automatically'], ['manual', 'Review each subscription']]
        .map(([value, label]) => h('option', { value, selected: plan.validation === value }, label)));
      validation.addEventListener('change', () => { plan.validation = validation.value; });
      return h('fieldset', { class: 'field plan', dataset: { field: `definition.plans[${i}]` } },
        h('legend', {}, `Plan ${i + 1}`),
        h('p', { class: 'error', hidden: true }),
        field('Plan name', name, { name: `definition.plans[${i}].name` }),
        field('Plan id', id, { name: `definition.plans[${i}].id` }),
        field('Security', security, { name: `definition.plans[${i}].security` }),
        plan.security === 'keyless' ? null : field('Subscriptions', validation, { name: `definition.plans[${i}].validation` }),
        h('button', { type: 'button', class: 'link', onclick: () => { choices.plans.splice(i, 1); rebuild(form, 3); } }, `Remove plan ${i + 1}`));
    });
    const validate = h('button', { type: 'button', onclick: () => {
      const problems = planProblems(choices.plans);
      clearFieldErrors(form);
      if (problems.length) {
        showFieldErrors(form, problems);
        announce(`Your plans need changes: ${problems.map((p) => p.message).join(' ')}`, 'error');
      } else {
        announce(`Your plans are valid (${choices.plans.length} plan${choices.plans.length > 1 ? 's' : ''}).`);
      }
    } }, 'Validate my plans');
    return [
      h('div', { class: 'field', dataset: { field: 'definition.plans' } }, h('p', { class: 'error', hidden: true })),
      h('p', {}, 'Plans say who may call the API. A keyless plan lets anyone in without a credential.'),
      rows,
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => {
          const n = choices.plans.length + 1;
          choices.plans.push({ id: `api-key-${n}`, name: `API key ${n}`, security: 'api-key', validation: 'auto' });
          rebuild(form, 3);
        } }, 'Add a plan'),
        validate),
    ];
  }

  function summaryStep() {
    const definition = definitionOf(choices);
    const visibility = h('select', {}, [['private', 'Private: only in this console'], ['public', 'Public: listed in the developer portal once published']]
      .map(([value, label]) => h('option', { value }, label)));
    const save = (deploy) => async (event) => {
      const buttons = event.target.closest('form').querySelectorAll('button');
      buttons.forEach((b) => { b.disabled = true; });
      try {
        await saveApi(definition, visibility.value, deploy);
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
      }
    };
    return [
      h('dl', { class: 'summary' },
        h('dt', {}, 'Name'), h('dd', {}, `${definition.name} (${definition.id})`),
        h('dt', {}, 'Entrypoints'), h('dd', {}, definition.entrypoints.map((e) => e.type).join(', ')),
        h('dt', {}, 'Context paths'), h('dd', {}, definition.contextPaths.join(', ')),
        h('dt', {}, 'Endpoint'), h('dd', {}, definition.endpoint.type),
        h('dt', {}, 'Plans'), h('dd', {}, definition.plans.map((p) => `${p.name} (${p.security})`).join(', '))),
      field('Visibility', visibility, { name: 'visibility' }),
      h('details', {}, h('summary', {}, 'The definition that will be stored'),
        h('pre', {}, JSON.stringify(definition, null, 2))),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: save(false) }, 'Save API'),
        h('button', { type: 'button', class: 'primary', onclick: save(true) }, 'Save & Deploy API')),
    ];
  }

  async function saveApi(definition, visibility, deploy) {
    let created;
    try {
      created = await management.createApi(definition, visibility);
    } catch (err) {
      const errors = (err.errors || []).map((e) => ({ ...e, location: normalize(e.location) }));
      if (!errors.length) return showError(err);
      return show(stepOf(errors[0].location), errors);
    }
    let deployError = null;
    if (deploy) {
      try {
        await management.deploy(created.id, 'Created with the console wizard');
        await management.apiAction(created.id, '_start').catch((err) => {
          if (err.status !== 409) throw err; // already started by the deployment
        });
      } catch (err) {
        deployError = err;
      }
    }
    confirmation(created, deploy, deployError);
  }

  function confirmation(api, deployed, deployError) {
    const link = h('a', { class: 'button primary', href: `#/apis/${encodeURIComponent(api.id)}` }, 'Open my API in API Management');
    view.replaceChildren(h('section', { class: 'card', 'aria-labelledby': 'done-title' },
      h('h2', { id: 'done-title', tabindex: '-1' }, deployed && !deployError ? 'Your API is created and deployed' : 'Your API is created'),
      h('p', {}, deployed && !deployError
        ? `${api.name} is on the gateway at ${(api.definition.contextPaths || []).join(', ')}.`
        : 'It is saved; deploy it from its page to put it on the gateway.'),
      deployError ? h('p', { class: 'error', role: 'alert' }, `The deployment failed: ${deployError.message}`) : null,
      h('div', { class: 'actions' }, link)));
    announce(deployed && !deployError ? 'API created and deployed.' : 'API created.');
    link.focus();
  }
}

/** `apis[0].x` (the configuration loader's form) → `definition.x` (the wizard's field names). */
function normalize(location = '') {
  return location.replace(/^apis\[\d+\]\./, 'definition.').replace(/^(?!definition\.|visibility)/, 'definition.');
}

/** The wizard step that holds the field at `location`. */
function stepOf(location) {
  if (/^definition\.(name|id)\b/.test(location)) return 0;
  if (/^definition\.(contextPaths|entrypoints|cors)\b/.test(location)) return 1;
  if (/^definition\.endpoint\b/.test(location)) return 2;
  if (/^definition\.plans\b/.test(location)) return 3;
  return 4;
}
