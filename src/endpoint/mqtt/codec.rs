//! MQTT packets in and out, sans-IO: bytes → [`Incoming`], our values → bytes.
//!
//! The only module that sees `mqttbytes` (v4 = MQTT 3.1.1, v5 = MQTT 5). That crate is frozen
//! upstream, so everything it offers is reduced here to the few packets a gateway client needs;
//! replacing it touches this file alone. A known gap of the crate is patched here too: an MQTT 5
//! DISCONNECT without a reason code (remaining length 0) is valid but refused by its reader.

use bytes::{Bytes, BytesMut};
use mqttbytes::{v4, v5, QoS};

use crate::config::MqttProtocol;

/// A packet from the broker, reduced to what the client acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// The answer to CONNECT.
    ConnAck {
        /// The broker kept our last session (`cleanStart: false`): its subscriptions and the
        /// messages it queued for us are still there.
        session_present: bool,
        /// Why, when the broker said no.
        refused: Option<ConnectRefusal>,
    },
    /// A message for one of our subscriptions.
    Publish(InboundPublish),
    /// The broker took (or, MQTT 5, refused) one of our QoS 1 messages.
    PubAck {
        /// The packet id of the PUBLISH it answers.
        pkid: u16,
        /// MQTT 5: the reason code's name (and reason string) when the broker refused it.
        refused: Option<String>,
    },
    /// The answer to SUBSCRIBE.
    SubAck {
        /// The packet id of the SUBSCRIBE it answers.
        pkid: u16,
        /// Why, when the filter was not granted.
        refused: Option<String>,
    },
    /// The answer to UNSUBSCRIBE.
    UnsubAck {
        /// The packet id of the UNSUBSCRIBE it answers.
        pkid: u16,
    },
    /// The answer to PINGREQ.
    PingResp,
    /// MQTT 5: the broker closes the connection, saying why.
    Disconnect {
        /// The reason code's name (and reason string), for the log.
        reason: String,
    },
    /// A packet a QoS 0/1 client never expects (PUBREC, SUBSCRIBE, …): a protocol error.
    Unexpected(&'static str),
}

/// Why the broker refused our CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRefusal {
    /// About who we are: bad username or password, not authorized, banned, bad auth method.
    pub credentials: bool,
    /// The reason code's name (and MQTT 5 reason string), for the log.
    pub reason: String,
}

/// One message received from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundPublish {
    /// The topic it was published on (one subscribed filter may match many); clients see it
    /// in the message's metadata.
    pub topic: String,
    /// The QoS the broker sent it with: above 0 it waits for our PUBACK of `pkid`.
    pub qos: u8,
    /// Set when the broker sent it as a topic's retained message (replayed on SUBSCRIBE),
    /// not as it was published.
    pub retain: bool,
    /// Packet id to acknowledge (0 for QoS 0).
    pub pkid: u16,
    /// The message body, as the broker sent it (clients get these bytes unchanged).
    pub payload: Bytes,
    /// MQTT 5 user properties, in the order sent.
    pub user_properties: Vec<(String, String)>,
}

/// Why the broker's bytes cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// A packet over `maxPacketBytes`.
    #[error("the broker sent a packet of {size} bytes, over maxPacketBytes ({max})")]
    TooLarge {
        /// The packet's length, as its fixed header announced it.
        size: usize,
        /// `maxPacketBytes`.
        max: usize,
    },
    /// Bytes that are not MQTT.
    #[error("malformed MQTT packet from the broker: {0}")]
    Malformed(String),
    /// One of our own values cannot be encoded (e.g. a topic over 65535 bytes).
    #[error("cannot encode the MQTT packet: {0}")]
    Encode(String),
}

fn malformed(error: mqttbytes::Error) -> CodecError {
    CodecError::Malformed(format!("{error:?}"))
}

