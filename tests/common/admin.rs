//! Reading the admin endpoint the way an operator would: `/health` and `/metrics` over a socket.

use std::net::SocketAddr;

use super::{get, Response};

/// `GET /health`.
pub fn health(admin: SocketAddr) -> Response {
    get(admin, "/health", &[])
}

/// `GET /metrics` as text.
pub fn metrics_text(admin: SocketAddr) -> String {
    let response = get(admin, "/metrics", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    response.text()
}

/// The value of `tidegate_<name>` for one shard (`None` when the series is absent).
pub fn shard_metric(text: &str, name: &str, shard: usize) -> Option<u64> {
    let series = format!("tidegate_{name}{{shard=\"{shard}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map(|value| value.trim().parse().expect("a whole number"))
}

/// The sum of `tidegate_<name>` over every shard (0 when absent).
pub fn metric_total(admin: SocketAddr, name: &str) -> u64 {
    let text = metrics_text(admin);
    (0..)
        .map_while(|shard| shard_metric(&text, name, shard))
        .sum()
}

/// The value of an unlabelled series, `tidegate_<name>` (`None` when absent).
pub fn plain_metric(text: &str, name: &str) -> Option<u64> {
    let series = format!("tidegate_{name} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map(|value| value.trim().parse().expect("a whole number"))
}
