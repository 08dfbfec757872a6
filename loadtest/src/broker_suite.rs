//! `tidegate-load broker`: the gateway in front of a real broker (tansu for Kafka, mosquitto for
//! MQTT), started for the run. Two modes:
//! - `replay` (Kafka): records first, then clients from `earliest` (see replay.rs);
//! - `live`: the open-loop run of run.rs through the broker: POST → gateway → broker → gateway
//!   → SSE, latency from the intended send time, gateway CPU per delivery.
//!
//! Each prints a markdown row (and its table head); `--json` keeps the whole outcome.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::broker_config::{gateway_config, Consuming, TOPIC};
use crate::brokers::{Broker, BrokerBins, BrokerKind};
use crate::error::LoadError;
use crate::procstat;
use crate::replay::{self, ReplayOutcome};
use crate::report::{ms, Report};
use crate::run::{self, Workload};
use crate::servers::{Server, ServerKind, ServerOptions};
use crate::subscriber::SubProtocol;

/// Which measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BrokerMode {
    /// Publish the records first, then replay them to every client from `earliest` (Kafka).
    Replay,
    /// Live fan-out at the workload's rate, with latency.
    Live,
}

/// One `tidegate-load broker` run.
pub struct BrokerRun {
    pub kind: BrokerKind,
    pub mode: BrokerMode,
    /// Partitions of the Kafka topic.
    pub partitions: u32,
    /// `maxRetainedMessages` of the consuming API.
    pub ring: u64,
    /// Longest a replay may take.
    pub limit: Duration,
    pub bins: BrokerBins,
    pub servers: ServerOptions,
    /// Target and paths are set here.
    pub workload: Workload,
    pub label: String,
    pub json: Option<PathBuf>,
    /// Live MQTT: the subscribers connect to mosquitto directly (the gateway only publishes).
    pub direct: bool,
}

/// What a run prints and keeps.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Measured {
    Replay(ReplayOutcome),
    Live(Box<Report>, CpuPerDelivery),
}

/// CPU microseconds per delivery over the whole run (connect, warm-up, measured part, drain)
/// of the gateway and of the broker.
#[derive(Clone, Copy, Debug, serde::Serialize)]
struct CpuPerDelivery {
    gateway_us: Option<f64>,
    broker_us: Option<f64>,
}

impl BrokerRun {
    /// Runs it; returns its markdown table (head and one row).
    pub fn execute(&self) -> Result<String, LoadError> {
        if self.mode == BrokerMode::Replay && self.kind == BrokerKind::Mqtt {
            return Err(LoadError::Options(
                "replay needs a broker that keeps history: --broker kafka".into(),
            ));
        }
        let broker = Broker::start(self.kind, &self.bins)?;
        if self.kind == BrokerKind::Kafka {
            broker.create_topic(&self.bins, TOPIC, self.partitions)?;
        }
        let consuming = Consuming {
            earliest: self.mode == BrokerMode::Replay,
            ring: self.ring,
        };
        let (kind, addr) = (self.kind, broker.addr);
        let server = Server::start_with(ServerKind::Tidegate, &self.servers, &|listen| {
            gateway_config(listen, &self.servers, kind, addr, consuming)
        })?;
        wait_streaming(server.addr, "/load")?;
        if self.kind == BrokerKind::Mqtt {
            // The gateway's broker subscription is made at start; give it time to be granted.
            std::thread::sleep(Duration::from_secs(1));
        }
        let direct = self.direct && self.kind == BrokerKind::Mqtt;
        let workload = Workload {
            target: server.addr,
            sub_path: "/load".into(),
            pub_path: "/load/in".into(),
            sub: if direct {
                SubProtocol::Mqtt
            } else {
                SubProtocol::Sse
            },
            sub_addr: direct.then_some(broker.addr),
            ..self.workload.clone()
        };
        eprintln!("== {}", self.label);
        let (measured, table) = match self.mode {
            BrokerMode::Replay => {
                let outcome = replay::replay(&workload, &broker, Some(server.pid()), self.limit)?;
                let table = format!(
                    "{}\n{}",
                    replay::table_head(),
                    replay::table_row(&self.label, &outcome)
                );
                (Measured::Replay(outcome), table)
            }
            BrokerMode::Live => {
                let pids = [server.pid(), broker.pid()];
                let before = pids.map(procstat::sample);
                let outcome = run::run(&workload, Some(server.pid()))?;
                let after = pids.map(procstat::sample);
                let delivered = outcome.counts.delivered.max(1) as f64;
                let per = |i: usize| {
                    let (a, b) = (before[i]?, after[i]?);
                    Some((b.cpu_s - a.cpu_s) * 1e6 / delivered)
                };
                let cpu = CpuPerDelivery {
                    gateway_us: per(0),
                    broker_us: per(1),
                };
                let report =
                    Report::new(&self.label, Some(ServerKind::Tidegate), &workload, &outcome);
                eprint!("{}", report.human());
                let table = format!("{}\n{}", live_head(), live_row(&report, cpu));
                (Measured::Live(Box::new(report), cpu), table)
            }
        };
        drop(server);
        if let Some(path) = &self.json {
            crate::suites::write_json(path, &measured)?;
        }
        Ok(table)
    }
}

fn live_head() -> &'static str {
    "| run | msg/s | clients | delivered | lost | duplicates | p50 | p99 | gateway µs/delivery | broker µs/delivery |\n\
     |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}

fn live_row(r: &Report, cpu: CpuPerDelivery) -> String {
    let c = &r.counts;
    let us = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.label,
        r.workload.rate_per_s,
        c.subscribers_ready,
        c.delivered,
        c.lost,
        c.duplicates,
        ms(r.latency.p50_us),
        ms(r.latency.p99_us),
        us(cpu.gateway_us),
        us(cpu.broker_us),
    )
}

/// Waits until an SSE request to `path` is answered 200 (a Kafka feed answers 503 until it has
/// read the topic's layout): the run's clients then all connect to a working feed.
fn wait_streaming(addr: SocketAddr, path: &str) -> Result<(), LoadError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(addr) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
            let mut head = [0u8; 64];
            if stream.write_all(request.as_bytes()).is_ok() {
                let n = stream.read(&mut head).unwrap_or(0);
                last = String::from_utf8_lossy(&head[..n])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                if last.starts_with("HTTP/1.1 200") {
                    return Ok(());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(LoadError::Setup(format!(
        "the gateway's {path} did not stream within 30 s (last answer: {last:?})"
    )))
}
