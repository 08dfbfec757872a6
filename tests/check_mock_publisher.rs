//! A websocket entrypoint lets clients publish by default, which a Mock endpoint cannot take:
//! `tidegate check` reports it (it used to say OK, and a client that sent a frame was closed with
//! 1008). `config/websocket.yaml`, which had this mistake, is checked in
//! tests/examples_as_documented.rs.

use std::process::Command;

const MOCK_WITH_A_PUBLISHER: &str = r#"
apis:
  - id: ticker
    name: Ticker
    contextPaths: [/ticker]
    entrypoints:
      - type: sse
      - type: websocket
    endpoint:
      type: mock
    plans:
      - name: Keyless
        security: keyless
"#;

#[test]
fn check_reports_a_websocket_publisher_on_a_mock_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ticker.yaml");
    std::fs::write(&file, MOCK_WITH_A_PUBLISHER).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .args(["check", file.to_str().unwrap()])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("apis[0].entrypoints[1]")
            && stderr.contains("the mock endpoint cannot take messages")
            && stderr.contains("publisher.enabled: false"),
        "{stderr}"
    );
    let fixed = MOCK_WITH_A_PUBLISHER.replace(
        "      - type: websocket\n",
        "      - type: websocket\n        configuration: { publisher: { enabled: false } }\n",
    );
    std::fs::write(&file, fixed).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .args(["check", file.to_str().unwrap()])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
