//! The access log names who a request was served for (issue 12, part 8): the selected plan, and
//! the application and subscription on a plan with subscriptions; nothing on a refused request.

mod common;

use common::observe::json_lines;
use common::plans::{chat_with_plans, new_key, post_with, subscription, Present, APPLICATIONS};
use common::{post, start, test_config};
use serde_json::Value;
use tidegate::config::DriverChoice;

const PLANS: &str = "      - { id: open, name: Open, security: keyless }\n      - { id: gold, name: Gold, security: api-key }\n";

fn lines_name_the_plan_application_and_subscription(driver: DriverChoice) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let (key, hash) = new_key();
    let (stranger, _) = new_key();
    let tail = format!(
        "{APPLICATIONS}subscriptions:\n{}",
        subscription("sub-1", "chat", "gold", "", &hash)
    );
    let yaml = format!(
        "gateway:\n  accessLog: {{ enabled: true, format: json, path: {} }}\n{}",
        path.display(),
        chat_with_plans(PLANS, &tail)
    );
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();

    // Each request names itself: the connections may land on different shards, whose lines
    // reach the log in any order.
    let keyed_headers = format!("X-Gravitee-Api-Key: {key}\r\nX-Request-Id: keyed\r\n");
    assert_eq!(
        post(addr, "/chat", "with a key", &keyed_headers).status,
        202
    );
    let keyless_headers = "X-Request-Id: keyless\r\n";
    assert_eq!(post(addr, "/chat", "keyless", keyless_headers).status, 202);
    assert_eq!(
        post_with(
            addr,
            Present::Header("X-Gravitee-Api-Key", &stranger),
            "unknown key"
        )
        .status,
        401
    );

    let lines = json_lines(&path, 3);
    let by_request = |id: &str| -> &Value {
        lines
            .iter()
            .find(|line| line["request_id"] == id)
            .unwrap_or_else(|| panic!("no line for request {id} in {lines:#?}"))
    };
    let by_status = |status: u64| -> &Value {
        lines
            .iter()
            .find(|line| line["status"] == status)
            .unwrap_or_else(|| panic!("no {status} line in {lines:#?}"))
    };
    let keyed = by_request("keyed");
    assert_eq!(keyed["status"], 202, "{keyed}");
    assert_eq!(keyed["plan"], "gold", "{keyed}");
    assert_eq!(keyed["application"], "app", "{keyed}");
    assert_eq!(keyed["subscription"], "sub-1", "{keyed}");
    let keyless = by_request("keyless");
    assert_eq!(keyless["status"], 202, "{keyless}");
    assert_eq!(keyless["plan"], "open", "{keyless}");
    assert!(
        keyless.get("application").is_none_or(Value::is_null),
        "{keyless}"
    );
    assert!(
        keyless.get("subscription").is_none_or(Value::is_null),
        "{keyless}"
    );
    let refused = by_status(401);
    assert!(refused.get("plan").is_none_or(Value::is_null), "{refused}");
    assert!(
        !std::fs::read_to_string(&path).unwrap().contains(&key),
        "keys never logged"
    );
}
on_both_drivers!(
    lines_name_the_plan_application_and_subscription,
    lines_name_the_plan_application_and_subscription
);
