//! Live apply (`Gateway::apply`): APIs deployed, stopped, started and removed on a running
//! gateway, on every shard, without touching the other APIs' connections.

mod common;

use std::io::{BufRead, Read};
use std::net::SocketAddr;

use common::live_apis::{api, config_of, for_running, status, WAIT};
use common::ws_client::{close_frame, next_data, ws_open, Data};
use common::{eventually, open_sse, read_sse_until};
use tidegate::config::DriverChoice;
use tidegate::metrics::total;
use tidegate::runtime::Gateway;
use tungstenite::protocol::frame::coding::CloseCode;

const ALL: &[&str] = &["http-get", "http-post", "sse", "websocket"];

fn publish(addr: SocketAddr, path: &str, body: &str) {
    let answer = common::post(addr, path, body, "");
    assert_eq!(answer.status, 202, "{}", answer.text());
}

/// A GET sent on its own thread: its answer's status and body.
fn pending_get(addr: SocketAddr, path: &str) -> std::thread::JoinHandle<(u16, String)> {
    let path = path.to_owned();
    std::thread::spawn(move || {
        let answer = common::get(addr, &path, &[]);
        (answer.status, answer.text())
    })
}

fn deploy_stop_start(driver: DriverChoice) {
    let other = api("other", "other-topic", ALL, true);
    let gateway = common::start(config_of(std::slice::from_ref(&other), driver));
    let addr = gateway.local_addr();
    assert_eq!(status(addr, "/live"), 404);
    // A stream on another API, open across every apply below.
    let (head, mut other_sse) = open_sse(addr, "/other", &[]);
    assert_eq!(head.status, 200);

    // Deploy.
    let live = api("live", "live-topic", ALL, true);
    let config = for_running(&gateway, config_of(&[other.clone(), live], driver));
    let report = gateway.apply(config).expect("apply accepted");
    assert_eq!(report.added, ["live"]);
    assert!(report.restart_needed.is_empty(), "{report:?}");
    // Reachable on every shard at once: apply returns once they all serve it.
    for _ in 0..8 {
        assert_eq!(status(addr, "/live"), 204);
    }
    publish(addr, "/live", "first");
    // The new API has its own per-API series.
    let admin = gateway.admin_addr().unwrap();
    let text = common::admin::metrics_text(admin);
    let series = r#"tidegate_api_messages_in_total{api="live",entrypoint="http-post"} 1"#;
    assert!(text.contains(series), "{text}");

    // Streams and a pending GET on it.
    let (head, mut sse) = open_sse(addr, "/live", &[]);
    assert_eq!(head.status, 200);
    let mut socket = ws_open(addr, "/live");
    let polls = |gateway: &Gateway| total(gateway.metrics(), |m| &m.http_get_polls_open);
    let get = pending_get(addr, "/live");
    assert!(
        eventually(WAIT, || polls(&gateway) == 1),
        "the GET is pending"
    );
    publish(addr, "/live", "second");
    assert!(read_sse_until(&mut sse, |text| text.contains("second")).contains("second"));
    assert_eq!(next_data(&mut socket), Data::Text("second".to_owned()));

    // Stop.
    let stopped = api("live", "live-topic", ALL, false);
    let config = for_running(
        &gateway,
        config_of(&[other.clone(), stopped.clone()], driver),
    );
    let report = gateway.apply(config).expect("stop accepted");
    assert_eq!(report.stopped, ["live"]);
    let goaway = read_sse_until(&mut sse, |text| text.contains("event: goaway"));
    assert!(goaway.contains("event: goaway"), "{goaway}");
    assert!(goaway.contains("API stopped"), "{goaway}");
    let (code, reason) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Again, "WebSocket close 1013: {reason}");
    assert!(reason.contains("API stopped"), "{reason}");
    // The GET is answered with what it had (the message it was waiting with), long before its
    // 60 s poll ends (the client's read timeout is 15 s).
    let (got, body) = get.join().expect("GET answered");
    assert_eq!(got, 200, "{body}");
    assert!(body.contains("second"), "{body}");
    assert_eq!(status(addr, "/live"), 404);
    let refused = common::post(addr, "/live", "late", "");
    assert_eq!(refused.status, 404);

    // The other API's stream never noticed: the same connection still delivers.
    publish(addr, "/other", "still-here");
    let text = read_sse_until(&mut other_sse, |text| text.contains("still-here"));
    assert!(text.contains("still-here"), "{text}");
    assert!(!text.contains("goaway"), "{text}");

    // Start: reachable again, with the topic's retained messages.
    let started = api("live", "live-topic", ALL, true);
    let config = for_running(&gateway, config_of(&[other.clone(), started], driver));
    let report = gateway.apply(config).expect("start accepted");
    assert_eq!(report.started, ["live"]);
    assert_eq!(status(addr, "/live"), 204);
    let mut socket = ws_open(addr, "/live");
    publish(addr, "/live", "third");
    assert_eq!(next_data(&mut socket), Data::Text("third".to_owned()));

    // Remove: like a stop, then the id is gone from the set.
    let config = for_running(&gateway, config_of(&[other], driver));
    let report = gateway.apply(config).expect("remove accepted");
    assert_eq!(report.removed, ["live"]);
    let (code, _) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Again);
    assert_eq!(status(addr, "/live"), 404);
    publish(addr, "/other", "after-remove");
    let text = read_sse_until(&mut other_sse, |text| text.contains("after-remove"));
    assert!(text.contains("after-remove"), "{text}");
}
on_both_drivers!(deploy_stop_start_drains_only_that_api, deploy_stop_start);

