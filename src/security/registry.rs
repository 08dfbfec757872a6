//! The node-wide security registry: plans, subscriptions and API keys as one immutable,
//! versioned snapshot, replaced as a whole on reload.
//!
//! Shards never lock it on the request path: each keeps the snapshot it last saw
//! ([`ShardView`]) and compares the registry's version (one atomic load) before using it; only
//! after a reload does a shard take the read lock, once, to pick up the new snapshot. The shard's
//! copy is what the issue calls the per-shard cache: a key is found by its hash in the snapshot's
//! map, so there is no second cache of keys in clear to bound or invalidate.

#![allow(
    clippy::disallowed_types,
    reason = "a reload publishes a new snapshot off the shards; a shard takes the read lock once per new version (an atomic compare otherwise)"
)]
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use crate::config::{
    CertificateMatch, Config, KeyHash, PlanConfig, PlanSecurity, PlanStatus, SubscriptionStatus,
    DEFAULT_API_KEY_HEADER,
};

use super::jwt::{JwtKeys, JwtPlan};
use super::metrics::{JwtRefusalCounters, SecurityMetrics};

/// One version of every API's plans, every subscription and every API key.
pub struct Snapshot {
    pub(super) version: u64,
    pub(super) apis: HashMap<String, ApiPlans>,
    pub(super) subscriptions: Vec<Subscription>,
    pub(super) keys: HashMap<KeyHash, KeyEntry>,
    /// Applications by the fingerprint of their client certificate.
    pub(super) by_fingerprint: HashMap<[u8; 32], Vec<Arc<str>>>,
    /// Applications by the subject of their client certificate.
    pub(super) by_subject: HashMap<Vec<(String, String)>, Vec<Arc<str>>>,
    /// Each application's subscriptions (indexes into `subscriptions`).
    pub(super) subscriptions_of: HashMap<Arc<str>, Vec<usize>>,
    /// Application id by `clientId` (JWT plans).
    pub(super) client_ids: HashMap<String, Arc<str>>,
}

/// One API's plans.
pub(super) struct ApiPlans {
    pub(super) id: Arc<str>,
    pub(super) plans: Vec<Plan>,
    /// The headers an API key may come in (the default one, then each api-key plan's own);
    /// empty when the API has no api-key plan (then neither header nor query is a credential).
    pub(super) key_headers: Vec<String>,
    /// Whether a client certificate is a credential on this API (it has an mtls plan).
    pub(super) takes_certificates: bool,
    /// The `WWW-Authenticate` challenge of a 401 on this API.
    pub(super) challenge: String,
    /// The API's JWT plans, in order (a bearer token is tried with each).
    pub(super) jwt_plans: Vec<JwtPlan>,
    /// Bearer tokens refused, per reason (`None` without JWT plans).
    pub(super) jwt_refusals: Option<Arc<JwtRefusalCounters>>,
    pub(super) unauthorized: Arc<AtomicU64>,
    pub(super) forbidden: Arc<AtomicU64>,
}

