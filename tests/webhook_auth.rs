//! Callback authentication: `basic` and `bearer` headers as configured; `oauth2` fetches a
//! client-credentials token once and reuses it while it is valid.

mod common;

use std::time::Duration;

use common::eventually;
use common::webhook_api::{
    counters, publish, push, read, start, wait_active, yaml, ALLOW_LOOPBACK,
};
use common::webhook_receiver::{Receiver, Step};
use tidegate::config::DriverChoice;

fn callbacks_get_the_configured_credentials(driver: DriverChoice) {
    let (basic, bearer, oauth) = (
        Receiver::answering(200),
        Receiver::answering(200),
        Receiver::answering(200),
    );
    let tokens = Receiver::start(
        &[],
        Step::Json(
            200,
            r#"{"access_token":"tok-1","token_type":"Bearer","expires_in":3600}"#,
        ),
    );
    let strict = "      ordering: { mode: strict }\n";
    let oauth_config = format!(
        "{strict}      auth: {{ type: oauth2, tokenUrl: \"{}\", clientId: gateway, clientSecret: \"s3cret&=\", scope: \"orders:write\" }}\n",
        tokens.url("/token")
    );
    let subscriptions = push(
        "basic",
        &basic.url("/in"),
        &format!("{strict}      auth: {{ type: basic, username: hook, password: \"p@ss\" }}\n"),
        "",
    ) + &push(
        "bearer",
        &bearer.url("/in"),
        &format!("{strict}      auth: {{ type: bearer, token: abc.def }}\n"),
        "",
    ) + &push("oauth", &oauth.url("/in"), &oauth_config, "");
    let gateway = start(&yaml(ALLOW_LOOPBACK, "", &subscriptions), driver);
    for id in ["basic", "bearer", "oauth"] {
        wait_active(&gateway, id);
    }
    for n in 0..3 {
        publish(gateway.local_addr(), &format!("m{n}"));
    }
    for id in ["basic", "bearer", "oauth"] {
        let counters = counters(&gateway, id);
        assert!(
            eventually(Duration::from_secs(15), || read(&counters.delivered) == 3),
            "{id}"
        );
    }
    // "hook:p@ss" in base64.
    assert!(basic
        .received()
        .iter()
        .all(|r| r.header("authorization") == Some("Basic aG9vazpwQHNz")));
    assert!(bearer
        .received()
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer abc.def")));
    assert!(oauth
        .received()
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer tok-1")));
    let token_requests = tokens.received();
    assert_eq!(token_requests.len(), 1, "the token is cached while valid");
    assert_eq!(
        token_requests[0].body_text(),
        "grant_type=client_credentials&client_id=gateway&client_secret=s3cret%26%3D&scope=orders%3Awrite"
    );
    assert_eq!(
        token_requests[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    gateway.shutdown();
}

on_both_drivers!(
    callbacks_get_the_configured_credentials,
    callbacks_get_the_configured_credentials
);