fn update(driver: DriverChoice) {
    let before = api(
        "chat",
        "chat",
        &["http-get", "http-post", "sse", "websocket"],
        true,
    );
    let gateway = common::start(config_of(&[before], driver));
    let addr = gateway.local_addr();
    publish(addr, "/chat", "retained-1");
    publish(addr, "/chat", "retained-2");
    let (_, mut sse) = open_sse(addr, "/chat", &[]);
    let mut socket = ws_open(addr, "/chat");
    publish(addr, "/chat", "live-1");
    assert!(read_sse_until(&mut sse, |text| text.contains("live-1")).contains("live-1"));
    assert_eq!(next_data(&mut socket), Data::Text("live-1".to_owned()));

    // The new definition drops the WebSocket entrypoint and keeps SSE.
    let after = api("chat", "chat", &["http-get", "http-post", "sse"], true);
    let config = for_running(&gateway, config_of(&[after], driver));
    let report = gateway.apply(config).expect("update accepted");
    assert_eq!(report.updated, ["chat"]);
    // The WebSocket's entrypoint is gone: it ends with its resume cursor.
    let (code, reason) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Again);
    assert!(reason.contains("API redeployed"), "{reason}");
    assert!(reason.contains("cursor"), "{reason}");
    // The SSE stream's entrypoint is kept: the same connection keeps delivering.
    publish(addr, "/chat", "live-2");
    let text = read_sse_until(&mut sse, |text| text.contains("live-2"));
    assert!(text.contains("live-2"), "{text}");
    assert!(!text.contains("goaway"), "{text}");
    // The in-memory topic kept what it retained.
    let (_, mut replay) = open_sse(addr, "/chat", &[("Last-Event-ID", "0")]);
    let text = read_sse_until(&mut replay, |text| text.contains("live-2"));
    for message in ["retained-1", "retained-2", "live-1", "live-2"] {
        assert!(text.contains(message), "{message} missing from {text}");
    }
    // The WebSocket entrypoint is gone from the new definition.
    let mut stream = common::connect(addr);
    std::io::Write::write_all(
        &mut stream,
        b"GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(&mut stream)
        .read_line(&mut line)
        .unwrap();
    assert!(!line.contains(" 101 "), "{line}");
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);

    // Another topic: the endpoint changed, so the SSE stream kept through the first update (it
    // still runs on the first version) ends too, with where to resume.
    let moved = api("chat", "chat-2", &["http-get", "http-post", "sse"], true);
    let config = for_running(&gateway, config_of(&[moved], driver));
    assert_eq!(gateway.apply(config).unwrap().updated, ["chat"]);
    let text = read_sse_until(&mut sse, |text| text.contains("event: goaway"));
    assert!(
        text.contains("API redeployed; reconnect with Last-Event-ID:"),
        "{text}"
    );
}
on_both_drivers!(update_keeps_retained_messages_and_kept_streams, update);

