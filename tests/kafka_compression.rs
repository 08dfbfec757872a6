//! `producer.compressionType` against a real broker (tansu): the gateway sends each codec's
//! batches (read raw from the broker), their records reach an independent consumer
//! (confluent-kafka) intact, and the gateway's own feed decompresses them for its clients.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::time::Duration;

use common::*;
use kafka_broker::*;
use tidegate::config::DriverChoice;

fn every_compression_type_round_trips_through_the_broker(driver: DriverChoice) {
    let broker = Broker::start();
    for codec in ["gzip", "lz4", "snappy", "zstd"] {
        let topic = format!("compressed-{codec}");
        broker.create_topic(&topic, 1);
        let yaml = kafka_api_yaml(&broker.bootstrap(), &topic, "autoOffsetReset: earliest")
            .replace(
                "requestTimeoutMs: 3000",
                &format!("requestTimeoutMs: 3000\n          compressionType: {codec}"),
            );
        assert!(
            yaml.contains("compressionType"),
            "the producer is configured"
        );
        let gateway = start(test_config(&yaml, driver));
        let addr = gateway.local_addr();
        // Repetitive enough that every codec really compresses it.
        let value = format!("{codec}-").repeat(200);
        let posted = post(addr, "/k", &value, "X-Message-Key: k-1\r\n");
        assert_eq!(posted.status, 202, "{codec}: {}", posted.text());

        let records = broker.consume(&topic, 1);
        assert_eq!(records[0]["value"], value.as_str(), "{codec}");
        assert_eq!(records[0]["key"], "k-1", "{codec}");
        // A consumer decompresses whatever it gets: the batch header says what was sent.
        assert_eq!(
            kafka_batches::batch_codecs(broker.addr, &topic, 0),
            [kafka_batches::Codec::named(codec)],
            "{codec}: the batch the broker holds"
        );

        let mut contents = Vec::new();
        assert!(
            eventually(Duration::from_secs(30), || {
                let response = get(addr, "/k?limit=10", &[("Accept", "application/json")]);
                if response.status == 200 {
                    contents = response.json()["items"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|item| item["content"].as_str().map(str::to_owned))
                        .collect();
                }
                !contents.is_empty()
            }),
            "{codec}: the gateway's feed did not read the record"
        );
        assert_eq!(contents, [value], "{codec}");
        gateway.shutdown();
    }
}
on_both_drivers!(
    every_compression_type_round_trips_through_the_broker,
    every_compression_type_round_trips_through_the_broker
);
