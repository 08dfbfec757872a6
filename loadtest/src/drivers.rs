//! The I/O driver comparison docs/benchmarks.md shows: the POST → WebSocket workload (in-memory
//! topic) on tidegate with `driver: io-uring` and with `driver: epoll`, for two publisher shapes:
//! the workload's own publishers (by default one connection pipelining up to 1000 POSTs) and many
//! publishers that each wait for the answer to one POST before sending the next. Where the
//! kernel refuses io_uring, the table says so instead of failing.

use crate::error::LoadError;
use crate::publisher::PubProtocol;
use crate::report::{ms, Report};
use crate::run::Workload;
use crate::servers::{Driver, ServerKind, ServerOptions};
use crate::subscriber::SubProtocol;
use crate::suites::{cpu_per_million, cpu_ratio, offered, rss_mib, Suite};

/// The drivers compared, in the order they run for each publisher shape.
pub const DRIVERS: [Driver; 2] = [Driver::IoUring, Driver::Epoll];

/// How the messages are published: connections, and unanswered POSTs allowed on each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub publishers: u32,
    pub max_in_flight: u64,
}

impl Shape {
    /// The two shapes compared: the workload's own publishers, then `waiting_publishers`
    /// publishers with one POST in flight each.
    pub fn compared(w: &Workload, waiting_publishers: u32) -> [Shape; 2] {
        [
            Shape {
                publishers: w.publishers,
                max_in_flight: w.max_in_flight,
            },
            Shape {
                publishers: waiting_publishers,
                max_in_flight: 1,
            },
        ]
    }

    /// "1 publisher, pipelining (≤ 1000 unanswered)", "20 publishers, each waiting for every
    /// answer".
    pub fn label(self) -> String {
        let who = match self.publishers {
            1 => "1 publisher".to_owned(),
            n => format!("{n} publishers"),
        };
        let each = if self.publishers == 1 { "" } else { " each" };
        match self.max_in_flight {
            1 => format!("{who},{each} waiting for every answer"),
            n => format!("{who}, pipelining (≤ {n} unanswered{each})"),
        }
    }

    /// `base` published this way: HTTP POST to WebSocket subscribers.
    pub fn workload(self, base: &Workload) -> Workload {
        Workload {
            sub: SubProtocol::Ws,
            publish: PubProtocol::Post,
            publishers: self.publishers,
            max_in_flight: self.max_in_flight,
            ..base.clone()
        }
    }
}

/// One run of the comparison: which driver, which publisher shape.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub driver: Driver,
    pub shape: Shape,
}

impl Case {
    /// The report's label: "io_uring: 1 publisher, pipelining (≤ 1000 unanswered)".
    pub fn label(self) -> String {
        format!("{}: {}", self.driver, self.shape.label())
    }

    /// The JSON report's file stem: `drivers-io-uring-1x1000`.
    pub fn file(self) -> String {
        format!(
            "drivers-{}-{}x{}",
            self.driver.config_value(),
            self.shape.publishers,
            self.shape.max_in_flight
        )
    }
}

/// What one case produced.
pub enum CaseOutcome {
    Measured(Box<Report>),
    /// The gateway would not start on this driver (io_uring refused by the kernel); why.
    Refused(String),
}

/// One row of the table.
pub struct Row {
    pub case: Case,
    pub outcome: CaseOutcome,
}

/// Runs every case, shape by shape (io_uring, then epoll): `run` measures `case` on the
/// workload it is given (target and paths still to be set).
pub fn compare(
    base: &Workload,
    waiting_publishers: u32,
    mut run: impl FnMut(Case, Workload) -> Result<CaseOutcome, LoadError>,
) -> Result<Vec<Row>, LoadError> {
    let mut rows = Vec::new();
    for shape in Shape::compared(base, waiting_publishers) {
        for driver in DRIVERS {
            let case = Case { driver, shape };
            let outcome = run(case, shape.workload(base))?;
            rows.push(Row { case, outcome });
        }
    }
    Ok(rows)
}

/// The markdown table: one row per driver × publisher shape, and for each shape io_uring's CPU
/// per delivery divided by epoll's.
pub fn table(base: &Workload, rows: &[Row]) -> String {
    let mut table = format!(
        "{} HTTP POST → WebSocket, in-memory topic.\n\n\
         | publishers | driver | delivered msg/s | lost | p50 | p99 | p99.9 | CPU s per 1M | RSS MiB | CPU per 1M: io_uring ÷ epoll |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        offered(base)
    );
    for row in rows {
        let (shape, driver) = (row.case.shape.label(), row.case.driver);
        match &row.outcome {
            CaseOutcome::Measured(r) => {
                let l = &r.latency;
                table.push_str(&format!(
                    "| {shape} | {driver} | {:.0} | {} | {} | {} | {} | {} | {} | {} |\n",
                    r.delivered_per_s,
                    r.counts.lost,
                    ms(l.p50_us),
                    ms(l.p99_us),
                    ms(l.p999_us),
                    cpu_per_million(r),
                    rss_mib(r),
                    ratio_cell(rows, row)
                ));
            }
            CaseOutcome::Refused(why) => table.push_str(&format!(
                "| {shape} | {driver} | refused on this machine: {} | — | — | — | — | — | — | n/a |\n",
                why.replace('|', "\\|")
            )),
        }
    }
    table
}

