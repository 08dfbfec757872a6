//! The client's state machine without a connection: packets in, state and bytes out.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::*;
use crate::config::{self, EndpointConfig};
use crate::cross_shard::mqtt_feed::MqttFeed;
use crate::endpoint::mqtt::codec::{ConnectRefusal, InboundPublish};
use crate::endpoint::mqtt::PublishAnswer;

/// The MQTT options of a one-API configuration (MQTT 5, consumer `a/#` at QoS 1, producer).
fn options() -> MqttOptions {
    let yaml = r#"
apis:
  - id: m
    name: M
    contextPaths: [/m]
    entrypoints:
      - type: http-post
      - type: sse
    endpoint:
      type: mqtt5
      configuration:
        serverHost: 127.0.0.1
        consumer: { topic: "a/#" }
        producer: { topic: a/b }
    plans:
      - name: Keyless
        security: keyless
"#;
    let config = config::load_str(yaml, "t.yaml").unwrap();
    match &config.apis[0].endpoint {
        EndpointConfig::Mqtt(options) => (**options).clone(),
        other => panic!("not MQTT: {other:?}"),
    }
}

fn client() -> MqttClient {
    MqttClient::new(
        options(),
        ClientParts {
            api_id: "m".to_owned(),
            shard: 3,
            metrics: Arc::new(ShardMetrics::default()),
            shutdown: Rc::new(LocalSignal::default()),
        },
    )
}

fn subscription(client: &MqttClient) -> Rc<ConsumerSub> {
    let consumer = client.options.consumer.as_ref().unwrap();
    let feed = Arc::new(MqttFeed::new("a/#", 100, 1 << 20, 1, 0, false));
    let sub = Rc::new(ConsumerSub::new(consumer, 1, feed, client.metrics.clone()));
    *client.consumer.borrow_mut() = Some(sub.clone());
    sub
}

/// A publish waiting for its PUBACK under `pkid`.
fn in_flight(client: &MqttClient, pkid: u16) -> Rc<AckSlot<PublishAnswer>> {
    let slot = Rc::new(AckSlot::default());
    client.in_flight.borrow_mut().insert(pkid, slot.clone());
    ShardMetrics::inc(&client.metrics.mqtt_publishes_in_flight);
    slot
}

/// The slot's answer, if it has one (polled once, without a runtime).
fn answer(slot: &AckSlot<PublishAnswer>) -> Option<PublishAnswer> {
    let mut wait = pin!(slot.wait());
    match wait.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(answer) => Some(answer),
        Poll::Pending => None,
    }
}

fn gauges(client: &MqttClient) -> [u64; 3] {
    let m = &client.metrics;
    [
        ShardMetrics::get(&m.mqtt_connections_reconnecting),
        ShardMetrics::get(&m.mqtt_connections_connected),
        ShardMetrics::get(&m.mqtt_connections_down),
    ]
}

#[test]
fn the_client_id_names_api_and_shard_unless_configured() {
    let generated = client();
    assert!(generated.client_id.starts_with("tidegate-m-3-"));
    let mut options = options();
    options.client_id = Some("fixed".to_owned());
    let fixed = MqttClient::new(
        options,
        ClientParts {
            api_id: "m".to_owned(),
            shard: 1,
            metrics: Arc::new(ShardMetrics::default()),
            shutdown: Rc::new(LocalSignal::default()),
        },
    );
    assert_eq!(fixed.client_id, "fixed-1");
}

#[test]
fn health_moves_keep_one_gauge_counted() {
    let client = client();
    assert_eq!(client.health(), Health::Idle);
    assert_eq!(gauges(&client), [0, 0, 0]);
    client.set_health(Health::Reconnecting);
    assert_eq!(gauges(&client), [1, 0, 0]);
    client.set_health(Health::Connected);
    assert_eq!(gauges(&client), [0, 1, 0]);
    client.set_health(Health::Connected);
    assert_eq!(gauges(&client), [0, 1, 0], "no double count");
    client.set_health(Health::Down);
    assert_eq!(gauges(&client), [0, 0, 1]);
    client.set_health(Health::Idle);
    assert_eq!(gauges(&client), [0, 0, 0]);
}

