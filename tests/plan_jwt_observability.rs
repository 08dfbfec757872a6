//! What JWT plans report: refused bearer tokens counted per API and reason
//! (`tidegate_security_jwt_refusals_total`), failed JWKS fetches counted per plan
//! (`tidegate_security_jwks_fetch_failures_total`), and a token in the query string
//! (`access_token`) never written to the access log.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::admin::metrics_text;
use common::observe::{series_value, wait_for_lines};
use common::plans::chat_with_plans;
use common::{eventually, get, start, test_config};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use tidegate::config::DriverChoice;
use tidegate::security::jwt::unix_now;

const SECRET: &str = "an HMAC secret of at least 32 bytes, for the JWT metric tests";

const PLANS: &str = r#"      - id: jwt
        name: JWT
        security: jwt
        configuration:
          secret: "an HMAC secret of at least 32 bytes, for the JWT metric tests"
          audience: chat
          clockSkewSeconds: 0
"#;

const TAIL: &str = r#"
applications:
  - id: app
    name: App
    clientId: app-client
subscriptions:
  - id: sub
    api: chat
    plan: jwt
    application: app
"#;

fn token(secret: &str, lifetime_s: i64) -> String {
    let claims =
        json!({ "aud": "chat", "azp": "app-client", "exp": unix_now() as i64 + lifetime_s });
    let key = EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap()
}

fn refusals(text: &str, reason: &str) -> Option<f64> {
    let series = format!("security_jwt_refusals_total{{api=\"chat\",reason=\"{reason}\"}}");
    series_value(text, &series)
}

fn refused_tokens_are_counted_by_reason(driver: DriverChoice) {
    let yaml = chat_with_plans(PLANS, TAIL);
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let admin = gateway.admin_addr().unwrap();
    let before = metrics_text(admin);
    assert_eq!(refusals(&before, "signature"), Some(0.0), "{before}");
    assert_eq!(refusals(&before, "expired"), Some(0.0), "{before}");

    let forged = format!(
        "Bearer {}",
        token("another secret, 32 bytes or more, not the plan's", 60)
    );
    let expired = format!("Bearer {}", token(SECRET, -120));
    let valid = format!("Bearer {}", token(SECRET, 60));
    assert_eq!(
        get(addr, "/chat", &[("Authorization", &forged)]).status,
        401
    );
    assert_eq!(
        get(addr, "/chat", &[("Authorization", &forged)]).status,
        401
    );
    assert_eq!(
        get(addr, "/chat", &[("Authorization", &expired)]).status,
        401
    );
    assert_eq!(get(addr, "/chat", &[("Authorization", &valid)]).status, 200);

    let after = metrics_text(admin);
    assert_eq!(refusals(&after, "signature"), Some(2.0), "{after}");
    assert_eq!(refusals(&after, "expired"), Some(1.0), "{after}");
    assert_eq!(refusals(&after, "audience"), Some(0.0), "{after}");
}
on_both_drivers!(
    refused_tokens_are_counted_by_reason,
    refused_tokens_are_counted_by_reason
);

fn failed_jwks_fetches_are_counted_per_plan(driver: DriverChoice) {
    // A loopback port nobody listens on: every fetch fails (connection refused).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let plans = format!(
        r#"      - id: idp
        name: IdP
        security: jwt
        configuration:
          jwksUrl: "http://127.0.0.1:{port}/jwks.json"
"#
    );
    let tail = TAIL.replace("plan: jwt", "plan: idp");
    let gateway = start(test_config(&chat_with_plans(&plans, &tail), driver));
    let admin = gateway.admin_addr().unwrap();
    let series = "security_jwks_fetch_failures_total{api=\"chat\",plan=\"idp\"}";
    let counted = eventually(Duration::from_secs(20), || {
        series_value(&metrics_text(admin), series).is_some_and(|failures| failures >= 1.0)
    });
    assert!(counted, "{}", metrics_text(admin));
}
on_both_drivers!(
    failed_jwks_fetches_are_counted_per_plan,
    failed_jwks_fetches_are_counted_per_plan
);

fn a_token_in_the_query_is_not_written_to_the_access_log(driver: DriverChoice) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let gateway_section = format!(
        "gateway:\n  accessLog: {{ enabled: true, format: json, path: {} }}\n",
        path.display()
    );
    let yaml = gateway_section + &chat_with_plans(PLANS, TAIL);
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let valid = token(SECRET, 60);
    let forged = token("another secret, 32 bytes or more, not the plan's", 60);
    assert_eq!(
        get(addr, &format!("/chat?access_token={valid}"), &[]).status,
        200
    );
    assert_eq!(
        get(addr, &format!("/chat?access_token={forged}"), &[]).status,
        401
    );
    let lines = wait_for_lines(&path, 2);
    let signature = |token: &str| token.rsplit('.').next().unwrap().to_owned();
    for line in &lines {
        assert!(line.contains("\"/chat\""), "{line}");
        assert!(!line.contains("access_token"), "{line}");
        assert!(!line.contains(&signature(&valid)), "{line}");
        assert!(!line.contains(&signature(&forged)), "{line}");
    }
}
on_both_drivers!(
    a_token_in_the_query_is_not_written_to_the_access_log,
    a_token_in_the_query_is_not_written_to_the_access_log
);
