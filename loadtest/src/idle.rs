//! Memory per connection: the server's resident memory with N idle subscribers (WebSocket, or
//! SSE with `--sub sse`), minus its resident memory before they connected, divided by N.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::Engine;
use crate::error::LoadError;
use crate::limits;
use crate::procstat;
use crate::recorder::{Progress, Recorder, Window};
use crate::schedule::Clock;
use crate::servers::{Server, ServerKind, ServerOptions, WsDeflate};
use crate::subscriber::{SubProtocol, SubTarget, Subscriber};

/// Descriptors kept free for everything that is not a test connection.
const SPARE_FDS: u64 = 200;

/// One measurement.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IdleRow {
    pub server: ServerKind,
    /// How the idle clients subscribe (WebSocket or SSE).
    pub protocol: SubProtocol,
    pub connections: usize,
    pub ready: u64,
    pub baseline_rss_kib: u64,
    pub rss_kib: u64,
    /// (rss − baseline) / ready.
    pub kib_per_connection: f64,
    /// With `--hold-secs`: the highest RSS while the connections were held that long after
    /// settling (keep-alive pings answered), and the same per connection.
    pub held_rss_kib: Option<u64>,
    pub held_kib_per_connection: Option<f64>,
    /// Why the level was not measured, if it was not.
    pub skipped: Option<String>,
}

/// Measures each level on each server; levels beyond this machine's descriptor limit are
/// reported as skipped, and the largest level that fits is measured instead.
pub fn measure(
    servers: &[ServerKind],
    levels: &[usize],
    options: &ServerOptions,
    source_ips: u8,
    threads: usize,
    hold: Duration,
    protocol: SubProtocol,
) -> Result<Vec<IdleRow>, LoadError> {
    let hard = limits::nofile_hard();
    let _ = limits::raise_nofile(0);
    let fits = |n: usize| n as u64 + SPARE_FDS <= hard;
    let mut plan: Vec<usize> = levels.iter().copied().filter(|&n| fits(n)).collect();
    if levels.iter().any(|&n| !fits(n)) {
        let largest = ((hard.saturating_sub(SPARE_FDS)) / 500 * 500) as usize;
        if largest > 0 && !plan.contains(&largest) {
            plan.push(largest);
        }
    }
    let mut rows = Vec::new();
    for &server in servers {
        for &n in levels.iter().filter(|&&n| !fits(n)) {
            rows.push(IdleRow {
                server,
                protocol,
                connections: n,
                ready: 0,
                baseline_rss_kib: 0,
                rss_kib: 0,
                kib_per_connection: f64::NAN,
                held_rss_kib: None,
                held_kib_per_connection: None,
                skipped: Some(format!(
                    "needs {} file descriptors per process; the hard limit here is {hard}",
                    n as u64 + SPARE_FDS
                )),
            });
        }
        for &n in &plan {
            rows.push(measure_one(
                server, n, options, source_ips, threads, hold, protocol,
            )?);
        }
    }
    Ok(rows)
}

/// The server's RSS once it stops changing: sampled every 250 ms until 2 s of samples stay
/// within 1 % of each other, giving up (and taking the last sample) after 30 s.
fn settled_rss(pid: u32) -> u64 {
    let started = Instant::now();
    let mut samples: Vec<u64> = Vec::new();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let rss = procstat::sample(pid).map_or(0, |s| s.rss_kib);
        samples.push(rss);
        let window = &samples[samples.len().saturating_sub(9)..];
        let (low, high) = window
            .iter()
            .fold((u64::MAX, 0), |(low, high), &v| (low.min(v), high.max(v)));
        let steady = window.len() == 9 && high.saturating_sub(low) * 100 <= low;
        if steady || started.elapsed() > Duration::from_secs(30) {
            return rss;
        }
    }
}

/// The highest RSS of `pid` over `hold`, sampled every 250 ms: what idle connections cost
/// over time (a server that does something for each of them now and then, such as a keep-alive
/// ping, grows while it does).
fn highest_rss(pid: u32, hold: Duration) -> u64 {
    let started = Instant::now();
    let mut highest = 0;
    while started.elapsed() < hold {
        std::thread::sleep(Duration::from_millis(250));
        highest = highest.max(procstat::sample(pid).map_or(0, |s| s.rss_kib));
    }
    highest
}

