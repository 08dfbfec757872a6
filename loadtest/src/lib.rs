//! tidegate-load: the load-test harness of tidegate.
//!
//! ```text
//! main.rs       (the binary) CLI: run | entrypoints | peers | drivers | idle | machine | raw-server
//! run.rs        one run: subscribers ready → open-loop publishing → drain → merged counts
//! engine.rs     the client event loop (mio): many sockets, one thread, sans-IO sessions
//! subscriber.rs WebSocket / SSE / HTTP GET subscriber sessions; mqtt_client.rs direct MQTT ones
//! publisher.rs  HTTP POST / WebSocket publisher sessions, written on the schedule
//! schedule.rs   the harness clock and open-loop due times
//! stamp.rs      the payload: publisher, sequence number, intended send time
//! recorder.rs   per-thread latency histogram and loss/duplicate accounting
//! sequence.rs   per (subscriber, publisher) sequence tracking
//! latency.rs    HdrHistogram wrapper; report.rs, plot.rs, doc.rs: outputs
//! servers.rs    servers under test (tidegate, nginx + nchan, raw writer) as child processes
//! procstat.rs   CPU seconds and RSS from /proc; limits.rs RLIMIT_NOFILE
//! suites.rs     entrypoint and peer comparisons; idle.rs memory per connection
//! drivers.rs    io_uring vs epoll in tidegate, for a pipelining and for waiting publishers
//! broker_suite.rs `broker`: tidegate in front of tansu (Kafka) or mosquitto (MQTT): brokers.rs
//!               starts them, broker_config.rs writes the gateway's APIs, replay.rs replays a
//!               backlog from `earliest` to every client (exact per-client accounting)
//! raw_server.rs the raw writer (the physical limit)
//! ```

pub mod broker_config;
pub mod broker_suite;
pub mod brokers;
pub mod chunked;
pub mod doc;
pub mod drivers;
pub mod engine;
pub mod error;
pub mod http;
pub mod idle;
pub mod latency;
pub mod limits;
pub mod mqtt_client;
pub mod plot;
pub mod procstat;
pub mod publisher;
pub mod raw_server;
pub mod recorder;
pub mod replay;
pub mod report;
pub mod run;
pub mod schedule;
pub mod sequence;
pub mod servers;
pub mod stamp;
pub mod subscriber;
pub mod suites;
pub mod tls;
