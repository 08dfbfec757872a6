//! One load-test run: N subscribers connect and become ready, P publishers publish open-loop
//! at a fixed rate through warm-up and the measured duration, the run drains, and the threads'
//! counts and histograms are merged into an [`Outcome`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::engine::Engine;
use crate::error::LoadError;
use crate::latency::Latency;
use crate::limits;
use crate::procstat::{self, ProcSample};
use crate::publisher::{publish_on_schedule, PubProtocol, Published};
use crate::recorder::{Progress, Recorder, Window};
use crate::schedule::Clock;
use crate::sequence::SeqTracker;
use crate::stamp::STAMP_BYTES;
use crate::subscriber::{SubProtocol, SubTarget, Subscriber};

/// Everything that defines a run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Workload {
    pub target: SocketAddr,
    pub sub: SubProtocol,
    pub sub_path: String,
    pub subscribers: usize,
    pub publish: PubProtocol,
    pub pub_path: String,
    pub publishers: u32,
    /// Messages per second over all publishers.
    pub rate_per_s: f64,
    pub size_bytes: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Subscriber threads (publishers get one more of their own).
    pub threads: usize,
    /// Loopback source addresses to spread connections over.
    pub source_ips: u8,
    /// HTTP GET subscribers: `limit` of each poll.
    pub get_limit: usize,
    /// Per publisher: unanswered POSTs (or unwritten WebSocket messages) before it waits.
    pub max_in_flight: u64,
    /// Subscribers connect here instead of `target` (publishers stay on `target`): direct
    /// MQTT subscribers of the broker the gateway publishes to.
    pub sub_addr: Option<SocketAddr>,
    /// Subscribers connect over TLS to this listener instead of `target` (publishers stay on
    /// `target`).
    pub sub_tls: Option<SubTls>,
    /// `Name: value` header lines sent on every publisher and subscriber request (an API key,
    /// a token). Left out of reports: they may hold credentials.
    #[serde(skip)]
    pub headers: Vec<String>,
}

/// Where and how subscribers connect over TLS.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SubTls {
    /// The gateway's TLS listener.
    pub addr: SocketAddr,
    /// PEM file of the CA (or the self-signed certificate) the gateway's certificate chains to.
    pub ca_file: std::path::PathBuf,
    /// SNI name, checked against the certificate.
    pub server_name: String,
}

/// What a run counted.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Counts {
    pub subscribers_ready: u64,
    pub connections_failed: u64,
    pub published: u64,
    /// POST: answered 2xx; WebSocket publish: written.
    pub acknowledged: u64,
    pub refused: u64,
    /// acknowledged × ready subscribers.
    pub deliveries_expected: u64,
    /// First arrivals (duplicates excluded).
    pub delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Payloads without a stamp of this run.
    pub foreign: u64,
    pub delivered_after_warmup: u64,
}

/// The server's CPU and memory over the measured part of a run.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct ServerUsage {
    pub pid: u32,
    /// CPU seconds from the end of warm-up to the end of the drain.
    pub cpu_s: f64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub struct Outcome {
    pub counts: Counts,
    pub latency: Latency,
    pub send_lag: Latency,
    /// Seconds from the end of warm-up to the end of the drain (the throughput denominator).
    pub measured_s: f64,
    pub server: Option<ServerUsage>,
    /// Why connections ended, with counts.
    pub errors: Vec<(String, u64)>,
    pub publisher_errors: Vec<String>,
}

/// How long after the last publish the run waits for stragglers when deliveries stop coming.
const DRAIN_QUIET: Duration = Duration::from_secs(1);
pub(crate) const DRAIN_MAX: Duration = Duration::from_secs(20);

struct Shared {
    clock: Clock,
    window: Arc<Window>,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
}

/// What one subscriber thread hands back.
struct SubResult {
    latency: Latency,
    delivered: u64,
    delivered_after_warmup: u64,
    duplicates: u64,
    foreign: u64,
    errors: Vec<(String, u64)>,
    /// The trackers of every subscriber that became ready.
    trackers: Vec<Vec<SeqTracker>>,
}

