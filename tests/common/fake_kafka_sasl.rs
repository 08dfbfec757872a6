//! A Kafka listener that speaks only the start of a connection (ApiVersions, SaslHandshake,
//! SaslAuthenticate, with the `kafka-protocol` crate's wire forms) and records the SASL
//! exchange: for mechanisms a test broker does not check (tansu accepts any PLAIN password and
//! refuses PLAIN from real clients). It accepts one user's PLAIN credentials, refuses others
//! with SASL_AUTHENTICATION_FAILED, and closes the connection at the first other request.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Kafka's SASL_AUTHENTICATION_FAILED.
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// What the listener saw: the mechanisms asked for and the PLAIN messages sent.
#[derive(Clone, Default)]
pub struct SaslSeen {
    pub mechanisms: Vec<String>,
    pub plain: Vec<Vec<u8>>,
}

/// The first of each (a gateway retries, so the lists grow long).
impl std::fmt::Debug for SaslSeen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} handshakes (first: {:?}), {} PLAIN messages (first: {:?})",
            self.mechanisms.len(),
            self.mechanisms.first(),
            self.plain.len(),
            self.plain
                .first()
                .map(|m| String::from_utf8_lossy(m).into_owned())
        )
    }
}

/// A running listener (its threads end with the process; connections close on drop).
pub struct FakeSaslBroker {
    pub addr: SocketAddr,
    seen: Arc<Mutex<SaslSeen>>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl FakeSaslBroker {
    /// Accepts PLAIN as `user` with `password`.
    pub fn start(user: &str, password: &str) -> FakeSaslBroker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(SaslSeen::default()));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let expected = format!("\0{user}\0{password}").into_bytes();
        let (accepting, open) = (seen.clone(), streams.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                open.lock().unwrap().push(stream.try_clone().unwrap());
                let (seen, expected) = (accepting.clone(), expected.clone());
                std::thread::spawn(move || serve(stream, &expected, &seen));
            }
        });
        FakeSaslBroker {
            addr,
            seen,
            streams,
        }
    }

    pub fn seen(&self) -> SaslSeen {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeSaslBroker {
    fn drop(&mut self) {
        for stream in self.streams.lock().unwrap().iter() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Answers one connection's requests until one it does not serve.
fn serve(mut stream: TcpStream, expected: &[u8], seen: &Mutex<SaslSeen>) {
    loop {
        let mut length = [0; 4];
        if stream.read_exact(&mut length).is_err() {
            return;
        }
        let mut frame = vec![0; u32::from_be_bytes(length) as usize];
        if stream.read_exact(&mut frame).is_err() || frame.len() < 4 {
            return;
        }
        let api_key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let Ok(key) = ApiKey::try_from(api_key) else {
            return;
        };
        let mut request = Bytes::from(frame);
        let Ok(header) = RequestHeader::decode(&mut request, key.request_header_version(version))
        else {
            return;
        };
        let mut body = BytesMut::new();
        let encoded = match key {
            ApiKey::ApiVersions => versions().encode(&mut body, version),
            ApiKey::SaslHandshake => {
                let asked = SaslHandshakeRequest::decode(&mut request, version).unwrap();
                let mechanism = asked.mechanism.to_string();
                seen.lock().unwrap().mechanisms.push(mechanism.clone());
                SaslHandshakeResponse::default()
                    .with_error_code(if mechanism == "PLAIN" { 0 } else { 33 })
                    .with_mechanisms(vec![StrBytes::from_static_str("PLAIN")])
                    .encode(&mut body, version)
            }
            ApiKey::SaslAuthenticate => {
                let asked = SaslAuthenticateRequest::decode(&mut request, version).unwrap();
                seen.lock().unwrap().plain.push(asked.auth_bytes.to_vec());
                let accepted = asked.auth_bytes[..] == *expected;
                SaslAuthenticateResponse::default()
                    .with_error_code(if accepted {
                        0
                    } else {
                        SASL_AUTHENTICATION_FAILED
                    })
                    .with_error_message((!accepted).then(|| {
                        StrBytes::from_static_str("Authentication failed: invalid credentials")
                    }))
                    .encode(&mut body, version)
            }
            _ => return,
        };
        encoded.expect("the answer encodes");
        let mut answer = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut answer, key.response_header_version(version))
            .unwrap();
        answer.extend_from_slice(&body);
        let mut out = (answer.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&answer);
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

/// The requests it answers, at every version the crate knows.
fn versions() -> ApiVersionsResponse {
    let keys = [
        ApiKey::ApiVersions,
        ApiKey::SaslHandshake,
        ApiKey::SaslAuthenticate,
    ];
    ApiVersionsResponse::default().with_api_keys(
        keys.iter()
            .map(|key| {
                let range = key.valid_versions();
                ApiVersion::default()
                    .with_api_key(*key as i16)
                    .with_min_version(range.min)
                    .with_max_version(range.max)
            })
            .collect(),
    )
}
