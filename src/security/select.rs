//! Plan selection, as the reference product does it: the credential presented decides the plan
//! (an API key selects its subscription's plan); a keyless plan serves only requests that present
//! no credential at all.
//!
//! Outcomes: a missing or invalid credential (unknown, revoked or expired key) is 401; a valid
//! credential without an accepted, current subscription to this API through a plan in service is
//! 403. Which check failed is not said (the log at debug level says it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use super::api_key::hashes_equal;
use super::jwt::{JwtPlan, JwtRefusal};
use super::principal::{Access, Credential, Principal, VerifiedJwt};
use super::registry::{ApiPlans, PlanKind, Snapshot};
use crate::config::SubscriptionStatus;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no credential where one is needed, or one that is not valid.
    Unauthorized,
    /// 403: a valid credential without an accepted, current subscription to this API.
    Forbidden,
}

impl Refusal {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Refusal::Unauthorized => 401,
            Refusal::Forbidden => 403,
        }
    }

    /// The body: says what to do, not which check failed.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Unauthorized => "a valid credential is required: an API key in the X-Gravitee-Api-Key header (or the header this API's plan names) or the api-key query parameter, or the client certificate of a subscribed application, or a bearer token (Authorization: Bearer, or the access_token query parameter), as this API's plans ask",
            Refusal::Forbidden => "this credential has no accepted, current subscription to this API",
        }
    }
}

