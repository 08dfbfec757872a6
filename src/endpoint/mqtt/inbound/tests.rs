use bytes::{Bytes, BytesMut};

use super::*;
use crate::endpoint::mqtt::codec::{encode_puback, encode_publish, OutboundPublish};

const MAX: usize = 1024;

fn publish_bytes(protocol: MqttProtocol, qos: u8, pkid: u16, payload_len: usize) -> BytesMut {
    let mut out = BytesMut::new();
    let packet = OutboundPublish {
        topic: "big/topic",
        qos,
        retain: false,
        pkid,
        payload: Bytes::from(vec![b'x'; payload_len]),
        message_expiry_interval_s: None,
        user_properties: &[],
    };
    encode_publish(protocol, &packet, &mut out).unwrap();
    out
}

/// Feeds `bytes` in `chunk`-sized pieces and collects what the reader returns; checks that no
/// more than one chunk plus a packet head is ever buffered while skipping.
fn read_in_chunks(reader: &mut InboundReader, bytes: &[u8], chunk: usize) -> Vec<Inbound> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(event) = reader.next(&mut buf).unwrap() {
            out.push(event);
        }
        assert!(buf.len() < chunk + 64, "{} bytes buffered", buf.len());
    }
    assert!(buf.is_empty(), "{} bytes left", buf.len());
    out
}

#[test]
fn an_oversized_publish_is_skipped_in_pieces_and_the_next_packet_is_read() {
    for protocol in [MqttProtocol::V311, MqttProtocol::V5] {
        for (qos, pkid) in [(0, 0), (1, 7)] {
            let big = publish_bytes(protocol, qos, pkid, 10 * MAX);
            let small = publish_bytes(protocol, 1, 8, 10);
            let mut bytes = big.to_vec();
            bytes.extend_from_slice(&small);
            for chunk in [1, 3, 100, 4096] {
                let mut reader = InboundReader::new(protocol, MAX);
                let events = read_in_chunks(&mut reader, &bytes, chunk);
                assert_eq!(events.len(), 2, "{protocol:?} qos {qos} chunk {chunk}");
                assert_eq!(
                    events[0],
                    Inbound::Skipped(OversizedPublish {
                        qos,
                        pkid,
                        size: big.len()
                    })
                );
                match &events[1] {
                    Inbound::Packet(Incoming::Publish(publish)) => {
                        assert_eq!((publish.pkid, publish.payload.len()), (8, 10));
                    }
                    other => panic!("expected the small publish, got {other:?}"),
                }
            }
        }
    }
}

#[test]
fn packets_within_the_limit_are_read_as_before() {
    let mut reader = InboundReader::new(MqttProtocol::V5, MAX);
    let mut buf = publish_bytes(MqttProtocol::V5, 1, 3, MAX / 2);
    assert!(matches!(
        reader.next(&mut buf).unwrap(),
        Some(Inbound::Packet(Incoming::Publish(_)))
    ));
    assert_eq!(reader.next(&mut buf).unwrap(), None);
}

#[test]
fn an_oversized_packet_that_is_not_a_publish_is_an_error() {
    let mut reader = InboundReader::new(MqttProtocol::V311, MAX);
    // SUBACK (0x90) claiming 16 KiB.
    let mut buf = BytesMut::from(&[0x90, 0x80, 0x80, 0x01, 0, 1][..]);
    assert!(matches!(
        reader.next(&mut buf),
        Err(CodecError::TooLarge { .. })
    ));
    // A PUBACK is small and never skipped.
    let mut buf = BytesMut::new();
    encode_puback(MqttProtocol::V311, 9, &mut buf);
    assert_eq!(
        reader.next(&mut buf).unwrap(),
        Some(Inbound::Packet(Incoming::PubAck {
            pkid: 9,
            refused: None
        }))
    );
}

#[test]
fn a_head_claiming_more_than_its_packet_holds_is_an_error() {
    let mut reader = InboundReader::new(MqttProtocol::V311, 4);
    // PUBLISH QoS 1 of 6 bytes whose topic length says 300.
    let mut buf = BytesMut::from(&[0x32, 0x06, 0x01, 0x2C, b'a', b'b', 0, 1][..]);
    assert!(matches!(
        reader.next(&mut buf),
        Err(CodecError::TooLarge { .. })
    ));
}
