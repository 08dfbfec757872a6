//! The access log's writer: a thread of its own behind a bounded queue, so no shard ever waits
//! on a disk, a full pipe or a stuck terminal.
//!
//! Shards hand finished lines over with `try_send`; when the queue (`queueLines`) is full the
//! line is dropped and counted (`tidegate_access_log_lines_dropped_total`): memory never grows
//! and requests are never slowed by their log. The thread writes what is queued in batches.
//!
//! A file is opened by the thread (so even opening a FIFO nobody reads blocks only the thread),
//! appended to, and reopened when its path stops naming the open file (logrotate's rename or
//! removal, checked at most once a second): rotation needs no signal and no `copytruncate`.

#![allow(
    clippy::disallowed_types,
    reason = "the shutdown handshake with the access-log writer thread (taken once, off the shards)"
)]
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most bytes written in one go.
const BATCH_BYTES: usize = 64 * 1024;
/// How often the file's path is checked for a rotation.
const ROTATION_CHECK: Duration = Duration::from_secs(1);

/// The access log's counters (rendered by the admin endpoint).
#[derive(Debug, Default)]
pub struct AccessLogCounters {
    /// Lines written.
    pub written: AtomicU64,
    /// Lines dropped because the queue was full (the destination is slower than the traffic).
    pub dropped: AtomicU64,
    /// Lines waiting in the queue (bounded by `queueLines`).
    pub queued: AtomicU64,
    /// Writes or opens that failed (their lines are lost; the file is reopened next time).
    pub write_errors: AtomicU64,
}

impl AccessLogCounters {
    /// Renders in the Prometheus text format.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        for (name, value, help) in [
            ("lines_written_total", &self.written, "Access-log lines written."),
            ("lines_dropped_total", &self.dropped, "Access-log lines dropped because the writer's queue (queueLines) was full: the destination is slower than the traffic."),
            ("lines_queued", &self.queued, "Access-log lines waiting for the writer (bounded by queueLines)."),
            ("write_errors_total", &self.write_errors, "Access-log writes or opens that failed (their lines are lost)."),
        ] {
            let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
            let _ = writeln!(out, "# HELP tidegate_access_log_{name} {help}");
            let _ = writeln!(out, "# TYPE tidegate_access_log_{name} {kind}");
            let _ = writeln!(out, "tidegate_access_log_{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}

/// Where lines go: a shard's handle to the queue (cheap to clone).
#[derive(Debug, Clone)]
pub struct AccessLogSink {
    sender: SyncSender<String>,
    counters: Arc<AccessLogCounters>,
}

impl AccessLogSink {
    /// Queues `line`, or drops and counts it when the queue is full. Never blocks.
    pub fn send(&self, line: String) {
        // Counted before the send: the writer may take the line (and count it out) at once.
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.sender.try_send(line)
        {
            self.counters.queued.fetch_sub(1, Ordering::Relaxed);
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The writer thread, seen from the gateway.
pub struct AccessLogWriter {
    /// Behind a mutex only so that the gateway holding it can be shared with other threads
    /// (`Gateway::apply` is called from the store follower); used once, by `finish`.
    done: Mutex<Receiver<()>>,
    /// Its counters.
    pub counters: Arc<AccessLogCounters>,
}

impl AccessLogWriter {
    /// Waits up to `grace` for the thread to write what is queued and stop (it stops once every
    /// sink is gone). A destination that does not take the lines is left behind.
    pub fn finish(self, grace: Duration) {
        let done = self
            .done
            .into_inner()
            .unwrap_or_else(|poison| poison.into_inner());
        let _ = done.recv_timeout(grace);
    }
}

/// Starts the writer thread for `path` (`None`: standard output), with a queue of
/// `queue_lines`.
pub fn start(
    path: Option<PathBuf>,
    queue_lines: usize,
) -> io::Result<(AccessLogSink, AccessLogWriter)> {
    let (sender, receiver) = mpsc::sync_channel::<String>(queue_lines);
    let (done_tx, done) = mpsc::channel();
    let counters = Arc::new(AccessLogCounters::default());
    let thread_counters = counters.clone();
    std::thread::Builder::new()
        .name("tidegate-access-log".into())
        .spawn(move || {
            let mut destination = Destination::new(path);
            // Opened before any line is taken: a destination that cannot be opened yet (a FIFO
            // without a reader) holds no line, the queue alone does.
            if let Err(err) = destination.open_if_needed() {
                tracing::warn!(%err, "cannot open the access log; retried at the next line");
                thread_counters.write_errors.fetch_add(1, Ordering::Relaxed);
            }
            write_loop(&receiver, &mut destination, &thread_counters);
            let _ = done_tx.send(());
        })?;
    Ok((
        AccessLogSink {
            sender,
            counters: counters.clone(),
        },
        AccessLogWriter {
            done: Mutex::new(done),
            counters,
        },
    ))
}

fn write_loop(
    receiver: &Receiver<String>,
    destination: &mut Destination,
    counters: &AccessLogCounters,
) {
    while let Ok(first) = receiver.recv() {
        let mut batch = first;
        let mut lines = 1;
        while batch.len() < BATCH_BYTES {
            match receiver.try_recv() {
                Ok(line) => {
                    batch.push_str(&line);
                    lines += 1;
                }
                Err(_) => break,
            }
        }
        counters.queued.fetch_sub(lines, Ordering::Relaxed);
        match destination.write(batch.as_bytes()) {
            Ok(()) => counters.written.fetch_add(lines, Ordering::Relaxed),
            Err(err) => {
                tracing::warn!(%err, "cannot write the access log");
                counters.write_errors.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// Standard output, or a file reopened after rotation.
struct Destination {
    path: Option<PathBuf>,
    file: Option<File>,
    /// `(device, inode)` of the open file.
    identity: (u64, u64),
    checked: Instant,
}

impl Destination {
    fn new(path: Option<PathBuf>) -> Destination {
        Destination {
            path,
            file: None,
            identity: (0, 0),
            checked: Instant::now(),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.path.is_none() {
            let mut out = io::stdout().lock();
            out.write_all(bytes)?;
            return out.flush();
        }
        self.open_if_needed()?;
        let result = self
            .file
            .as_mut()
            .map_or(Ok(()), |file| file.write_all(bytes));
        if result.is_err() {
            self.file = None;
        }
        result
    }

    /// Opens the file unless it is open and its path still names it (checked at most once per
    /// `ROTATION_CHECK`).
    fn open_if_needed(&mut self) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if self.file.is_some() && self.checked.elapsed() >= ROTATION_CHECK {
            self.checked = Instant::now();
            let now = std::fs::metadata(path).map(|meta| (meta.dev(), meta.ino()));
            if now.ok() != Some(self.identity) {
                self.file = None;
            }
        }
        if self.file.is_none() {
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            let meta = file.metadata()?;
            self.identity = (meta.dev(), meta.ino());
            self.checked = Instant::now();
            self.file = Some(file);
        }
        Ok(())
    }
}
