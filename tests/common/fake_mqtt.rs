//! A scripted MQTT 5 broker for the paths a real broker does not take on demand: PUBACKs that
//! never come or refuse, PINGREQs left unanswered, CONNECTs refused, and bytes of the test's
//! choosing (malformed packets, packets a broker must never send) after the SUBACK. It accepts
//! on a free loopback port, answers as its `Script` says, and records what the gateway sent.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use mqttbytes::v5::{
    read, ConnAck, ConnAckProperties, ConnectReturnCode, Packet, PingResp, PubAck, PubAckReason,
    SubAck, SubscribeReasonCode, UnsubAck,
};
use mqttbytes::QoS;

/// The bytes to send right after the SUBACK on the connection accepted `n`-th (from 0).
pub type AfterSuback = Arc<dyn Fn(usize) -> Vec<u8> + Send + Sync>;

/// How the broker answers.
#[derive(Clone)]
pub struct Script {
    /// The CONNACK code; anything but `Success` also closes the connection.
    pub connack: ConnectReturnCode,
    pub puback: PubAckMode,
    pub answer_pings: bool,
    pub after_suback: Option<AfterSuback>,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            connack: ConnectReturnCode::Success,
            puback: PubAckMode::Ack,
            answer_pings: true,
            after_suback: None,
        }
    }
}

impl Script {
    /// Answers as a well-behaved broker, and after the SUBACK on the connection accepted
    /// `n`-th sends `bytes(n)`.
    pub fn sending_after_suback(
        bytes: impl Fn(usize) -> Vec<u8> + Send + Sync + 'static,
    ) -> Script {
        Script {
            after_suback: Some(Arc::new(bytes)),
            ..Script::default()
        }
    }
}

/// What a QoS 1 PUBLISH from the gateway gets.
#[derive(Clone, Copy, Debug)]
pub enum PubAckMode {
    Ack,
    /// No PUBACK until `ack_held` sends them.
    Hold,
    /// A PUBACK with this (error) reason code.
    Refuse(PubAckReason),
}

/// One CONNECT as the broker read it.
#[derive(Clone, Debug)]
pub struct ConnectSeen {
    pub client_id: String,
    pub keep_alive_s: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub max_packet_size: Option<u32>,
}

/// What the gateway sent so far.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub connects: Vec<ConnectSeen>,
    pub publishes: usize,
    /// Packet ids of the PUBACKs the gateway sent, in order.
    pub pubacks: Vec<u16>,
    pub pingreqs: usize,
    pub subscribes: usize,
    /// Connections accepted.
    pub accepted: usize,
    /// Connections that ended (closed by the gateway, or by the broker as scripted).
    pub closed: usize,
    /// Why packets could not be read (the connection was then closed).
    pub malformed: Vec<String>,
}

#[derive(Default)]
struct Shared {
    script: Script,
    seen: Seen,
    /// Open connections (to answer from outside and to close on drop).
    streams: Vec<TcpStream>,
    /// Packet ids of held QoS 1 publishes, with the connection they came on.
    held: Vec<(usize, u16)>,
}

/// A running scripted broker; stops (and closes its connections) on drop.
pub struct FakeBroker {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
}

