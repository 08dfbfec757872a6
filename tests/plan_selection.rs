//! Plan selection by the credential presented, on every entrypoint: keyless serves only requests
//! without a credential; a key decides its subscription's plan; plan and subscription status,
//! start and end dates; 401 versus 403, with answers that do not say which check failed.

mod common;

use common::plans::{
    chat_with_plans, get_with, new_key, statuses, subscription, Present, APPLICATIONS, FORBIDDEN,
    LET_IN, UNAUTHORIZED,
};
use common::{start, test_config};
use tidegate::config::DriverChoice;

const KEY: &str = "X-Gravitee-Api-Key";

fn keyless_only_without_a_credential(driver: DriverChoice) {
    let (key, hash) = new_key();
    let plans = "      - { id: free, name: Free, security: keyless }\n      - { id: gold, name: Gold, security: api-key }\n";
    let tail = format!(
        "{APPLICATIONS}subscriptions:\n{}",
        subscription("s", "chat", "gold", "", &hash)
    );
    let gateway = start(test_config(&chat_with_plans(plans, &tail), driver));
    let addr = gateway.local_addr();
    assert_eq!(statuses(addr, Present::Nothing), LET_IN);
    assert_eq!(statuses(addr, Present::Header(KEY, &key)), LET_IN);
    // A wrong key is not let in through the keyless plan.
    let (wrong, _) = new_key();
    assert_eq!(statuses(addr, Present::Header(KEY, &wrong)), UNAUTHORIZED);
    assert_eq!(statuses(addr, Present::Query(&wrong)), UNAUTHORIZED);
}
on_both_drivers!(
    keyless_only_without_a_credential,
    keyless_only_without_a_credential
);

/// Staging and closed plans serve nobody; deprecated ones keep serving their subscriptions.
fn plan_status_decides(driver: DriverChoice) {
    let keys: Vec<(String, String)> = (0..3).map(|_| new_key()).collect();
    let plans = "      - { id: free, name: Free, security: keyless, status: closed }
      - { id: staging, name: Staging, security: api-key, status: staging }
      - { id: closed, name: Closed, security: api-key, status: closed }
      - { id: old, name: Old, security: api-key, status: deprecated }
";
    let tail = format!(
        "{APPLICATIONS}subscriptions:\n{}{}{}",
        subscription("s1", "chat", "staging", "", &keys[0].1),
        subscription("s2", "chat", "closed", "", &keys[1].1),
        subscription("s3", "chat", "old", "", &keys[2].1),
    );
    let gateway = start(test_config(&chat_with_plans(plans, &tail), driver));
    let addr = gateway.local_addr();
    // The keyless plan is closed: no credential, no way in.
    assert_eq!(statuses(addr, Present::Nothing), UNAUTHORIZED);
    assert_eq!(statuses(addr, Present::Header(KEY, &keys[0].0)), FORBIDDEN);
    assert_eq!(statuses(addr, Present::Header(KEY, &keys[1].0)), FORBIDDEN);
    assert_eq!(statuses(addr, Present::Header(KEY, &keys[2].0)), LET_IN);
}
on_both_drivers!(plan_status_decides, plan_status_decides);

/// Only an accepted subscription within its dates lets a valid key in; the 403 answers are alike.
fn subscription_status_and_dates_decide(driver: DriverChoice) {
    let cases = [
        "    status: pending\n",
        "    status: paused\n",
        "    status: closed\n",
        "    status: rejected\n",
        "    startingAt: 2999-01-01T00:00:00Z\n",
        "    endingAt: 2020-01-01T00:00:00Z\n",
        // A manual plan's subscription without a status waits for validation.
        "",
        // Accepted and current.
        "    status: accepted\n    startingAt: 2020-01-01T00:00:00Z\n    endingAt: 2999-01-01T00:00:00Z\n",
    ];
    let keys: Vec<(String, String)> = cases.iter().map(|_| new_key()).collect();
    let plans = "      - { id: gold, name: Gold, security: api-key }
      - { id: manual, name: Manual, security: api-key, validation: manual }
";
    let mut tail = format!("{APPLICATIONS}subscriptions:\n");
    for (index, extra) in cases.iter().enumerate() {
        let plan = if extra.is_empty() { "manual" } else { "gold" };
        tail.push_str(&subscription(
            &format!("s{index}"),
            "chat",
            plan,
            extra,
            &keys[index].1,
        ));
    }
    let gateway = start(test_config(&chat_with_plans(plans, &tail), driver));
    let addr = gateway.local_addr();
    let mut bodies = Vec::new();
    for (index, (key, _)) in keys.iter().enumerate() {
        let expected = if index == cases.len() - 1 {
            LET_IN
        } else {
            FORBIDDEN
        };
        assert_eq!(
            statuses(addr, Present::Header(KEY, key)),
            expected,
            "case {:?}",
            cases[index]
        );
        if index < cases.len() - 1 {
            bodies.push(get_with(addr, Present::Header(KEY, key)).text());
        }
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "403 answers differ: {bodies:?}");
}
on_both_drivers!(
    subscription_status_and_dates_decide,
    subscription_status_and_dates_decide
);

