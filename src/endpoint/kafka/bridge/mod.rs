//! The Kafka bridge: one thread running a current-thread tokio runtime, because rskafka needs
//! tokio (its sockets, timers and tasks). tokio never leaves `bridge/`: the shards talk to
//! the bridge only through `cross_shard::kafka_link`.
//!
//! The bridge runs every feed (fetch loops that append to node buffers), the catch-up fetches
//! clients ask for, the consumer group members and the producers. Everything on it is
//! single-threaded (`LocalSet`), so its state is `Rc`/`RefCell` like a shard's.
//!
//! # Which way the dependencies go
//! ```text
//! runtime ──KafkaBridge──▶ bridge/ ──▶ plan.rs (what to run), and the sans-IO helpers it acts on:
//!                             │        offsets.rs, group_assign.rs, murmur2.rs, produce_failure.rs
//!                             ▼
//!                 cross_shard::kafka_link ◀── shard side (mod.rs, local_feed.rs, catch_up.rs,
//!                                             cursor_end.rs, subscription_feeds.rs)
//! ```
//! The bridge's surface is [`KafkaBridge`] alone (re-exported as `endpoint::kafka::KafkaBridge`,
//! for the runtime that starts it); everything else here is private to `bridge/`. The shard side
//! never names `bridge/`: it sends `BridgeCommand`s and reads the node buffers through
//! `cross_shard::kafka_link`. The bridge names, of the rest of `endpoint::kafka`, only the plan and
//! the sans-IO helpers above, which name nothing back. `tests/module_layers.rs` checks both.
//!
//! Files: `feed.rs` starts a feed (layout, partition connections), `fetch_session.rs` is the
//! fetch loop every reader runs, `catch_up.rs` the shared catch-up readers, `ends.rs` the
//! past-the-log-end checks, `group*.rs` the consumer group protocol (rskafka has none: members,
//! requests, wire, SASL), `produce.rs` the producers.

mod catch_up;
mod ends;
mod feed;
mod feed_runs;
mod fetch_session;
mod group;
mod group_requests;
mod group_sasl;
mod group_wire;
mod produce;

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use rskafka::BackoffConfig;

use feed::learn_layout;
use feed_runs::FeedRuns;
use group::{run_group_feed, SubscriptionMember};
use produce::Producers;

use crate::config::kafka::{KafkaSecurity, SaslMechanism};
use crate::cross_shard::kafka_link::{BridgeCommand, KafkaFeed, KafkaLink};
use crate::cross_shard::kafka_subscriptions::SubscriptionGroups;
use crate::endpoint::fault::error_chain;
use crate::endpoint::kafka::plan::{Brokers, KafkaPlan};
use crate::endpoint::{BrokerFailure, BrokerProblem};
use crate::metrics::KafkaMetrics;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// A running bridge; dropping it stops the thread.
pub struct KafkaBridge {
    link: KafkaLink,
    metrics: Arc<KafkaMetrics>,
    thread: Option<JoinHandle<()>>,
}

