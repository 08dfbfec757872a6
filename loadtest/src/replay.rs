//! Backlog replay through a broker: publishers POST `records` messages through the gateway to
//! the broker first; then `clients` SSE subscribers connect without a cursor (the API reads from
//! `earliest`) and each must receive every record. Counted exactly (one bit per record per
//! client: partitions interleave in long runs, beyond the live runs' reorder window): deliveries,
//! losses, duplicates, clients that got everything, the seconds until the last delivery, and the
//! most connections the broker held meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::brokers::Broker;
use crate::engine::Engine;
use crate::error::LoadError;
use crate::procstat;
use crate::publisher::publish_on_schedule;
use crate::recorder::{Progress, Recorder, Window};
use crate::run::Workload;
use crate::schedule::Clock;
use crate::sequence::SeqTracker;
use crate::subscriber::{SubTarget, Subscriber};

/// What a replay measured.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReplayOutcome {
    /// Records the broker acknowledged (through the gateway's POST).
    pub records: u64,
    /// POSTs answered with another status than 2xx (not in `records`).
    pub refused: u64,
    pub publish_s: f64,
    pub clients: u64,
    pub clients_ready: u64,
    pub deliveries_expected: u64,
    /// First arrivals (duplicates excluded).
    pub delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Clients that received every record.
    pub complete_clients: u64,
    /// From the first subscriber's connect to the last delivery.
    pub replay_s: f64,
    pub deliveries_per_s: f64,
    /// The most established connections to the broker seen during the replay (sampled every
    /// 50 ms; includes the gateway's feed and producer connections).
    pub broker_connections_max: usize,
    /// The gateway's CPU seconds during the replay.
    pub gateway_cpu_s: Option<f64>,
}

/// How long the replay may go without a single delivery before it is over.
const QUIET: Duration = Duration::from_secs(10);

/// Publishes `w.rate_per_s × w.duration` records, then replays them to `w.subscribers` SSE
/// clients for at most `limit`.
pub fn replay(
    w: &Workload,
    broker: &Broker,
    server_pid: Option<u32>,
    limit: Duration,
) -> Result<ReplayOutcome, LoadError> {
    crate::limits::raise_nofile(w.subscribers as u64 + u64::from(w.publishers) + 64)?;
    let clock = Clock::new();
    let progress = Arc::new(Progress::default());
    let window = Arc::new(Window::default());
    let started = Instant::now();
    let (publishers, _) = publish_on_schedule(w, clock, &window, progress.clone())?;
    let publish_s = started.elapsed().as_secs_f64();
    if let Some(error) = publishers.iter().find_map(|p| p.error.clone()) {
        return Err(LoadError::Setup(format!("publishing failed: {error}")));
    }
    let acknowledged: Vec<u64> = publishers.iter().map(|p| p.acknowledged).collect();
    let records: u64 = acknowledged.iter().sum();
    let refused = publishers.iter().map(|p| p.refused).sum();
    eprintln!(
        "  {records} records published ({refused} POSTs refused) in {publish_s:.1} s; replaying"
    );

    let progress = Arc::new(Progress::default());
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_start = server_pid.and_then(procstat::sample);
    let replay_start = Instant::now();
    let threads = spawn(w, &acknowledged, clock, &progress, &stop);
    let expected_per_client = records;
    let mut outcome = ReplayOutcome {
        records,
        refused,
        publish_s,
        clients: w.subscribers as u64,
        ..ReplayOutcome::default()
    };
    let mut last = (Instant::now(), 0u64);
    let mut last_print = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        outcome.broker_connections_max = outcome.broker_connections_max.max(broker.connections());
        let ready = progress.subscribers_ready.load(Ordering::Relaxed);
        let failed = progress.connections_failed.load(Ordering::Relaxed);
        let delivered = progress.delivered.load(Ordering::Relaxed);
        if delivered != last.1 {
            last = (Instant::now(), delivered);
        }
        let all_connected = ready + failed >= w.subscribers as u64;
        if all_connected && delivered >= ready * expected_per_client {
            break;
        }
        if last.0.elapsed() > QUIET || replay_start.elapsed() > limit {
            break;
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            eprintln!("  {ready} ready, {failed} failed, delivered {delivered}");
            last_print = Instant::now();
        }
    }
    outcome.replay_s = last.0.duration_since(replay_start).as_secs_f64();
    let cpu_end = server_pid.and_then(procstat::sample);
    outcome.gateway_cpu_s = cpu_start.zip(cpu_end).map(|(a, b)| b.cpu_s - a.cpu_s);
    stop.store(true, Ordering::Relaxed);
    for handle in threads {
        let trackers = handle
            .join()
            .map_err(|_| LoadError::Setup("a subscriber thread panicked".into()))?
            .map_err(|err| LoadError::Setup(format!("subscriber thread: {err}")))?;
        for client in trackers {
            outcome.clients_ready += 1;
            let mut lost = 0;
            for (tracker, &expected) in client.iter().zip(&acknowledged) {
                outcome.delivered += tracker.unique();
                outcome.duplicates += tracker.duplicates();
                lost += tracker.lost(expected);
            }
            outcome.lost += lost;
            outcome.complete_clients += u64::from(lost == 0);
        }
    }
    outcome.deliveries_expected = outcome.clients_ready * records;
    outcome.deliveries_per_s = if outcome.replay_s > 0.0 {
        outcome.delivered as f64 / outcome.replay_s
    } else {
        0.0
    };
    Ok(outcome)
}

