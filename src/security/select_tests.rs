//! Plan selection on a snapshot, for credentials the socket tests cannot all present (client
//! certificates need the TLS listener).

use std::time::SystemTime;

use super::mtls::PeerIdentity;
use super::registry::Snapshot;
use super::select::Refusal;
use super::{metrics::SecurityMetrics, Credential};
use crate::config::load_str;

/// A self-signed certificate with subject CN=`cn`, O=Acme, as DER.
fn certificate(cn: &str) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Acme");
    params.self_signed(&key).unwrap().der().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}:"))
        .collect::<String>()
        .trim_end_matches(':')
        .to_owned()
}

fn snapshot(applications: &str, subscriptions: &str) -> Snapshot {
    let text = format!(
        "
apis:
  - id: a
    name: A
    contextPaths: [/a]
    entrypoints: [{{ type: sse }}]
    endpoint: {{ type: mock }}
    plans:
      - {{ id: certs, name: Certs, security: mtls }}
      - {{ id: old, name: Old, security: mtls, status: closed }}
  - id: b
    name: B
    contextPaths: [/b]
    entrypoints: [{{ type: sse }}]
    endpoint: {{ type: mock }}
    plans: [{{ id: certs, name: Certs, security: mtls }}]
applications:
{applications}
subscriptions:
{subscriptions}"
    );
    let config = load_str(&text, "t").unwrap_or_else(|e| panic!("{e}"));
    Snapshot::build(&config, 1, &SecurityMetrics::default())
}

fn decide(snapshot: &Snapshot, api: &str, der: &[u8]) -> Result<String, Refusal> {
    let credential = Credential::Certificate(PeerIdentity::of_certificate(der));
    snapshot
        .decide(api, &credential, SystemTime::now(), true)
        .map(|access| access.principal.subscription.unwrap().to_string())
}

#[test]
fn a_certificate_is_matched_by_fingerprint_or_subject() {
    let by_fingerprint = certificate("pinned");
    let by_subject = certificate("shop");
    let fingerprint = PeerIdentity::of_certificate(&by_fingerprint).fingerprint;
    let snapshot = snapshot(
        &format!(
            "  - {{ id: pinned, name: P, certificate: {{ fingerprintSha256: \"{}\" }} }}
  - {{ id: shop, name: S, certificate: {{ subject: \"O=Acme, cn=shop\" }} }}",
            hex(&fingerprint)
        ),
        "  - { id: s-pinned, api: a, plan: certs, application: pinned }
  - { id: s-shop, api: a, plan: certs, application: shop }",
    );
    assert_eq!(
        decide(&snapshot, "a", &by_fingerprint),
        Ok("s-pinned".into())
    );
    // Any certificate with that subject: a renewed one too.
    assert_eq!(decide(&snapshot, "a", &by_subject), Ok("s-shop".into()));
    assert_eq!(
        decide(&snapshot, "a", &certificate("shop")),
        Ok("s-shop".into())
    );
    // Known to no application: 401; known, but not subscribed to this API: 403.
    assert_eq!(
        decide(&snapshot, "a", &certificate("stranger")),
        Err(Refusal::Unauthorized)
    );
    assert_eq!(decide(&snapshot, "b", &by_subject), Err(Refusal::Forbidden));
}

#[test]
fn only_an_accepted_subscription_through_a_plan_in_service_lets_a_certificate_in() {
    let der = certificate("shop");
    let applications = "  - { id: shop, name: S, certificate: { subject: \"CN=shop,O=Acme\" } }";
    for (subscription, expected) in [
        (
            "  - { id: s, api: a, plan: old, application: shop }",
            Err(Refusal::Forbidden),
        ),
        (
            "  - { id: s, api: a, plan: certs, application: shop, status: paused }",
            Err(Refusal::Forbidden),
        ),
        (
            "  - { id: s, api: a, plan: certs, application: shop, endingAt: 2020-01-01T00:00:00Z }",
            Err(Refusal::Forbidden),
        ),
        (
            "  - { id: s, api: a, plan: certs, application: shop }",
            Ok("s".to_owned()),
        ),
    ] {
        let snapshot = snapshot(applications, subscription);
        assert_eq!(decide(&snapshot, "a", &der), expected, "{subscription}");
    }
}

#[test]
fn mtls_subscriptions_need_a_certified_application_and_no_keys() {
    let text = "
apis:
  - id: a
    name: A
    contextPaths: [/a]
    entrypoints: [{ type: sse }]
    endpoint: { type: mock }
    plans: [{ id: certs, name: Certs, security: mtls }]
applications: [{ id: shop, name: S }]
subscriptions:
  - id: s
    api: a
    plan: certs
    application: shop
    apiKeys: [{ hash: \"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\" }]
";
    let error = load_str(text, "t").unwrap_err().to_string();
    assert!(
        error.contains("subscriptions[0].apiKeys: plan 'certs' is an mtls plan"),
        "{error}"
    );
    assert!(
        error.contains("application 'shop' needs a `certificate`"),
        "{error}"
    );
}
