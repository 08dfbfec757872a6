//! The console's listener (src/console): the embedded files with their content types and
//! security headers, 404 for anything else (no directory traversal: lookup is in a fixed table),
//! GET/HEAD only, and `/management/…` and `/portal/…` handed to the management API's handler
//! (503 with a JSON body saying how to enable it when there is none).

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use common::{get, raw, Response};
use tidegate::admin::{Reply, Request};
use tidegate::console::{Console, ASSET_PATHS};

fn start(api: Option<Arc<tidegate::admin::Handler>>) -> Console {
    Console::start(SocketAddr::from(([127, 0, 0, 1], 0)), api).expect("console listener")
}

fn assert_security_headers(response: &Response) {
    let csp = response
        .header("Content-Security-Policy")
        .expect("a Content-Security-Policy");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(response.header("Cache-Control"), Some("no-cache"));
    assert_eq!(response.header("X-Content-Type-Options"), Some("nosniff"));
}

#[test]
fn every_embedded_file_is_served_with_its_type_and_the_security_headers() {
    let console = start(None);
    for path in ASSET_PATHS {
        let response = get(console.local_addr(), path, &[]);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        let expected = match path.rsplit_once('.').map(|(_, ext)| ext) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("{path}: unexpected extension {other:?}"),
        };
        assert_eq!(response.header("Content-Type"), Some(expected), "{path}");
        assert!(!response.body.is_empty(), "{path} is empty");
        assert_security_headers(&response);
    }
}

#[test]
fn the_page_is_served_at_the_root_and_has_no_inline_script() {
    let console = start(None);
    let page = get(console.local_addr(), "/", &[]);
    assert_eq!(page.status, 200);
    assert_security_headers(&page);
    let html = page.text();
    assert!(html.contains(r#"<script type="module" src="/js/app.js"></script>"#));
    // The CSP forbids inline scripts and handlers: the page must not need any.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(!html.contains(" onclick="), "{html}");
    for landmark in ["<main", "<nav", "<header", "aria-live"] {
        assert!(html.contains(landmark), "no {landmark} in the page");
    }
}

#[test]
fn unknown_paths_and_traversal_attempts_are_404() {
    let console = start(None);
    for path in [
        "/nope.html",
        "/js/",
        "/js/../index.html",
        "/js/%2e%2e/index.html",
        "/../Cargo.toml",
        "/console/index.html",
        "/index.html/",
        "//index.html",
    ] {
        let response = get(console.local_addr(), path, &[]);
        match response.status {
            // The request parser refuses dot segments before any handler sees them.
            400 => assert!(response.text().contains("dot segment"), "{path}"),
            404 => {
                assert!(response.text().contains("#/portal"), "{path}");
                assert_security_headers(&response);
            }
            other => panic!("{path}: {other} {}", response.text()),
        }
    }
}

#[test]
fn only_get_and_head_are_served_and_head_has_no_body() {
    let console = start(None);
    let refused = raw(
        console.local_addr(),
        b"DELETE /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("Allow"), Some("GET, HEAD"));
    // Read to the close: a HEAD answer must end with its head.
    let mut stream = common::connect(console.local_addr());
    stream
        .write_all(b"HEAD /app.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, rest) = answer.split_once("\r\n\r\n").expect("a whole head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(rest, "", "a HEAD answer carries no body");
    let css = get(console.local_addr(), "/app.css", &[]);
    assert!(
        head.contains(&format!("Content-Length: {}", css.body.len())),
        "{head}"
    );
}

#[test]
fn management_and_portal_paths_go_to_the_management_api() {
    let without = start(None);
    for path in [
        "/management/v2/environments/DEFAULT/apis",
        "/portal/v1/apis",
    ] {
        let response = get(without.local_addr(), path, &[]);
        assert_eq!(response.status, 503, "{path}");
        let body = response.json();
        assert_eq!(body["technicalCode"], "management.unavailable");
        assert!(body["message"].as_str().unwrap().contains("management"));
    }
    let handler: Arc<tidegate::admin::Handler> = Arc::new(|request: &Request| {
        Reply::json(200, &serde_json::json!({ "path": request.head.path() }))
    });
    let with = start(Some(handler));
    for path in [
        "/management/v2/environments/DEFAULT/apis",
        "/portal/v1/apis",
    ] {
        let response = get(with.local_addr(), path, &[]);
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.json()["path"], path);
    }
    // The files are still the console's own.
    assert_eq!(get(with.local_addr(), "/", &[]).status, 200);
}