impl KafkaBridge {
    /// Starts the bridge for `plan` (not empty), with buffers for `shards` shards, running the
    /// feeds `used` marks (`KafkaPlan::feeds_in_use`).
    pub fn start(plan: Arc<KafkaPlan>, shards: usize, used: Vec<bool>) -> io::Result<KafkaBridge> {
        let feeds: Vec<Arc<KafkaFeed>> = plan
            .feeds
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                Arc::new(KafkaFeed::new(
                    &format!("kafka-feed-{index}"),
                    spec.consumer.max_retained_messages,
                    spec.consumer.max_retained_bytes,
                    shards,
                ))
            })
            .collect();
        let metrics = Arc::new(KafkaMetrics::default());
        let subscription_groups = plan
            .feeds
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                let options = spec.consumer.subscription_groups?;
                Some(Arc::new(SubscriptionGroups::new(
                    index,
                    options.max,
                    shards,
                    spec.consumer.max_retained_messages,
                    spec.consumer.max_retained_bytes,
                    metrics.clone(),
                )))
            })
            .collect();
        let (link, commands) = KafkaLink::new(feeds.clone(), subscription_groups);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread_metrics = metrics.clone();
        let thread = std::thread::Builder::new()
            .name("tidegate-kafka".to_owned())
            .spawn(move || {
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, serve(plan, feeds, used, commands, thread_metrics));
            })?;
        Ok(KafkaBridge {
            link,
            metrics,
            thread: Some(thread),
        })
    }

    /// The shards' handle.
    pub fn link(&self) -> &KafkaLink {
        &self.link
    }

    /// Runs the feeds `used` marks and stops the others (`KafkaPlan::feeds_in_use` of the
    /// configuration just applied).
    pub fn feeds_in_use(&self, used: Vec<bool>) {
        self.link.feeds_in_use(used);
    }

    /// The bridge's counters.
    pub fn metrics(&self) -> &Arc<KafkaMetrics> {
        &self.metrics
    }
}

