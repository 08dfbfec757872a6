//! The Kafka endpoint when the broker goes away, and its cost with many clients: one fetch
//! stream per partition per node, however many clients read.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::io::BufReader;
use std::net::TcpStream;

use common::*;
use kafka_broker::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::ShardMetrics;
use tidegate::runtime::Gateway;

const TOPIC: &str = "events";

fn gateway(broker: &Broker, driver: DriverChoice) -> Gateway {
    started_gateway(broker, TOPIC, "", driver)
}

fn data_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

fn read_data(reader: &mut BufReader<TcpStream>, count: usize) -> Vec<String> {
    let text = read_sse_until(reader, |text| data_lines(text).len() >= count);
    let data = data_lines(&text);
    assert_eq!(data.len(), count, "stream: {text}");
    data
}

fn a_thousand_sse_clients_cost_one_fetch_stream_per_partition(driver: DriverChoice) {
    open_files::make_room_for_clients(1000);
    let broker = Broker::start();
    broker.create_topic(TOPIC, 3);
    let gateway = gateway(&broker, driver);
    let addr = gateway.local_addr();
    let metrics = gateway.kafka_metrics().expect("kafka metrics").clone();

    let mut clients = vec![open_sse(addr, "/k", &[]).1];
    let loops_with_one = ShardMetrics::get(&metrics.fetch_loops_running);
    let connections_with_one = broker.connections_from_this_process();
    for _ in 1..1000 {
        let (head, reader) = open_sse(addr, "/k", &[]);
        assert_eq!(head.status, 200);
        clients.push(reader);
    }
    let records: Vec<_> = (0..3).map(|p| record_to(&format!("r{p}"), p)).collect();
    broker.produce(TOPIC, &records);
    for reader in &mut clients {
        let mut got = read_data(reader, 3);
        got.sort();
        assert_eq!(got, ["r0", "r1", "r2"]);
    }
    assert_eq!(loops_with_one, 3, "one fetch loop per partition");
    assert_eq!(
        ShardMetrics::get(&metrics.fetch_loops_running),
        3,
        "still one fetch loop per partition with 1,000 clients"
    );
    assert_eq!(
        ShardMetrics::get(&metrics.catch_up_fetches_running),
        0,
        "no client needed a fetch of its own"
    );
    assert!(
        connections_with_one >= 3,
        "each partition loop has a connection to the broker"
    );
    assert_eq!(
        broker.connections_from_this_process(),
        connections_with_one,
        "1,000 clients open no further connection to the broker"
    );
}
on_both_drivers!(
    a_thousand_sse_clients_cost_one_fetch_stream_per_partition,
    a_thousand_sse_clients_cost_one_fetch_stream_per_partition
);

fn post_answers_503_while_the_broker_is_down(driver: DriverChoice) {
    let mut broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let gateway = gateway(&broker, driver);
    let addr = gateway.local_addr();
    assert_eq!(
        post(addr, "/k", "before", "Accept: application/json\r\n").status,
        202
    );
    broker.stop();
    let response = post(addr, "/k", "while down", "Accept: application/json\r\n");
    assert_eq!(response.status, 503, "{}", response.text());
    // The category, never the broker's address or the client library's error text.
    let text = response.text();
    assert!(
        text.contains("acknowledge") && text.contains("request id"),
        "{text}"
    );
    assert!(!text.contains(&broker.bootstrap()), "{text}");
}
on_both_drivers!(
    post_answers_503_while_the_broker_is_down,
    post_answers_503_while_the_broker_is_down
);

fn a_stream_survives_a_broker_restart(driver: DriverChoice) {
    let mut broker = Broker::start_persistent();
    broker.create_topic(TOPIC, 2);
    let gateway = gateway(&broker, driver);
    let addr = gateway.local_addr();
    let (_, mut sse) = open_sse(addr, "/k", &[]);
    let before: Vec<_> = (0..4)
        .map(|n| record_to(&format!("before-{n}"), n % 2))
        .collect();
    broker.produce(TOPIC, &before);
    let mut got = read_data(&mut sse, 4);

    broker.restart();
    let after: Vec<_> = (0..4)
        .map(|n| record_to(&format!("after-{n}"), n % 2))
        .collect();
    broker.produce(TOPIC, &after);
    got.extend(read_data(&mut sse, 4));
    got.sort();
    let mut expected: Vec<String> = (0..4)
        .flat_map(|n| [format!("before-{n}"), format!("after-{n}")])
        .collect();
    expected.sort();
    assert_eq!(got, expected, "every record once, across the restart");
}
on_both_drivers!(
    a_stream_survives_a_broker_restart,
    a_stream_survives_a_broker_restart
);

fn a_feed_follows_a_partition_whose_log_went_back(driver: DriverChoice) {
    // An in-memory broker loses its topics when it restarts: the recreated topic's offsets start
    // again at 0, behind the feed's position.
    let mut broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let gateway = gateway(&broker, driver);
    let addr = gateway.local_addr();
    let (_, mut sse) = open_sse(addr, "/k", &[]);
    let before: Vec<_> = (0..3)
        .map(|n| record_to(&format!("before-{n}"), 0))
        .collect();
    broker.produce(TOPIC, &before);
    assert_eq!(read_data(&mut sse, 3), ["before-0", "before-1", "before-2"]);

    broker.restart();
    broker.create_topic(TOPIC, 1);
    broker.produce(TOPIC, &[record_to("after-0", 0)]);
    assert_eq!(read_data(&mut sse, 1), ["after-0"]);
}
on_both_drivers!(
    a_feed_follows_a_partition_whose_log_went_back,
    a_feed_follows_a_partition_whose_log_went_back
);
