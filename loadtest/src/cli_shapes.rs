//! The binary's `shapes` and `max-rate` commands (issue 17's measurement tools), apart from
//! main.rs to keep it one screenful per concern.

use clap::Args;

use tidegate_load::error::LoadError;
use tidegate_load::max_rate::Stepping;
use tidegate_load::servers::ServerKind;
use tidegate_load::shape_suite::SERVERS;
use tidegate_load::shapes::{PubShape, ShapeRow};
use tidegate_load::subscriber::SubProtocol;

use crate::{splice, suite, SuiteArgs};

#[derive(Args)]
pub struct ShapesArgs {
    #[command(flatten)]
    suite: SuiteArgs,
    /// Rows, each SHAPE@RATE: waiting[:PUBLISHERS], pipelining[:UNANSWERED] or ws[:PUBLISHERS]
    /// at an offered rate in messages/s (all publishers together).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "waiting:1@100,waiting:8@400,pipelining@1000,ws@1000"
    )]
    rows: Vec<ShapeRow>,
    /// Subscriber protocols each row runs with.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "ws,sse")]
    subs: Vec<SubProtocol>,
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "tidegate,nchan,raw"
    )]
    servers: Vec<ServerKind>,
}

#[derive(Args)]
pub struct MaxRateArgs {
    #[command(flatten)]
    suite: SuiteArgs,
    // The publisher shape is the workload's `--shape` (pipelining when left out): a second
    // `--shape` here made clap refuse every max-rate command line.
    /// The first step's offered rate, messages/s.
    #[arg(long, default_value_t = 250.0)]
    start_rate: f64,
    /// Each step multiplies the rate by this until a step fails.
    #[arg(long, default_value_t = 2.0)]
    factor: f64,
    /// Geometric halvings of the gap between the last kept and the first failed rate.
    #[arg(long, default_value_t = 2)]
    refine: u32,
    #[arg(long, default_value_t = 10)]
    max_steps: u32,
    /// A step whose p99 latency (or the publishers' send lag) exceeds this fails as lagging.
    #[arg(long, default_value_t = 500)]
    lag_limit_ms: u64,
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "tidegate,nchan,raw"
    )]
    servers: Vec<ServerKind>,
}

/// The table label of a server kind.
fn labelled(kinds: &[ServerKind]) -> Vec<(&'static str, ServerKind)> {
    kinds
        .iter()
        .filter_map(|&kind| SERVERS.iter().copied().find(|&(_, k)| k == kind))
        .collect()
}

pub fn shapes(args: ShapesArgs) -> Result<(), LoadError> {
    let table = suite(&args.suite)?.shapes(&args.rows, &args.subs, &labelled(&args.servers))?;
    splice(&args.suite.doc, "shapes", &table)
}

pub fn max_rate(args: MaxRateArgs) -> Result<(), LoadError> {
    let shape = args
        .suite
        .workload
        .shape
        .unwrap_or(PubShape::Pipelining { in_flight: 1000 });
    let stepping = Stepping {
        start_per_s: args.start_rate,
        factor: args.factor,
        refine: args.refine,
        max_steps: args.max_steps,
    };
    let table = suite(&args.suite)?.max_rate(
        shape,
        stepping,
        args.lag_limit_ms.saturating_mul(1000),
        &labelled(&args.servers),
    )?;
    let name = format!("max-rate-{}-{:?}", shape, args.suite.workload.sub)
        .replace(':', "-")
        .to_lowercase();
    splice(&args.suite.doc, &name, &table)
}