fn qos_of(level: u8) -> QoS {
    if level == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

/// Reads the next complete packet from `buf` (consuming it); `Ok(None)` = need more bytes.
pub fn decode(
    protocol: MqttProtocol,
    buf: &mut BytesMut,
    max_packet_bytes: usize,
) -> Result<Option<Incoming>, CodecError> {
    if protocol == MqttProtocol::V5 && buf.len() >= 2 && buf[0] == 0xE0 && buf[1] == 0 {
        let _ = buf.split_to(2);
        return Ok(Some(Incoming::Disconnect {
            reason: "normal disconnection".to_owned(),
        }));
    }
    let buffered_bytes = buf.len();
    let decoded = match protocol {
        MqttProtocol::V311 => v4::read(buf, max_packet_bytes).map(from_v4),
        MqttProtocol::V5 if buf.first().is_some_and(|byte| byte >> 4 == UNSUBSCRIBE) => {
            skip_packet(buf, max_packet_bytes)
                .map(|()| Incoming::Unexpected("a client-to-server packet"))
        }
        MqttProtocol::V5 => v5::read(buf, max_packet_bytes).map(from_v5),
    };
    match decoded {
        Ok(incoming) => Ok(Some(incoming)),
        // "Read more" only while the packet is not all here (nothing was consumed). The crate
        // says the same of a field that runs past the end of a whole packet it already took off
        // the buffer (an MQTT 5 property length cut short): that packet is malformed.
        Err(mqttbytes::Error::InsufficientBytes(_)) if buf.len() == buffered_bytes => Ok(None),
        Err(mqttbytes::Error::PayloadSizeLimitExceeded(size)) => Err(CodecError::TooLarge {
            size,
            max: max_packet_bytes,
        }),
        Err(error) => Err(malformed(error)),
    }
}

/// The UNSUBSCRIBE packet type. mqttbytes' MQTT 5 reader of it writes the packet id to stderr
/// (a stray `dbg!`); a broker never sends one, so it is framed and skipped, never read.
const UNSUBSCRIBE: u8 = 10;

/// Consumes the next whole packet unread (`InsufficientBytes` while it has not all arrived).
fn skip_packet(buf: &mut BytesMut, max_packet_bytes: usize) -> Result<(), mqttbytes::Error> {
    let header = mqttbytes::check(buf.iter(), max_packet_bytes)?;
    let _ = buf.split_to(header.frame_length());
    Ok(())
}

fn from_v4(packet: v4::Packet) -> Incoming {
    match packet {
        v4::Packet::ConnAck(ack) => Incoming::ConnAck {
            session_present: ack.session_present,
            refused: (ack.code != v4::ConnectReturnCode::Success).then(|| ConnectRefusal {
                credentials: matches!(
                    ack.code,
                    v4::ConnectReturnCode::BadUserNamePassword
                        | v4::ConnectReturnCode::NotAuthorized
                ),
                reason: format!("{:?}", ack.code),
            }),
        },
        v4::Packet::Publish(publish) => Incoming::Publish(InboundPublish {
            topic: publish.topic,
            qos: publish.qos as u8,
            retain: publish.retain,
            pkid: publish.pkid,
            payload: publish.payload,
            user_properties: Vec::new(),
        }),
        v4::Packet::PubAck(ack) => Incoming::PubAck {
            pkid: ack.pkid,
            refused: None,
        },
        v4::Packet::SubAck(ack) => Incoming::SubAck {
            pkid: ack.pkid,
            refused: ack
                .return_codes
                .iter()
                .find(|code| matches!(code, v4::SubscribeReasonCode::Failure))
                .map(|_| "the broker refused the subscription (SUBACK failure)".to_owned()),
        },
        v4::Packet::UnsubAck(ack) => Incoming::UnsubAck { pkid: ack.pkid },
        v4::Packet::PingResp => Incoming::PingResp,
        v4::Packet::Disconnect => Incoming::Unexpected("DISCONNECT"),
        v4::Packet::PubRec(_) | v4::Packet::PubRel(_) | v4::Packet::PubComp(_) => {
            Incoming::Unexpected("a QoS 2 packet")
        }
        v4::Packet::Connect(_)
        | v4::Packet::Subscribe(_)
        | v4::Packet::Unsubscribe(_)
        | v4::Packet::PingReq => Incoming::Unexpected("a client-to-server packet"),
    }
}

fn from_v5(packet: v5::Packet) -> Incoming {
    match packet {
        v5::Packet::ConnAck(ack) => Incoming::ConnAck {
            session_present: ack.session_present,
            refused: (ack.code != v5::ConnectReturnCode::Success).then(|| {
                use v5::ConnectReturnCode as Code;
                let credentials = matches!(
                    ack.code,
                    Code::BadUserNamePassword
                        | Code::NotAuthorized
                        | Code::Banned
                        | Code::BadAuthenticationMethod
                );
                let reason = ack.properties.and_then(|p| p.reason_string);
                ConnectRefusal {
                    credentials,
                    reason: with_reason(format!("{:?}", ack.code), reason),
                }
            }),
        },
        v5::Packet::Publish(publish) => Incoming::Publish(InboundPublish {
            topic: publish.topic,
            qos: publish.qos as u8,
            retain: publish.retain,
            pkid: publish.pkid,
            payload: publish.payload,
            user_properties: publish
                .properties
                .map(|p| p.user_properties)
                .unwrap_or_default(),
        }),
        v5::Packet::PubAck(ack) => Incoming::PubAck {
            pkid: ack.pkid,
            refused: (ack.reason as u8 >= 0x80).then(|| {
                let reason = ack.properties.and_then(|p| p.reason_string);
                with_reason(format!("{:?}", ack.reason), reason)
            }),
        },
        v5::Packet::SubAck(ack) => Incoming::SubAck {
            pkid: ack.pkid,
            refused: ack
                .return_codes
                .iter()
                .find(|code| **code as u8 >= 0x80)
                .map(|code| {
                    let reason = ack.properties.and_then(|p| p.reason_string);
                    with_reason(format!("{code:?}"), reason)
                }),
        },
        v5::Packet::UnsubAck(ack) => Incoming::UnsubAck { pkid: ack.pkid },
        v5::Packet::PingResp => Incoming::PingResp,
        v5::Packet::Disconnect(disconnect) => Incoming::Disconnect {
            reason: with_reason(
                format!("{:?}", disconnect.reason_code),
                disconnect.properties.and_then(|p| p.reason_string),
            ),
        },
        v5::Packet::PubRec(_) | v5::Packet::PubRel(_) | v5::Packet::PubComp(_) => {
            Incoming::Unexpected("a QoS 2 packet")
        }
        v5::Packet::Connect(_)
        | v5::Packet::Subscribe(_)
        | v5::Packet::Unsubscribe(_)
        | v5::Packet::PingReq => Incoming::Unexpected("a client-to-server packet"),
    }
}

fn with_reason(code: String, reason: Option<String>) -> String {
    match reason {
        Some(reason) => format!("{code}: {reason}"),
        None => code,
    }
}

/// What CONNECT says about us.
pub struct ConnectParams<'a> {
    /// Who the broker knows this connection as; one connection per id, so it differs by shard.
    pub client_id: &'a str,
    /// Longest silence, in seconds, before the broker counts us gone (we ping within it).
    pub keep_alive_s: u16,
    /// Asks for a new session (clean session in 3.1.1) instead of resuming the last one.
    pub clean_start: bool,
    /// MQTT 5 only.
    pub session_expiry_interval_s: u32,
    /// Login, when the broker wants one (`username`).
    pub username: Option<&'a str>,
    /// Sent with `username` only (an empty one when the configuration has none).
    pub password: Option<&'a str>,
    /// MQTT 5 only: announced so the broker never sends us more.
    pub max_packet_bytes: usize,
}