/// On the io_uring row of a shape: its CPU per delivery ÷ the epoll row's; elsewhere "—".
fn ratio_cell(rows: &[Row], row: &Row) -> String {
    if row.case.driver != Driver::IoUring {
        return "—".into();
    }
    let measured = |driver| {
        rows.iter().find_map(|r| match &r.outcome {
            CaseOutcome::Measured(report)
                if r.case.driver == driver && r.case.shape == row.case.shape =>
            {
                Some(report.as_ref())
            }
            _ => None,
        })
    };
    match (measured(Driver::IoUring), measured(Driver::Epoll)) {
        (Some(uring), Some(epoll)) => cpu_ratio(uring, epoll),
        _ => "n/a".into(),
    }
}

/// The gateway's own reason for a refused io_uring, from its log (`None` if it died of
/// something else).
pub fn refusal(log: &str) -> Option<String> {
    let line = log.lines().rev().find(|line| line.contains("io_uring"))?;
    let reason = &line[line.find("io_uring").unwrap_or(0)..];
    Some(reason.trim().to_owned())
}

impl Suite {
    /// The driver comparison (see the module doc); `waiting_publishers` is the second shape's
    /// publisher count. Writes `drivers-*.json`, `drivers.svg`, `drivers.md`; returns the table.
    pub fn drivers(&self, waiting_publishers: u32) -> Result<String, LoadError> {
        let rows = compare(&self.workload, waiting_publishers, |case, workload| {
            let servers = ServerOptions {
                driver: case.driver,
                ..self.servers.clone()
            };
            let kind = ServerKind::Tidegate;
            match self.run_on(&case.label(), &case.file(), kind, &servers, workload) {
                Ok(report) => Ok(CaseOutcome::Measured(Box::new(report))),
                Err(LoadError::ServerDied { log, .. })
                    if case.driver == Driver::IoUring && refusal(&log).is_some() =>
                {
                    let why = refusal(&log).unwrap_or_default();
                    eprintln!("  io_uring refused: {why}");
                    Ok(CaseOutcome::Refused(why))
                }
                Err(err) => Err(err),
            }
        })?;
        let reports: Vec<Report> = rows
            .iter()
            .filter_map(|row| match &row.outcome {
                CaseOutcome::Measured(report) => Some(Report::clone(report)),
                CaseOutcome::Refused(_) => None,
            })
            .collect();
        let w = &self.workload;
        let title = format!(
            "io_uring and epoll, POST → WebSocket: {} subscribers, {} msg/s, {} B",
            w.subscribers, w.rate_per_s, w.size_bytes
        );
        self.plot("drivers.svg", &title, &reports)?;
        self.finish("drivers", &table(w, rows.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness default: one publisher, up to 1000 POSTs unanswered.
    const PIPELINING: Shape = Shape {
        publishers: 1,
        max_in_flight: 1000,
    };

    #[test]
    fn shapes_are_labelled_by_publishers_and_in_flight_bound() {
        let waiting = Shape {
            publishers: 20,
            max_in_flight: 1,
        };
        assert_eq!(
            PIPELINING.label(),
            "1 publisher, pipelining (≤ 1000 unanswered)"
        );
        assert_eq!(
            waiting.label(),
            "20 publishers, each waiting for every answer"
        );
        let case = Case {
            driver: Driver::IoUring,
            shape: PIPELINING,
        };
        assert_eq!(case.file(), "drivers-io-uring-1x1000");
    }

    #[test]
    fn the_refusal_is_the_gateways_own_words() {
        let log = "2026-01-01T00:00:00Z ERROR tidegate: shard 0 could not start: io_uring was \
                   forced by `driver: io-uring` but could not start: Operation not permitted\n";
        assert_eq!(
            refusal(log).as_deref(),
            Some(
                "io_uring was forced by `driver: io-uring` but could not start: Operation not \
                 permitted"
            )
        );
        assert_eq!(refusal("error: address in use\n"), None);
    }

    #[test]
    fn a_refused_io_uring_is_a_row_that_says_so() {
        let row = Row {
            case: Case {
                driver: Driver::IoUring,
                shape: PIPELINING,
            },
            outcome: CaseOutcome::Refused("io_uring: no | way".into()),
        };
        let base = crate::run::Workload {
            target: "127.0.0.1:1".parse().unwrap(),
            sub: SubProtocol::Ws,
            sub_path: String::new(),
            subscribers: 10,
            publish: PubProtocol::Post,
            pub_path: String::new(),
            publishers: 1,
            rate_per_s: 50.0,
            size_bytes: 100,
            warmup: std::time::Duration::ZERO,
            duration: std::time::Duration::ZERO,
            threads: 1,
            source_ips: 1,
            get_limit: 1,
            max_in_flight: 1000,
            sub_addr: None,
            sub_tls: None,
            headers: Vec::new(),
        };
        let table = table(&base, &[row]);
        let last = table.lines().last().unwrap();
        assert_eq!(
            last,
            "| 1 publisher, pipelining (≤ 1000 unanswered) | io_uring | refused on this machine: \
             io_uring: no \\| way | — | — | — | — | — | — | n/a |"
        );
    }
}
