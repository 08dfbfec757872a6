use super::*;

fn publish(topic: &str, pkid: u16, props: &[(String, String)]) -> OutboundPublish<'static> {
    OutboundPublish {
        topic: Box::leak(topic.to_owned().into_boxed_str()),
        qos: 1,
        retain: true,
        pkid,
        payload: Bytes::from_static(b"hello"),
        message_expiry_interval_s: Some(60),
        user_properties: Box::leak(props.to_vec().into_boxed_slice()),
    }
}

#[test]
fn publish_round_trips_in_both_versions() {
    let props = vec![("k".to_owned(), "v".to_owned())];
    for protocol in [MqttProtocol::V311, MqttProtocol::V5] {
        let mut buf = BytesMut::new();
        encode_publish(protocol, &publish("a/b", 7, &props), &mut buf).unwrap();
        let decoded = decode(protocol, &mut buf, 1024).unwrap().unwrap();
        let expected_props = if protocol == MqttProtocol::V5 {
            props.clone()
        } else {
            Vec::new()
        };
        assert_eq!(
            decoded,
            Incoming::Publish(InboundPublish {
                topic: "a/b".to_owned(),
                qos: 1,
                retain: true,
                pkid: 7,
                payload: Bytes::from_static(b"hello"),
                user_properties: expected_props,
            })
        );
        assert!(buf.is_empty());
    }
}

#[test]
fn partial_packets_wait_for_more_bytes() {
    let mut whole = BytesMut::new();
    encode_publish(MqttProtocol::V5, &publish("t", 1, &[]), &mut whole).unwrap();
    for cut in 0..whole.len() {
        let mut part = BytesMut::from(&whole[..cut]);
        assert_eq!(
            decode(MqttProtocol::V5, &mut part, 1024),
            Ok(None),
            "cut at {cut}"
        );
        assert_eq!(part.len(), cut, "nothing consumed");
    }
}

#[test]
fn oversized_packets_are_refused_before_they_arrive() {
    let mut buf = BytesMut::new();
    encode_publish(MqttProtocol::V311, &publish("t", 1, &[]), &mut buf).unwrap();
    let mut head = BytesMut::from(&buf[..2]);
    assert!(matches!(
        decode(MqttProtocol::V311, &mut head, 4),
        Err(CodecError::TooLarge { max: 4, .. })
    ));
}

#[test]
fn connack_puback_suback_are_understood() {
    // CONNACK v3.1.1: session present, accepted.
    let mut buf = BytesMut::from(&[0x20, 0x02, 0x01, 0x00][..]);
    assert_eq!(
        decode(MqttProtocol::V311, &mut buf, 64),
        Ok(Some(Incoming::ConnAck {
            session_present: true,
            refused: None
        }))
    );
    // CONNACK v3.1.1: bad user name or password.
    let mut buf = BytesMut::from(&[0x20, 0x02, 0x00, 0x04][..]);
    assert!(matches!(
        decode(MqttProtocol::V311, &mut buf, 64),
        Ok(Some(Incoming::ConnAck {
            refused: Some(_),
            ..
        }))
    ));
    // PUBACK v5 with "no matching subscribers" (0x10) is a success.
    let mut buf = BytesMut::from(&[0x40, 0x03, 0x00, 0x05, 0x10][..]);
    assert_eq!(
        decode(MqttProtocol::V5, &mut buf, 64),
        Ok(Some(Incoming::PubAck {
            pkid: 5,
            refused: None
        }))
    );
    // PUBACK v5 "not authorized" (0x87) is a refusal.
    let mut buf = BytesMut::from(&[0x40, 0x03, 0x00, 0x05, 0x87][..]);
    assert!(matches!(
        decode(MqttProtocol::V5, &mut buf, 64),
        Ok(Some(Incoming::PubAck {
            pkid: 5,
            refused: Some(_)
        }))
    ));
    // SUBACK v3.1.1 failure (0x80).
    let mut buf = BytesMut::from(&[0x90, 0x03, 0x00, 0x09, 0x80][..]);
    assert!(matches!(
        decode(MqttProtocol::V311, &mut buf, 64),
        Ok(Some(Incoming::SubAck {
            pkid: 9,
            refused: Some(_)
        }))
    ));
}

