//! The broker's bytes → what the client acts on, sans-IO: packets as `codec::decode` reads them,
//! except a PUBLISH over `maxPacketBytes`, which is skipped instead of ending the connection.
//!
//! Why skip: an MQTT 3.1.1 broker cannot be told the limit (MQTT 5 brokers are, in CONNECT, and
//! drop such messages themselves). Ending the connection does not help: a QoS 1 message of a
//! persistent session is sent again on the next connection, so the endpoint would reconnect
//! forever and deliver nothing. Skipping reads only the packet's head (fixed header, topic,
//! packet id) and discards the rest as it arrives, never buffering it; the client acknowledges
//! it and counts it dropped, as it does for a message too large for the retention ring.

use bytes::{Buf, BytesMut};

use super::codec::{self, CodecError, Incoming};
use crate::config::MqttProtocol;

/// What the next bytes held.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Inbound {
    Packet(Incoming),
    /// A PUBLISH over `maxPacketBytes`, skipped whole.
    Skipped(OversizedPublish),
}

/// A PUBLISH too large to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OversizedPublish {
    /// Its QoS: above 0 it is acknowledged all the same, or the broker would send it again on
    /// every connection.
    pub qos: u8,
    /// Packet id to acknowledge (0 for QoS 0).
    pub pkid: u16,
    /// The whole packet's length in bytes.
    pub size: usize,
}

/// Reads packets from one connection's bytes.
pub(super) struct InboundReader {
    protocol: MqttProtocol,
    max_packet_bytes: usize,
    /// The PUBLISH being skipped and how many of its bytes are still to come.
    skipping: Option<(OversizedPublish, usize)>,
}

impl InboundReader {
    pub(super) fn new(protocol: MqttProtocol, max_packet_bytes: usize) -> InboundReader {
        InboundReader {
            protocol,
            max_packet_bytes,
            skipping: None,
        }
    }

    /// The next packet or skipped PUBLISH in `buf` (consumed from it); `Ok(None)` = need more
    /// bytes.
    pub(super) fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        if let Some((publish, left)) = &mut self.skipping {
            let discarded = (*left).min(buf.len());
            buf.advance(discarded);
            *left -= discarded;
            if *left > 0 {
                return Ok(None);
            }
            let publish = *publish;
            self.skipping = None;
            return Ok(Some(Inbound::Skipped(publish)));
        }
        match codec::decode(self.protocol, buf, self.max_packet_bytes) {
            Ok(packet) => Ok(packet.map(Inbound::Packet)),
            Err(too_large @ CodecError::TooLarge { .. }) => match publish_head(buf) {
                Head::Publish(publish, head_len) => {
                    buf.advance(head_len);
                    self.skipping = Some((publish, publish.size - head_len));
                    self.next(buf)
                }
                Head::Incomplete => Ok(None),
                Head::Other => Err(too_large),
            },
            Err(error) => Err(error),
        }
    }
}

/// What the start of an oversized packet is.
enum Head {
    /// A PUBLISH, and how many bytes of it were read to learn that (its head).
    Publish(OversizedPublish, usize),
    /// Not enough bytes yet to tell.
    Incomplete,
    /// Any other packet: too large to be anything the gateway can skip safely.
    Other,
}

/// Reads a PUBLISH's fixed header, topic and packet id (laid out alike in 3.1.1 and 5).
fn publish_head(buf: &[u8]) -> Head {
    let Some(&first) = buf.first() else {
        return Head::Incomplete;
    };
    if first >> 4 != 3 {
        return Head::Other;
    }
    let qos = (first >> 1) & 0b11;
    // Remaining length: up to four bytes, seven bits each, least significant first.
    let mut remaining = 0usize;
    let mut at = 1;
    loop {
        let Some(&byte) = buf.get(at) else {
            return Head::Incomplete;
        };
        remaining |= usize::from(byte & 0x7F) << (7 * (at - 1));
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if at > 4 {
            return Head::Other;
        }
    }
    let size = at + remaining;
    let Some(topic_len) = buf.get(at..at + 2) else {
        return Head::Incomplete;
    };
    let topic_end = at + 2 + usize::from(u16::from_be_bytes([topic_len[0], topic_len[1]]));
    let head_len = if qos > 0 { topic_end + 2 } else { topic_end };
    if qos > 1 || head_len > size {
        return Head::Other;
    }
    if buf.len() < head_len {
        return Head::Incomplete;
    }
    let pkid = if qos > 0 {
        u16::from_be_bytes([buf[topic_end], buf[topic_end + 1]])
    } else {
        0
    };
    Head::Publish(OversizedPublish { qos, pkid, size }, head_len)
}

#[cfg(test)]
#[path = "inbound/tests.rs"]
mod tests;