pub fn run(w: &Workload, server_pid: Option<u32>) -> Result<Outcome, LoadError> {
    check(w)?;
    limits::raise_nofile(w.subscribers as u64 + u64::from(w.publishers) + 64)?;
    let shared = Shared {
        clock: Clock::new(),
        window: Arc::new(Window::default()),
        progress: Arc::new(Progress::default()),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let subscribers = spawn_subscribers(w, &shared);
    wait_ready(w, &shared)?;
    let publishers = {
        let (w, clock, window, progress) = (
            w.clone(),
            shared.clock,
            shared.window.clone(),
            shared.progress.clone(),
        );
        std::thread::spawn(move || publish_on_schedule(&w, clock, &window, progress))
    };
    let (cpu_start, published) = watch_publishing(&shared, server_pid, publishers)?;
    let (published, send_lag) = published?;
    let ready = shared.progress.subscribers_ready.load(Ordering::Relaxed);
    let acknowledged: Vec<u64> = published.iter().map(|p| p.acknowledged).collect();
    let expected = acknowledged.iter().sum::<u64>() * ready;
    drain(&shared, expected);
    let drain_end_ns = shared.clock.now_ns();
    let cpu_end = server_pid.and_then(procstat::sample);
    shared.stop.store(true, Ordering::Relaxed);
    let mut counts = Counts {
        subscribers_ready: ready,
        published: published.iter().map(|p| p.sent).sum(),
        acknowledged: acknowledged.iter().sum(),
        refused: published.iter().map(|p| p.refused).sum(),
        deliveries_expected: expected,
        ..Counts::default()
    };
    let mut latency = Latency::new();
    let mut errors: Vec<(String, u64)> = Vec::new();
    for handle in subscribers {
        let result = handle
            .join()
            .map_err(|_| LoadError::Setup("a subscriber thread panicked".into()))?
            .map_err(|err| LoadError::Setup(format!("subscriber thread: {err}")))?;
        latency.merge(&result.latency);
        counts.delivered += result.delivered;
        counts.delivered_after_warmup += result.delivered_after_warmup;
        counts.duplicates += result.duplicates;
        counts.foreign += result.foreign;
        for trackers in &result.trackers {
            for (tracker, &expected) in trackers.iter().zip(&acknowledged) {
                counts.lost += tracker.lost(expected);
                counts.reordered += tracker.reordered();
            }
        }
        for (reason, n) in result.errors {
            match errors.iter_mut().find(|(known, _)| *known == reason) {
                Some(entry) => entry.1 += n,
                None => errors.push((reason, n)),
            }
        }
    }
    counts.connections_failed = shared.progress.connections_failed.load(Ordering::Relaxed);
    let warmup_end_ns = shared.window.warmup_end_ns();
    Ok(Outcome {
        counts,
        latency,
        send_lag,
        measured_s: drain_end_ns.saturating_sub(warmup_end_ns) as f64 / 1e9,
        server: usage(server_pid, cpu_start, cpu_end),
        errors,
        publisher_errors: published.iter().filter_map(|p| p.error.clone()).collect(),
    })
}

fn check(w: &Workload) -> Result<(), LoadError> {
    if w.size_bytes < STAMP_BYTES {
        return Err(LoadError::Options(format!(
            "--size must be at least {STAMP_BYTES} bytes (the stamp)"
        )));
    }
    if !w.rate_per_s.is_finite()
        || w.rate_per_s <= 0.0
        || w.publishers == 0
        || w.threads == 0
        || w.get_limit == 0
        || w.max_in_flight == 0
    {
        return Err(LoadError::Options(
            "--rate, --publishers, --threads, --get-limit and --max-in-flight must be positive"
                .into(),
        ));
    }
    crate::http::header_lines(&w.headers).map_err(LoadError::Options)?;
    Ok(())
}

fn usage(
    pid: Option<u32>,
    start: Option<ProcSample>,
    end: Option<ProcSample>,
) -> Option<ServerUsage> {
    let (pid, start, end) = (pid?, start?, end?);
    Some(ServerUsage {
        pid,
        cpu_s: end.cpu_s - start.cpu_s,
        rss_kib: end.rss_kib,
        hwm_kib: end.hwm_kib,
    })
}

fn spawn_subscribers(w: &Workload, shared: &Shared) -> Vec<JoinHandle<std::io::Result<SubResult>>> {
    let target = SubTarget {
        protocol: w.sub,
        path: w.sub_path.as_str().into(),
        host: w.target.to_string().into(),
        get_limit: w.get_limit,
        offer_deflate: false,
        headers: crate::http::header_lines(&w.headers)
            .unwrap_or_default()
            .into(),
    };
    (0..w.threads)
        .map(|thread| {
            let count = w.subscribers / w.threads + usize::from(thread < w.subscribers % w.threads);
            let direct = w.sub_addr.unwrap_or(w.target);
            let addr = w.sub_tls.as_ref().map_or(direct, |tls| tls.addr);
            let tls = w.sub_tls.clone();
            let (target, ips, publishers) = (target.clone(), w.source_ips, w.publishers);
            let recorder =
                Recorder::new(shared.clock, shared.window.clone(), shared.progress.clone());
            let stop = shared.stop.clone();
            std::thread::spawn(move || {
                subscribe(count, target, (addr, tls), ips, publishers, recorder, &stop)
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn subscribe(
    count: usize,
    target: SubTarget,
    (addr, tls): (SocketAddr, Option<SubTls>),
    source_ips: u8,
    publishers: u32,
    mut recorder: Recorder,
    stop: &AtomicBool,
) -> std::io::Result<SubResult> {
    let sessions = (0..count)
        .map(|_| Subscriber::new(target.clone(), publishers))
        .collect();
    let mut engine = Engine::new(addr, source_ips, sessions)?;
    if let Some(tls) = tls {
        engine.use_tls(crate::tls::client_config(&tls.ca_file)?, &tls.server_name)?;
    }
    while !stop.load(Ordering::Relaxed) {
        engine.turn(Duration::from_millis(20), &mut recorder)?;
        recorder.flush();
    }
    let trackers = engine
        .into_sessions()
        .into_iter()
        .filter(Subscriber::was_ready)
        .map(|s| s.trackers)
        .collect();
    Ok(SubResult {
        latency: recorder.latency,
        delivered: recorder.delivered,
        delivered_after_warmup: recorder.delivered_after_warmup,
        duplicates: recorder.duplicates,
        foreign: recorder.foreign,
        errors: recorder.errors,
        trackers,
    })
}

/// Waits until every subscriber is ready or has failed.
fn wait_ready(w: &Workload, shared: &Shared) -> Result<(), LoadError> {
    let started = Instant::now();
    let limit = Duration::from_secs(30) + Duration::from_millis(w.subscribers as u64);
    let mut last_print = Instant::now();
    loop {
        let ready = shared.progress.subscribers_ready.load(Ordering::Relaxed);
        let failed = shared.progress.connections_failed.load(Ordering::Relaxed);
        if ready + failed >= w.subscribers as u64 {
            eprintln!(
                "  {ready} subscribers ready, {failed} failed ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
            if ready == 0 {
                return Err(LoadError::Setup("no subscriber could connect".into()));
            }
            return Ok(());
        }
        if started.elapsed() > limit {
            return Err(LoadError::Setup(format!(
                "only {ready} of {} subscribers ready after {limit:?}",
                w.subscribers
            )));
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            eprintln!("  connecting: {ready} ready, {failed} failed");
            last_print = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Prints progress every second while publishing; samples the server's CPU when warm-up ends.
fn watch_publishing(
    shared: &Shared,
    server_pid: Option<u32>,
    publishers: JoinHandle<Published>,
) -> Result<(Option<ProcSample>, Published), LoadError> {
    let mut cpu_start = None;
    let mut last = (Instant::now(), 0u64);
    while !publishers.is_finished() {
        std::thread::sleep(Duration::from_millis(5));
        if cpu_start.is_none() && shared.clock.now_ns() >= shared.window.warmup_end_ns() {
            cpu_start = server_pid.and_then(procstat::sample);
        }
        if last.0.elapsed() >= Duration::from_secs(1) {
            let p = &shared.progress;
            let delivered = p.delivered.load(Ordering::Relaxed);
            let rate = (delivered - last.1) as f64 / last.0.elapsed().as_secs_f64();
            eprintln!(
                "  published {} (answered {}), delivered {delivered} ({:.0}/s)",
                p.published.load(Ordering::Relaxed),
                p.acknowledged.load(Ordering::Relaxed),
                rate
            );
            last = (Instant::now(), delivered);
        }
    }
    let published = publishers
        .join()
        .map_err(|_| LoadError::Setup("the publisher thread panicked".into()))?;
    Ok((cpu_start, published))
}

/// Waits until `expected` deliveries arrived, or nothing arrived for [`DRAIN_QUIET`].
fn drain(shared: &Shared, expected: u64) {
    let started = Instant::now();
    let mut last = (
        Instant::now(),
        shared.progress.delivered.load(Ordering::Relaxed),
    );
    loop {
        let delivered = shared.progress.delivered.load(Ordering::Relaxed);
        if delivered >= expected || started.elapsed() > DRAIN_MAX {
            return;
        }
        if delivered != last.1 {
            last = (Instant::now(), delivered);
        } else if last.0.elapsed() > DRAIN_QUIET {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
