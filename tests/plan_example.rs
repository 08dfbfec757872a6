//! `config/plan-api-key.yaml` does what its comments show: no key → 401, its public demo key
//! publishes and streams, the CLI makes keys whose hash line the file takes.

mod common;

use std::path::Path;

use common::plans::{get_with, post_with, sse_status, Present};
use common::{on_loopback, start};
use tidegate::config::{self, DriverChoice};

const DEMO_KEY: &str = "H9Q5hLQ_kqqAh6mgWTM8CC9SibkBET8IYdT6Je7C_OA";

/// The example, with its `/orders` path served as `/chat` (what the plan helpers call).
fn example(driver: DriverChoice) -> config::Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/plan-api-key.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(DEMO_KEY), "the comment names the demo key");
    let text = text.replace("contextPaths: [/orders]", "contextPaths: [/chat]");
    on_loopback(
        config::load_str(&text, "plan-api-key.yaml").unwrap(),
        driver,
    )
}

fn the_api_key_example_answers_what_its_comment_shows(driver: DriverChoice) {
    let gateway = start(example(driver));
    let addr = gateway.local_addr();
    let refused = get_with(addr, Present::Nothing);
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("www-authenticate"),
        Some("ApiKey realm=\"orders\"")
    );
    let header = Present::Header("X-Gravitee-Api-Key", DEMO_KEY);
    assert_eq!(post_with(addr, header, "order 1").status, 202);
    assert_eq!(sse_status(addr, Present::Query(DEMO_KEY)), 200);
}
on_both_drivers!(
    the_api_key_example_answers_what_its_comment_shows,
    the_api_key_example_answers_what_its_comment_shows
);

fn apikey_generate_prints_a_key_and_its_hash_line(driver: DriverChoice) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .args(["apikey", "generate"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    let key = lines
        .next()
        .unwrap()
        .strip_prefix("key: ")
        .unwrap()
        .to_owned();
    let hash = lines
        .next()
        .unwrap()
        .strip_prefix("hash: ")
        .unwrap()
        .to_owned();
    assert_eq!(key.len(), 43, "{text}");
    // The printed hash line goes into a subscription, and the printed key then works.
    let mut config = example(driver);
    config.subscriptions[0].api_keys[0].hash =
        tidegate::config::KeyHash::from_config_text(&hash).unwrap();
    let gateway = start(config);
    let addr = gateway.local_addr();
    assert_eq!(
        get_with(addr, Present::Header("X-Gravitee-Api-Key", &key)).status,
        200
    );
    assert_eq!(
        get_with(addr, Present::Header("X-Gravitee-Api-Key", DEMO_KEY)).status,
        401
    );
}
on_both_drivers!(
    apikey_generate_prints_a_key_and_its_hash_line,
    apikey_generate_prints_a_key_and_its_hash_line
);