#[test]
fn packet_ids_skip_zero_and_those_in_use() {
    let client = client();
    client.next_pkid.set(u16::MAX);
    assert_eq!(client.allocate_pkid(), u16::MAX);
    // Wraps to 1, never 0; 1 and 2 are awaiting PUBACKs, 3 is a pending SUBSCRIBE.
    let _one = in_flight(&client, 1);
    let _two = in_flight(&client, 2);
    subscription(&client).state.set(SubState::Pending(3));
    assert_eq!(client.allocate_pkid(), 4);
    assert_eq!(client.allocate_pkid(), 5);
}

#[test]
fn connack_is_recorded_for_the_connection_task() {
    let client = client();
    let refused = Incoming::ConnAck {
        session_present: false,
        refused: Some(ConnectRefusal {
            credentials: true,
            reason: "NotAuthorized".to_owned(),
        }),
    };
    client.on_packet(refused).unwrap();
    let connack = client.connack.borrow_mut().take().unwrap();
    let failure = connack.unwrap_err();
    assert_eq!(failure.problem, BrokerProblem::CredentialsRefused);
    assert!(failure.detail.contains("NotAuthorized"), "{failure}");
    let accepted = Incoming::ConnAck {
        session_present: true,
        refused: None,
    };
    client.on_packet(accepted).unwrap();
    assert_eq!(client.connack.borrow_mut().take(), Some(Ok(true)));
}

#[test]
fn pubacks_answer_their_publish_and_free_its_place() {
    let client = client();
    let acked = in_flight(&client, 7);
    let refused = in_flight(&client, 8);
    let refusal = Some("QuotaExceeded".to_owned());
    let unknown = Incoming::PubAck {
        pkid: 9,
        refused: None,
    };
    client.on_packet(unknown).unwrap();
    assert_eq!(
        ShardMetrics::get(&client.metrics.mqtt_publishes_in_flight),
        2
    );
    assert!(answer(&acked).is_none());

    client
        .on_packet(Incoming::PubAck {
            pkid: 7,
            refused: None,
        })
        .unwrap();
    client
        .on_packet(Incoming::PubAck {
            pkid: 8,
            refused: refusal,
        })
        .unwrap();
    assert!(matches!(answer(&acked), Some(PublishAnswer::Acked)));
    assert!(matches!(answer(&refused), Some(PublishAnswer::Refused(r)) if r == "QuotaExceeded"));
    assert!(client.in_flight.borrow().is_empty());
    assert_eq!(
        ShardMetrics::get(&client.metrics.mqtt_publishes_in_flight),
        0
    );
}

#[test]
fn a_lost_connection_answers_every_publish_in_flight() {
    let client = client();
    let slots = [in_flight(&client, 1), in_flight(&client, 2)];
    client.fail_in_flight("the broker closed the connection");
    for slot in &slots {
        assert!(matches!(answer(slot), Some(PublishAnswer::Lost(why)) if why.contains("closed")));
    }
    assert_eq!(
        ShardMetrics::get(&client.metrics.mqtt_publishes_in_flight),
        0
    );
}

#[test]
fn subscribe_waits_for_a_connection_and_suback_settles_it() {
    let client = client();
    let sub = subscription(&client);
    client.send_subscribe(&sub);
    assert_eq!(sub.state.get(), SubState::Wanted, "not connected yet");
    assert!(client.out.borrow().is_empty());

    client.set_health(Health::Connected);
    client.send_subscribe(&sub);
    let SubState::Pending(pkid) = sub.state.get() else {
        panic!("SUBSCRIBE not sent: {:?}", sub.state.get());
    };
    assert!(!client.out.borrow().is_empty(), "SUBSCRIBE bytes queued");
    // A SUBACK for another packet id changes nothing.
    let other = Incoming::SubAck {
        pkid: pkid.wrapping_add(1),
        refused: None,
    };
    client.on_packet(other).unwrap();
    assert_eq!(sub.state.get(), SubState::Pending(pkid));
    let refused = Incoming::SubAck {
        pkid,
        refused: Some("NotAuthorized".to_owned()),
    };
    client.on_packet(refused).unwrap();
    assert_eq!(sub.state.get(), SubState::Refused);
}

