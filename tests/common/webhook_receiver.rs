//! A scripted webhook receiver: a blocking HTTP/1.1 server on 127.0.0.1:0 (one thread per
//! connection, keep-alive) that answers each request with the next step of its script
//! (200, 500, 4xx, or hang: never answer) and records every request with its arrival time and
//! the connection it came on. When the script runs out it answers `otherwise`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the receiver does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Answer with this status (and an empty body).
    Status(u16),
    /// Read the request, never answer (until the gateway gives up and closes).
    Hang,
    /// Answer this status with this JSON body (an OAuth2 token endpoint).
    Json(u16, &'static str),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub target: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
    /// Which connection (0, 1, … in accept order).
    pub connection: usize,
    /// What it was answered.
    pub answered: Step,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

struct Shared {
    script: Mutex<VecDeque<Step>>,
    otherwise: Mutex<Step>,
    received: Mutex<Vec<Received>>,
    connections: AtomicUsize,
    stop: AtomicBool,
}

/// The running receiver; stops accepting when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Receiver {
    /// Starts a receiver answering `script` in order, then `otherwise` forever.
    pub fn start(script: &[Step], otherwise: Step) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            script: Mutex::new(script.iter().copied().collect()),
            otherwise: Mutex::new(otherwise),
            received: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let id = accepting.connections.fetch_add(1, Ordering::Relaxed);
                let shared = accepting.clone();
                std::thread::spawn(move || serve(stream, id, shared));
            }
        });
        Receiver { addr, shared }
    }

    /// Always answers `status`.
    pub fn answering(status: u16) -> Receiver {
        Receiver::start(&[], Step::Status(status))
    }

    /// The callback URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Requests so far.
    pub fn count(&self) -> usize {
        self.shared.received.lock().unwrap().len()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Replaces what is answered once the script is used up.
    pub fn set_otherwise(&self, step: Step) {
        *self.shared.otherwise.lock().unwrap() = step;
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(stream: TcpStream, connection: usize, shared: Arc<Shared>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split(' ').nth(1).unwrap_or("").to_owned();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim().to_owned();
                if name == "content-length" {
                    length = value.parse().unwrap_or(0);
                }
                headers.push((name, value));
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let step = {
            let next = shared.script.lock().unwrap().pop_front();
            next.unwrap_or(*shared.otherwise.lock().unwrap())
        };
        shared.received.lock().unwrap().push(Received {
            target,
            headers,
            body,
            at: Instant::now(),
            connection,
            answered: step,
        });
        match step {
            Step::Hang => {
                // Hold the connection until the gateway closes it.
                let mut sink = [0u8; 1024];
                while reader.read(&mut sink).unwrap_or(0) > 0 {}
                return;
            }
            Step::Status(status) => {
                let answer = format!("HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\n\r\n");
                if writer.write_all(answer.as_bytes()).is_err() {
                    return;
                }
            }
            Step::Json(status, body) => {
                let answer = format!(
                    "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if writer.write_all(answer.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}