/// Appends CONNECT to `out`.
pub fn encode_connect(
    protocol: MqttProtocol,
    params: &ConnectParams<'_>,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    let login = params
        .username
        .map(|user| (user, params.password.unwrap_or("")));
    let written = match protocol {
        MqttProtocol::V311 => {
            let mut connect = v4::Connect::new(params.client_id);
            connect.keep_alive = params.keep_alive_s;
            connect.clean_session = params.clean_start;
            if let Some((user, password)) = login {
                connect.set_login(user, password);
            }
            connect.write(out)
        }
        MqttProtocol::V5 => {
            let mut connect = v5::Connect::new(params.client_id);
            connect.keep_alive = params.keep_alive_s;
            connect.clean_session = params.clean_start;
            if let Some((user, password)) = login {
                connect.set_login(user, password);
            }
            connect.properties = Some(v5::ConnectProperties {
                session_expiry_interval: Some(params.session_expiry_interval_s),
                receive_maximum: None,
                max_packet_size: Some(u32::try_from(params.max_packet_bytes).unwrap_or(u32::MAX)),
                topic_alias_max: None,
                request_response_info: None,
                request_problem_info: None,
                user_properties: Vec::new(),
                authentication_method: None,
                authentication_data: None,
            });
            connect.write(out)
        }
    };
    written
        .map(|_| ())
        .map_err(|e| CodecError::Encode(format!("{e:?}")))
}