pub(super) struct Plan {
    pub(super) id: Arc<str>,
    pub(super) kind: PlanKind,
    pub(super) status: PlanStatus,
    /// Grants through this plan without a subscription (keyless).
    pub(super) keyless_grants: Arc<AtomicU64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PlanKind {
    Keyless,
    ApiKey,
    Mtls,
    Jwt,
}

pub(super) struct Subscription {
    pub(super) id: Arc<str>,
    pub(super) api: String,
    pub(super) plan: String,
    pub(super) application: Arc<str>,
    pub(super) status: SubscriptionStatus,
    pub(super) starting_at: Option<SystemTime>,
    pub(super) ending_at: Option<SystemTime>,
    pub(super) grants: Arc<AtomicU64>,
}

pub(super) struct KeyEntry {
    pub(super) hash: KeyHash,
    /// Index into `subscriptions`.
    pub(super) subscription: usize,
    pub(super) expire_at: Option<SystemTime>,
    pub(super) revoked: bool,
}

impl Snapshot {
    /// The registry built from `config`'s plans, applications and subscriptions.
    pub fn build(config: &Config, version: u64, metrics: &SecurityMetrics) -> Snapshot {
        let apis = config
            .apis
            .iter()
            .map(|api| {
                // Empty for an API without api-key plans: there, those headers are no credential
                // (a header meant for someone else does not turn a public API into 401s).
                let mut key_headers: Vec<String> = Vec::new();
                for plan in &api.plans {
                    if let PlanSecurity::ApiKey(options) = &plan.security {
                        if key_headers.is_empty() {
                            key_headers.push(DEFAULT_API_KEY_HEADER.to_owned());
                        }
                        if !key_headers
                            .iter()
                            .any(|h| h.eq_ignore_ascii_case(&options.header))
                        {
                            key_headers.push(options.header.clone());
                        }
                    }
                }
                // The API's JWT plans, in order: a bearer token is tried with each.
                let jwt_plans: Vec<JwtPlan> = api
                    .plans
                    .iter()
                    .filter_map(|plan| jwt_plan(&api.id, plan, metrics))
                    .collect();
                // RFC 9110 wants a challenge on every 401: the schemes this API's plans take (no
                // registered scheme names a TLS client certificate; `ClientCertificate` says it).
                let takes_certificates = api.plans.iter().any(|p| p.security == PlanSecurity::Mtls);
                let mut schemes = Vec::new();
                if !key_headers.is_empty() || (!takes_certificates && jwt_plans.is_empty()) {
                    schemes.push(format!("ApiKey realm=\"{}\"", api.id));
                }
                if !jwt_plans.is_empty() {
                    schemes.push(format!("Bearer realm=\"{}\"", api.id));
                }
                if takes_certificates {
                    schemes.push(format!("ClientCertificate realm=\"{}\"", api.id));
                }
                let challenge = schemes.join(", ");
                let plans = api
                    .plans
                    .iter()
                    .map(|plan| Plan {
                        id: plan.id.as_str().into(),
                        kind: match plan.security {
                            PlanSecurity::Keyless => PlanKind::Keyless,
                            PlanSecurity::ApiKey(_) => PlanKind::ApiKey,
                            PlanSecurity::Mtls => PlanKind::Mtls,
                            PlanSecurity::Jwt(_) => PlanKind::Jwt,
                        },
                        status: plan.status,
                        keyless_grants: metrics.grant(&api.id, &plan.id, ""),
                    })
                    .collect();
                let entry = ApiPlans {
                    id: api.id.as_str().into(),
                    plans,
                    key_headers,
                    takes_certificates,
                    challenge,
                    jwt_refusals: (!jwt_plans.is_empty()).then(|| metrics.jwt_refusals(&api.id)),
                    jwt_plans,
                    unauthorized: metrics.refusal(&api.id, 401),
                    forbidden: metrics.refusal(&api.id, 403),
                };
                (api.id.clone(), entry)
            })
            .collect();
        let mut by_fingerprint: HashMap<[u8; 32], Vec<Arc<str>>> = HashMap::new();
        let mut by_subject: HashMap<Vec<(String, String)>, Vec<Arc<str>>> = HashMap::new();
        for application in &config.applications {
            let id: Arc<str> = application.id.as_str().into();
            match &application.certificate {
                Some(CertificateMatch::FingerprintSha256(bytes)) => {
                    by_fingerprint.entry(*bytes).or_default().push(id)
                }
                Some(CertificateMatch::Subject(attributes)) => {
                    by_subject.entry(attributes.clone()).or_default().push(id)
                }
                None => {}
            }
        }
        let mut subscriptions_of: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
        for (index, subscription) in config.subscriptions.iter().enumerate() {
            let application: Arc<str> = subscription.application.as_str().into();
            subscriptions_of.entry(application).or_default().push(index);
        }
        let mut keys = HashMap::new();
        let subscriptions = config
            .subscriptions
            .iter()
            .enumerate()
            .map(|(index, subscription)| {
                for key in &subscription.api_keys {
                    keys.insert(
                        key.hash,
                        KeyEntry {
                            hash: key.hash,
                            subscription: index,
                            expire_at: key.expire_at,
                            revoked: key.revoked,
                        },
                    );
                }
                Subscription {
                    id: subscription.id.as_str().into(),
                    api: subscription.api.clone(),
                    plan: subscription.plan.clone(),
                    application: subscription.application.as_str().into(),
                    status: subscription.status,
                    starting_at: subscription.starting_at,
                    ending_at: subscription.ending_at,
                    grants: metrics.grant(
                        &subscription.api,
                        &subscription.plan,
                        &subscription.application,
                    ),
                }
            })
            .collect();
        let client_ids = config
            .applications
            .iter()
            .filter_map(|app| Some((app.client_id.clone()?, app.id.as_str().into())))
            .collect();
        Snapshot {
            version,
            apis,
            subscriptions,
            keys,
            by_fingerprint,
            by_subject,
            subscriptions_of,
            client_ids,
        }
    }