#[test]
fn unsubscribing_while_disconnected_is_remembered_for_the_next_connection() {
    let client = client();
    let sub = subscription(&client);
    ShardMetrics::inc(&client.metrics.mqtt_subscriptions_active);
    client.unsubscribe(&sub);
    assert!(client.consumer.borrow().is_none());
    assert_eq!(*client.stale_filters.borrow(), ["a/#"]);
    assert_eq!(
        ShardMetrics::get(&client.metrics.mqtt_subscriptions_active),
        0
    );
    // A subscription that is no longer the current one is left alone.
    client.unsubscribe(&sub);
    assert_eq!(client.stale_filters.borrow().len(), 1);
}

#[test]
fn qos1_messages_are_acknowledged_once_in_the_ring() {
    let client = client();
    let _sub = subscription(&client);
    let publish = InboundPublish {
        topic: "a/b".to_owned(),
        qos: 1,
        retain: false,
        pkid: 42,
        payload: bytes::Bytes::from_static(b"hi"),
        user_properties: Vec::new(),
    };
    client
        .on_packet(Incoming::Publish(publish.clone()))
        .unwrap();
    assert!(
        client.out.borrow().is_empty(),
        "kept until the read is handled"
    );
    client.flush_received();
    assert_eq!(
        ShardMetrics::get(&client.metrics.mqtt_messages_received_total),
        1
    );
    assert_eq!(&client.out.borrow()[..], &[0x40, 0x02, 0, 42], "PUBACK 42");
    client.out.borrow_mut().clear();

    // The PUBLISHes of one read go in as one batch, acknowledged in order; any other packet
    // flushes those before it first.
    for pkid in [7, 8, 9] {
        let publish = InboundPublish {
            pkid,
            ..publish.clone()
        };
        client.on_packet(Incoming::Publish(publish)).unwrap();
    }
    client.on_packet(Incoming::PingResp).unwrap();
    assert_eq!(
        ShardMetrics::get(&client.metrics.mqtt_receive_batches_total),
        2
    );
    assert_eq!(
        &client.out.borrow()[..],
        &[0x40, 0x02, 0, 7, 0x40, 0x02, 0, 8, 0x40, 0x02, 0, 9]
    );
}

#[test]
fn an_oversized_publish_is_acknowledged_and_counted_dropped() {
    let client = client();
    client.on_oversized_publish(OversizedPublish {
        qos: 0,
        pkid: 0,
        size: 1 << 21,
    });
    assert!(client.out.borrow().is_empty(), "QoS 0: nothing to answer");
    client.on_oversized_publish(OversizedPublish {
        qos: 1,
        pkid: 5,
        size: 1 << 21,
    });
    assert_eq!(&client.out.borrow()[..], &[0x40, 0x02, 0, 5]);
    assert_eq!(
        ShardMetrics::get(&client.metrics.mqtt_messages_dropped_total),
        2
    );
}

#[test]
fn a_broker_disconnect_or_unexpected_packet_ends_the_connection() {
    let client = client();
    let why = client
        .on_packet(Incoming::Disconnect {
            reason: "server shutting down".to_owned(),
        })
        .unwrap_err();
    assert!(why.contains("server shutting down"), "{why}");
    let why = client
        .on_packet(Incoming::Unexpected("a QoS 2 packet"))
        .unwrap_err();
    assert!(why.contains("QoS 2"), "{why}");
}
