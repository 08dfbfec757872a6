//! Where a request meets its plan's policies: counted before the entrypoint serves it, answered
//! 429 with `Retry-After` when refused, and given `X-RateLimit-*` headers when admitted (on every answer to it, as the
//! request's answer headers).

use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;

use super::limiter::{RateLimiter, Subject, Verdict};
use super::meter::Meter;
use crate::deployed::Api;
use crate::security::Access;
use crate::server::conn::Conn;

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
        _ => client.map_or_else(|| "unknown".to_owned(), address_key),
    };
    let subject = Subject {
        scope: plan.scope.clone(),
        who,
    };
    Meter::new(limiter.clone(), subject, &plan.policies)
}

/// What a keyless plan counts a client by: its IPv4 address, or its IPv6 /64 (one host usually
/// holds a whole /64, so counting single IPv6 addresses would let one client use 2^64 counters
/// and fill the counter map); IPv4-mapped IPv6 addresses (dual-stack listeners) count as IPv4.
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

/// Counts the request, from its head alone (a refused request's body is never read). Admitted:
/// the meter and the `X-RateLimit-*` headers stay on `conn` for the entrypoint and every answer
/// to the request; refused: the verdict, for `refuse` to answer once the request's other checks
/// (CORS, the plan check) have had their say.
pub async fn count(conn: &mut Conn, meter: Meter, publishes: bool) -> Option<Verdict> {
    if let Some(verdict) = meter.admit_request(publishes).await {
        if !verdict.allowed {
            return Some(verdict);
        }
        conn.add_answer_headers(verdict.headers());
    }
    conn.meter = Some(Rc::new(meter));
    None
}

/// Answers a refused request 429 with `Retry-After` and `X-RateLimit-*` (`close` as for any
/// answer of this request); true when the connection may serve its next request.
pub async fn refuse(conn: &mut Conn, verdict: &Verdict, close: bool) -> bool {
    let [limit, remaining, reset] = verdict.headers();
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
    sent.is_ok() && !close
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let key = |text: &str| address_key(text.parse().unwrap());
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }
}
