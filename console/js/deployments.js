// Deployments of an API: the history of revisions, what changed between a revision and the one
// before it (or the saved definition), deploy now, and rollback to a revision.
import { management } from './api.js';
import { h, table, badge, announce, showError, actionButton, confirmAction } from './ui.js';

export function deploymentsTab(ctx) {
  const list = h('div');
  const diffView = h('div', { class: 'diff-view' });
  ctx.panel.append(h('h2', {}, 'Deployments'),
    h('div', { class: 'actions' }, actionButton('Deploy the saved definition', async () => {
      const { revision } = await management.deploy(ctx.id, 'Deployed from the console');
      announce(`Revision ${revision} is being deployed.`);
      await ctx.reload();
      await refresh();
    }, { class: 'primary' })),
    list, diffView);

  async function refresh() {
    const revisions = await management.deployments(ctx.id);
    revisions.sort((a, b) => b.revision - a.revision);
    list.replaceChildren(table('Revisions, newest first', [
      ['Revision', (r) => String(r.revision)],
      ['Deployed', (r) => (r.deployed ? badge('deployed') : '')],
      ['When', (r) => r.createdAt || ''],
      ['Who', (r) => r.author || ''],
      ['Comment', (r) => r.comment || ''],
      ['Actions', (r) => h('div', { class: 'row-actions' },
        actionButton(`What changed in ${r.revision}`, () => showDiff(r.revision, revisions)),
        r.deployed ? null : actionButton(`Roll back to ${r.revision}`, async () => {
          if (!await confirmAction(`Roll back to revision ${r.revision}?`, 'Its definition is deployed to the gateway now.', 'Roll back')) return;
          await management.rollback(ctx.id, r.revision);
          announce(`Rolling back to revision ${r.revision}.`);
          await ctx.reload();
          await refresh();
        }))],
    ], revisions));
  }

  /** Revision `n` against the revision before it (the first against nothing). */
  async function showDiff(n, revisions) {
    const older = revisions.map((r) => r.revision).filter((r) => r < n).sort((a, b) => b - a)[0];
    const [after, before] = await Promise.all([
      management.deployment(ctx.id, n),
      older ? management.deployment(ctx.id, older) : Promise.resolve({}),
    ]);
    const lines = diffLines(pretty(before), pretty(after));
    diffView.replaceChildren(
      h('h3', { tabindex: '-1' }, older ? `Revision ${older} → ${n}` : `Revision ${n} (the first)`),
      h('pre', { class: 'diff', 'aria-label': 'Changed lines: + added, - removed' },
        lines.map(([mark, text]) => h('span', { class: mark === '+' ? 'add' : mark === '-' ? 'del' : 'same' }, `${mark} ${text}\n`))));
    diffView.querySelector('h3').focus();
  }

  refresh().catch((err) => showError(err));
}

/** A revision's definition as stable, indented JSON lines. */
function pretty(value) {
  const definition = value && value.definition ? value.definition : value;
  return JSON.stringify(definition || {}, null, 2).split('\n');
}

/** A line diff (longest common subsequence): [[' '|'+'|'-', line]]. Definitions are small. */
export function diffLines(a, b) {
  const table = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { out.push([' ', a[i]]); i++; j++; } else if (table[i + 1][j] >= table[i][j + 1]) { out.push(['-', a[i++]]); } else { out.push(['+', b[j++]]); }
  }
  while (i < a.length) out.push(['-', a[i++]]);
  while (j < b.length) out.push(['+', b[j++]]);
  return out;
}
