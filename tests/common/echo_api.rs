//! The echo API many WebSocket tests serve: every message a client sends comes back to it.

/// The echo API's entry under `apis:` (a list item, two spaces in), keyless, on `/echo`.
pub const ECHO_API: &str = "  - id: echo
    name: Echo
    contextPaths: [/echo]
    entrypoints:
      - type: websocket
    endpoint:
      type: echo
    plans:
      - name: Keyless
        security: keyless
";

/// A configuration serving the echo API alone, with `gateway` settings (YAML) in front.
pub fn echo_yaml(gateway: &str) -> String {
    format!("{gateway}\napis:\n{ECHO_API}")
}
