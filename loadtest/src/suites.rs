//! The comparisons docs/benchmarks.md shows: the same workload through each entrypoint of
//! tidegate, and the same workload on tidegate, nginx + nchan and the raw writer. Each run gets a
//! freshly started server; every run's JSON report and each comparison's plot and markdown table
//! are written to the output directory. The I/O driver comparison (drivers.rs) runs on the same
//! machinery.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::LoadError;
use crate::plot::write_spectrum_svg;
use crate::publisher::PubProtocol;
use crate::report::{ms, Report};
use crate::run::{self, Workload};
use crate::servers::{Server, ServerKind, ServerOptions};
use crate::subscriber::SubProtocol;

/// What every suite needs.
pub struct Suite {
    pub servers: ServerOptions,
    /// The workload; target, paths and protocols are set per run.
    pub workload: Workload,
    pub out_dir: PathBuf,
}

impl Suite {
    /// Starts `kind`, runs `sub`/`publish` on it, writes `<file>.json`, prints the summary.
    fn run_one(
        &self,
        label: &str,
        file: &str,
        kind: ServerKind,
        sub: SubProtocol,
        publish: PubProtocol,
    ) -> Result<Report, LoadError> {
        let workload = Workload {
            sub,
            publish,
            ..self.workload.clone()
        };
        self.run_on(label, file, kind, &self.servers, workload)
    }

    /// Starts `kind` with `servers`, runs `workload` on it (target and paths set here), writes
    /// `<file>.json`, prints the summary.
    pub(crate) fn run_on(
        &self,
        label: &str,
        file: &str,
        kind: ServerKind,
        servers: &ServerOptions,
        workload: Workload,
    ) -> Result<Report, LoadError> {
        eprintln!("== {label}");
        let server = Server::start(kind, servers)?;
        let paths = kind.paths();
        let workload = Workload {
            target: server.addr,
            sub_path: paths.subscribe.to_owned(),
            pub_path: paths.publish.to_owned(),
            ..workload
        };
        let outcome = run::run(&workload, Some(server.pid()))?;
        drop(server);
        let report = Report::new(label, Some(kind), &workload, &outcome);
        eprint!("{}", report.human());
        write_json(&self.out_dir.join(format!("{file}.json")), &report)?;
        Ok(report)
    }

    /// HTTP POST → WebSocket, SSE, HTTP GET; WebSocket → WebSocket. Returns the markdown table.
    pub fn entrypoints(&self) -> Result<String, LoadError> {
        let rows = [
            (
                "POST → WebSocket",
                "entrypoint-ws",
                SubProtocol::Ws,
                PubProtocol::Post,
            ),
            (
                "POST → SSE",
                "entrypoint-sse",
                SubProtocol::Sse,
                PubProtocol::Post,
            ),
            (
                "POST → HTTP GET",
                "entrypoint-get",
                SubProtocol::Get,
                PubProtocol::Post,
            ),
            (
                "WebSocket → WebSocket",
                "entrypoint-ws-pub",
                SubProtocol::Ws,
                PubProtocol::Ws,
            ),
        ];
        let mut reports = Vec::new();
        for (label, file, sub, publish) in rows {
            reports.push(self.run_one(label, file, ServerKind::Tidegate, sub, publish)?);
        }
        let w = &self.workload;
        let title = format!(
            "tidegate entrypoints: {} subscribers, {} msg/s, {} B",
            w.subscribers, w.rate_per_s, w.size_bytes
        );
        self.plot("entrypoints.svg", &title, &reports)?;
        let mut table = String::from(
            "| publish → subscribe | delivered msg/s | p50 | p90 | p99 | p99.9 | max | lost | dup | CPU s per 1M |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for r in &reports {
            let l = &r.latency;
            table.push_str(&format!(
                "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.label,
                r.delivered_per_s,
                ms(l.p50_us),
                ms(l.p90_us),
                ms(l.p99_us),
                ms(l.p999_us),
                ms(l.max_us),
                r.counts.lost,
                r.counts.duplicates,
                cpu_per_million(r)
            ));
        }
        self.finish("entrypoints", &table)
    }

