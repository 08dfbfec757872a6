// The console's only way to its back end: the management REST API (and the developer portal's
// read-only routes), served on the console's own origin. Every call goes through `call`, which
// adds the admin token, parses the JSON answer and turns a refusal into an ApiError carrying the
// server's message and the fields it blames (`errors[].location`).

const TOKEN_KEY = 'tidegate.token';
const ENV_KEY = 'tidegate.environment';

/** The admin token, kept for this tab only (sessionStorage: gone when the tab closes). */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function environment() {
  return sessionStorage.getItem(ENV_KEY) || 'DEFAULT';
}

export function signIn(newToken, env) {
  sessionStorage.setItem(TOKEN_KEY, newToken);
  sessionStorage.setItem(ENV_KEY, env || 'DEFAULT');
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** A refused call: `status`, the server's `message`, `code` (technicalCode) and `errors`. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `the server answered ${status}`);
    this.status = status;
    this.code = body && body.technicalCode;
    this.errors = (body && Array.isArray(body.errors)) ? body.errors : [];
  }
}

async function call(method, path, { body, ifMatch, auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (ifMatch) headers['If-Match'] = ifMatch;
  if (auth && token()) headers.Authorization = `Bearer ${token()}`;
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiError(0, { message: `cannot reach the console's server (${err.message}); is tidegate running?` });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text }; }
  }
  if (response.status === 401 && auth) {
    signOut();
    window.dispatchEvent(new CustomEvent('tidegate:signed-out'));
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return { data, etag: response.headers.get('ETag'), status: response.status };
}

const enc = encodeURIComponent;
const base = () => `/management/v2/environments/${enc(environment())}`;
const apiPath = (id) => `${base()}/apis/${enc(id)}`;
const list = (r) => (r.data && r.data.data) || [];

/** The management API (contract: base /management/v2/environments/{env}). */
export const management = {
  /** Checks a token before keeping it: any authenticated read will do. */
  async verify(candidate, env) {
    const previous = [token(), environment()];
    signIn(candidate, env);
    try {
      await call('GET', `${base()}/apis`);
    } catch (err) {
      if (previous[0]) signIn(previous[0], previous[1]); else signOut();
      throw err;
    }
  },
  listApis: () => call('GET', `${base()}/apis`).then(list),
  getApi: (id) => call('GET', apiPath(id)),
  createApi: (definition, visibility) =>
    call('POST', `${base()}/apis`, { body: { definition, visibility } }).then((r) => r.data),
  updateApi: (id, definition, etag) =>
    call('PUT', apiPath(id), { body: { definition }, ifMatch: etag }).then((r) => r.data),
  deleteApi: (id) => call('DELETE', apiPath(id)),
  /** `_start`, `_stop`, `_publish`, `_unpublish`, `_deprecate`, `_archive`, `_make-public`, `_make-private`. */
  apiAction: (id, action) => call('POST', `${apiPath(id)}/${action}`),
  deploy: (id, comment) =>
    call('POST', `${apiPath(id)}/deployments`, { body: comment ? { comment } : {} }).then((r) => r.data),
  deployments: (id) => call('GET', `${apiPath(id)}/deployments`).then(list),
  deployment: (id, n) => call('GET', `${apiPath(id)}/deployments/${n}`).then((r) => r.data),
  rollback: (id, n) => call('POST', `${apiPath(id)}/deployments/${n}/_rollback`),
  plans: (id) => call('GET', `${apiPath(id)}/plans`).then(list),
  createPlan: (id, plan) => call('POST', `${apiPath(id)}/plans`, { body: plan }).then((r) => r.data),
  /** `_publish`, `_deprecate`, `_close`. */
  planAction: (id, planId, action) => call('POST', `${apiPath(id)}/plans/${enc(planId)}/${action}`),
  subscriptions: (id) => call('GET', `${apiPath(id)}/subscriptions`).then(list),
  subscribe: (id, application, plan) =>
    call('POST', `${apiPath(id)}/subscriptions`, { body: { application, plan } }).then((r) => r.data),
  /** `_accept`, `_reject`, `_pause`, `_resume`, `_close`; `_accept` of an api-key plan returns the first key. */
  subscriptionAction: (id, subId, action) =>
    call('POST', `${apiPath(id)}/subscriptions/${enc(subId)}/${action}`).then((r) => r.data),
  apiKeys: (id, subId) => call('GET', `${apiPath(id)}/subscriptions/${enc(subId)}/api-keys`).then(list),
  renewKey: (id, subId) =>
    call('POST', `${apiPath(id)}/subscriptions/${enc(subId)}/api-keys/_renew`).then((r) => r.data),
  revokeKey: (id, subId, keyId) =>
    call('POST', `${apiPath(id)}/subscriptions/${enc(subId)}/api-keys/${enc(keyId)}/_revoke`),
  applications: () => call('GET', `${base()}/applications`).then(list),
  createApplication: (app) => call('POST', `${base()}/applications`, { body: app }).then((r) => r.data),
  tokens: () => call('GET', `${base()}/tokens`).then(list),
  /** `{name, expiresAt?}`; the answer's `token` is the clear token, shown only then. */
  createToken: (request) => call('POST', `${base()}/tokens`, { body: request }).then((r) => r.data),
  revokeToken: (name) => call('DELETE', `${base()}/tokens/${enc(name)}`),
  audit: (target, limit = 20) =>
    call('GET', `${base()}/audit?target=${enc(target)}&limit=${limit}`).then(list),
};

/** The developer portal's routes: read without a token. */
export const portal = {
  apis: () => call('GET', '/portal/v1/apis', { auth: false }).then(list),
  api: (id) => call('GET', `/portal/v1/apis/${enc(id)}`, { auth: false }).then((r) => r.data),
  subscribe: (id, application, plan) =>
    call('POST', `/portal/v1/apis/${enc(id)}/subscriptions`, { body: { application, plan }, auth: false })
      .then((r) => r.data),
};
