//! One request's running record: what the access-log line and the per-API metrics report once
//! it ends (for a WebSocket or SSE stream: once the stream ends).
//!
//! The connection (`Conn`), the streaming halves it turns into (`Duplex`) and the entrypoints
//! share it (`Rc`, shard-local `Cell`s: no lock, no atomic) and add to it as they go; message
//! counts also go at once to the API's per-shard series (`EntrypointSeries`), so the metrics of
//! a long stream move while it runs.

use std::cell::{Cell, OnceCell, RefCell};
use std::sync::Arc;
use std::time::Instant;

use crate::observe::api_metrics::EntrypointSeries;
use crate::server::request_id::RequestId;

/// Who a request was served for: the plan check fills this in (`dispatch::connection`) once it
/// let the request in; requests it refused, or never reached, have none, and the access log
/// leaves the fields out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscriber {
    /// The plan's id.
    pub plan: String,
    /// The application's id; `None` on a keyless plan.
    pub application: Option<String>,
    /// The subscription's id; `None` on a keyless plan.
    pub subscription: Option<String>,
}

/// One request's counters.
#[derive(Debug)]
pub struct Exchange {
    /// Reset by the first read, so time a keep-alive connection sat idle is not counted.
    started: Cell<Instant>,
    request_id: Cell<Option<RequestId>>,
    /// The status of the answer's head (0: none sent yet).
    status: Cell<u16>,
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
    messages_in: Cell<u64>,
    messages_out: Cell<u64>,
    /// The answer opened a stream (WebSocket 101, SSE 200).
    stream: Cell<bool>,
    series: OnceCell<Arc<EntrypointSeries>>,
    subscriber: RefCell<Option<Subscriber>>,
}

impl Default for Exchange {
    fn default() -> Self {
        Exchange::new()
    }
}

impl Exchange {
    /// A request that starts now.
    pub fn new() -> Exchange {
        Exchange {
            started: Cell::new(Instant::now()),
            request_id: Cell::new(None),
            status: Cell::new(0),
            bytes_in: Cell::new(0),
            bytes_out: Cell::new(0),
            messages_in: Cell::new(0),
            messages_out: Cell::new(0),
            stream: Cell::new(false),
            series: OnceCell::new(),
            subscriber: RefCell::new(None),
        }
    }

    /// When the request started: its first bytes arrived (or, for a request already read
    /// with an earlier one, when that one's answer was done).
    pub fn started(&self) -> Instant {
        self.started.get()
    }

    /// The request's id, generated at first use unless the client's was adopted.
    pub fn request_id(&self) -> RequestId {
        match self.request_id.get() {
            Some(id) => id,
            None => {
                let id = RequestId::generate();
                self.request_id.set(Some(id));
                id
            }
        }
    }

    /// Takes the client's `X-Request-Id` when it is sane (`RequestId::from_client`).
    pub fn adopt_request_id(&self, client: Option<&[u8]>) {
        self.request_id.set(Some(RequestId::from_client(client)));
    }

    /// Records the status of the answer being sent.
    pub fn answered(&self, status: u16) {
        self.status.set(status);
    }

    /// The answer's status; 0 when none was sent.
    pub fn status(&self) -> u16 {
        self.status.get()
    }

    /// The answer opened a stream that runs until the exchange ends (counted open in its
    /// series until the request's record drops).
    pub fn stream_opened(&self) {
        self.stream.set(true);
        if let Some(series) = self.series.get() {
            series.stream_opened();
        }
    }

    /// Whether the answer opened a stream.
    pub fn is_stream(&self) -> bool {
        self.stream.get()
    }

    /// Bytes read from the client (counted where they were read: a pipelined request's bytes
    /// may arrive with the one before).
    pub fn read(&self, bytes: usize) {
        if self.bytes_in.get() == 0 && self.status.get() == 0 {
            self.started.set(Instant::now());
        }
        self.bytes_in.set(self.bytes_in.get() + bytes as u64);
    }

    /// Bytes written to the client.
    pub fn wrote(&self, bytes: usize) {
        self.bytes_out.set(self.bytes_out.get() + bytes as u64);
    }

    /// Messages the client published.
    pub fn published(&self, count: u64) {
        self.messages_in.set(self.messages_in.get() + count);
        if let Some(series) = self.series.get() {
            series.messages_in(count);
        }
    }

    /// Messages delivered to the client.
    pub fn delivered(&self, count: u64) {
        self.messages_out.set(self.messages_out.get() + count);
        if let Some(series) = self.series.get() {
            series.messages_out(count);
        }
    }

    /// `(bytes in, bytes out, messages in, messages out)` so far.
    pub fn counts(&self) -> (u64, u64, u64, u64) {
        (
            self.bytes_in.get(),
            self.bytes_out.get(),
            self.messages_in.get(),
            self.messages_out.get(),
        )
    }

    /// The per-API series this request counts in (set once it is routed).
    pub fn attach(&self, series: Arc<EntrypointSeries>) {
        let _ = self.series.set(series);
    }

    /// The series, once attached.
    pub fn series(&self) -> Option<&Arc<EntrypointSeries>> {
        self.series.get()
    }

    /// Who the request was served for (set by plan selection).
    pub fn set_subscriber(&self, subscriber: Subscriber) {
        *self.subscriber.borrow_mut() = Some(subscriber);
    }

    /// Who the request was served for, if a plan said so.
    pub fn subscriber(&self) -> Option<Subscriber> {
        self.subscriber.borrow().clone()
    }
}
