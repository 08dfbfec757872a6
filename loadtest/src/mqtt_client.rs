//! A direct MQTT 3.1.1 subscriber (`--sub mqtt`): the broker's own fan-out, measured with the
//! same stamps, loss and latency accounting as the gateway's subscribers. Only what a subscriber
//! needs: CONNECT (clean session, no keep-alive), one QoS 1 SUBSCRIBE, PUBLISH (acknowledged
//! with PUBACK at QoS 1), CONNACK and SUBACK checks.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Buf, BufMut, BytesMut};

use crate::engine::SessionError;
use crate::recorder::Recorder;
use crate::sequence::SeqTracker;

/// Largest packet accepted (ours are small).
const MAX_PACKET_BYTES: usize = 1 << 20;

/// Client ids must differ per connection: a broker closes the older of two equal ones.
static NEXT_CLIENT: AtomicU64 = AtomicU64::new(0);

/// Appends CONNECT and SUBSCRIBE (QoS 1) to `topic`.
pub fn put_connect_subscribe(out: &mut BytesMut, topic: &str) {
    let id = format!(
        "tidegate-load-{}-{}",
        std::process::id(),
        NEXT_CLIENT.fetch_add(1, Ordering::Relaxed)
    );
    let mut body = BytesMut::new();
    put_str(&mut body, "MQTT");
    body.put_u8(4); // protocol level 3.1.1
    body.put_u8(0x02); // clean session
    body.put_u16(0); // no keep-alive
    put_str(&mut body, &id);
    put_packet(out, 0x10, &body);
    let mut body = BytesMut::new();
    body.put_u16(1); // packet id
    put_str(&mut body, topic);
    body.put_u8(1); // QoS 1
    put_packet(out, 0x82, &body);
}

/// Handles every complete packet in `inbound`; returns true once the SUBACK granted the
/// subscription (the subscriber is then ready).
pub fn receive(
    trackers: &mut [SeqTracker],
    inbound: &mut BytesMut,
    out: &mut BytesMut,
    ctx: &mut Recorder,
) -> Result<bool, SessionError> {
    let mut ready = false;
    while let Some((header, body_at, len)) = packet_bounds(inbound)? {
        inbound.advance(body_at);
        let body = inbound.split_to(len);
        match header >> 4 {
            2 if body.get(1) != Some(&0) => {
                return Err(SessionError::Protocol(format!(
                    "CONNACK refused: {:?}",
                    body.get(1)
                )))
            }
            9 if body.get(2).is_some_and(|granted| *granted > 2) => {
                return Err(SessionError::Protocol(
                    "SUBACK refused the subscription".into(),
                ))
            }
            9 => ready = true,
            3 => {
                let qos = (header >> 1) & 3;
                let topic_len = usize::from(u16::from_be_bytes([
                    *body.first().unwrap_or(&0),
                    *body.get(1).unwrap_or(&0),
                ]));
                let mut at = 2 + topic_len;
                if qos > 0 {
                    let id = body.get(at..at + 2).ok_or_else(short)?;
                    out.put_slice(&[0x40, 2, id[0], id[1]]);
                    at += 2;
                }
                ctx.deliver(trackers, body.get(at..).ok_or_else(short)?);
            }
            _ => {}
        }
    }
    Ok(ready)
}

fn short() -> SessionError {
    SessionError::Protocol("PUBLISH shorter than its header".into())
}

/// `(first byte, where the body starts, body length)` of the first packet, when complete.
fn packet_bounds(inbound: &BytesMut) -> Result<Option<(u8, usize, usize)>, SessionError> {
    let Some(&header) = inbound.first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    for (i, byte) in inbound.iter().skip(1).take(4).enumerate() {
        len |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if len > MAX_PACKET_BYTES {
                return Err(SessionError::Protocol(format!("a {len}-byte packet")));
            }
            let body_at = i + 2;
            return Ok((inbound.len() >= body_at + len).then_some((header, body_at, len)));
        }
    }
    if inbound.len() > 5 {
        return Err(SessionError::Protocol("bad remaining length".into()));
    }
    Ok(None)
}

fn put_str(out: &mut BytesMut, text: &str) {
    out.put_u16(text.len() as u16);
    out.put_slice(text.as_bytes());
}

fn put_packet(out: &mut BytesMut, header: u8, body: &[u8]) {
    out.put_u8(header);
    let mut len = body.len();
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        if len == 0 {
            out.put_u8(byte);
            break;
        }
        out.put_u8(byte | 0x80);
    }
    out.put_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_bounds_read_the_remaining_length() {
        let mut buf = BytesMut::new();
        put_packet(&mut buf, 0x30, &[7u8; 200]);
        assert_eq!(packet_bounds(&buf).unwrap(), Some((0x30, 3, 200)));
        buf.truncate(100);
        assert_eq!(packet_bounds(&buf).unwrap(), None);
    }
}
