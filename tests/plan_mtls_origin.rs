//! Browsers present client certificates by themselves, on any page's requests: on an API with
//! an mtls plan, a request that carries `Origin` (a web page's) is refused 403 unless the API
//! lists the origins that may use it (`cors.allowOrigin`; WebSocket: `allowedOrigins`), before
//! any credential is looked at. Requests without `Origin` (not from a page) go on to the plan
//! check.

mod common;

use common::mtls_gateway::mtls_gateway_section;
use common::tls_client::TestPki;
use common::{driver_name, get, start};
use tidegate::config::{self, DriverChoice};

fn gateway_yaml(pki: &TestPki, cors: &str, driver: DriverChoice) -> String {
    let gateway = mtls_gateway_section(pki, 1, driver_name(driver));
    format!(
        r#"
{gateway}apis:
  - id: chat
    name: Chat
    contextPaths: [/chat]
{cors}    entrypoints:
      - type: http-get
        configuration: {{ messagesLimitDurationMs: 100 }}
      - type: websocket
    endpoint:
      type: in-memory
      configuration: {{ topic: chat }}
    plans:
      - {{ id: certs, name: Certificates, security: mtls }}
"#,
    )
}

fn upgrade_status(addr: std::net::SocketAddr, origin: &str) -> u16 {
    let head = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Origin", origin),
    ];
    get(addr, "/chat", &head).status
}

fn pages_need_an_origin_list_on_an_api_that_trusts_client_certificates(driver: DriverChoice) {
    let pki = TestPki::new("tidegate test CA");
    let gateway = start(config::load_str(&gateway_yaml(&pki, "", driver), "test").unwrap());
    let addr = gateway.local_addr();
    let page = get(addr, "/chat", &[("Origin", "https://evil.example")]);
    assert_eq!(page.status, 403, "{}", page.text());
    assert!(page.text().contains("cors.allowOrigin"), "{}", page.text());
    assert_eq!(upgrade_status(addr, "https://evil.example"), 403);
    // Not a page: on to the plan check (no certificate on the plaintext listener).
    assert_eq!(get(addr, "/chat", &[]).status, 401);
}
on_both_drivers!(
    pages_need_an_origin_list_on_an_api_that_trusts_client_certificates,
    pages_need_an_origin_list_on_an_api_that_trusts_client_certificates
);

fn listed_origins_go_on_to_the_plan_check(driver: DriverChoice) {
    let pki = TestPki::new("tidegate test CA");
    let cors = "    cors:\n      allowOrigin: [https://app.example]\n";
    let gateway = start(config::load_str(&gateway_yaml(&pki, cors, driver), "test").unwrap());
    let addr = gateway.local_addr();
    assert_eq!(
        get(addr, "/chat", &[("Origin", "https://app.example")]).status,
        401
    );
    assert_eq!(
        get(addr, "/chat", &[("Origin", "https://evil.example")]).status,
        403
    );
    assert_eq!(upgrade_status(addr, "https://app.example"), 401);
}
on_both_drivers!(
    listed_origins_go_on_to_the_plan_check,
    listed_origins_go_on_to_the_plan_check
);
