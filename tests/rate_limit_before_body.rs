//! A client over its rate limit is refused from its request head: it is never asked for its
//! body (`Expect: 100-continue` gets the 429 instead of `100 Continue`), and a body it sends
//! anyway is not read, nor published.

mod common;

use std::io::{BufReader, Write};

use common::rate_limit::limited_api_yaml;
use common::{connect, open_sse, post, read_response, read_sse_until, start, test_config};
use tidegate::config::DriverChoice;

fn over_the_limit_no_body_is_asked_for(driver: DriverChoice) {
    let yaml = limited_api_yaml("", "{ rateLimit: { limit: 1, periodSeconds: 60 } }");
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    assert_eq!(post(addr, "/rl", "first", "").status, 202);

    let mut stream = connect(addr);
    let body = vec![b'x'; 512 * 1024];
    stream
        .write_all(
            format!(
                "POST /rl HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    let answer = read_response(&mut reader);
    assert_eq!(answer.status, 429, "{}", answer.text());
    assert!(answer.header("retry-after").is_some());

    // Nothing was published between the first message and one sent after, on `/free` (the same
    // topic, no policies).
    assert_eq!(post(addr, "/free", "after", "").status, 202);
    let (head, mut sse) = open_sse(addr, "/free", &[("Last-Event-ID", "0")]);
    assert_eq!(head.status, 200);
    let text = read_sse_until(&mut sse, |text| text.contains("data: after"));
    let data: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .collect();
    assert_eq!(data, ["first", "after"]);
}
on_both_drivers!(before_body, over_the_limit_no_body_is_asked_for);
