//! The `tidegate` binary: `check` on good and bad files, `--help`, `--version`.

use std::process::Command;

fn tidegate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn check_accepts_every_example_config() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/config")).unwrap() {
        let path = entry.unwrap().path();
        // config/tls/ holds the test-only certificate of config/tls.yaml, not a configuration.
        if path.extension().is_none_or(|extension| extension != "yaml") {
            continue;
        }
        let output = tidegate(&["check", "-c", path.to_str().unwrap()]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The file may also be given without `-c`.
        let output = tidegate(&["check", path.to_str().unwrap()]);
        assert!(
            output.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("OK"));
    }
}

#[test]
fn check_reports_every_problem_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "gateway:\n  shards: 0\napis:\n  - id: a\n    name: A\n    contextPaths: [nope]\n    entrypoints:\n      - type: sse\n        configuration:\n          heartbeatIntervalInMs: 10\n    endpoint:\n      type: mock\n    plans:\n      - name: Keyless\n        security: keyless\n",
    )
    .unwrap();
    let output = tidegate(&["check", "-c", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("shards"), "{stderr}");
    assert!(stderr.contains("contextPaths"), "{stderr}");
    assert!(stderr.contains("heartbeatIntervalInMs"), "{stderr}");
}

#[test]
fn help_and_version() {
    let help = tidegate(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("run") && text.contains("check") && text.contains("--log-format"));
    let version = tidegate(&["--version"]);
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_second_gateway_on_the_same_port_refuses_to_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = format!(
        "gateway:\n  listen: \"127.0.0.1:{port}\"\n  adminListen: off\n  shards: 1\napis: []\n"
    );
    let mut first = tidegate::config::load_str(&yaml, "test").unwrap();
    first.gateway.pin_shards = false;
    // one driver: a port already taken refuses the start on any driver (a bind, before I/O).
    let running = tidegate::runtime::Gateway::start(first.clone()).expect("the first one starts");
    let second = tidegate::runtime::Gateway::start(first);
    let err = second
        .err()
        .expect("the second one must not start")
        .to_string();
    assert!(err.contains("another gateway"), "{err}");
    drop(running);
}

#[test]
fn an_invalid_log_level_is_an_error() {
    let output = tidegate(&[
        "--log-level",
        "bogus[[",
        "check",
        "-c",
        "config/quickstart.yaml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid --log-level"));
}
