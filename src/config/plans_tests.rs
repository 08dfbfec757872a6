//! Rules of `plans:`, `applications:` and `subscriptions:`.

use super::tests::{only_problem, problems};
use super::*;

const HASH: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

/// One API `a` with a keyless plan `free` and an api-key plan `gold`, app `app`, and `subs`.
fn with_subscriptions(subs: &str) -> String {
    format!(
        "
apis:
  - id: a
    name: A
    contextPaths: [/a]
    entrypoints: [{{ type: sse }}]
    endpoint: {{ type: mock }}
    plans:
      - {{ id: free, name: Free, security: keyless }}
      - {{ id: gold, name: Gold, security: api-key, validation: manual }}
applications: [{{ id: app, name: App, clientId: c-1 }}]
subscriptions:
{subs}"
    )
}

#[test]
fn a_full_model_loads() {
    let text = with_subscriptions(&format!(
        "  - id: s
    api: a
    plan: gold
    application: app
    startingAt: 2026-01-01T00:00:00Z
    endingAt: 2027-01-01T00:00:00+01:00
    apiKeys: [{{ hash: \"{HASH}\", expireAt: 2026-06-01T00:00:00Z }}, {{ hash: \"{}\", revoked: true }}]
",
        HASH.replace("ba78", "0000")
    ));
    let config = load_str(&text, "t").unwrap();
    let plans = &config.apis[0].plans;
    assert_eq!(plans[1].id, "gold");
    assert_eq!(plans[1].status, PlanStatus::Published);
    assert_eq!(
        plans[1].security,
        PlanSecurity::ApiKey(ApiKeyPlanOptions {
            header: "X-Gravitee-Api-Key".into()
        })
    );
    assert_eq!(config.applications[0].client_id.as_deref(), Some("c-1"));
    let sub = &config.subscriptions[0];
    // A manual plan's subscription without a status waits.
    assert_eq!(sub.status, SubscriptionStatus::Pending);
    assert_eq!(sub.api_keys.len(), 2);
    assert!(sub.api_keys[1].revoked);
    assert_eq!(sub.api_keys[0].hash.to_config_text(), HASH);
    assert!(sub.starting_at.unwrap() < sub.ending_at.unwrap());
}

#[test]
fn subscriptions_must_name_what_exists() {
    let text = with_subscriptions(
        "  - { id: s1, api: nope, plan: gold, application: app }
  - { id: s2, api: a, plan: platinum, application: app }
  - { id: s3, api: a, plan: gold, application: ghost }
  - { id: s4, api: a, plan: free, application: app }
",
    );
    let found = problems(&text);
    let at = |loc: &str| found.iter().find(|(l, _)| l == loc).map(|(_, m)| m.clone());
    assert!(at("subscriptions[0].api")
        .unwrap()
        .contains("no API has id 'nope'"));
    assert!(at("subscriptions[1].plan")
        .unwrap()
        .contains("its plans: free, gold"));
    assert!(at("subscriptions[2].application")
        .unwrap()
        .contains("'ghost'"));
    assert!(at("subscriptions[3].plan")
        .unwrap()
        .contains("keyless plans take no subscriptions"));
    assert_eq!(found.len(), 4, "{found:?}");
}

#[test]
fn keys_are_hashes_named_once() {
    let (location, message) = only_problem(&with_subscriptions(
        "  - { id: s, api: a, plan: gold, application: app, apiKeys: [{ hash: my-secret-key }] }\n",
    ));
    assert_eq!(location, "subscriptions[0].apiKeys[0].hash");
    assert!(message.contains("tidegate apikey generate"), "{message}");
    let (location, message) = only_problem(&with_subscriptions(&format!(
        "  - {{ id: s, api: a, plan: gold, application: app, apiKeys: [{{ hash: \"{HASH}\" }}] }}
  - {{ id: t, api: a, plan: gold, application: app, apiKeys: [{{ hash: \"{HASH}\" }}] }}
"
    )));
    assert_eq!(location, "subscriptions[1].apiKeys[0].hash");
    assert!(message.contains("subscription 's'"), "{message}");
}

#[test]
fn dates_and_ids_are_checked() {
    let (location, message) = only_problem(&with_subscriptions(
        "  - { id: s, api: a, plan: gold, application: app, startingAt: tomorrow }\n",
    ));
    assert_eq!(location, "subscriptions[0].startingAt");
    assert!(message.contains("RFC 3339"), "{message}");
    let (location, _) = only_problem(&with_subscriptions(
        "  - { id: s, api: a, plan: gold, application: app, startingAt: 2026-01-02T00:00:00Z, endingAt: 2026-01-01T00:00:00Z }\n",
    ));
    assert_eq!(location, "subscriptions[0].endingAt");
    let (location, _) = only_problem(&with_subscriptions(
        "  - { id: s, api: a, plan: gold, application: app }\n  - { id: s, api: a, plan: gold, application: app }\n",
    ));
    assert_eq!(location, "subscriptions[1].id");
}

#[test]
fn plan_rules() {
    let two_golds = ONE_API_PLANS.replace(
        "PLANS",
        "[{ id: g, name: Gold, security: api-key }, { id: g, name: Gold 2, security: api-key }]",
    );
    assert_eq!(only_problem(&two_golds).0, "apis[0].plans[1].id");
    let bad_header = ONE_API_PLANS.replace(
        "PLANS",
        "[{ name: Gold, security: api-key, configuration: { header: 'X Key' } }]",
    );
    assert_eq!(
        only_problem(&bad_header).0,
        "apis[0].plans[0].configuration.header"
    );
    let keyless_config = ONE_API_PLANS.replace(
        "PLANS",
        "[{ name: Free, security: keyless, configuration: { header: X } }]",
    );
    assert_eq!(
        only_problem(&keyless_config).0,
        "apis[0].plans[0].configuration"
    );
    let bad_status =
        ONE_API_PLANS.replace("PLANS", "[{ name: F, security: keyless, status: live }]");
    assert_eq!(only_problem(&bad_status).0, "apis[0].plans[0].status");
}

const ONE_API_PLANS: &str = "
apis:
  - id: a
    name: A
    contextPaths: [/a]
    entrypoints: [{ type: sse }]
    endpoint: { type: mock }
    plans: PLANS
";
