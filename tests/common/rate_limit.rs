//! Rate-limit test helpers: an API over the in-memory topic `rl` whose keyless plan has the
//! given `policies`, and concurrent keep-alive POSTs that report each answer's status.

use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};

use super::{connect, read_response, Response};

/// `gateway` (a `gateway:` section or empty), then `/rl` (http-post, http-get, sse, websocket
/// on topic `rl`) whose keyless plan has `policies` (a YAML flow mapping), and `/free` on the
/// same topic with no policies.
pub fn limited_api_yaml(gateway: &str, policies: &str) -> String {
    format!(
        r#"{gateway}
apis:
  - id: rl
    name: Limited
    contextPaths: [/rl]
    entrypoints:
      - type: http-post
      - type: http-get
      - type: sse
      - type: websocket
    endpoint:
      type: in-memory
      configuration: {{ topic: rl, maxRetainedMessages: 10000 }}
    plans:
      - name: Keyless
        security: keyless
        policies: {policies}
  - id: free
    name: Free
    contextPaths: [/free]
    entrypoints:
      - type: http-post
      - type: sse
    endpoint:
      type: in-memory
      configuration: {{ topic: rl, maxRetainedMessages: 10000 }}
    plans:
      - name: Keyless
        security: keyless
"#
    )
}

/// One keep-alive POST of `body` to `path` on `stream`.
pub fn post_keep_alive(stream: &mut TcpStream, path: &str, body: &str) -> Response {
    use std::io::Write;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    read_response(&mut BufReader::new(stream.try_clone().unwrap()))
}

/// `clients` threads each POST `each` times to `path` on its own keep-alive connection (taken
/// from `streams`, or opened to `addr` when they run out); returns every answer's status.
pub fn concurrent_posts(
    addr: SocketAddr,
    streams: Vec<TcpStream>,
    clients: usize,
    each: usize,
    path: &str,
) -> Vec<u16> {
    let mut streams = streams.into_iter();
    let start = std::sync::Arc::new(std::sync::Barrier::new(clients));
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let mut stream = streams.next().unwrap_or_else(|| connect(addr));
            let path = path.to_owned();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                (0..each)
                    .map(|i| post_keep_alive(&mut stream, &path, &format!("c{client}-{i}")).status)
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|thread| thread.join().expect("client thread"))
        .collect()
}
