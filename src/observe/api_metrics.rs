//! Per-API metrics: answers by status class, messages in and out, open streams and duration
//! histograms, per API and entrypoint.
//!
//! Each shard owns one `ApiMetrics` table and is its only writer: plain relaxed atomics on the hot
//! path, no lock, no map lookup (a routed API holds `Arc`s to its series, got when the shard built
//! it). The table grows when a live apply deploys an API id it has not seen (`register`, under a
//! lock taken only then and at scrape time). The admin endpoint sums the shards at scrape time, by
//! API id.
//!
//! Label cardinality is bounded by the configuration: `api` is an API id deployed since the start
//! (or `-` for requests no API served: unknown paths, malformed heads), `entrypoint` one of five
//! names and `status` one of five classes (`1xx`…`5xx`). A removed API keeps its series (counters
//! do not go backwards) until the restart. Histograms have fixed buckets.

#![allow(
    clippy::disallowed_types,
    reason = "the table grows when a live apply registers an API (off the request path); shards hold Arcs to their series"
)]
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::{ApiConfig, EntrypointConfig};

/// The `api` label of requests no API served.
pub const UNROUTED_API: &str = "-";

/// Which entrypoint served a request (`None`: refused before one was chosen: 404, 405, 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntrypointKind {
    /// `type: http-get`: batch poll.
    HttpGet,
    /// `type: http-post`: publish.
    HttpPost,
    /// `type: sse`: Server-Sent Events stream.
    Sse,
    /// `type: websocket`: WebSocket session.
    WebSocket,
    /// No entrypoint: the request was answered before one was chosen (label `none`).
    None,
}

impl EntrypointKind {
    const ALL: [EntrypointKind; 5] = [
        EntrypointKind::HttpGet,
        EntrypointKind::HttpPost,
        EntrypointKind::Sse,
        EntrypointKind::WebSocket,
        EntrypointKind::None,
    ];

    /// The label value: the entrypoint's configuration `type`, or `none`.
    pub fn name(self) -> &'static str {
        match self {
            EntrypointKind::HttpGet => "http-get",
            EntrypointKind::HttpPost => "http-post",
            EntrypointKind::Sse => "sse",
            EntrypointKind::WebSocket => "websocket",
            EntrypointKind::None => "none",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// SSE and WebSocket answers open streams; their histogram measures how long streams last.
    fn streams(self) -> bool {
        matches!(self, EntrypointKind::Sse | EntrypointKind::WebSocket)
    }
}

/// Request durations (seconds): from a published message's ack to a long poll's whole wait.
const REQUEST_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Stream durations (seconds): from a page left at once to a dashboard open all day.
const STREAM_BUCKETS: &[f64] = &[1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0];

/// A histogram with fixed buckets (counts per bucket, cumulated when rendered).
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// One per bound, then one for `+Inf`.
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = self
            .bounds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// One API × entrypoint on one shard.
#[derive(Debug)]
pub struct EntrypointSeries {
    kind: EntrypointKind,
    /// Answers by status class, `1xx` first.
    responses: [AtomicU64; 5],
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    streams_open: AtomicU64,
    durations: Histogram,
}

impl EntrypointSeries {
    fn new(kind: EntrypointKind) -> EntrypointSeries {
        let bounds = if kind.streams() {
            STREAM_BUCKETS
        } else {
            REQUEST_BUCKETS
        };
        EntrypointSeries {
            kind,
            responses: Default::default(),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            streams_open: AtomicU64::new(0),
            durations: Histogram::new(bounds),
        }
    }

    /// Messages clients published through this entrypoint.
    pub fn messages_in(&self, count: u64) {
        self.messages_in.fetch_add(count, Ordering::Relaxed);
    }

    /// Messages delivered to clients through this entrypoint.
    pub fn messages_out(&self, count: u64) {
        self.messages_out.fetch_add(count, Ordering::Relaxed);
    }

    /// A stream opened (`stream_closed` when it ends).
    pub fn stream_opened(&self) {
        self.streams_open.fetch_add(1, Ordering::Relaxed);
    }