impl Drop for KafkaBridge {
    fn drop(&mut self) {
        self.link.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The bridge's main task: starts the feeds `used` marks, then serves requests until told to
/// stop.
async fn serve(
    plan: Arc<KafkaPlan>,
    feeds: Vec<Arc<KafkaFeed>>,
    used: Vec<bool>,
    commands: flume::Receiver<BridgeCommand>,
    metrics: Arc<KafkaMetrics>,
) {
    // Subscription group members commit and leave their groups at shutdown: they are told,
    // then awaited.
    let (stop_groups, stopping) = tokio::sync::watch::channel(false);
    let mut members: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    // Per feed: its partition connections, through which clients' positions are checked.
    let connections: Vec<ends::FeedPartitions> =
        plan.feeds.iter().map(|_| Default::default()).collect();
    let end_checks = Rc::new(Cell::new(0));
    for (spec, feed) in plan.feeds.iter().zip(feeds.iter()) {
        // Its subscriptions' groups are joined when their first client comes; the feed itself
        // only learns the layout clients' cursors are read in.
        if spec.consumer.per_subscription_groups() {
            tokio::task::spawn_local(learn_layout(spec.clone(), feed.clone(), metrics.clone()));
        }
    }
    let mut runs = FeedRuns::new(
        plan.clone(),
        feeds.clone(),
        metrics.clone(),
        connections.clone(),
    );
    runs.set(&used);
    let producers = Producers::start(&plan.producers, metrics.clone());
    // Per feed: the connections all its catch-up readers share (opened by the first).
    let catch_up_connections: Vec<catch_up::SharedConnections> =
        plan.feeds.iter().map(|_| Default::default()).collect();
    while let Ok(command) = commands.recv_async().await {
        match command {
            BridgeCommand::Produce(request) => {
                let producers = producers.clone();
                tokio::task::spawn_local(async move { producers.produce(request).await });
            }
            BridgeCommand::CatchUp(request) => {
                let (Some(spec), Some(connections)) = (
                    plan.feeds.get(request.feed).cloned(),
                    catch_up_connections.get(request.feed),
                ) else {
                    continue;
                };
                catch_up::spawn(spec, request, connections, &metrics);
            }
            BridgeCommand::CheckEnds(check) => {
                let (Some(feed), Some(partitions)) =
                    (feeds.get(check.feed).cloned(), connections.get(check.feed))
                else {
                    let _ = check.reply.send(None);
                    continue;
                };
                ends::spawn(check, feed, partitions, &end_checks, &metrics);
            }
            BridgeCommand::JoinSubscription(join) => {
                let Some(spec) = plan.feeds.get(join.groups.feed).cloned() else {
                    continue;
                };
                // Finished members are dropped so the list stays as long as the open groups.
                members.retain(|member| !member.is_finished());
                let base = spec.consumer.group_id.clone().unwrap_or_default();
                let group = format!("{base}.{}", join.subscription);
                let Some(configured) = feeds.get(join.groups.feed).cloned() else {
                    continue;
                };
                let member = SubscriptionMember::new(
                    &spec,
                    join.groups,
                    configured,
                    join.subscription,
                    &join.feed,
                );
                members.push(tokio::task::spawn_local(run_group_feed(
                    spec,
                    group,
                    join.feed,
                    metrics.clone(),
                    stopping.clone(),
                    member,
                )));
            }
            BridgeCommand::FeedsInUse(used) => runs.set(&used),
            BridgeCommand::Shutdown => break,
        }
    }
    let _ = stop_groups.send(true);
    members.extend(runs.stop_all());
    // One deadline for all of them: they commit and leave concurrently.
    let deadline = tokio::time::Instant::now() + GROUP_LEAVE_TIMEOUT;
    for member in members {
        if tokio::time::timeout_at(deadline, member).await.is_err() {
            tracing::warn!("consumer group members did not all commit and leave in time");
            break;
        }
    }
    // Returning ends `block_on`; dropping the LocalSet cancels every fetch and produce task.
}

/// How long shutdown waits for the group members' last commits and LeaveGroups (all together).
const GROUP_LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long rskafka retries one request (a connection, a fetch) before it reports the error:
/// the feeds log it and retry on their own, so a wrong password or a dead broker shows in the
/// log with its reason.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// How long to wait between rskafka's own retries of one request, for at most `deadline`.
fn backoff(deadline: Duration) -> BackoffConfig {
    BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(deadline),
    }
}

/// Connects to `brokers`, retrying until they answer (each try bounded by `REQUEST_DEADLINE`).
async fn connect(brokers: &Brokers, metrics: &KafkaMetrics) -> Client {
    let mut delay = Duration::from_millis(100);
    loop {
        match try_connect(brokers, REQUEST_DEADLINE, metrics).await {
            Ok(client) => return client,
            Err(failure) => {
                tracing::warn!(error = %failure, servers = ?brokers.servers, "cannot connect to the Kafka brokers; retrying");
            }
        }
        crate::metrics::ShardMetrics::inc(&metrics.fetch_errors_total);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// One attempt to connect to `brokers`; its requests are retried for at most `deadline`. A
/// refused SASL authentication is counted in `metrics`.
async fn try_connect(
    brokers: &Brokers,
    deadline: Duration,
    metrics: &KafkaMetrics,
) -> Result<Client, BrokerFailure> {
    let mut builder = ClientBuilder::new(brokers.servers.clone())
        .client_id("tidegate")
        .backoff_config(backoff(deadline));
    if let Some(tls) = tls_config(&brokers.security) {
        builder = builder.tls_config(tls);
    }
    if let Some(sasl) = &brokers.security.sasl {
        let credentials =
            Credentials::new(sasl.username.clone(), sasl.password.expose().to_owned());
        builder = builder.sasl_config(match sasl.mechanism {
            SaslMechanism::Plain => SaslConfig::Plain(credentials),
            SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
            SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
        });
    }
    // rskafka gives up after `deadline`; the margin covers its last attempt.
    match tokio::time::timeout(deadline * 2, builder.build()).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(error)) => {
            let detail = error_chain(&error);
            if sasl_refused(&error) {
                crate::metrics::ShardMetrics::inc(&metrics.sasl_failures_total);
                return Err(BrokerFailure::new(
                    BrokerProblem::CredentialsRefused,
                    detail,
                ));
            }
            Err(BrokerFailure::new(connect_problem(&detail), detail))
        }
        Err(_) => Err(BrokerFailure::new(
            BrokerProblem::Unreachable,
            format!("no answer within {deadline:?}"),
        )),
    }
}

/// The category of a failed rskafka connection, read from its error text: rskafka wraps the
/// cause in retry errors that do not expose it as a `source`, so the text is all there is.
/// SASL comes first (its handshake is not TLS's); anything unrecognized counts as unreachable.
fn connect_problem(detail: &str) -> BrokerProblem {
    let text = detail.to_ascii_lowercase();
    if text.contains("sasl") {
        BrokerProblem::CredentialsRefused
    } else if ["tls", "certificate", "handshake", "alert"]
        .iter()
        .any(|word| text.contains(word))
    {
        BrokerProblem::TlsFailed
    } else {
        BrokerProblem::Unreachable
    }
}

/// True when `error` is, or after rskafka's retries wraps, a failed SASL exchange. rskafka folds
/// the errors of its retries into one message (of a type it does not export), so past the
/// first level the kind is read from its wording, here only; a unit test pins that wording.
fn sasl_refused(error: &rskafka::client::error::Error) -> bool {
    match error {
        rskafka::client::error::Error::Connection(rskafka::ConnectionError::SaslFailed(_)) => true,
        other => other.to_string().contains(SASL_FAILED_WORDING),
    }
}

/// How rskafka's `ConnectionError::SaslFailed` begins.
const SASL_FAILED_WORDING: &str = "Sasl handshake failed";

/// rustls settings trusting the configured authorities (validated to hold a certificate) and
/// presenting the key store's client certificate, if any; shared by rskafka's connections and
/// the consumer-group connection.
fn tls_config(security: &KafkaSecurity) -> Option<Arc<rustls::ClientConfig>> {
    let pem = security.tls_trust_pem.as_ref()?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()).flatten() {
        if let Err(error) = roots.add(cert) {
            tracing::warn!(%error, "a trust store certificate was not accepted");
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots))
        .and_then(|builder| match &security.tls_identity {
            Some(identity) => identity.install(builder),
            None => Ok(builder.with_no_client_auth()),
        });
    match config {
        Ok(config) => Some(Arc::new(config)),
        Err(error) => {
            // Connecting without TLS would fail at the broker anyway: say why here.
            tracing::error!(%error, "cannot set up TLS to the Kafka brokers");
            None
        }
    }
}

