//! MQTT packets from the broker (`endpoint::mqtt::codec`), 3.1.1 and 5.
//!
//! Properties: any split of the stream gives the same packets and the same final error; "need
//! more bytes" consumes nothing (the next read must start where this one did); a packet over
//! `maxPacketBytes` is refused before it is buffered or allocated; every PUBLISH received,
//! encoded again by our encoder, decodes to itself; and a PUBLISH built from the input (topic,
//! QoS, retain, packet id, payload, MQTT 5 user properties) survives encode → decode.

use bytes::{Bytes, BytesMut};
use tidegate::config::MqttProtocol;
use tidegate::endpoint::mqtt::codec::{
    decode, encode_publish, CodecError, InboundPublish, Incoming, OutboundPublish,
};

use crate::alloc_guard;
use crate::input::{pieces, ByteReader, Split};

pub fn run(data: &[u8]) {
    let mut input = ByteReader::new(data);
    let flags = input.u8();
    let protocol = if flags & 1 == 0 {
        MqttProtocol::V311
    } else {
        MqttProtocol::V5
    };
    let max_packet_bytes = usize::from(input.u16() % 8192);
    let stream = input.rest();
    let whole = read(protocol, max_packet_bytes, stream, None);
    for split in [Split::ByteByByte, Split::Random] {
        let read = read(protocol, max_packet_bytes, stream, Some(split));
        assert_eq!(
            read, whole,
            "reading in pieces ({split:?}) changed the result"
        );
    }
    for packet in &whole.0 {
        if let Incoming::Publish(publish) = packet {
            assert!(publish.payload.len() <= max_packet_bytes);
            re_encode(protocol, publish);
        }
    }
    round_trip(protocol, stream);
}

/// The packets, and the error that ended the stream (if any).
#[derive(Debug, PartialEq)]
struct Read(Vec<Incoming>, Option<CodecError>);

/// `endpoint::mqtt::connection`'s read loop, minus the socket.
fn read(
    protocol: MqttProtocol,
    max_packet_bytes: usize,
    stream: &[u8],
    split: Option<Split>,
) -> Read {
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    let reads = match split {
        Some(split) => pieces(stream, split),
        None => vec![stream],
    };
    // A packet is split off the buffer, never copied or reserved ahead; its fields are at most
    // a few allocations of its own size.
    let bound = 4 * stream.len().min(max_packet_bytes + 5) + 1024;
    for piece in reads {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.clone();
            let decoded = alloc_guard::bounded("mqtt decode", bound, || {
                decode(protocol, &mut buf, max_packet_bytes)
            });
            match decoded {
                Ok(Some(packet)) => {
                    assert!(buf.len() < before.len(), "a packet consumed no bytes");
                    packets.push(packet);
                }
                Ok(None) => {
                    assert_eq!(buf, before, "'need more bytes' consumed bytes");
                    break;
                }
                Err(error) => return Read(packets, Some(error)),
            }
        }
    }
    Read(packets, None)
}

fn re_encode(protocol: MqttProtocol, publish: &InboundPublish) {
    if publish.qos > 1 || (publish.qos == 1) != (publish.pkid != 0) {
        return; // Our encoder sends QoS 0 and 1 only, with a packet id exactly for QoS 1.
    }
    let outbound = OutboundPublish {
        topic: &publish.topic,
        qos: publish.qos,
        retain: publish.retain,
        pkid: publish.pkid,
        payload: publish.payload.clone(),
        message_expiry_interval_s: None,
        user_properties: &publish.user_properties,
    };
    expect_round_trip(protocol, &outbound, publish);
}

/// A PUBLISH described by the input, through our encoder and decoder.
fn round_trip(protocol: MqttProtocol, data: &[u8]) {
    let mut input = ByteReader::new(data);
    let flags = input.u8();
    let qos = flags & 1;
    let topic_len = usize::from(input.u8() % 64);
    let topic = String::from_utf8_lossy(input.bytes(topic_len)).into_owned();
    let pkid = if qos == 1 { input.u16().max(1) } else { 0 };
    let user_properties: Vec<(String, String)> = match protocol {
        MqttProtocol::V5 => (0..input.u8() % 4)
            .map(|i| {
                (
                    format!("key{i}"),
                    String::from_utf8_lossy(input.bytes(8)).into_owned(),
                )
            })
            .collect(),
        MqttProtocol::V311 => Vec::new(),
    };
    let payload = Bytes::copy_from_slice(input.rest());
    let outbound = OutboundPublish {
        topic: &topic,
        qos,
        retain: flags & 2 != 0,
        pkid,
        payload: payload.clone(),
        message_expiry_interval_s: (flags & 4 != 0).then_some(60),
        user_properties: &user_properties,
    };
    let expected = InboundPublish {
        topic: topic.clone(),
        qos,
        retain: outbound.retain,
        pkid,
        payload,
        user_properties: user_properties.clone(),
    };
    expect_round_trip(protocol, &outbound, &expected);
}

fn expect_round_trip(
    protocol: MqttProtocol,
    outbound: &OutboundPublish<'_>,
    expected: &InboundPublish,
) {
    let mut wire = BytesMut::new();
    if encode_publish(protocol, outbound, &mut wire).is_err() {
        return;
    }
    let decoded = read(protocol, wire.len(), &wire, None);
    assert_eq!(
        decoded,
        Read(vec![Incoming::Publish(expected.clone())], None),
        "round trip"
    );
}