/// A key subscribed to another API is a valid credential without a subscription here: 403.
fn a_key_for_another_api_is_forbidden(driver: DriverChoice) {
    let (key, hash) = new_key();
    let plans = "      - { id: gold, name: Gold, security: api-key }\n";
    let other_api = r#"
  - id: other
    name: Other
    contextPaths: [/other]
    entrypoints: [{ type: http-get }]
    endpoint: { type: mock }
    plans: [{ id: silver, name: Silver, security: api-key }]
"#;
    let tail = format!(
        "{other_api}{APPLICATIONS}subscriptions:\n{}",
        subscription("s", "other", "silver", "", &hash)
    );
    let gateway = start(test_config(&chat_with_plans(plans, &tail), driver));
    let addr = gateway.local_addr();
    assert_eq!(statuses(addr, Present::Header(KEY, &key)), FORBIDDEN);
    let other = common::get(addr, "/other?limit=1", &[(KEY, key.as_str())]);
    assert_eq!(other.status, 200, "{}", other.text());
}
on_both_drivers!(
    a_key_for_another_api_is_forbidden,
    a_key_for_another_api_is_forbidden
);

/// An API with only a keyless plan ignores API key headers: they are no credential there.
fn keyless_only_api_ignores_key_headers(driver: DriverChoice) {
    let plans = "      - { name: Keyless, security: keyless }\n";
    let gateway = start(test_config(&chat_with_plans(plans, ""), driver));
    let addr = gateway.local_addr();
    assert_eq!(
        statuses(addr, Present::Header(KEY, "meant-for-someone-else")),
        LET_IN
    );
}
on_both_drivers!(
    keyless_only_api_ignores_key_headers,
    keyless_only_api_ignores_key_headers
);

/// 401 and 403 are counted per API, grants per plan and application.
fn refusals_and_grants_are_counted(driver: DriverChoice) {
    let (key, hash) = new_key();
    let (paused, paused_hash) = new_key();
    let plans = "      - { id: gold, name: Gold, security: api-key }\n";
    let tail = format!(
        "{APPLICATIONS}subscriptions:\n{}{}",
        subscription("s", "chat", "gold", "", &hash),
        subscription("p", "chat", "gold", "    status: paused\n", &paused_hash)
    );
    let gateway = start(test_config(&chat_with_plans(plans, &tail), driver));
    let addr = gateway.local_addr();
    let admin = gateway.admin_addr().unwrap();
    for _ in 0..3 {
        assert_eq!(get_with(addr, Present::Nothing).status, 401);
    }
    for _ in 0..2 {
        assert_eq!(get_with(addr, Present::Header(KEY, &paused)).status, 403);
    }
    assert_eq!(get_with(addr, Present::Header(KEY, &key)).status, 200);
    let text = common::admin::metrics_text(admin);
    let line = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        line("tidegate_security_refusals_total{api=\"chat\",status=\"401\"}"),
        "3"
    );
    assert_eq!(
        line("tidegate_security_refusals_total{api=\"chat\",status=\"403\"}"),
        "2"
    );
    assert_eq!(
        line("tidegate_security_grants_total{api=\"chat\",plan=\"gold\",application=\"app\"}"),
        "1"
    );
}
on_both_drivers!(
    refusals_and_grants_are_counted,
    refusals_and_grants_are_counted
);

/// A CORS preflight carries no credentials (browsers never send them): it is answered, not
/// refused; the request after it needs its key, and its 401 carries the CORS headers so the page
/// can read it.
fn a_cors_preflight_needs_no_key(driver: DriverChoice) {
    let (key, hash) = new_key();
    let plans = "      - { id: gold, name: Gold, security: api-key }\n";
    let tail = format!(
        "{APPLICATIONS}subscriptions:\n{}",
        subscription("s", "chat", "gold", "", &hash)
    );
    let cors = "    cors:\n      enabled: true\n      allowOrigin: [https://app.example]\n      allowHeaders: [X-Gravitee-Api-Key]\n    contextPaths: [/chat]";
    let yaml = chat_with_plans(plans, &tail).replace("    contextPaths: [/chat]", cors);
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let preflight = common::raw(
        addr,
        b"OPTIONS /chat HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\
          Access-Control-Request-Method: GET\r\n\
          Access-Control-Request-Headers: x-gravitee-api-key\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(preflight.status, 204, "{}", preflight.text());
    let origin = ("Origin", "https://app.example");
    let refused = common::get(addr, "/chat", &[origin]);
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let served = common::get(addr, "/chat", &[origin, (KEY, key.as_str())]);
    assert_eq!(served.status, 200, "{}", served.text());
}
on_both_drivers!(a_cors_preflight_needs_no_key, a_cors_preflight_needs_no_key);