fn sighup_style_reload(driver: DriverChoice) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    // The file as an operator edits it: its gateway section stays, its API list changes.
    let driver_line = match driver {
        DriverChoice::IoUring => "  driver: io-uring\n",
        DriverChoice::Epoll => "  driver: epoll\n",
        DriverChoice::Auto => "",
    };
    let gateway_section = common::binary::gateway_yaml(driver_line);
    let one = api("one", "one", &["http-get"], true);
    std::fs::write(&path, format!("{gateway_section}apis:\n{one}")).unwrap();
    let gateway = common::start(tidegate::config::load_file(&path).unwrap());
    let addr = gateway.local_addr();
    assert_eq!(status(addr, "/two"), 404);
    let two = api("two", "two", &["http-get"], true);
    std::fs::write(&path, format!("{gateway_section}apis:\n{one}{two}")).unwrap();
    let report = gateway.reload_file(&path).expect("reload accepted");
    assert_eq!(report.added, ["two"]);
    assert!(report.restart_needed.is_empty(), "{report:?}");
    assert_eq!(status(addr, "/two"), 204);
    assert_eq!(status(addr, "/one"), 204);
    // A file that does not parse changes nothing.
    std::fs::write(&path, "apis: [ { id: broken").unwrap();
    assert!(gateway.reload_file(&path).is_err());
    assert_eq!(status(addr, "/two"), 204);
    // A changed gateway section is reported, not applied; the APIs are.
    let changed = gateway_section.replace("shards: 2", "shards: 3");
    std::fs::write(&path, format!("{changed}apis:\n{two}")).unwrap();
    let report = gateway.reload_file(&path).expect("reload accepted");
    assert_eq!(report.restart_needed, ["gateway"]);
    assert_eq!(report.removed, ["one"]);
    assert_eq!(status(addr, "/one"), 404);
    assert_eq!(gateway.metrics().len(), 2);
}
on_both_drivers!(file_reload_adds_an_api, sighup_style_reload);

fn a_refused_configuration_changes_nothing(driver: DriverChoice) {
    use common::plans::{chat_with_plans, new_key, subscription, APPLICATIONS};
    let (key, hash) = new_key();
    let config = |status: &str, subscriptions: &str, more_apis: &str| {
        let plans = format!(
            "      - {{ id: gold, name: Gold, security: api-key, status: {status} }}\n{more_apis}"
        );
        let yaml = chat_with_plans(
            &plans,
            &format!("{APPLICATIONS}subscriptions:\n{subscriptions}"),
        );
        let config = tidegate::config::load_str(&yaml, "test").expect("valid");
        common::on_loopback(config, driver)
    };
    let first = subscription("s1", "chat", "gold", "", &hash);
    let gateway = common::start(config("published", &first, ""));
    let addr = gateway.local_addr();
    let key_header = [("X-Gravitee-Api-Key", key.as_str())];
    assert_eq!(common::get(addr, "/chat", &key_header).status, 200);
    let before = gateway.applied_config();
    // The plan is deprecated and a second subscription to it appears, along with a new API:
    // the subscription is refused, so nothing of it is applied (not even the new API).
    let (_, other_hash) = new_key();
    let second = subscription("s2", "chat", "gold", "", &other_hash);
    let mut refused = config("deprecated", &format!("{first}{second}"), "");
    let extra = common::live_apis::config_of(&[api("extra", "extra", &["http-get"], true)], driver);
    refused.apis.extend(extra.apis);
    let error = gateway
        .apply(for_running(&gateway, refused))
        .expect_err("refused");
    let text = error.to_string();
    assert!(text.contains("subscriptions[1].plan"), "{text}");
    assert!(text.contains("deprecated"), "{text}");
    let after = gateway.applied_config();
    assert_eq!(after.apis, before.apis);
    assert_eq!(after.subscriptions, before.subscriptions);
    assert_eq!(status(addr, "/extra"), 404);
    assert_eq!(common::get(addr, "/chat", &key_header).status, 200);
}
on_both_drivers!(
    a_refused_configuration_changes_nothing,
    a_refused_configuration_changes_nothing
);

/// A POST routed to an API just before it was stopped, whose body was still arriving, publishes
/// nothing and is told to try again.
fn post_while_draining(driver: DriverChoice) {
    use std::io::Write;
    let live = api("live", "live-topic", ALL, true);
    let gateway = common::start(config_of(std::slice::from_ref(&live), driver));
    let addr = gateway.local_addr();
    let requests = |gateway: &Gateway| total(gateway.metrics(), |m| &m.http_requests_total);
    let before = requests(&gateway);
    let mut stream = common::connect(addr);
    stream
        .write_all(b"POST /live HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhalf-")
        .unwrap();
    // Counted once its head was read, in the same step as routing it.
    assert!(eventually(WAIT, || requests(&gateway) == before + 1));
    let stopped = api("live", "live-topic", ALL, false);
    let config = for_running(&gateway, config_of(&[stopped], driver));
    assert_eq!(gateway.apply(config).unwrap().stopped, ["live"]);
    stream.write_all(b"done!").unwrap();
    let answer = common::read_response(&mut std::io::BufReader::new(stream));
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert_eq!(answer.header("retry-after"), Some("1"));
    // Nothing was published.
    let published = total(gateway.metrics(), |m| &m.messages_published_total);
    assert_eq!(published, 0);
}
on_both_drivers!(a_post_routed_before_the_stop_gets_503, post_while_draining);
