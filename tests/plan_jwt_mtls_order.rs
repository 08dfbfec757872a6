//! On an API with both an mtls plan and a JWT plan, the credential is tried in this order: the
//! client certificate (TLS listener), then the bearer token, then an API key, then none. A
//! request with a subscribed certificate is let in through the mtls plan whatever token it also
//! carries; without a certificate, its bearer token decides.

mod common;

use std::io::{BufReader, Write};
use std::sync::Arc;

use common::mtls_gateway::mtls_gateway_section;
use common::tls_client::{client_config, read_response, tls_connect, ClientOptions, TestPki};
use common::{driver_name, start};
use jsonwebtoken::{EncodingKey, Header};
use rustls::ClientConfig;
use serde_json::json;
use tidegate::config::{self, DriverChoice};
use tidegate::runtime::Gateway;
use tidegate::security::jwt::unix_now;

const SECRET: &str = "an HMAC secret of at least 32 bytes, for the plan-order tests";

/// A TLS listener asking for client certificates, an API with an mtls plan and a JWT plan;
/// `shop` is subscribed through its certificate, `app` through its tokens' client id, `idle`
/// has a client id but no subscription.
fn gateway(pki: &TestPki, dir: &tempfile::TempDir, driver: DriverChoice) -> Gateway {
    let gateway = mtls_gateway_section(pki, 1, driver_name(driver));
    let yaml = format!(
        r#"
{gateway}apis:
  - id: chat
    name: Chat
    contextPaths: [/chat]
    entrypoints:
      - type: http-get
        configuration: {{ messagesLimitDurationMs: 100 }}
    endpoint:
      type: in-memory
      configuration: {{ topic: chat }}
    plans:
      - {{ id: certs, name: Certificates, security: mtls }}
      - id: tokens
        name: Tokens
        security: jwt
        configuration: {{ secret: "{SECRET}", clockSkewSeconds: 0 }}
applications:
  - {{ id: shop, name: Shop, certificate: {{ subject: "CN=app-shop" }} }}
  - {{ id: app, name: App, clientId: app-client }}
  - {{ id: idle, name: Idle, clientId: idle-client }}
subscriptions:
  - {{ id: shop-certs, api: chat, plan: certs, application: shop }}
  - {{ id: app-tokens, api: chat, plan: tokens, application: app }}
"#,
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    start(config::load_file(&path).unwrap_or_else(|e| panic!("{e}")))
}

fn token(client: &str) -> String {
    let claims = json!({ "azp": client, "exp": unix_now() + 60 });
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap()
}

/// The status of a GET on `/chat` over TLS with `config`, carrying `token` as a bearer token.
fn status(gateway: &Gateway, config: &Arc<ClientConfig>, token: Option<&str>) -> u16 {
    let mut stream = tls_connect(gateway.tls_addr().unwrap(), config, "gateway.test").unwrap();
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let head = format!("GET /chat HTTP/1.1\r\nHost: test\r\n{authorization}\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    read_response(&mut BufReader::new(stream)).status
}

fn the_certificate_is_tried_before_the_bearer_token(driver: DriverChoice) {
    let pki = TestPki::new("tidegate test CA");
    let dir = tempfile::tempdir().unwrap();
    let gateway = gateway(&pki, &dir, driver);
    let shop = client_config(
        &pki.ca_der(),
        ClientOptions {
            identity: Some(pki.client_cert("app-shop")),
            ..ClientOptions::default()
        },
    );
    let no_cert = client_config(&pki.ca_der(), ClientOptions::default());

    // The subscribed certificate decides: a token without a subscription (403 on its own) or a
    // forged one (401 on its own) beside it does not matter.
    assert_eq!(status(&gateway, &no_cert, Some(&token("idle-client"))), 403);
    assert_eq!(status(&gateway, &shop, Some(&token("idle-client"))), 200);
    assert_eq!(status(&gateway, &no_cert, Some("not.a.token")), 401);
    assert_eq!(status(&gateway, &shop, Some("not.a.token")), 200);
    // Without a certificate, the bearer token decides.
    assert_eq!(status(&gateway, &no_cert, Some(&token("app-client"))), 200);
    assert_eq!(status(&gateway, &no_cert, None), 401);
}
on_both_drivers!(
    the_certificate_is_tried_before_the_bearer_token,
    the_certificate_is_tried_before_the_bearer_token
);