#[test]
fn bare_v5_disconnect_is_read() {
    let mut buf = BytesMut::from(&[0xE0, 0x00, 0xD0][..]);
    assert!(matches!(
        decode(MqttProtocol::V5, &mut buf, 64),
        Ok(Some(Incoming::Disconnect { .. }))
    ));
    assert_eq!(&buf[..], &[0xD0]);
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let mut buf = BytesMut::from(&[0x00, 0x02, 0x00, 0x00][..]);
    assert!(matches!(
        decode(MqttProtocol::V5, &mut buf, 64),
        Err(CodecError::Malformed(_))
    ));
}

#[test]
fn a_field_running_past_a_whole_packet_is_malformed_not_need_more() {
    // MQTT 5 CONNACK and PUBLISH whose property length promises a byte the packet lacks.
    for packet in [
        &[0x20, 0x03, 0x00, 0x00, 0x80][..],
        &[0x30, 0x04, 0x00, 0x01, b't', 0x80],
    ] {
        let mut buf = BytesMut::from(packet);
        assert!(matches!(
            decode(MqttProtocol::V5, &mut buf, 1024),
            Err(CodecError::Malformed(_))
        ));
    }
    // A packet that has not all arrived still waits, and consumes nothing.
    let mut buf = BytesMut::from(&[0x30, 0x04, 0x00, 0x01][..]);
    assert_eq!(decode(MqttProtocol::V5, &mut buf, 1024), Ok(None));
    assert_eq!(buf.len(), 4);
}

#[test]
fn a_v5_unsubscribe_from_the_broker_is_skipped_unread() {
    let mut buf = BytesMut::from(&[0xa2, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, b't', 0xd0][..]);
    assert_eq!(
        decode(MqttProtocol::V5, &mut buf, 1024),
        Ok(Some(Incoming::Unexpected("a client-to-server packet")))
    );
    assert_eq!(&buf[..], &[0xd0]);
    let mut partial = BytesMut::from(&[0xa2, 0x06, 0x00][..]);
    assert_eq!(decode(MqttProtocol::V5, &mut partial, 1024), Ok(None));
    assert_eq!(partial.len(), 3);
}

#[test]
fn puback_and_control_packets_have_fixed_bytes() {
    let mut buf = BytesMut::new();
    encode_puback(MqttProtocol::V5, 0x0102, &mut buf);
    encode_pingreq(&mut buf);
    encode_disconnect(&mut buf);
    assert_eq!(&buf[..], &[0x40, 0x02, 0x01, 0x02, 0xC0, 0x00, 0xE0, 0x00]);
}

#[test]
fn connect_and_subscribe_encode() {
    for protocol in [MqttProtocol::V311, MqttProtocol::V5] {
        let mut buf = BytesMut::new();
        let params = ConnectParams {
            client_id: "c",
            keep_alive_s: 30,
            clean_start: false,
            session_expiry_interval_s: 60,
            username: Some("u"),
            password: Some("p"),
            max_packet_bytes: 1024,
        };
        encode_connect(protocol, &params, &mut buf).unwrap();
        assert_eq!(buf[0], 0x10);
        let level = if protocol == MqttProtocol::V5 { 5 } else { 4 };
        assert_eq!(buf[8], level, "protocol level");
        assert_eq!(buf[9] & 0xC2, 0xC0, "user name + password, no clean start");
        buf.clear();
        encode_subscribe(protocol, 3, "a/#", 1, &mut buf).unwrap();
        assert_eq!(buf[0], 0x82);
        buf.clear();
        encode_unsubscribe(protocol, 4, "a/#", &mut buf).unwrap();
        assert_eq!(buf[0], 0xA2);
    }
}