    /// A stream ended.
    pub fn stream_closed(&self) {
        self.streams_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A request ended with an answer of `status`; `stream`: it opened a stream that lasted
    /// `duration` (else `duration` is the request's). A refused stream request is counted, not
    /// timed: the stream histogram holds streams only.
    pub fn finished(&self, status: u16, duration: Duration, stream: bool) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        if stream || !self.kind.streams() {
            self.durations.observe(duration);
        }
    }
}

/// One API's series on one shard.
#[derive(Debug)]
pub struct ApiSeries {
    id: String,
    /// The entrypoints it declared in any deployed version (and `none`): only those are rendered.
    declared: [AtomicBool; 5],
    series: [Arc<EntrypointSeries>; 5],
}

impl ApiSeries {
    fn new(id: &str, declared: [bool; 5]) -> ApiSeries {
        ApiSeries {
            id: id.to_owned(),
            declared: declared.map(AtomicBool::new),
            series: EntrypointKind::ALL.map(|kind| Arc::new(EntrypointSeries::new(kind))),
        }
    }

    /// The series of one of the API's entrypoints.
    pub fn entrypoint(&self, kind: EntrypointKind) -> Arc<EntrypointSeries> {
        self.series[kind.index()].clone()
    }

    fn declared(&self, kind: EntrypointKind) -> bool {
        self.declared[kind.index()].load(Ordering::Relaxed)
    }
}

/// One shard's per-API metrics: one entry per API id deployed since the start, in the order they
/// were first deployed, then one for requests no API served.
#[derive(Debug)]
pub struct ApiMetrics {
    apis: Mutex<Vec<Arc<ApiSeries>>>,
    unrouted: Arc<ApiSeries>,
}

impl ApiMetrics {
    /// The table for `apis` (stopped APIs included: their series stay at zero).
    pub fn new(apis: &[ApiConfig]) -> ApiMetrics {
        let metrics = ApiMetrics {
            apis: Mutex::new(Vec::new()),
            unrouted: Arc::new(ApiSeries::new(
                UNROUTED_API,
                [false, false, false, false, true],
            )),
        };
        for api in apis {
            metrics.register(api);
        }
        metrics
    }

    /// The series of `api` (added when its id is new; its entrypoints marked declared).
    pub fn register(&self, api: &ApiConfig) -> Arc<ApiSeries> {
        let mut table = self
            .apis
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let series = match table.iter().find(|series| series.id == api.id) {
            Some(series) => series.clone(),
            None => {
                let series = Arc::new(ApiSeries::new(&api.id, [false, false, false, false, true]));
                table.push(series.clone());
                series
            }
        };
        for entrypoint in &api.entrypoints {
            let kind = match entrypoint {
                EntrypointConfig::HttpGet(_) => EntrypointKind::HttpGet,
                EntrypointConfig::HttpPost(_) => EntrypointKind::HttpPost,
                EntrypointConfig::Sse(_) => EntrypointKind::Sse,
                EntrypointConfig::WebSocket(_) => EntrypointKind::WebSocket,
                // Deliveries have their own series (`tidegate_webhook_*`).
                EntrypointConfig::Webhook(_) => continue,
            };
            series.declared[kind.index()].store(true, Ordering::Relaxed);
        }
        series
    }

    /// The series of requests no API served.
    pub fn unrouted(&self, kind: EntrypointKind) -> Arc<EntrypointSeries> {
        self.unrouted.entrypoint(kind)
    }

