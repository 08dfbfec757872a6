//! APIs over an in-memory topic, the endpoint most tests publish to and read from: their YAML,
//! and a backlog published into one. `entrypoints` are the lines under `entrypoints:` (indented six spaces, like
//! `      - type: sse`); `gateway` is a `gateway:` section, or empty.

use std::net::SocketAddr;

use super::{connect, post_on};

/// `gateway`, then one API, `/chat`, over the topic `chat`. More API items (indented two spaces,
/// like `  - id: mock`) may be appended to the result.
pub fn chat_yaml(gateway: &str, entrypoints: &str) -> String {
    format!(
        r#"{gateway}
apis:
  - id: chat
    name: Chat
    contextPaths: [/chat]
    entrypoints:
{entrypoints}
    endpoint:
      type: in-memory
      configuration:
        topic: chat
    plans:
      - name: Keyless
        security: keyless
"#
    )
}

/// `gateway`, then one API, `/topic`, over the topic `t`, which retains up to
/// `max_retained_messages` and 100 MB: room for backlogs larger than a connection's buffers.
pub fn backlog_topic_yaml(
    gateway: &str,
    entrypoints: &str,
    max_retained_messages: usize,
) -> String {
    format!(
        r#"{gateway}
apis:
  - id: topic
    name: Topic
    contextPaths: [/topic]
    entrypoints:
{entrypoints}
    endpoint:
      type: in-memory
      configuration:
        topic: t
        maxRetainedMessages: {max_retained_messages}
        maxRetainedBytes: 100000000
    plans:
      - name: Keyless
        security: keyless
"#
    )
}

/// POSTs each of `payloads` to `path` on one connection, each answered 202; returns their
/// message ids, in order.
pub fn publish_backlog(
    addr: SocketAddr,
    path: &str,
    payloads: impl Iterator<Item = Vec<u8>>,
) -> Vec<u64> {
    let mut publisher = connect(addr);
    payloads
        .map(|payload| {
            let response = post_on(&mut publisher, path, &payload, "");
            assert_eq!(response.status, 202, "{}", response.text());
            response.header("x-message-id").unwrap().parse().unwrap()
        })
        .collect()
}
