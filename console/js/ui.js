// Small DOM helpers shared by the pages: element building (text only, never innerHTML, so nothing
// the server or a user typed is ever parsed as markup), labelled form fields with their error
// slot, the live status region, the confirmation dialog, and server errors put on their fields.

/** `h('button', {class: 'x', onclick}, 'Save')`: an element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let fieldCounter = 0;

/**
 * A labelled control with a hint and an error slot tied to it (`aria-describedby`), keyed by
 * `name`: the location the server's validation errors use (e.g. `definition.contextPaths`).
 */
export function field(label, control, { name, hint } = {}) {
  const id = control.id || `f${++fieldCounter}`;
  control.id = id;
  if (name) control.dataset.field = name;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  const error = h('p', { class: 'error', id: `${id}-error`, hidden: true });
  control.setAttribute('aria-describedby', [hintEl && hintEl.id, error.id].filter(Boolean).join(' '));
  const isCheck = control.type === 'checkbox' || control.type === 'radio';
  return h('div', { class: isCheck ? 'field check' : 'field', dataset: { field: name || '' } },
    isCheck ? [control, h('label', { for: id }, label)] : [h('label', { for: id }, label), control],
    hintEl, error);
}

/** Says `message` in the live region (screen readers read it; `error` styles it). */
export function announce(message, kind = 'info') {
  const status = document.getElementById('status');
  status.textContent = '';
  status.className = `status ${kind}`;
  status.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  // A fresh text node, so the same message twice is announced twice.
  requestAnimationFrame(() => { status.textContent = message; });
}

export function clearStatus() {
  const status = document.getElementById('status');
  status.textContent = '';
  status.className = 'status';
}

/** Asks before a destructive action; resolves true when confirmed. */
export function confirmAction(title, text, okLabel = 'Confirm') {
  const dialog = document.getElementById('confirm');
  dialog.querySelector('#confirm-title').textContent = title;
  dialog.querySelector('#confirm-text').textContent = text;
  dialog.querySelector('#confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
  });
}

/** Removes the error marks of `root`'s fields. */
export function clearFieldErrors(root) {
  for (const error of root.querySelectorAll('.field .error')) {
    error.hidden = true;
    error.textContent = '';
  }
  for (const control of root.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
}

/**
 * Puts each of the server's `errors[]` on the field whose name is the longest prefix of its
 * `location` (`definition.entrypoints[0].configuration.x` lands on `definition.entrypoints[0]`
 * when that is the closest field), focuses the first; returns the errors no field took.
 */
export function showFieldErrors(root, errors) {
  clearFieldErrors(root);
  const fields = [...root.querySelectorAll('.field[data-field]')].filter((f) => f.dataset.field);
  const unplaced = [];
  let first = null;
  for (const { location = '', message = '' } of errors) {
    const target = fields
      .filter((f) => location === f.dataset.field || location.startsWith(`${f.dataset.field}.`)
        || location.startsWith(`${f.dataset.field}[`))
      .sort((a, b) => b.dataset.field.length - a.dataset.field.length)[0];
    if (!target) { unplaced.push({ location, message }); continue; }
    const error = target.querySelector('.error');
    error.hidden = false;
    error.textContent = error.textContent ? `${error.textContent} ${message}` : message;
    const control = target.querySelector('input, select, textarea');
    if (control) {
      control.setAttribute('aria-invalid', 'true');
      first = first || control;
    }
  }
  if (first) first.focus();
  return unplaced;
}

/** Says what went wrong: the server's message, its field errors on their fields. */
export function showError(err, root) {
  const unplaced = root && err.errors ? showFieldErrors(root, err.errors) : err.errors || [];
  const extra = unplaced.map((e) => `${e.location ? `${e.location}: ` : ''}${e.message}`).join('; ');
  announce(extra ? `${err.message} (${extra})` : err.message, 'error');
}

/** Replaces the page's content and moves focus to its heading (the page changed). */
export function render(...children) {
  const main = document.getElementById('main');
  main.replaceChildren(...children.flat());
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }
}

/** A button that runs `action` once at a time (disabled meanwhile) and reports its failure. */
export function actionButton(label, action, attrs = {}) {
  const button = h('button', { type: 'button', ...attrs }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await action();
    } catch (err) {
      showError(err, button.closest('form, section') || undefined);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** A small table: `columns` are [heading, row => cell] pairs. */
export function table(caption, columns, rows) {
  return h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, columns.map(([title]) => h('th', { scope: 'col' }, title)))),
    h('tbody', {}, rows.length
      ? rows.map((row) => h('tr', {}, columns.map(([, cell]) => h('td', {}, cell(row)))))
      : h('tr', {}, h('td', { colspan: columns.length }, 'None yet.'))));
}

export function badge(text, kind = text) {
  return h('span', { class: `badge ${kind}` }, text);
}