    /// POST → WebSocket on tidegate, nginx + nchan and the raw writer. Returns the markdown table.
    pub fn peers(&self) -> Result<String, LoadError> {
        let rate = self.workload.rate_per_s;
        let runs = [
            ("tidegate", ServerKind::Tidegate),
            ("nginx + nchan", ServerKind::Nchan),
            ("raw writer", ServerKind::Raw),
        ];
        let mut reports = Vec::new();
        for (label, kind) in runs {
            let file = format!("peers-{kind:?}-{rate}").to_lowercase();
            reports.push(self.run_one(label, &file, kind, SubProtocol::Ws, PubProtocol::Post)?);
        }
        let w = &self.workload;
        let title = format!(
            "POST → WebSocket: {} subscribers, {rate} msg/s, {} B",
            w.subscribers, w.size_bytes
        );
        self.plot(&format!("peers-{rate}.svg"), &title, &reports)?;
        let tidegate = &reports[0];
        let mut table = format!(
            "{}\n\n\
             | server | delivered msg/s | p50 | p99 | p99.9 | lost | CPU s per 1M | RSS MiB | tidegate throughput ÷ this | tidegate CPU per msg ÷ this |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            offered(w)
        );
        for r in &reports {
            let l = &r.latency;
            table.push_str(&format!(
                "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {:.2} | {} |\n",
                r.label,
                r.delivered_per_s,
                ms(l.p50_us),
                ms(l.p99_us),
                ms(l.p999_us),
                r.counts.lost,
                cpu_per_million(r),
                rss_mib(r),
                tidegate.delivered_per_s / r.delivered_per_s.max(1e-9),
                cpu_ratio(tidegate, r)
            ));
        }
        self.finish(&format!("peers-{rate}"), &table)
    }

    pub(crate) fn plot(
        &self,
        file: &str,
        title: &str,
        reports: &[Report],
    ) -> Result<(), LoadError> {
        let series: Vec<_> = reports
            .iter()
            .map(|r| (r.label.clone(), r.spectrum.clone()))
            .collect();
        write_spectrum_svg(&self.out_dir.join(file), title, &series)
    }

    pub(crate) fn finish(&self, name: &str, table: &str) -> Result<String, LoadError> {
        let path = self.out_dir.join(format!("{name}.md"));
        fs::write(&path, table).map_err(|err| LoadError::io(&path, err))?;
        println!("{table}");
        Ok(table.to_owned())
    }
}

/// "Offered: R msg/s × N subscribers = D deliveries/s."
pub(crate) fn offered(w: &Workload) -> String {
    format!(
        "Offered: {} msg/s × {} subscribers = {} deliveries/s.",
        w.rate_per_s,
        w.subscribers,
        w.rate_per_s * w.subscribers as f64
    )
}

/// The server's CPU seconds per million deliveries, or "n/a".
pub(crate) fn cpu_per_million(r: &Report) -> String {
    r.server_usage
        .map_or("n/a".into(), |u| format!("{:.2}", u.cpu_s_per_million))
}

/// The server's RSS at the end of the run in MiB, or "n/a".
pub(crate) fn rss_mib(r: &Report) -> String {
    r.server_usage
        .map_or("n/a".into(), |u| format!("{:.1}", u.rss_mib))
}

/// `a`'s CPU per delivery divided by `b`'s, or "n/a".
pub(crate) fn cpu_ratio(a: &Report, b: &Report) -> String {
    match (a.server_usage, b.server_usage) {
        (Some(a), Some(b)) if b.cpu_s_per_million > 0.0 => {
            format!("{:.2}", a.cpu_s_per_million / b.cpu_s_per_million)
        }
        _ => "n/a".into(),
    }
}

/// Writes `report` as pretty JSON to `path`, creating its directory.
pub fn write_json(path: &Path, report: &impl serde::Serialize) -> Result<(), LoadError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|err| LoadError::io(dir, err))?;
    }
    let text =
        serde_json::to_string_pretty(report).map_err(|err| LoadError::Setup(err.to_string()))?;
    fs::write(path, text).map_err(|err| LoadError::io(path, err))
}
