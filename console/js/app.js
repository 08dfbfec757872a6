// The console's entry point: hash routes to pages, and the sign-in gate. The developer portal's
// pages (#/portal…) are open to everyone; every other page needs the admin token.
import { token, signOut } from './api.js';
import { clearStatus } from './ui.js';
import { signInPage } from './signin.js';
import { apisListPage } from './apis_list.js';
import { wizardPage } from './wizard.js';
import { apiPage } from './api_page.js';
import { portalPage } from './portal.js';
import { tokensPage } from './tokens.js';

const routes = [
  [/^#\/signin$/, () => signInPage(), { open: true }],
  [/^#\/apis$/, () => apisListPage()],
  [/^#\/create$/, () => wizardPage()],
  [/^#\/tokens$/, () => tokensPage()],
  [/^#\/apis\/([^/]+)(?:\/([a-z-]+))?$/, (m) => apiPage(decodeURIComponent(m[1]), m[2] || 'general')],
  [/^#\/portal(?:\/([^/]+))?$/, (m) => portalPage(m[1] && decodeURIComponent(m[1])), { open: true }],
];

/** Whatever a page left running (polling, live streams) is stopped when the route changes. */
let stopPage = null;

function route() {
  if (stopPage) {
    stopPage();
    stopPage = null;
  }
  clearStatus();
  const hash = location.hash || '#/apis';
  document.getElementById('sign-out').hidden = !token();
  for (const [pattern, page, options = {}] of routes) {
    const match = hash.match(pattern);
    if (!match) continue;
    if (!options.open && !token()) {
      sessionStorage.setItem('tidegate.after-sign-in', hash);
      location.hash = '#/signin';
      return;
    }
    markCurrent(hash);
    const stop = page(match);
    if (typeof stop === 'function') stopPage = stop;
    return;
  }
  location.hash = '#/apis';
}

/** `aria-current` on the nav link of the section shown. */
function markCurrent(hash) {
  for (const link of document.querySelectorAll('#nav a')) {
    const section = link.getAttribute('href');
    const current = hash === section || (section === '#/apis' && hash.startsWith('#/apis/'))
      || (section === '#/portal' && hash.startsWith('#/portal/'));
    if (current) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
}

document.getElementById('sign-out').addEventListener('click', () => {
  signOut();
  location.hash = '#/signin';
});
window.addEventListener('tidegate:signed-out', () => {
  if (!location.hash.startsWith('#/portal')) location.hash = '#/signin';
});
window.addEventListener('hashchange', route);
route();