impl FakeBroker {
    pub fn start(script: Script) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared {
            script,
            ..Shared::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (accepting, stopping) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let index = {
                    let mut shared = accepting.lock().unwrap();
                    shared.streams.push(stream.try_clone().unwrap());
                    shared.seen.accepted += 1;
                    shared.streams.len() - 1
                };
                let shared = accepting.clone();
                std::thread::spawn(move || {
                    serve(stream, index, &shared);
                    shared.lock().unwrap().seen.closed += 1;
                });
            }
        });
        FakeBroker { port, shared, stop }
    }

    /// What the gateway sent so far.
    pub fn seen(&self) -> Seen {
        self.shared.lock().unwrap().seen.clone()
    }

    /// Answers from now on as `script` says.
    pub fn set_script(&self, script: Script) {
        self.shared.lock().unwrap().script = script;
    }

    /// Sends the PUBACKs held so far.
    pub fn ack_held(&self) {
        let mut shared = self.shared.lock().unwrap();
        for (index, pkid) in std::mem::take(&mut shared.held) {
            let mut out = BytesMut::new();
            PubAck::new(pkid).write(&mut out).unwrap();
            let _ = shared.streams[index].write_all(&out);
        }
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for stream in &self.shared.lock().unwrap().streams {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Wakes the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads packets from one connection and answers them until it closes.
fn serve(mut stream: TcpStream, index: usize, shared: &Mutex<Shared>) {
    let mut buf = BytesMut::new();
    let mut chunk = [0; 16 * 1024];
    loop {
        // A DISCONNECT without a reason (normal disconnection) is two bytes that mqttbytes
        // does not read as a packet.
        if buf.starts_with(&[0xE0, 0x00]) {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        let packet = match read(&mut buf, 16 * 1024 * 1024) {
            Ok(packet) => packet,
            Err(mqttbytes::Error::InsufficientBytes(_)) => match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    continue;
                }
            },
            Err(error) => {
                let mut shared = shared.lock().unwrap();
                shared.seen.malformed.push(format!("{error:?}"));
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        };
        let mut out = BytesMut::new();
        let mut close = false;
        {
            let mut shared = shared.lock().unwrap();
            let script = shared.script.clone();
            match packet {
                Packet::Connect(connect) => {
                    shared.seen.connects.push(ConnectSeen {
                        client_id: connect.client_id.clone(),
                        keep_alive_s: connect.keep_alive,
                        username: connect.login.as_ref().map(|l| l.username.clone()),
                        password: connect.login.as_ref().map(|l| l.password.clone()),
                        max_packet_size: connect.properties.and_then(|p| p.max_packet_size),
                    });
                    // MQTT 5 requires the properties' length, even when it is 0.
                    ConnAck {
                        properties: Some(ConnAckProperties::new()),
                        ..ConnAck::new(script.connack, false)
                    }
                    .write(&mut out)
                    .unwrap();
                    close = script.connack != ConnectReturnCode::Success;
                }
                Packet::Subscribe(subscribe) => {
                    shared.seen.subscribes += 1;
                    let codes = subscribe
                        .filters
                        .iter()
                        .map(|filter| match filter.qos {
                            QoS::AtMostOnce => SubscribeReasonCode::QoS0,
                            QoS::AtLeastOnce => SubscribeReasonCode::QoS1,
                            QoS::ExactlyOnce => SubscribeReasonCode::QoS2,
                        })
                        .collect();
                    SubAck::new(subscribe.pkid, codes).write(&mut out).unwrap();
                    if let Some(bytes) = &script.after_suback {
                        out.extend_from_slice(&bytes(index));
                    }
                }
                Packet::Unsubscribe(unsubscribe) => {
                    UnsubAck::new(unsubscribe.pkid).write(&mut out).unwrap();
                }
                Packet::Publish(publish) => {
                    shared.seen.publishes += 1;
                    if publish.pkid != 0 {
                        match script.puback {
                            PubAckMode::Ack => PubAck::new(publish.pkid).write(&mut out).unwrap(),
                            PubAckMode::Hold => {
                                shared.held.push((index, publish.pkid));
                                0
                            }
                            PubAckMode::Refuse(reason) => PubAck {
                                pkid: publish.pkid,
                                reason,
                                properties: None,
                            }
                            .write(&mut out)
                            .unwrap(),
                        };
                    }
                }
                Packet::PingReq => {
                    shared.seen.pingreqs += 1;
                    if script.answer_pings {
                        PingResp.write(&mut out).unwrap();
                    }
                }
                Packet::PubAck(ack) => shared.seen.pubacks.push(ack.pkid),
                Packet::Disconnect(_) => close = true,
                _ => {}
            }
            // Written under the lock, so that `ack_held` never interleaves with an answer.
            if stream.write_all(&out).is_err() {
                close = true;
            }
        }
        if close {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}
