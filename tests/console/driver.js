// Page-side helpers for tests/console_wizard.rs, evaluated into the console's page: find
// controls the way a user does (by their visible label or text), act on them, and wait
// (bounded) for what the page should show. Each returns a promise the test awaits.
window.tgTest = (() => {
  const DEADLINE_MS = 20000;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const visible = (el) => el && el.offsetParent !== null;
  const norm = (text) => (text || '').replace(/\s+/g, ' ').trim();

  /** Waits until `find()` returns something truthy; rejects naming `what` after the deadline. */
  async function until(what, find) {
    const end = Date.now() + DEADLINE_MS;
    for (;;) {
      const found = find();
      if (found) return found;
      if (Date.now() > end) {
        throw new Error(`timed out waiting for ${what}; status: "${norm(document.getElementById('status').textContent)}"; page: ${norm(document.getElementById('main').innerText).slice(0, 600)}`);
      }
      await sleep(50);
    }
  }

  /** A visible button or link whose text is `text`, enabled. */
  const control = (text) => [...document.querySelectorAll('button, a')]
    .find((el) => visible(el) && !el.disabled && norm(el.innerText).startsWith(text));

  /** A visible form control whose label is `label`. */
  const labelled = (label) => [...document.querySelectorAll('label')]
    .filter((l) => visible(l) && norm(l.textContent) === label)
    .map((l) => document.getElementById(l.htmlFor))
    .find(Boolean);

  return {
    async click(text) {
      const el = await until(`a button or link "${text}"`, () => control(text));
      el.click();
      return norm(el.innerText);
    },
    async fill(label, value) {
      const el = await until(`a field labelled "${label}"`, () => labelled(label));
      el.focus();
      el.value = value;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
      return el.value;
    },
    async check(label, on) {
      const el = await until(`a checkbox or radio labelled "${label}"`, () => labelled(label));
      if (el.checked !== on) el.click();
      return el.checked;
    },
    async text(text) {
      await until(`"${text}" on the page`, () => norm(document.body.innerText).includes(text));
      return true;
    },
    async heading(text) {
      return until(`a heading "${text}"`, () => [...document.querySelectorAll('h1, h2')]
        .find((el) => visible(el) && norm(el.textContent).startsWith(text))).then((el) => norm(el.textContent));
    },
    /** The live status line (errors and confirmations). */
    status: () => norm(document.getElementById('status').textContent),
    /** The confirm dialog's OK button, once it is open. */
    async confirm() {
      const dialog = document.getElementById('confirm');
      await until('the confirmation dialog', () => dialog.open);
      document.getElementById('confirm-ok').click();
      return true;
    },
  };
})();
