//! Counters of the security gate, labelled by API, plan and application.
//!
//! The label values come from the configuration (API, plan and application ids), never from
//! requests, so their number is bounded by what the configurations loaded so far declared. The
//! counters live here, across reloads; each snapshot holds `Arc`s to the ones it counts into, so
//! a request increments an atomic without any lookup.

#![allow(
    clippy::disallowed_types,
    reason = "counter maps grow when a configuration is loaded (off the request path); requests increment atomics through Arcs"
)]
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::jwt::refusal::REFUSAL_REASONS;

/// Refusals per API and status, grants per API, plan and application.
#[derive(Default)]
pub struct SecurityMetrics {
    /// (api, "401" | "403") → refusals.
    refusals: Mutex<BTreeMap<(String, &'static str), Arc<AtomicU64>>>,
    /// (api, plan, application or "") → requests let in.
    grants: Mutex<BTreeMap<(String, String, String), Arc<AtomicU64>>>,
    /// Live streams ended because their credential stopped being valid.
    pub streams_ended: AtomicU64,
    /// api → bearer tokens refused, per reason (APIs with JWT plans only).
    jwt_refusals: Mutex<BTreeMap<String, Arc<JwtRefusalCounters>>>,
    /// (api, plan) → failed fetches of the plan's `jwksUrl`.
    jwks_failures: Mutex<BTreeMap<(String, String), Arc<AtomicU64>>>,
}

/// Bearer tokens refused on one API, indexed like [`REFUSAL_REASONS`].
pub type JwtRefusalCounters = [AtomicU64; REFUSAL_REASONS.len()];

impl SecurityMetrics {
    /// The counter of refusals with `status` (401 or 403) on `api`.
    pub fn refusal(&self, api: &str, status: u16) -> Arc<AtomicU64> {
        let status = if status == 401 { "401" } else { "403" };
        let mut map = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        map.entry((api.to_owned(), status)).or_default().clone()
    }

    /// The counter of requests let in on `api` through `plan` by `application` ("" for keyless).
    pub fn grant(&self, api: &str, plan: &str, application: &str) -> Arc<AtomicU64> {
        let mut map = self.grants.lock().unwrap_or_else(|p| p.into_inner());
        let key = (api.to_owned(), plan.to_owned(), application.to_owned());
        map.entry(key).or_default().clone()
    }

    /// The counters of bearer tokens refused on `api`, per reason.
    pub fn jwt_refusals(&self, api: &str) -> Arc<JwtRefusalCounters> {
        let mut map = self.jwt_refusals.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(api.to_owned()).or_default().clone()
    }

    /// The counter of failed JWKS fetches of `plan` on `api`.
    pub fn jwks_fetch_failures(&self, api: &str, plan: &str) -> Arc<AtomicU64> {
        let mut map = self.jwks_failures.lock().unwrap_or_else(|p| p.into_inner());
        let key = (api.to_owned(), plan.to_owned());
        map.entry(key).or_default().clone()
    }

    /// Prometheus text.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "security_refusals_total",
            "Requests refused by the plan check: 401 (missing or invalid credential), 403 (no accepted, current subscription to this API).",
            locked(&self.refusals).iter().map(|((api, status), value)| {
                (format!("api=\"{api}\",status=\"{status}\""), value.load(Ordering::Relaxed))
            }),
        );
        family(
            &mut out,
            "security_grants_total",
            "Requests let in, by plan and application (empty for keyless plans).",
            locked(&self.grants)
                .iter()
                .map(|((api, plan, application), value)| {
                    let labels =
                        format!("api=\"{api}\",plan=\"{plan}\",application=\"{application}\"");
                    (labels, value.load(Ordering::Relaxed))
                }),
        );
        family(
            &mut out,
            "security_streams_ended_total",
            "Live SSE and WebSocket streams ended because their key, subscription or plan stopped being valid.",
            std::iter::once((String::new(), self.streams_ended.load(Ordering::Relaxed))),
        );
        let jwt_refusals = locked(&self.jwt_refusals);
        family(
            &mut out,
            "security_jwt_refusals_total",
            "Bearer tokens refused by an API's JWT plans, by reason (also counted in tidegate_security_refusals_total).",
            jwt_refusals.iter().flat_map(|(api, counters)| {
                REFUSAL_REASONS.iter().zip(counters.iter()).map(move |(reason, value)| {
                    (format!("api=\"{api}\",reason=\"{reason}\""), value.load(Ordering::Relaxed))
                })
            }),
        );
        drop(jwt_refusals);
        family(
            &mut out,
            "security_jwks_fetch_failures_total",
            "Failed fetches of a JWT plan's jwksUrl (the previous keys stay in use).",
            locked(&self.jwks_failures)
                .iter()
                .map(|((api, plan), value)| {
                    (
                        format!("api=\"{api}\",plan=\"{plan}\""),
                        value.load(Ordering::Relaxed),
                    )
                }),
        );
        out
    }
}

/// A counters map, even after a panic while it was held (counters stay meaningful).
fn locked<T>(map: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    map.lock().unwrap_or_else(|p| p.into_inner())
}

/// One counter family in Prometheus text: HELP, TYPE, then a line per (labels, value); empty
/// labels give the bare name.
fn family(out: &mut String, name: &str, help: &str, rows: impl Iterator<Item = (String, u64)>) {
    let _ = writeln!(out, "# HELP tidegate_{name} {help}");
    let _ = writeln!(out, "# TYPE tidegate_{name} counter");
    for (labels, value) in rows {
        if labels.is_empty() {
            let _ = writeln!(out, "tidegate_{name} {value}");
        } else {
            let _ = writeln!(out, "tidegate_{name}{{{labels}}} {value}");
        }
    }
}
