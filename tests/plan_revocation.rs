//! Reloading plans, subscriptions and keys (the in-process reload SIGHUP runs, and SIGHUP on the
//! binary): revoked keys, closed subscriptions and closed plans end live SSE and WebSocket
//! streams; an expiring key ends its stream at the expiry; an invalid file keeps what is in
//! force; a deprecated plan takes no new subscription.

mod common;

use std::path::Path;
use std::time::Duration;

use common::plans::{
    chat_with_plans, new_key, rfc3339_in, statuses, subscription, ws_with, Present, APPLICATIONS,
    LET_IN, UNAUTHORIZED,
};
use common::ws_client::close_frame;
use common::{open_sse, read_sse_until, start};
use tidegate::config::{self, DriverChoice};
use tidegate::metrics::total;
use tidegate::runtime::Gateway;
use tungstenite::protocol::frame::coding::CloseCode;

const KEY: &str = "X-Gravitee-Api-Key";
const PLANS: &str = "      - { id: free, name: Free, security: keyless }
      - { id: gold, name: Gold, security: api-key }
";

fn yaml(extra: &str, key_extra: &str, hash: &str) -> String {
    let tail = format!(
        "{APPLICATIONS}subscriptions:
  - id: s
    api: chat
    plan: gold
    application: app
{extra}    apiKeys:
      - {{ hash: \"{hash}\"{key_extra} }}
"
    );
    chat_with_plans(PLANS, &tail)
}

/// The file's `gateway:` section: loopback, ephemeral ports, two shards on `driver`, WebSocket
/// sessions and SSE streams hibernating after 100 ms (a reload compares it with the running one, so it is
/// written, not patched in after loading).
fn gateway_section(driver: DriverChoice) -> String {
    let driver = match driver {
        DriverChoice::IoUring => "io-uring",
        DriverChoice::Epoll => "epoll",
        _ => "auto",
    };
    common::binary::gateway_yaml(&format!(
        "  driver: {driver}\n  timeouts: {{ wsHibernateMs: 100, sseHibernateMs: 100 }}\n"
    ))
}

fn start_from(path: &Path, text: &str, driver: DriverChoice) -> Gateway {
    std::fs::write(path, gateway_section(driver) + text).unwrap();
    let gateway = start(config::load_file(path).unwrap());
    std::fs::write(path.with_extension("driver"), gateway_section(driver)).unwrap();
    gateway
}

/// Rewrites the file (same gateway section) and reloads it, as SIGHUP does.
fn reload(gateway: &Gateway, path: &Path, text: &str) {
    write(path, text);
    let report = gateway.reload_security(path).expect("reload accepted");
    assert!(report.restart_needed.is_empty(), "{report:?}");
}

fn revoking_a_key_ends_its_live_streams(driver: DriverChoice) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    let (key, hash) = new_key();
    let gateway = start_from(&path, &yaml("", "", &hash), driver);
    let addr = gateway.local_addr();

    let (head, mut sse) = open_sse(addr, "/chat", &[(KEY, key.as_str())]);
    assert_eq!(head.status, 200);
    read_sse_until(&mut sse, |text| text.contains("retry:"));
    let mut ws = ws_with(addr, Present::Header(KEY, &key)).expect("upgrade with the key");
    // A keyless stream on the same API is not touched by the revocation.
    let (keyless_head, mut keyless) = open_sse(addr, "/chat", &[]);
    assert_eq!(keyless_head.status, 200);
    read_sse_until(&mut keyless, |text| text.contains("retry:"));
    // The WebSocket session and both SSE streams hibernate: the revocation wakes those of the
    // revoked key. (Revoking an awake SSE stream: tests/plan_mtls.rs, whose TLS streams never
    // hibernate.)
    let asleep = || {
        total(gateway.metrics(), |m| &m.websocket_sessions_hibernating) == 1
            && total(gateway.metrics(), |m| &m.sse_streams_hibernating) == 2
    };
    assert!(common::eventually(Duration::from_secs(30), asleep));

    reload(&gateway, &path, &yaml("", ", revoked: true", &hash));

    let text = read_sse_until(&mut sse, |text| text.contains("event: goaway"));
    assert!(text.contains("event: goaway"), "{text}");
    assert!(text.contains("credential no longer valid"), "{text}");
    let (code, reason) = close_frame(&mut ws);
    assert_eq!(code, CloseCode::Policy);
    assert!(
        reason.starts_with("credential no longer valid; reconnect with ?cursor="),
        "{reason}"
    );
    assert_eq!(statuses(addr, Present::Header(KEY, &key)), UNAUTHORIZED);

    // The keyless stream still delivers.
    assert_eq!(
        common::plans::post_with(addr, Present::Nothing, "still here").status,
        202
    );
    let text = read_sse_until(&mut keyless, |text| text.contains("still here"));
    assert!(text.contains("still here"), "{text}");
}
on_both_drivers!(
    revoking_a_key_ends_its_live_streams,
    revoking_a_key_ends_its_live_streams
);

fn closing_the_subscription_or_the_plan_ends_streams(driver: DriverChoice) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    let (key, hash) = new_key();
    let gateway = start_from(&path, &yaml("", "", &hash), driver);
    let addr = gateway.local_addr();
    let mut ws = ws_with(addr, Present::Header(KEY, &key)).unwrap();
    reload(&gateway, &path, &yaml("    status: closed\n", "", &hash));
    assert_eq!(close_frame(&mut ws).0, CloseCode::Policy);

    // Closing the keyless plan ends keyless streams.
    let (_, mut keyless) = open_sse(addr, "/chat", &[]);
    read_sse_until(&mut keyless, |text| text.contains("retry:"));
    let closed =
        yaml("", "", &hash).replace("security: keyless }", "security: keyless, status: closed }");
    reload(&gateway, &path, &closed);
    let text = read_sse_until(&mut keyless, |text| text.contains("event: goaway"));
    assert!(text.contains("credential no longer valid"), "{text}");
}
on_both_drivers!(
    closing_the_subscription_or_the_plan_ends_streams,
    closing_the_subscription_or_the_plan_ends_streams
);

