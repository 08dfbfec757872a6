//! One API's numbers summed over the shards, for the management API's per-API `stats`.

use std::sync::Arc;

use super::{get, ApiMetrics};

/// One API's numbers on this node, summed over every shard and entrypoint (the management API's
/// `stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiTotals {
    pub open_streams: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    /// Answers of every status class.
    pub requests: u64,
}

/// The totals of API `id` (zero for an id no shard has served).
pub fn api_totals(shards: &[Arc<ApiMetrics>], id: &str) -> ApiTotals {
    let mut totals = ApiTotals::default();
    for shard in shards {
        for row in shard.rows().iter().filter(|row| row.id == id) {
            for series in &row.series {
                totals.open_streams += get(&series.streams_open);
                totals.messages_in += get(&series.messages_in);
                totals.messages_out += get(&series.messages_out);
                totals.requests += series.responses.iter().map(get).sum::<u64>();
            }
        }
    }
    totals
}