impl Snapshot {
    /// Decides whether `credential` may use `api` at `now`. Counts the outcome unless `count` is
    /// false (live streams checked again are not new requests).
    pub fn decide(
        &self,
        api: &str,
        credential: &Credential,
        now: SystemTime,
        count: bool,
    ) -> Result<Access, Refusal> {
        let Some(plans) = self.apis.get(api) else {
            return Err(Refusal::Unauthorized);
        };
        let outcome = self.judge(api, credential, now);
        if count {
            let counter = match &outcome {
                Ok(_) => None,
                Err(Refusal::Unauthorized) => Some(&plans.unauthorized),
                Err(Refusal::Forbidden) => Some(&plans.forbidden),
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        outcome.map(|(access, grants)| {
            if count {
                grants.fetch_add(1, Ordering::Relaxed);
            }
            access
        })
    }

    fn judge(
        &self,
        api: &str,
        credential: &Credential,
        now: SystemTime,
    ) -> Result<(Access, &AtomicU64), Refusal> {
        let plans = self.apis.get(api).ok_or(Refusal::Unauthorized)?;
        match credential {
            Credential::None => {
                let plan = plans
                    .plans
                    .iter()
                    .find(|plan| plan.kind == PlanKind::Keyless && plan.status.serves())
                    .ok_or(Refusal::Unauthorized)?;
                let access = Access {
                    principal: Principal {
                        api: plans.id.clone(),
                        plan: plan.id.clone(),
                        application: None,
                        subscription: None,
                    },
                    credential: credential.clone(),
                    valid_until: None,
                };
                Ok((access, &plan.keyless_grants))
            }
            Credential::Jwt(jwt) => self.judge_jwt(plans, jwt, credential, now),
            Credential::ApiKey(hash) => {
                let key = self.keys.get(hash).ok_or(Refusal::Unauthorized)?;
                if !hashes_equal(&key.hash, hash)
                    || key.revoked
                    || key.expire_at.is_some_and(|at| at <= now)
                {
                    return Err(Refusal::Unauthorized);
                }
                let (access, grants) = self
                    .through(plans, key.subscription, PlanKind::ApiKey, credential, now)
                    .ok_or(Refusal::Forbidden)?;
                let valid_until = match (key.expire_at, access.valid_until) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                Ok((
                    Access {
                        valid_until,
                        ..access
                    },
                    grants,
                ))
            }
            Credential::Certificate(peer) => {
                let by_subject = (!peer.subject.is_empty())
                    .then(|| self.by_subject.get(&peer.subject[..]))
                    .flatten();
                let applications: Vec<&Arc<str>> = self
                    .by_fingerprint
                    .get(&peer.fingerprint)
                    .into_iter()
                    .chain(by_subject)
                    .flatten()
                    .collect();
                if applications.is_empty() {
                    return Err(Refusal::Unauthorized);
                }
                applications
                    .iter()
                    .filter_map(|application| self.subscriptions_of.get(*application))
                    .flatten()
                    .find_map(|&index| self.through(plans, index, PlanKind::Mtls, credential, now))
                    .ok_or(Refusal::Forbidden)
            }
        }
    }

    /// A verified JWT: its client id names the application, which needs an accepted, current
    /// subscription to the JWT plan that verified the token. An expired token is a 401 (a live
    /// stream checked again after `exp` ends here).
    fn judge_jwt(
        &self,
        plans: &ApiPlans,
        jwt: &VerifiedJwt,
        credential: &Credential,
        now: SystemTime,
    ) -> Result<(Access, &AtomicU64), Refusal> {
        if jwt.expires_at <= now {
            return Err(Refusal::Unauthorized);
        }
        let application = self
            .client_ids
            .get(&*jwt.client_id)
            .ok_or(Refusal::Forbidden)?;
        let (access, grants) = self
            .subscriptions_of
            .get(application)
            .into_iter()
            .flatten()
            .filter(|&&index| *self.subscriptions[index].plan == *jwt.plan)
            .find_map(|&index| self.through(plans, index, PlanKind::Jwt, credential, now))
            .ok_or(Refusal::Forbidden)?;
        let valid_until = Some(
            access
                .valid_until
                .map_or(jwt.expires_at, |end| end.min(jwt.expires_at)),
        );
        Ok((
            Access {
                valid_until,
                ..access
            },
            grants,
        ))
    }

    /// The JWT plans of `api`, in order.
    pub fn jwt_plans(&self, api: &str) -> &[JwtPlan] {
        self.apis
            .get(api)
            .map_or(&[][..], |plans| plans.jwt_plans.as_slice())
    }

    /// The access subscription `index` gives to `plans`' API through a plan of `kind` at `now`,
    /// if it is accepted, current, and its plan is in service.
    fn through(
        &self,
        plans: &ApiPlans,
        index: usize,
        kind: PlanKind,
        credential: &Credential,
        now: SystemTime,
    ) -> Option<(Access, &AtomicU64)> {
        let subscription = &self.subscriptions[index];
        if subscription.api != *plans.id {
            return None;
        }
        let plan = plans
            .plans
            .iter()
            .find(|plan| *plan.id == *subscription.plan)?;
        let current = subscription.status == SubscriptionStatus::Accepted
            && subscription.starting_at.is_none_or(|at| at <= now)
            && subscription.ending_at.is_none_or(|at| now < at);
        if plan.kind != kind || !plan.status.serves() || !current {
            return None;
        }
        let access = Access {
            principal: Principal {
                api: plans.id.clone(),
                plan: plan.id.clone(),
                application: Some(subscription.application.clone()),
                subscription: Some(subscription.id.clone()),
            },
            credential: credential.clone(),
            valid_until: subscription.ending_at,
        };
        Some((access, &subscription.grants))
    }

    /// Counts a 401 on `api` decided outside [`Self::decide`].
    pub fn count_unauthorized(&self, api: &str) {
        if let Some(plans) = self.apis.get(api) {
            plans.unauthorized.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a bearer token refused on `api` (by its reason; the 401 is counted apart).
    pub fn count_jwt_refusal(&self, api: &str, refusal: &JwtRefusal) {
        let counters = self
            .apis
            .get(api)
            .and_then(|plans| plans.jwt_refusals.as_ref());
        if let Some(counters) = counters {
            counters[refusal.reason_index()].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether a client certificate is a credential on `api` (it has an mtls plan).
    pub fn takes_certificates(&self, api: &str) -> bool {
        self.apis
            .get(api)
            .is_some_and(|plans| plans.takes_certificates)
    }

    /// The headers an API key may come in on `api`.
    pub fn key_headers(&self, api: &str) -> &[String] {
        self.apis
            .get(api)
            .map_or(&[][..], |plans| plans.key_headers.as_slice())
    }

    /// The `WWW-Authenticate` challenge of a 401 on `api`.
    pub fn challenge(&self, api: &str) -> &str {
        self.apis
            .get(api)
            .map_or("ApiKey", |plans| plans.challenge.as_str())
    }
}