    /// This snapshot's version (1 at start, one more per reload).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Subscription `id`'s status at `now` as a push subscription sees it: `Closed` once it is
    /// gone from the registry, past its `endingAt`, or its plan is closed or staging.
    pub fn push_status(&self, id: &str, now: SystemTime) -> SubscriptionStatus {
        let Some(subscription) = self.subscriptions.iter().find(|s| &*s.id == id) else {
            return SubscriptionStatus::Closed;
        };
        let plan_open = self.apis.get(&subscription.api).is_some_and(|api| {
            api.plans.iter().any(|plan| {
                *plan.id == *subscription.plan
                    && matches!(plan.status, PlanStatus::Published | PlanStatus::Deprecated)
            })
        });
        let ended = subscription.ending_at.is_some_and(|end| now >= end);
        let started = subscription.starting_at.is_none_or(|start| now >= start);
        match subscription.status {
            _ if !plan_open || ended => SubscriptionStatus::Closed,
            SubscriptionStatus::Accepted if !started => SubscriptionStatus::Pending,
            status => status,
        }
    }
}

/// The running keys of `plan` when it is a JWT plan (a JWKS URL's fetch thread starts here and
/// ends with the snapshot).
fn jwt_plan(api: &str, plan: &PlanConfig, metrics: &SecurityMetrics) -> Option<JwtPlan> {
    let PlanSecurity::Jwt(settings) = &plan.security else {
        return None;
    };
    let failures = metrics.jwks_fetch_failures(api, &plan.id);
    let keys = JwtKeys::start_counting(settings, failures).unwrap_or_else(|error| {
        tracing::error!(api, plan = %plan.id, %error, "cannot start the JWKS fetch thread; the plan refuses every token");
        JwtKeys::Fixed(Arc::default())
    });
    Some(JwtPlan {
        plan: plan.id.as_str().into(),
        settings: settings.clone(),
        keys,
    })
}

/// The registry every shard reads.
pub struct Registry {
    version: AtomicU64,
    current: RwLock<Arc<Snapshot>>,
    /// The configuration the current snapshot was built from: reloads compare against it.
    applied: Mutex<Config>,
    metrics: Arc<SecurityMetrics>,
}

impl Registry {
    /// The registry of a starting gateway.
    pub fn new(config: &Config) -> Arc<Registry> {
        let metrics = Arc::new(SecurityMetrics::default());
        Arc::new(Registry {
            version: AtomicU64::new(1),
            current: RwLock::new(Arc::new(Snapshot::build(config, 1, &metrics))),
            applied: Mutex::new(config.clone()),
            metrics,
        })
    }

    /// The current version: shards compare it with their copy's on every request.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The current snapshot (takes the read lock: off the request path).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The refusal and grant counters (rendered by the admin endpoint).
    pub fn metrics(&self) -> &Arc<SecurityMetrics> {
        &self.metrics
    }

    /// A copy of the configuration in force.
    pub fn applied_config(&self) -> Config {
        self.applied
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Replaces the snapshot with one built from `config`; returns the new version. Shards see
    /// it at their next request (and their live streams within a tick).
    pub fn install(&self, config: &Config) -> u64 {
        let mut applied = self
            .applied
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let version = self.version() + 1;
        let snapshot = Arc::new(Snapshot::build(config, version, &self.metrics));
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = snapshot;
        self.version.store(version, Ordering::Release);
        *applied = config.clone();
        version
    }
}

/// A shard's view of the registry: the snapshot it last saw, refreshed when the version moved.
pub struct ShardView {
    registry: Arc<Registry>,
    cached: RefCell<Arc<Snapshot>>,
}

impl ShardView {
    /// A view of `registry` for one shard.
    pub fn new(registry: Arc<Registry>) -> ShardView {
        let cached = RefCell::new(registry.snapshot());
        ShardView { registry, cached }
    }

    /// Runs `f` on the current snapshot. Costs one atomic load unless a reload happened since
    /// the last call (the shared snapshot's reference count is not touched per request).
    pub fn with<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        if self.cached.borrow().version != self.registry.version() {
            *self.cached.borrow_mut() = self.registry.snapshot();
        }
        f(&self.cached.borrow())
    }

    /// The registry behind this view.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}