fn measure_one(
    kind: ServerKind,
    n: usize,
    options: &ServerOptions,
    source_ips: u8,
    threads: usize,
    hold: Duration,
    protocol: SubProtocol,
) -> Result<IdleRow, LoadError> {
    eprintln!("== idle: {kind:?} with {n} {protocol:?} connections");
    let server = Server::start(kind, options)?;
    std::thread::sleep(Duration::from_millis(300));
    let baseline = procstat::sample(server.pid()).map_or(0, |s| s.rss_kib);
    let progress = Arc::new(Progress::default());
    let stop = Arc::new(AtomicBool::new(false));
    let target = SubTarget {
        protocol,
        path: kind.paths().subscribe.into(),
        host: server.addr.to_string().into(),
        get_limit: 1,
        offer_deflate: options.ws_deflate != WsDeflate::Off,
        headers: "".into(),
    };
    let handles: Vec<_> = (0..threads.max(1))
        .map(|t| {
            let count = n / threads.max(1) + usize::from(t < n % threads.max(1));
            let (target, addr, progress, stop) =
                (target.clone(), server.addr, progress.clone(), stop.clone());
            std::thread::spawn(move || -> std::io::Result<()> {
                let sessions = (0..count)
                    .map(|_| Subscriber::new(target.clone(), 1))
                    .collect();
                let mut engine = Engine::new(addr, source_ips, sessions)?;
                let mut recorder =
                    Recorder::new(Clock::new(), Arc::new(Window::default()), progress);
                while !stop.load(Ordering::Relaxed) {
                    engine.turn(Duration::from_millis(20), &mut recorder)?;
                }
                Ok(())
            })
        })
        .collect();
    let started = Instant::now();
    let settled = loop {
        let ready = progress.subscribers_ready.load(Ordering::Relaxed);
        let failed = progress.connections_failed.load(Ordering::Relaxed);
        if ready + failed >= n as u64 || started.elapsed() > Duration::from_secs(120) {
            break ready;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Let the server finish whatever it does after the handshakes (tidegate: idle sessions
    // hibernate after `wsHibernateMs`, and the allocator returns what they freed): RSS is taken
    // once it has stayed within 1 % for 2 s (at least 2 s, at most 30 s after the last handshake).
    let rss = settled_rss(server.pid());
    let held_rss = (!hold.is_zero()).then(|| highest_rss(server.pid(), hold));
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle
            .join()
            .map_err(|_| LoadError::Setup("idle thread panicked".into()))?
            .map_err(|err| LoadError::Setup(format!("idle connections: {err}")))?;
    }
    drop(server);
    let failed = progress.connections_failed.load(Ordering::Relaxed);
    eprintln!("  {settled} ready, {failed} failed; RSS {baseline} KiB -> {rss} KiB");
    Ok(IdleRow {
        server: kind,
        protocol,
        connections: n,
        ready: settled,
        baseline_rss_kib: baseline,
        rss_kib: rss,
        kib_per_connection: rss.saturating_sub(baseline) as f64 / settled.max(1) as f64,
        held_rss_kib: held_rss,
        held_kib_per_connection: held_rss
            .map(|held| held.saturating_sub(baseline) as f64 / settled.max(1) as f64),
        skipped: None,
    })
}

/// The markdown table of the rows.
pub fn table(rows: &[IdleRow]) -> String {
    let held = rows.iter().any(|r| r.held_rss_kib.is_some());
    let mut table =
        String::from("| server | idle connections | RSS before | RSS with them | per connection |");
    table.push_str(if held {
        " highest while held | per connection, held |\n|---|---:|---:|---:|---:|---:|---:|\n"
    } else {
        "\n|---|---:|---:|---:|---:|\n"
    });
    for r in rows {
        match &r.skipped {
            Some(why) => table.push_str(&format!(
                "| {:?} | {} {:?} | — | — | not measured: {why} |",
                r.server, r.connections, r.protocol
            )),
            None => table.push_str(&format!(
                "| {:?} | {} {:?} ({} ready) | {:.1} MiB | {:.1} MiB | {:.2} KiB |",
                r.server,
                r.connections,
                r.protocol,
                r.ready,
                r.baseline_rss_kib as f64 / 1024.0,
                r.rss_kib as f64 / 1024.0,
                r.kib_per_connection
            )),
        }
        if let (true, Some(rss), Some(per)) = (held, r.held_rss_kib, r.held_kib_per_connection) {
            table.push_str(&format!(" {:.1} MiB | {per:.2} KiB |", rss as f64 / 1024.0));
        } else if held {
            table.push_str(" — | — |");
        }
        table.push('\n');
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(held_rss_kib: Option<u64>) -> IdleRow {
        IdleRow {
            server: ServerKind::Tidegate,
            protocol: SubProtocol::Ws,
            connections: 1000,
            ready: 1000,
            baseline_rss_kib: 10240,
            rss_kib: 14336,
            kib_per_connection: 4.096,
            held_rss_kib,
            held_kib_per_connection: held_rss_kib.map(|rss| (rss - 10240) as f64 / 1000.0),
            skipped: None,
        }
    }

    #[test]
    fn the_held_columns_appear_only_when_held() {
        let plain = table(&[row(None)]);
        assert!(!plain.contains("held"), "{plain}");
        assert!(plain.contains("| 4.10 KiB |\n"), "{plain}");
        let held = table(&[row(Some(20480)), row(None)]);
        let lines: Vec<&str> = held.lines().collect();
        assert!(lines[0].ends_with("| highest while held | per connection, held |"));
        assert_eq!(lines[1].matches("---").count(), 7);
        assert!(lines[2].ends_with("| 20.0 MiB | 10.24 KiB |"), "{held}");
        assert!(lines[3].ends_with("| — | — |"), "{held}");
    }
}
