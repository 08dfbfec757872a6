//! The publisher shapes and the max-rate stepping over real sockets: every shape against the
//! gateway in this process (WebSocket and SSE subscribers) and against the raw writer on a
//! thread, where nothing may be lost; and two max-rate steps against the gateway. Counts only, no
//! timing thresholds (the lag limit is far beyond anything a loopback run shows).

use std::net::SocketAddr;
use std::time::Duration;

use tidegate_load::max_rate::{self, Stepping, Verdict};
use tidegate_load::publisher::PubProtocol;
use tidegate_load::report::Report;
use tidegate_load::run::{run, Workload};
use tidegate_load::servers::{tidegate_config, Driver, ServerKind, ServerOptions};
use tidegate_load::shapes::PubShape;
use tidegate_load::subscriber::SubProtocol;

const SHAPES: [PubShape; 4] = [
    PubShape::Waiting { publishers: 1 },
    PubShape::Waiting { publishers: 3 },
    PubShape::Pipelining { in_flight: 50 },
    PubShape::WebSocket { publishers: 2 },
];

fn base(target: SocketAddr, (sub_path, pub_path): (&str, &str)) -> Workload {
    Workload {
        target,
        sub: SubProtocol::Ws,
        sub_path: sub_path.into(),
        subscribers: 6,
        publish: PubProtocol::Post,
        pub_path: pub_path.into(),
        publishers: 1,
        rate_per_s: 60.0,
        size_bytes: 64,
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(400),
        threads: 2,
        source_ips: 2,
        get_limit: 100,
        max_in_flight: 1,
        sub_addr: None,
        sub_tls: None,
        headers: Vec::new(),
    }
}

fn start_gateway() -> tidegate::runtime::Gateway {
    let options = ServerOptions {
        tidegate_bin: "unused".into(),
        nginx_bin: "unused".into(),
        threads: 2,
        get_window_ms: 50,
        driver: Driver::Auto,
        ws_deflate: Default::default(),
    };
    let yaml = tidegate_config("127.0.0.1:0".parse().unwrap(), &options);
    let config = tidegate::config::load_str(&yaml, "test").unwrap();
    tidegate::runtime::Gateway::start(config).expect("the gateway starts")
}

/// The raw writer on a thread of this process (it serves until the test process ends).
fn start_raw_writer() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || tidegate_load::raw_server::serve_on(listener));
    addr
}

/// Runs every shape to each subscriber protocol: all 30 messages (60/s for 0.5 s) reach every
/// subscriber, once, in order, with the shape's publisher count and protocol.
fn every_shape_delivers_everything(target: SocketAddr, paths: (&str, &str)) {
    for shape in SHAPES {
        for sub in [SubProtocol::Ws, SubProtocol::Sse] {
            let w = Workload {
                sub,
                ..shape.apply(&base(target, paths))
            };
            let outcome = run(&w, None).expect("run completes");
            let c = &outcome.counts;
            let case = format!("{shape} → {sub:?}: {c:?} {:?}", outcome.errors);
            assert_eq!(c.published, 30, "{case}");
            assert_eq!(c.acknowledged, 30, "{case} {:?}", outcome.publisher_errors);
            assert_eq!(c.subscribers_ready, 6, "{case}");
            assert_eq!(c.delivered, 30 * 6, "{case}");
            assert_eq!((c.lost, c.duplicates, c.reordered), (0, 0, 0), "{case}");
            let publishers = match shape {
                PubShape::Waiting { publishers } | PubShape::WebSocket { publishers } => publishers,
                PubShape::Pipelining { .. } => 1,
            };
            assert_eq!(w.publishers, publishers, "{case}");
        }
    }
}

#[test]
fn every_shape_through_the_gateway() {
    let gateway = start_gateway();
    let paths = ServerKind::Tidegate.paths();
    every_shape_delivers_everything(gateway.local_addr(), (paths.subscribe, paths.publish));
    gateway.shutdown();
}

#[test]
fn every_shape_through_the_raw_writer() {
    let addr = start_raw_writer();
    let paths = ServerKind::Raw.paths();
    every_shape_delivers_everything(addr, (paths.subscribe, paths.publish));
}

/// Two steps up from 20 msg/s, each a whole run against the gateway: both kept (nothing lost,
/// lag far below the 60 s limit), the second at twice the first's rate.
#[test]
fn max_rate_steps_the_offered_rate_against_the_gateway() {
    let gateway = start_gateway();
    let paths = ServerKind::Tidegate.paths();
    let w = PubShape::Waiting { publishers: 2 }.apply(&base(
        gateway.local_addr(),
        (paths.subscribe, paths.publish),
    ));
    let stepping = Stepping {
        start_per_s: 20.0,
        factor: 2.0,
        refine: 0,
        max_steps: 2,
    };
    let steps = max_rate::step(&w, stepping, 60_000_000, |workload| {
        let outcome = run(&workload, None)?;
        Ok(Report::new("step", None, &workload, &outcome))
    })
    .expect("every step runs");
    let rates: Vec<f64> = steps.iter().map(|(r, _)| r.workload.rate_per_s).collect();
    assert_eq!(rates, [20.0, 40.0]);
    for (report, verdict) in &steps {
        assert_eq!(*verdict, Verdict::Kept, "{:?}", report.counts);
        assert_eq!(
            report.counts.delivered,
            report.counts.published * 6,
            "{:?}",
            report.counts
        );
    }
    gateway.shutdown();
}
