//! Where a request meets its plan's policies: counted before the entrypoint serves it, answered
//! 429 with `Retry-After` when refused, and given `X-RateLimit-*` headers when admitted (on every answer to it, as the
//! request's answer headers).

use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;

use super::limiter::{RateLimiter, Subject};
use super::meter::Meter;
use crate::security::Access;
use crate::server::conn::Conn;
use crate::server::Api;

/// The counters of a request to `api` under the plan the plan check selected (`access`; without
/// one, the API's keyless plan): keyed by the subscription, or by the client's address on a
/// keyless plan, which has no subscription to key by. `None` when the plan limits nothing.
pub fn subject_for(
    api: &Api,
    access: Option<&Access>,
    client: Option<IpAddr>,
    limiter: &Arc<RateLimiter>,
) -> Option<Meter> {
    let (_, plan) = api.plan_limits.iter().find(|(id, limits)| match access {
        Some(access) => **id == *access.principal.plan,
        None => limits.keyless,
    })?;
    let subscription = access.and_then(|access| access.principal.subscription.as_deref());
    let who = match subscription {
        Some(subscription) if !plan.keyless => format!("subscription:{subscription}"),
        _ => client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
    };
    let subject = Subject {
        scope: plan.scope.clone(),
        who,
    };
    Meter::new(limiter.clone(), subject, &plan.policies)
}

/// Counts the request; on refusal answers 429 and returns false (`close` as for any answer of
/// this request). When admitted, the meter and the headers stay on `conn` for the entrypoint.
pub async fn admit(
    conn: &mut Conn,
    meter: Meter,
    publishes: bool,
    close: bool,
) -> Result<(), bool> {
    let verdict = meter.admit_request(publishes).await;
    if let Some(verdict) = verdict {
        let [limit, remaining, reset] = verdict.headers();
        if !verdict.allowed {
            let retry = verdict.reset_seconds.to_string();
            let headers = [
                ("Retry-After", retry.as_str()),
                (limit.0, limit.1.as_str()),
                (remaining.0, remaining.1.as_str()),
                (reset.0, reset.1.as_str()),
            ];
            let sent = conn
                .respond_with_headers(429, &headers, &verdict.refusal(), close)
                .await;
            return Err(sent.is_ok() && !close);
        }
        conn.add_answer_headers([limit, remaining, reset]);
    }
    conn.meter = Some(Rc::new(meter));
    Ok(())
}
