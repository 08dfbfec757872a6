//! The examples in `config/` do what their comments say. They run side by side: no two of them
//! listen on the same port (gateway or admin), and the `localhost:PORT` lines in each one's
//! comments name its own gateway port (each used to take the default admin port 8083, so a
//! second example refused to start). The http-post example's curl line shows the 202's body
//! (it said "empty body"), and the websocket example lets clients publish (it closed them with
//! 1008: its endpoint was Mock).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::examples::example_files;
use common::*;
use tidegate::config::{self, DriverChoice};
use tidegate::metrics::total;
use tungstenite::Message;

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn no_two_examples_share_a_port() {
    let files = example_files();
    assert!(files.len() >= 9, "expected the examples, found {files:?}");
    // port → the examples (and which of their listeners) using it
    let mut users: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for path in &files {
        let config = config::load_file(path).unwrap_or_else(|e| panic!("{e}"));
        let gateway = config.gateway;
        users
            .entry(gateway.listen.port())
            .or_default()
            .push(format!("{} (listen)", name(path)));
        if let Some(admin) = gateway.admin_listen {
            users
                .entry(admin.port())
                .or_default()
                .push(format!("{} (adminListen)", name(path)));
        }
    }
    // The whole-node setups (quickstart, management, console) use the product's own ports: they
    // are alternatives to each other, not examples run side by side.
    let standard = [8082, 18082];
    let shared: Vec<String> = users
        .iter()
        .filter(|(port, users)| users.len() > 1 && !standard.contains(*port))
        .map(|(port, users)| format!("{port}: {}", users.join(", ")))
        .collect();
    assert!(
        shared.is_empty(),
        "ports used twice:\n{}",
        shared.join("\n")
    );
}

#[test]
fn example_comments_name_their_own_port() {
    for path in example_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let port = config::load_file(&path).unwrap().gateway.listen.port();
        for line in text
            .lines()
            .filter(|line| line.trim_start().starts_with('#'))
        {
            for (at, _) in line.match_indices("localhost:") {
                let digits: String = line[at + "localhost:".len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                // Brokers (Kafka on 9092, MQTT on 1883) are named too; only gateway URLs count.
                let named: u16 = digits.parse().unwrap_or(0);
                if (8000..9000).contains(&named) {
                    assert_eq!(named, port, "{}: {line}", name(&path));
                }
            }
        }
    }
}

fn serve_example(file: &str, driver: DriverChoice) -> tidegate::runtime::Gateway {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(file);
    let example = config::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    start(on_loopback(example, driver))
}

fn the_http_post_example_answers_what_its_comment_shows(driver: DriverChoice) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/http-post.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let curl = text
        .lines()
        .find(|line| line.contains("curl -i -X POST"))
        .expect("the example's curl POST line");
    let gateway = serve_example("http-post.yaml", driver);
    // curl sends `Accept: */*`.
    let response = post(gateway.local_addr(), "/chat", "hello", "Accept: */*\r\n");
    assert_eq!(response.status, 202);
    let body = response.text();
    assert_eq!(body, r#"{"id":"1"}"#);
    assert!(
        curl.contains(&format!("202 Accepted, {body}")),
        "the comment does not show the body {body}: {curl}"
    );
}
on_both_drivers!(
    the_http_post_example_answers_what_its_comment_shows,
    the_http_post_example_answers_what_its_comment_shows
);

/// The example's client sends a message and receives it (every client of /chat does).
fn the_websocket_example_lets_clients_publish(driver: DriverChoice) {
    let gateway = serve_example("websocket.yaml", driver);
    let url = format!("ws://{}/chat", gateway.local_addr());
    let (mut sender, _) =
        tungstenite::client::client(url.clone(), connect(gateway.local_addr())).expect("handshake");
    let (mut other, _) =
        tungstenite::client::client(url, connect(gateway.local_addr())).expect("handshake");
    assert!(eventually(std::time::Duration::from_secs(10), || total(
        gateway.metrics(),
        |m| &m.websocket_sessions_open
    ) == 2));
    sender.send(Message::text("hello")).unwrap();
    for socket in [&mut sender, &mut other] {
        loop {
            match socket.read().expect("read") {
                Message::Text(text) => {
                    assert_eq!(text.as_str(), "hello");
                    break;
                }
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => continue,
            }
        }
    }
}
on_both_drivers!(
    the_websocket_example_lets_clients_publish,
    the_websocket_example_lets_clients_publish
);
