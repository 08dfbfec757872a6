//! Publisher shapes: how the offered messages reach the server. The cost of a delivery depends
//! on it: messages from a publisher that waits for each answer arrive apart (each needs its own
//! write to every subscriber), a pipelining or WebSocket publisher lets messages arrive together
//! (they can share a write). Issue 17 of the project measures each shape separately.
//!
//! Written `NAME[:N]`:
//! - `waiting[:P]`: P HTTP publishers (default 1), each waiting for the answer (202) to its POST
//!   before sending the next, together at the run's rate;
//! - `pipelining[:K]`: one HTTP publisher with up to K unanswered POSTs (default 1000);
//! - `ws[:P]`: P WebSocket publishers (default 1), one text frame per message, no answers.
//!
//! A row of the `shapes` comparison adds the rate: `SHAPE@RATE`, e.g. `waiting:8@400`.

use std::fmt;
use std::str::FromStr;

use crate::publisher::PubProtocol;
use crate::run::Workload;

/// Unanswered POSTs of `pipelining` without a number (the harness's default).
pub const DEFAULT_PIPELINE: u64 = 1000;

/// Unwritten messages a WebSocket publisher may hold before it waits (its only bound).
const WS_BACKLOG: u64 = 1000;

/// How messages are published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PubShape {
    /// Publishers each waiting for the answer to one POST before sending the next.
    Waiting { publishers: u32 },
    /// One publisher with up to `in_flight` unanswered POSTs on its connection.
    Pipelining { in_flight: u64 },
    /// WebSocket publishers.
    WebSocket { publishers: u32 },
}

impl PubShape {
    /// `base` published this way (protocol, publisher count and in-flight bound).
    pub fn apply(self, base: &Workload) -> Workload {
        let (publish, publishers, max_in_flight) = match self {
            PubShape::Waiting { publishers } => (PubProtocol::Post, publishers, 1),
            PubShape::Pipelining { in_flight } => (PubProtocol::Post, 1, in_flight),
            PubShape::WebSocket { publishers } => (PubProtocol::Ws, publishers, WS_BACKLOG),
        };
        Workload {
            publish,
            publishers,
            max_in_flight,
            ..base.clone()
        }
    }

    /// A human label: "8 waiting publishers", "1 pipelining publisher (≤ 1000 unanswered)".
    pub fn label(self) -> String {
        let plural = |n: u32| if n == 1 { "" } else { "s" };
        match self {
            PubShape::Waiting { publishers: n } => format!("{n} waiting publisher{}", plural(n)),
            PubShape::Pipelining { in_flight } => {
                format!("1 pipelining publisher (≤ {in_flight} unanswered)")
            }
            PubShape::WebSocket { publishers: n } => {
                format!("{n} WebSocket publisher{}", plural(n))
            }
        }
    }
}

impl fmt::Display for PubShape {
    /// The written form, which parses back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PubShape::Waiting { publishers } => write!(f, "waiting:{publishers}"),
            PubShape::Pipelining { in_flight } => write!(f, "pipelining:{in_flight}"),
            PubShape::WebSocket { publishers } => write!(f, "ws:{publishers}"),
        }
    }
}

impl FromStr for PubShape {
    type Err = String;

    fn from_str(text: &str) -> Result<PubShape, String> {
        let (name, number) = match text.split_once(':') {
            Some((name, number)) => (name, Some(number)),
            None => (text, None),
        };
        let count = |default: u64| -> Result<u64, String> {
            match number {
                None => Ok(default),
                Some(n) => match n.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(format!(
                        "`{text}`: the number after `{name}:` must be a positive integer"
                    )),
                },
            }
        };
        let publishers = |default| {
            count(default).and_then(|n| {
                u32::try_from(n).map_err(|_| format!("`{text}`: too many publishers"))
            })
        };
        match name {
            "waiting" => Ok(PubShape::Waiting {
                publishers: publishers(1)?,
            }),
            "pipelining" => Ok(PubShape::Pipelining {
                in_flight: count(DEFAULT_PIPELINE)?,
            }),
            "ws" => Ok(PubShape::WebSocket {
                publishers: publishers(1)?,
            }),
            _ => Err(format!(
                "`{text}`: a publisher shape is waiting[:PUBLISHERS], pipelining[:UNANSWERED] \
                 or ws[:PUBLISHERS]"
            )),
        }
    }
}