type Trackers = Vec<Vec<SeqTracker>>;

fn spawn(
    w: &Workload,
    acknowledged: &[u64],
    clock: Clock,
    progress: &Arc<Progress>,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<std::io::Result<Trackers>>> {
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
            let (target, addr, ips) = (target.clone(), w.target, w.source_ips);
            let acknowledged = acknowledged.to_vec();
            let mut recorder = Recorder::new(clock, Arc::new(Window::default()), progress.clone());
            let stop = stop.clone();
            std::thread::spawn(move || {
                let sessions = (0..count)
                    .map(|_| {
                        let mut session =
                            Subscriber::new(target.clone(), acknowledged.len() as u32);
                        session.trackers =
                            acknowledged.iter().map(|&n| SeqTracker::exact(n)).collect();
                        session
                    })
                    .collect();
                let mut engine = Engine::new(addr, ips, sessions)?;
                while !stop.load(Ordering::Relaxed) {
                    engine.turn(Duration::from_millis(20), &mut recorder)?;
                    recorder.flush();
                }
                Ok(engine
                    .into_sessions()
                    .into_iter()
                    .filter(Subscriber::was_ready)
                    .map(|s| s.trackers)
                    .collect())
            })
        })
        .collect()
}

/// The replay's markdown row (see `table_head`).
pub fn table_row(label: &str, o: &ReplayOutcome) -> String {
    let loss = if o.deliveries_expected > 0 {
        100.0 * o.lost as f64 / o.deliveries_expected as f64
    } else {
        0.0
    };
    let cpu = o.gateway_cpu_s.map_or("–".to_owned(), |cpu| {
        if o.delivered > 0 {
            format!("{:.2}", cpu * 1e6 / o.delivered as f64)
        } else {
            "–".to_owned()
        }
    });
    format!(
        "| {label} | {} | {}/{} | {} | {} ({loss:.1} %) | {} | {} | {:.1} | {:.0} | {cpu} | {} |",
        o.records,
        o.clients_ready,
        o.clients,
        o.delivered,
        o.lost,
        o.duplicates,
        o.complete_clients,
        o.replay_s,
        o.deliveries_per_s,
        o.broker_connections_max,
    )
}

pub fn table_head() -> &'static str {
    "| run | records | clients ready | delivered | lost | duplicates | complete clients | seconds | deliveries/s | gateway µs/delivery | broker connections (max) |\n\
     |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}