/// Appends SUBSCRIBE for one filter.
pub fn encode_subscribe(
    protocol: MqttProtocol,
    pkid: u16,
    filter: &str,
    qos: u8,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    let written = match protocol {
        MqttProtocol::V311 => {
            let mut subscribe = v4::Subscribe::new(filter, qos_of(qos));
            subscribe.pkid = pkid;
            subscribe.write(out)
        }
        MqttProtocol::V5 => {
            let mut subscribe = v5::Subscribe::new(filter, qos_of(qos));
            subscribe.pkid = pkid;
            subscribe.write(out)
        }
    };
    written
        .map(|_| ())
        .map_err(|e| CodecError::Encode(format!("{e:?}")))
}

/// Appends UNSUBSCRIBE for one filter.
pub fn encode_unsubscribe(
    protocol: MqttProtocol,
    pkid: u16,
    filter: &str,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    let written = match protocol {
        MqttProtocol::V311 => {
            let mut unsubscribe = v4::Unsubscribe::new(filter);
            unsubscribe.pkid = pkid;
            unsubscribe.write(out)
        }
        MqttProtocol::V5 => {
            let mut unsubscribe = v5::Unsubscribe::new(filter);
            unsubscribe.pkid = pkid;
            unsubscribe.write(out)
        }
    };
    written
        .map(|_| ())
        .map_err(|e| CodecError::Encode(format!("{e:?}")))
}

/// One message to send.
pub struct OutboundPublish<'a> {
    /// The topic to publish on (a name, never a filter).
    pub topic: &'a str,
    /// 0 (fire and forget) or 1 (the broker answers with a PUBACK of `pkid`).
    pub qos: u8,
    /// Asks the broker to keep it as the topic's retained message for later subscribers.
    pub retain: bool,
    /// Required (non-zero) for QoS 1.
    pub pkid: u16,
    /// The message body, written as it is.
    pub payload: Bytes,
    /// MQTT 5 only.
    pub message_expiry_interval_s: Option<u32>,
    /// MQTT 5 only (dropped for 3.1.1, which has no properties).
    pub user_properties: &'a [(String, String)],
}

/// Appends PUBLISH.
pub fn encode_publish(
    protocol: MqttProtocol,
    publish: &OutboundPublish<'_>,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    let written = match protocol {
        MqttProtocol::V311 => {
            let mut packet = v4::Publish::from_bytes(
                publish.topic,
                qos_of(publish.qos),
                publish.payload.clone(),
            );
            packet.retain = publish.retain;
            packet.pkid = publish.pkid;
            packet.write(out)
        }
        MqttProtocol::V5 => {
            let mut packet = v5::Publish::from_bytes(
                publish.topic,
                qos_of(publish.qos),
                publish.payload.clone(),
            );
            packet.retain = publish.retain;
            packet.pkid = publish.pkid;
            if publish.message_expiry_interval_s.is_some() || !publish.user_properties.is_empty() {
                packet.properties = Some(v5::PublishProperties {
                    payload_format_indicator: None,
                    message_expiry_interval: publish.message_expiry_interval_s,
                    topic_alias: None,
                    response_topic: None,
                    correlation_data: None,
                    user_properties: publish.user_properties.to_vec(),
                    subscription_identifiers: Vec::new(),
                    content_type: None,
                });
            }
            packet.write(out)
        }
    };
    written
        .map(|_| ())
        .map_err(|e| CodecError::Encode(format!("{e:?}")))
}

/// Appends PUBACK (success).
pub fn encode_puback(protocol: MqttProtocol, pkid: u16, out: &mut BytesMut) {
    // PUBACK with success has the same four bytes in both versions.
    let _ = protocol;
    out.extend_from_slice(&[0x40, 0x02]);
    out.extend_from_slice(&pkid.to_be_bytes());
}

/// Appends PINGREQ.
pub fn encode_pingreq(out: &mut BytesMut) {
    out.extend_from_slice(&[0xC0, 0x00]);
}

/// Appends DISCONNECT (normal disconnection, also in MQTT 5).
pub fn encode_disconnect(out: &mut BytesMut) {
    out.extend_from_slice(&[0xE0, 0x00]);
}

#[cfg(test)]
mod tests;