    /// Every API's series, then the unrouted ones.
    fn rows(&self) -> Vec<Arc<ApiSeries>> {
        let table = self
            .apis
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut rows = table.clone();
        rows.push(self.unrouted.clone());
        rows
    }
}

/// Renders every shard's table, summed, in the Prometheus text format.
pub fn render_api_metrics(shards: &[Arc<ApiMetrics>]) -> String {
    let mut out = String::new();
    if shards.is_empty() {
        return out;
    }
    // Each API id's series on every shard that has it, in order of first appearance (the
    // unrouted row last: every shard has it, and it is last on each).
    let mut groups: Vec<Vec<Arc<ApiSeries>>> = Vec::new();
    for shard in shards {
        for row in shard.rows() {
            match groups.iter_mut().find(|group| group[0].id == row.id) {
                Some(group) => group.push(row),
                None => groups.push(vec![row]),
            }
        }
    }
    if let Some(last) = groups.iter().position(|group| group[0].id == UNROUTED_API) {
        let unrouted = groups.remove(last);
        groups.push(unrouted);
    }
    // `(group index, entrypoint kind)` of every rendered series.
    let rendered: Vec<(usize, EntrypointKind)> = groups
        .iter()
        .enumerate()
        .flat_map(|(index, group)| {
            EntrypointKind::ALL
                .into_iter()
                .filter(|kind| group.iter().any(|series| series.declared(*kind)))
                .map(move |kind| (index, kind))
        })
        .collect();
    let sum = |api: usize, kind: EntrypointKind, pick: &dyn Fn(&EntrypointSeries) -> u64| -> u64 {
        groups[api]
            .iter()
            .map(|series| pick(&series.series[kind.index()]))
            .sum()
    };
    let labels = |api: usize, kind: EntrypointKind| {
        format!(
            "api=\"{}\",entrypoint=\"{}\"",
            groups[api][0].id,
            kind.name()
        )
    };

    header(
        &mut out,
        "api_responses_total",
        "counter",
        "Answers per API, entrypoint and status class (api \"-\": requests no API served).",
    );
    for &(api, kind) in &rendered {
        for (class, name) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            let value = sum(api, kind, &|s| get(&s.responses[class]));
            let _ = writeln!(
                out,
                "tidegate_api_responses_total{{{},status=\"{name}\"}} {value}",
                labels(api, kind)
            );
        }
    }
    for (name, help, pick) in [
        (
            "api_messages_in_total",
            "Messages clients published, per API and entrypoint.",
            (|s: &EntrypointSeries| get(&s.messages_in)) as fn(&EntrypointSeries) -> u64,
        ),
        (
            "api_messages_out_total",
            "Messages delivered to clients, per API and entrypoint.",
            |s| get(&s.messages_out),
        ),
    ] {
        header(&mut out, name, "counter", help);
        for &(api, kind) in rendered
            .iter()
            .filter(|(_, kind)| *kind != EntrypointKind::None)
        {
            let _ = writeln!(
                out,
                "tidegate_{name}{{{}}} {}",
                labels(api, kind),
                sum(api, kind, &pick)
            );
        }
    }
    header(
        &mut out,
        "api_streams_open",
        "gauge",
        "SSE and WebSocket streams open, per API and entrypoint.",
    );
    for &(api, kind) in rendered.iter().filter(|(_, kind)| kind.streams()) {
        let _ = writeln!(
            out,
            "tidegate_api_streams_open{{{}}} {}",
            labels(api, kind),
            sum(api, kind, &|s| get(&s.streams_open))
        );
    }
    for (name, help, streams) in [
        ("api_request_duration_seconds", "Time from a request's first byte to the end of its answer (http-get: including the poll's wait), per API and entrypoint.", false),
        ("api_stream_duration_seconds", "How long SSE and WebSocket streams lasted, per API and entrypoint.", true),
    ] {
        header(&mut out, name, "histogram", help);
        for &(api, kind) in rendered.iter().filter(|(_, kind)| kind.streams() == streams) {
            let bounds = groups[api][0].series[kind.index()].durations.bounds;
            let mut cumulative = 0;
            for (bucket, bound) in bounds.iter().map(Some).chain([None]).enumerate() {
                cumulative += sum(api, kind, &|s| get(&s.durations.counts[bucket]));
                let le = bound.map_or("+Inf".to_owned(), |bound| bound.to_string());
                let _ = writeln!(out, "tidegate_{name}_bucket{{{},le=\"{le}\"}} {cumulative}", labels(api, kind));
            }
            let micros = sum(api, kind, &|s| get(&s.durations.sum_micros));
            let _ = writeln!(out, "tidegate_{name}_sum{{{}}} {}", labels(api, kind), micros as f64 / 1e6);
            let _ = writeln!(out, "tidegate_{name}_count{{{}}} {cumulative}", labels(api, kind));
        }
    }
    out
}

fn get(value: &AtomicU64) -> u64 {
    value.load(Ordering::Relaxed)
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP tidegate_{name} {help}");
    let _ = writeln!(out, "# TYPE tidegate_{name} {kind}");
}

/// One API's totals over every shard (the management API's per-API stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiTotals {
    /// SSE and WebSocket streams open now.
    pub open_streams: u64,
    /// Messages clients published.
    pub messages_in: u64,
    /// Messages delivered to clients.
    pub messages_out: u64,
    /// Answers given (every status class).
    pub requests: u64,
}

/// `id`'s totals summed over `shards`; `None` when it was never deployed since the start.
pub fn api_totals(shards: &[Arc<ApiMetrics>], id: &str) -> Option<ApiTotals> {
    let mut totals: Option<ApiTotals> = None;
    for shard in shards {
        let Some(api) = shard.rows().into_iter().find(|row| row.id == id) else {
            continue;
        };
        let sum = totals.get_or_insert_with(ApiTotals::default);
        for series in &api.series {
            sum.open_streams += get(&series.streams_open);
            sum.messages_in += get(&series.messages_in);
            sum.messages_out += get(&series.messages_out);
            sum.requests += series.responses.iter().map(get).sum::<u64>();
        }
    }
    totals
}

#[cfg(test)]
#[path = "api_metrics_tests.rs"]
mod tests;
