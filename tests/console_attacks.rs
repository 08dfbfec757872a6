//! The console's listener (8084) attacked as an internet client would, over real sockets:
//! traversal in every spelling, a trickled head, more connections than it serves, and answers
//! that carry secrets (the developer portal's API key) kept out of caches.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::attack_client::{check_connection_caps, exchange, trickle_head, Caps};
use common::console_stack::ConsoleStack;
use tidegate::console::{Console, CONSOLE_LIMITS};

fn start() -> Console {
    Console::start(SocketAddr::from(([127, 0, 0, 1], 0)), None).expect("console listener")
}

#[test]
fn traversal_in_every_spelling_serves_nothing_but_the_embedded_files() {
    let console = start();
    for path in [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E/Cargo.toml",
        "/js/..%2f..%2fCargo.toml",
        "/js%2fapp.js",
        "/js%2Fapp.js",
        "/js%5capp.js",
        "/js\\..\\Cargo.toml",
        "/.%2e/Cargo.toml",
        "/index.html%00.js",
        "/./index.html",
        "/INDEX.HTML",
        "/js/app.js/..",
        "/%252e%252e/Cargo.toml",
    ] {
        let (status, text) = exchange(
            console.local_addr(),
            format!("GET {path} HTTP/1.1\r\nHost: c\r\n\r\n").as_bytes(),
        );
        assert!([400, 404].contains(&status), "{path}: {status} {text}");
        assert!(!text.contains("root:"), "{path}: {text}");
        assert!(!text.contains("[package]"), "{path}: {text}");
    }
}

#[test]
fn a_trickled_head_is_cut_off_by_the_deadline_while_pages_are_served() {
    let console = start();
    let addr = console.local_addr();
    // One header byte every 2 s, far past the whole-request deadline.
    let slow =
        std::thread::spawn(move || trickle_head(addr, "GET / HTTP/1.1\r\nHost: c\r\nX-Slow: "));
    std::thread::sleep(Duration::from_secs(1));
    let (status, _) = exchange(addr, b"GET / HTTP/1.1\r\nHost: c\r\n\r\n");
    assert_eq!(status, 200, "others are served meanwhile");
    let answer = slow.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(console
        .render_prometheus()
        .contains("tidegate_console_requests_timed_out_total 1"));
}

#[test]
fn connections_past_the_caps_are_refused_and_the_console_recovers() {
    let console = start();
    check_connection_caps(&Caps {
        addr: console.local_addr(),
        cap: CONSOLE_LIMITS.max_connections,
        per_address: CONSOLE_LIMITS.max_connections_per_address,
        request: b"GET / HTTP/1.1\r\nHost: c\r\n\r\n",
        served: 200,
        metrics: &|| console.render_prometheus(),
        prefix: "tidegate_console",
    });
}

#[test]
fn api_answers_on_the_console_origin_are_neither_cached_nor_sniffed() {
    let stack = ConsoleStack::start();
    let addr = stack.console.local_addr();
    // An error answer echoes the path: it must never be read as a page.
    let (status, text) = exchange(
        addr,
        b"GET /portal/v1/apis/%3Cscript%3E/nothing/here HTTP/1.1\r\nHost: c\r\n\r\n",
    );
    assert_eq!(status, 404, "{text}");
    let head = text.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    // The portal's list, and every management answer (a clear API key can be in one).
    for request in [
        "GET /portal/v1/apis HTTP/1.1\r\nHost: c\r\n\r\n".to_owned(),
        format!(
            "GET /management/v2/environments/DEFAULT/apis HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer {}\r\n\r\n",
            common::console_stack::TOKEN
        ),
    ] {
        let (status, text) = exchange(addr, request.as_bytes());
        assert_eq!(status, 200, "{text}");
        let head = text.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
        assert!(head.contains("cache-control: no-store"), "{head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    }
}
