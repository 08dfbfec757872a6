//! The JWT step of plan selection: which token a request presents for an API's JWT plans, and
//! which of those plans accepts it. The subscription lookup (client id → application →
//! subscription) is plan selection's, in `security::select`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use super::bearer::bearer_token;
use super::claims::VerifiedToken;
use super::config::JwtSettings;
use super::refusal::JwtRefusal;
use super::verifier::{JwtKeys, JwtVerifier};
use crate::codec::http_head::RequestHead;

/// One JWT plan of an API as the registry holds it: its settings and its running keys (a JWKS
/// URL's thread lives as long as the registry snapshot that started it).
#[derive(Clone)]
pub struct JwtPlan {
    /// The plan's id (`plans[].id`): the plan a request accepted by these settings runs under.
    pub plan: Arc<str>,
    /// The plan's checked `configuration:`.
    pub settings: Arc<JwtSettings>,
    /// The plan's keys, shared by every shard's verifier of this plan.
    pub keys: JwtKeys,
}

/// (API id, plan id).
type PlanKey = (Arc<str>, Arc<str>);

/// A shard's verifiers, one per (API, JWT plan) of the registry version they were made for.
#[derive(Default)]
pub struct ShardVerifiers {
    by_plan: RefCell<HashMap<PlanKey, (u64, Rc<JwtVerifier>)>>,
}

impl ShardVerifiers {
    /// The verifier of `plan` on `api` for registry `version`, made on first use.
    pub fn get(&self, api: &Arc<str>, plan: &JwtPlan, version: u64) -> Rc<JwtVerifier> {
        let mut by_plan = self.by_plan.borrow_mut();
        if by_plan.values().any(|(made_for, _)| *made_for != version) {
            // A reload: the old plans' verifiers (and their JWKS handles) go.
            by_plan.retain(|_, (made_for, _)| *made_for == version);
        }
        let key = (api.clone(), plan.plan.clone());
        let (_, verifier) = by_plan.entry(key).or_insert_with(|| {
            let verifier = JwtVerifier::new(plan.settings.clone(), plan.keys.clone());
            (version, Rc::new(verifier))
        });
        verifier.clone()
    }
}

/// The bearer token `head` presents for any of `plans` (their query parameters may differ);
/// `None` when it presents none.
pub fn presented_token(
    head: &RequestHead,
    plans: &[JwtPlan],
) -> Result<Option<String>, JwtRefusal> {
    let mut found = None;
    let mut names: Vec<&str> = plans
        .iter()
        .map(|plan| plan.settings.token_query_parameter.as_str())
        .collect();
    names.dedup();
    for name in names {
        if let Some(token) = bearer_token(head, name)? {
            found = Some(token);
            break;
        }
    }
    Ok(found)
}

/// Checks `token` with each of `api`'s JWT plans in order: the first that accepts it is the
/// plan. Refused: the first plan's reason (each plan's own is in the debug log).
pub async fn verify_for_api(
    token: &str,
    api: &Arc<str>,
    plans: &[JwtPlan],
    verifiers: &ShardVerifiers,
    version: u64,
) -> Result<(Arc<str>, VerifiedToken), JwtRefusal> {
    let mut first_refusal = None;
    for plan in plans {
        let verifier = verifiers.get(api, plan, version);
        match verifier.verify_waiting(token).await {
            Ok(verified) => return Ok((plan.plan.clone(), verified)),
            Err(refusal) => {
                tracing::debug!(
                    api = %api,
                    plan = %plan.plan,
                    reason = %refusal,
                    detail = refusal.detail(),
                    "bearer token refused by a JWT plan"
                );
                first_refusal.get_or_insert(refusal);
            }
        }
    }
    Err(first_refusal
        .unwrap_or_else(|| JwtRefusal::Malformed("the API has no JWT plan".to_owned())))
}