/// One row of the `shapes` comparison: a publisher shape at an offered rate.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ShapeRow {
    pub shape: PubShape,
    /// Messages per second offered, all publishers together.
    pub rate_per_s: f64,
}

impl FromStr for ShapeRow {
    type Err = String;

    /// `SHAPE@RATE`, e.g. `waiting:8@400`.
    fn from_str(text: &str) -> Result<ShapeRow, String> {
        let Some((shape, rate)) = text.rsplit_once('@') else {
            return Err(format!(
                "`{text}`: a row is SHAPE@RATE, e.g. waiting:1@100 or pipelining@1000"
            ));
        };
        let rate_per_s = match rate.parse::<f64>() {
            Ok(rate) if rate.is_finite() && rate > 0.0 => rate,
            _ => {
                return Err(format!(
                    "`{text}`: the rate after `@` must be a positive number of messages per second"
                ))
            }
        };
        Ok(ShapeRow {
            shape: shape.parse()?,
            rate_per_s,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::subscriber::SubProtocol;

    /// A workload for tests that never connect.
    pub(crate) fn workload() -> Workload {
        Workload {
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
            duration: std::time::Duration::from_secs(1),
            threads: 1,
            source_ips: 1,
            get_limit: 1,
            max_in_flight: 1000,
            sub_addr: None,
            sub_tls: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn shapes_parse_with_and_without_their_number() {
        let cases = [
            ("waiting", PubShape::Waiting { publishers: 1 }),
            ("waiting:8", PubShape::Waiting { publishers: 8 }),
            ("pipelining", PubShape::Pipelining { in_flight: 1000 }),
            ("pipelining:64", PubShape::Pipelining { in_flight: 64 }),
            ("ws", PubShape::WebSocket { publishers: 1 }),
            ("ws:4", PubShape::WebSocket { publishers: 4 }),
        ];
        for (text, shape) in cases {
            assert_eq!(text.parse::<PubShape>(), Ok(shape), "{text}");
            assert_eq!(shape.to_string().parse::<PubShape>(), Ok(shape), "{text}");
        }
    }

    #[test]
    fn bad_shapes_say_what_is_expected() {
        for text in [
            "",
            "waiting:0",
            "waiting:-1",
            "waiting:x",
            "ws:99999999999",
            "sse:1",
        ] {
            let err = text.parse::<PubShape>().unwrap_err();
            assert!(err.contains(&format!("`{text}`")), "{text}: {err}");
        }
        assert!("poll"
            .parse::<PubShape>()
            .unwrap_err()
            .contains("waiting[:PUBLISHERS], pipelining[:UNANSWERED] or ws[:PUBLISHERS]"));
    }

    #[test]
    fn rows_carry_a_positive_rate() {
        assert_eq!(
            "waiting:8@400".parse::<ShapeRow>(),
            Ok(ShapeRow {
                shape: PubShape::Waiting { publishers: 8 },
                rate_per_s: 400.0
            })
        );
        assert_eq!(
            "pipelining@1000.5".parse::<ShapeRow>().unwrap().rate_per_s,
            1000.5
        );
        for text in [
            "waiting",
            "waiting@0",
            "waiting@-3",
            "waiting@inf",
            "ws@x",
            "bad@1",
        ] {
            assert!(text.parse::<ShapeRow>().is_err(), "{text}");
        }
    }

    #[test]
    fn a_shape_sets_protocol_publishers_and_in_flight_bound() {
        let base = workload();
        let w = PubShape::Waiting { publishers: 8 }.apply(&base);
        assert_eq!(
            (w.publish, w.publishers, w.max_in_flight),
            (PubProtocol::Post, 8, 1)
        );
        let w = PubShape::Pipelining { in_flight: 64 }.apply(&base);
        assert_eq!(
            (w.publish, w.publishers, w.max_in_flight),
            (PubProtocol::Post, 1, 64)
        );
        let w = PubShape::WebSocket { publishers: 2 }.apply(&base);
        assert_eq!(
            (w.publish, w.publishers, w.max_in_flight),
            (PubProtocol::Ws, 2, WS_BACKLOG)
        );
        assert_eq!(w.subscribers, base.subscribers);
        assert_eq!(
            PubShape::Waiting { publishers: 1 }.label(),
            "1 waiting publisher"
        );
        assert_eq!(
            PubShape::WebSocket { publishers: 3 }.label(),
            "3 WebSocket publishers"
        );
    }
}