/// A key with an `expireAt` a few seconds ahead ends its stream then, without any reload.
fn an_expiring_key_ends_its_stream(driver: DriverChoice) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    let (key, hash) = new_key();
    let expiry = format!(", expireAt: {}", rfc3339_in(2));
    let gateway = start_from(&path, &yaml("", &expiry, &hash), driver);
    let (head, mut sse) = open_sse(gateway.local_addr(), "/chat", &[(KEY, key.as_str())]);
    assert_eq!(head.status, 200);
    let text = read_sse_until(&mut sse, |text| text.contains("event: goaway"));
    assert!(text.contains("credential no longer valid"), "{text}");
}
on_both_drivers!(
    an_expiring_key_ends_its_stream,
    an_expiring_key_ends_its_stream
);

fn an_invalid_file_keeps_the_registry_in_force(driver: DriverChoice) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    let (key, hash) = new_key();
    let gateway = start_from(&path, &yaml("", "", &hash), driver);
    let addr = gateway.local_addr();
    let version = gateway.security().version();
    // Revoking the key in a file that is otherwise broken changes nothing.
    let broken =
        yaml("    status: closed\n", "", &hash).replace("application: app", "application: ghost");
    write(&path, &broken);
    let error = gateway.reload_security(&path).unwrap_err().to_string();
    assert!(error.contains("no application has id 'ghost'"), "{error}");
    assert_eq!(gateway.security().version(), version);
    assert_eq!(statuses(addr, Present::Header(KEY, &key)), LET_IN);
    std::fs::write(&path, "apis: [").unwrap();
    assert!(gateway.reload_security(&path).is_err());
    assert_eq!(statuses(addr, Present::Header(KEY, &key)), LET_IN);
}
on_both_drivers!(
    an_invalid_file_keeps_the_registry_in_force,
    an_invalid_file_keeps_the_registry_in_force
);

fn deprecated_plans_take_no_new_subscriptions(driver: DriverChoice) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    let (key, hash) = new_key();
    let (new, new_hash) = new_key();
    let deprecated = |text: String| {
        text.replace(
            "security: api-key }",
            "security: api-key, status: deprecated }",
        )
    };
    let gateway = start_from(&path, &deprecated(yaml("", "", &hash)), driver);
    let addr = gateway.local_addr();
    assert_eq!(statuses(addr, Present::Header(KEY, &key)), LET_IN);
    let with_new =
        deprecated(yaml("", "", &hash)) + &subscription("s-new", "chat", "gold", "", &new_hash);
    write(&path, &with_new);
    let error = gateway.reload_security(&path).unwrap_err().to_string();
    assert!(error.contains("takes no new subscriptions"), "{error}");
    assert_eq!(statuses(addr, Present::Header(KEY, &new)), UNAUTHORIZED);
    assert_eq!(statuses(addr, Present::Header(KEY, &key)), LET_IN);
}
on_both_drivers!(
    deprecated_plans_take_no_new_subscriptions,
    deprecated_plans_take_no_new_subscriptions
);

fn other_changes_are_reported_as_needing_a_restart(driver: DriverChoice) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    let (_, hash) = new_key();
    let gateway = start_from(&path, &yaml("", "", &hash), driver);
    let changed = yaml("", "", &hash).replace("contextPaths: [/chat]", "contextPaths: [/talk]");
    write(&path, &changed);
    let report = gateway.reload_security(&path).unwrap();
    assert_eq!(report.restart_needed, ["apis[chat]"]);
    // Not applied: the API is still served where it was.
    assert_eq!(common::get(gateway.local_addr(), "/chat", &[]).status, 200);
    // An API removed from the file is still served, with the plans it had, until a restart.
    write(&path, "apis: []\n");
    let report = gateway.reload_security(&path).unwrap();
    assert_eq!(report.restart_needed, ["apis[chat] (removed)"]);
    assert_eq!(common::get(gateway.local_addr(), "/chat", &[]).status, 200);
}
on_both_drivers!(
    other_changes_are_reported_as_needing_a_restart,
    other_changes_are_reported_as_needing_a_restart
);

/// The binary reloads on SIGHUP.
#[test]
fn sighup_reloads_the_keys() {
    let (key, hash) = new_key();
    let gateway_section = common::binary::gateway_yaml("");
    // one driver: SIGHUP needs the binary, on `auto`; reloads run on both drivers in-process above.
    let binary = common::binary::Binary::start(&(gateway_section.clone() + &yaml("", "", &hash)));
    let addr = binary.addr;
    assert_eq!(statuses(addr, Present::Header(KEY, &key)), LET_IN);
    std::fs::write(
        binary.config_path(),
        gateway_section + &yaml("", ", revoked: true", &hash),
    )
    .unwrap();
    binary.signal("HUP");
    assert!(
        binary
            .wait_for_log(
                Duration::from_secs(20),
                "reloaded plans, applications, subscriptions and API keys"
            )
            .is_some(),
        "{}",
        binary.log()
    );
    assert_eq!(statuses(addr, Present::Header(KEY, &key)), UNAUTHORIZED);
}

/// Writes `text` after the gateway section the gateway started with.
fn write(path: &Path, text: &str) {
    let section = std::fs::read_to_string(path.with_extension("driver")).unwrap();
    std::fs::write(path, section + text).unwrap();
}
