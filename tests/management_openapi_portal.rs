//! The developer portal's routes are in the OpenAPI document (docs/openapi.json) with the
//! management routes, both ways: each documented portal operation is served over the socket
//! (no 404 route / 405), and each served one is documented, without a token.

mod common;

use common::{management, raw};
use serde_json::Value;
use tidegate::manage::api::router::route_table;

#[test]
fn every_portal_route_is_documented_and_every_documented_one_is_served() {
    let mgmt = management::start(Value::Null);
    let document = common::get(mgmt.addr, "/management/v2/openapi.json", &[]).json();
    let mut documented = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        if !path.starts_with("/portal/") {
            continue;
        }
        for (method, operation) in item.as_object().unwrap() {
            assert_eq!(
                operation["security"],
                serde_json::json!([]),
                "{method} {path} needs no token"
            );
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut served: Vec<(String, String)> = route_table()
        .into_iter()
        .filter(|(_, template)| template.starts_with("/portal/"))
        .map(|(method, template)| (method.to_owned(), template.to_owned()))
        .collect();
    served.sort();
    assert_eq!(
        documented,
        [
            ("GET".to_owned(), "/portal/v1/apis".to_owned()),
            ("GET".to_owned(), "/portal/v1/apis/{apiId}".to_owned()),
            (
                "POST".to_owned(),
                "/portal/v1/apis/{apiId}/subscriptions".to_owned()
            ),
        ]
    );
    assert_eq!(documented, served);
    // Each documented operation reaches a handler over the socket: no 404 `route.not_found`,
    // no 405 (an unknown API is the handler's own 404).
    for (method, template) in &documented {
        let path = template.replace("{apiId}", "orders");
        let body = if method == "POST" { "{}" } else { "" };
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: m\r\n");
        if !body.is_empty() {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(body);
        let answer = raw(mgmt.addr, request.as_bytes());
        assert_ne!(answer.status, 405, "{method} {path}: {}", answer.text());
        assert_ne!(
            answer.json()["technicalCode"],
            "route.not_found",
            "{method} {path}: {}",
            answer.text()
        );
    }
    // What is not documented is not served.
    let answer = raw(
        mgmt.addr,
        b"DELETE /portal/v1/apis/orders HTTP/1.1\r\nHost: m\r\n\r\n",
    );
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("GET"));
    let answer = raw(
        mgmt.addr,
        b"GET /portal/v1/applications HTTP/1.1\r\nHost: m\r\n\r\n",
    );
    assert_eq!(answer.json()["technicalCode"], "route.not_found");
}