#[cfg(test)]
mod connect_problem_tests {
    use super::*;

    #[test]
    fn rskafka_failures_fall_into_their_category() {
        let sasl = "Connection error: all retries failed: Retry exceeded deadline. Source: Sasl handshake failed: API error: SaslAuthenticationFailed";
        assert_eq!(connect_problem(sasl), BrokerProblem::CredentialsRefused);
        let tls = "Connection error: error connecting to broker \"b:9093\": IO Error: invalid peer certificate: UnknownIssuer";
        assert_eq!(connect_problem(tls), BrokerProblem::TlsFailed);
        let refused = "Connection error: error connecting to broker \"127.0.0.1:9092\": IO Error: Connection refused (os error 111)";
        assert_eq!(connect_problem(refused), BrokerProblem::Unreachable);
    }
}

#[cfg(test)]
mod sasl_tests {
    use rskafka::client::error::Error;
    use rskafka::{ConnectionError, SaslError};

    use super::sasl_refused;

    #[test]
    fn a_failed_sasl_exchange_is_recognised_directly_and_inside_retries() {
        let sasl = ConnectionError::SaslFailed(SaslError::UnsupportedSaslMechanism);
        // The wording the check relies on, as rskafka writes it.
        assert!(
            sasl.to_string().starts_with(super::SASL_FAILED_WORDING),
            "{sasl}"
        );
        assert!(sasl_refused(&Error::Connection(sasl)));
        // What a wrong SCRAM password gives once rskafka's retries ran out (seen with tansu).
        let retried = Error::InvalidResponse("Connection error: all retries failed: Retry exceeded deadline. Source: Sasl handshake failed: Sasl session error: internal mechanism error: SCRAM outcome error: invalid proof".to_owned());
        assert!(sasl_refused(&retried));
        assert!(!sasl_refused(&Error::InvalidResponse(
            "error connecting to broker \"127.0.0.1:1\": IO Error: Connection refused".to_owned()
        )));
    }
}
