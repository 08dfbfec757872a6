//! The publisher-shape comparison (issue 17's table): each row (a publisher shape at an offered
//! rate) for each subscriber protocol on tidegate, nginx + nchan and the raw writer, one after the
//! other in one run, so that the ratios come from one machine state. Every run gets a freshly
//! started server; CPU per delivery is the server process's CPU (from /proc/PID/stat) over the
//! measured part, divided by the deliveries in it.

use crate::error::LoadError;
use crate::report::{ms, Report};
use crate::run::Workload;
use crate::servers::ServerKind;
use crate::shapes::ShapeRow;
use crate::subscriber::SubProtocol;
use crate::suites::{cpu_per_million, Suite};

/// The servers compared, in the order they run; the first is the one the ratios are about.
pub const SERVERS: [(&str, ServerKind); 3] = [
    ("tidegate", ServerKind::Tidegate),
    ("nginx + nchan", ServerKind::Nchan),
    ("raw writer", ServerKind::Raw),
];

/// One measured cell of the comparison.
pub struct Cell {
    pub row: ShapeRow,
    pub sub: SubProtocol,
    pub server: &'static str,
    pub report: Report,
}

/// The JSON report's file stem: `shape-waiting-8-400-ws-tidegate`.
pub fn file_stem(row: ShapeRow, sub: SubProtocol, kind: ServerKind) -> String {
    format!(
        "shape-{}-{:.0}-{sub:?}-{kind:?}",
        row.shape.to_string().replace(':', "-"),
        row.rate_per_s
    )
    .to_lowercase()
}

/// `a ÷ b` with two decimals, or "n/a" when either is missing or `b` is 0.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => format!("{:.2}", a / b),
        _ => "n/a".into(),
    }
}

fn cpu_us(r: &Report) -> Option<f64> {
    r.server_usage.map(|u| u.cpu_s_per_million)
}

fn p99_us(r: &Report) -> Option<f64> {
    (r.latency.count > 0).then_some(r.latency.p99_us as f64)
}

/// The markdown table: a line per cell, and on each line tidegate's CPU per delivery and p99
/// divided by this server's (for the same row and subscriber protocol).
pub fn table(base: &Workload, cells: &[Cell]) -> String {
    let mut table = format!(
        "{} subscribers, {} B payloads; offered rate per row, all publishers together. \
         µs CPU per delivery = server CPU seconds per million deliveries.\n\n\
         | publishers | offered msg/s | subscribe | server | delivered/s | lost | p50 | p99 | µs CPU per delivery | tidegate CPU ÷ this | tidegate p99 ÷ this |\n\
         |---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
        base.subscribers, base.size_bytes
    );
    for cell in cells {
        let tidegate = cells
            .iter()
            .find(|c| c.row == cell.row && c.sub == cell.sub && c.server == SERVERS[0].0)
            .map(|c| &c.report);
        let r = &cell.report;
        table.push_str(&format!(
            "| {} | {} | {:?} | {} | {:.0} | {} | {} | {} | {} | {} | {} |\n",
            cell.row.shape.label(),
            cell.row.rate_per_s,
            cell.sub,
            cell.server,
            r.delivered_per_s,
            r.counts.lost,
            ms(r.latency.p50_us),
            ms(r.latency.p99_us),
            cpu_per_million(r),
            ratio(tidegate.and_then(cpu_us), cpu_us(r)),
            ratio(tidegate.and_then(p99_us), p99_us(r)),
        ));
    }
    table
}

impl Suite {
    /// Runs every row × subscriber protocol × server of `servers`; writes `shape-*.json` and
    /// `shapes.md`; returns the table.
    pub fn shapes(
        &self,
        rows: &[ShapeRow],
        subs: &[SubProtocol],
        servers: &[(&'static str, ServerKind)],
    ) -> Result<String, LoadError> {
        let mut cells = Vec::new();
        for &row in rows {
            for &sub in subs {
                for &(server, kind) in servers {
                    let workload = Workload {
                        sub,
                        rate_per_s: row.rate_per_s,
                        ..row.shape.apply(&self.workload)
                    };
                    let label = format!(
                        "{server}: {} @ {} msg/s → {sub:?}",
                        row.shape.label(),
                        row.rate_per_s
                    );
                    let file = file_stem(row, sub, kind);
                    let report = self.run_on(&label, &file, kind, &self.servers, workload)?;
                    cells.push(Cell {
                        row,
                        sub,
                        server,
                        report,
                    });
                }
            }
        }
        self.finish("shapes", &table(&self.workload, &cells))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::PubShape;

    #[test]
    fn file_stems_name_the_row_protocol_and_server() {
        let row: ShapeRow = "waiting:8@400".parse().unwrap();
        assert_eq!(
            file_stem(row, SubProtocol::Sse, ServerKind::Nchan),
            "shape-waiting-8-400-sse-nchan"
        );
        let row = ShapeRow {
            shape: PubShape::Pipelining { in_flight: 1000 },
            rate_per_s: 1000.0,
        };
        assert_eq!(
            file_stem(row, SubProtocol::Ws, ServerKind::Tidegate),
            "shape-pipelining-1000-1000-ws-tidegate"
        );
    }

    #[test]
    fn ratios_need_both_sides() {
        assert_eq!(ratio(Some(8.0), Some(4.0)), "2.00");
        assert_eq!(ratio(Some(8.0), Some(0.0)), "n/a");
        assert_eq!(ratio(None, Some(4.0)), "n/a");
        assert_eq!(ratio(Some(f64::NAN), Some(4.0)), "n/a");
    }
}
