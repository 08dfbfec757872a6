//! A scripted MQTT 5 broker, for tests that need a broker to misbehave in ways mosquitto never
//! does: it answers CONNECT and SUBSCRIBE, then sends the bytes the test scripted for that
//! connection (by the order it was accepted in), and counts the connections the gateway closed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What to send after the SUBACK on the connection accepted `n`-th (from 0).
pub type Script = dyn Fn(usize) -> Vec<u8> + Send + Sync;

pub struct FakeMqttBroker {
    pub port: u16,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FakeMqttBroker {
    pub fn start(script: impl Fn(usize) -> Vec<u8> + Send + Sync + 'static) -> FakeMqttBroker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).unwrap();
        let broker = FakeMqttBroker {
            port: listener.local_addr().unwrap().port(),
            accepted: Arc::default(),
            closed: Arc::default(),
            stop: Arc::default(),
        };
        let script: Arc<Script> = Arc::new(script);
        let (accepted, closed, stop) = (
            broker.accepted.clone(),
            broker.closed.clone(),
            broker.stop.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let n = accepted.fetch_add(1, Ordering::SeqCst);
                let (script, closed, stop) = (script.clone(), closed.clone(), stop.clone());
                std::thread::spawn(move || {
                    serve(stream, &script(n), &stop);
                    closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        broker
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Connections the gateway has closed (EOF or reset seen by the broker).
    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }
}

impl Drop for FakeMqttBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Serves one connection until the gateway closes it (or the broker is dropped).
fn serve(mut stream: TcpStream, scripted: &[u8], stop: &AtomicBool) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        while let Some((kind, body, len)) = next_packet(&buf) {
            let answer = match kind >> 4 {
                // CONNECT → CONNACK (v5: flags, success, no properties).
                1 => vec![0x20, 0x03, 0x00, 0x00, 0x00],
                // SUBSCRIBE → SUBACK granting QoS 0, then the script.
                8 => [&[0x90, 0x04, body[0], body[1], 0x00, 0x00][..], scripted].concat(),
                // UNSUBSCRIBE → UNSUBACK.
                10 => vec![0xb0, 0x04, body[0], body[1], 0x00, 0x00],
                // PINGREQ → PINGRESP.
                12 => vec![0xd0, 0x00],
                _ => Vec::new(),
            };
            buf.drain(..len);
            if stream.write_all(&answer).is_err() {
                return;
            }
        }
    }
}

/// The first whole packet in `buf`: its first byte, its body, and its length on the wire.
fn next_packet(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    let mut remaining = 0usize;
    for (i, &byte) in buf.iter().enumerate().skip(1).take(4) {
        remaining |= usize::from(byte & 0x7f) << (7 * (i - 1));
        if byte & 0x80 == 0 {
            let end = i + 1 + remaining;
            return (buf.len() >= end).then(|| (buf[0], &buf[i + 1..end], end));
        }
    }
    None
}
