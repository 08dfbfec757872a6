//! The connection task of one MQTT endpoint on one shard: connect, CONNACK, resubscribe, then
//! write what the client queues and ping, until the connection fails; then back off and
//! reconnect (doubling up to `reconnectBackoffMaxMs`) until `reconnectAttempts` runs out.
//!
//! Like the gateway's own streaming connections, the socket is split and read by a task of its
//! own that is stopped through monoio's cancel handle: a read is never dropped mid-flight (with
//! io_uring that loses bytes). Nothing here blocks the shard: name lookups run off-shard, every
//! wait is raced against a timer or the shutdown signal.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use monoio::io::{AsyncWriteRentExt, CancelableAsyncReadRent, Canceller, OwnedReadHalf, Splitable};
use monoio::net::TcpStream;
use monoio::time::Instant;

use crate::cross_shard::lookup_host;
use crate::endpoint::{BrokerFailure, BrokerProblem};
use crate::metrics::ShardMetrics;
use crate::shard::io_buf::spare_capacity;
use crate::shard::supervisor::spawn_shard_task;
use crate::shard::LocalSignal;

use super::client::{Health, MqttClient};
use super::codec::{self, ConnectParams};
use super::consumer::SubState;
use super::inbound::{Inbound, InboundReader};
use super::tls::{self, TlsSession};
use super::upkeep::{AfterLoss, KeepAlive, PingStep, Reconnect};

/// How much room each read asks the kernel to fill.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// How a connection ended.
enum End {
    /// The gateway is shutting down: stop for good.
    Shutdown,
    /// The connection failed or was lost; `connected` says whether CONNACK had come.
    Lost { connected: bool, why: BrokerFailure },
}

/// Starts the connection task unless it runs (at shard start, and again after
/// `reconnectAttempts` ran out). Publishers arriving before CONNACK wait for the first attempt.
pub(super) fn ensure_running(client: &Rc<MqttClient>) {
    if client.running.replace(true) {
        return;
    }
    if client.health() != Health::Connected {
        client.set_health(Health::Reconnecting);
    }
    client.begin_attempt();
    spawn_shard_task("MQTT connection", run(client.clone()));
}

/// Connects and reconnects until shutdown or until the attempts run out.
async fn run(client: Rc<MqttClient>) {
    let mut reconnect = Reconnect::new(&client.options);
    loop {
        client.begin_attempt();
        match session(&client).await {
            End::Shutdown => break,
            End::Lost { connected, why } => {
                ShardMetrics::inc(&client.metrics.mqtt_connection_losses_total);
                client.fail_in_flight(&why.detail);
                if connected {
                    tracing::warn!(shard = client.shard, client_id = %client.client_id, reason = %why, "MQTT connection lost");
                } else {
                    tracing::warn!(shard = client.shard, client_id = %client.client_id, reason = %why, "cannot connect to the MQTT broker");
                }
                *client.last_error.borrow_mut() = Some(why);
                client.end_attempt();
                let AfterLoss::Wait(backoff) = reconnect.after_loss(connected) else {
                    client.set_health(Health::Down);
                    break;
                };
                client.set_health(Health::Reconnecting);
                monoio::select! {
                    _ = client.shutdown.wait() => break,
                    _ = monoio::time::sleep(backoff) => {}
                }
            }
        }
    }
    if client.health() != Health::Down {
        client.set_health(Health::Idle);
    }
    client.end_attempt();
    client.fail_in_flight("the connection to the broker is closed");
    client.running.set(false);
}

/// The reader task's end: why it stopped.
#[derive(Default)]
struct ReaderEnd {
    signal: LocalSignal,
    why: std::cell::RefCell<String>,
}

impl ReaderEnd {
    fn close(&self, why: String) {
        if !self.signal.is_fired() {
            *self.why.borrow_mut() = why;
            self.signal.fire();
        }
    }
}

/// One connection, from TCP connect to its loss. The attempt (name lookup, TCP connect, TLS
/// handshake, CONNACK) has one deadline, `connectTimeoutMs` from its start: a publisher that
/// arrived during it waits for its outcome (`wait_for_connection`) and so never waits longer.
async fn session(client: &Rc<MqttClient>) -> End {
    let options = &client.options;
    let deadline = Instant::now() + options.connect_timeout;
    let lost = |problem: BrokerProblem, detail: String| End::Lost {
        connected: false,
        why: BrokerFailure::new(problem, detail),
    };
    let server = format!("{}:{}", options.server_host, options.server_port);
    let connect = async {
        let addrs = lookup_host(&options.server_host, options.server_port).await?;
        let addr = addrs.first().copied().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "the host name has no address")
        })?;
        TcpStream::connect(addr).await
    };
    let stream = monoio::select! {
        _ = client.shutdown.wait() => return End::Shutdown,
        connected = monoio::time::timeout_at(deadline, connect) => match connected {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return lost(BrokerProblem::Unreachable, format!("cannot connect to {server}: {error}")),
            Err(_) => return lost(BrokerProblem::Unreachable, format!("no TCP connection to {server} within connectTimeoutMs")),
        }
    };
    let _ = stream.set_nodelay(true);
    let tls = match &options.tls {
        None => None,
        Some(tls_options) => match tls::client_config(tls_options)
            .and_then(|config| TlsSession::new(config, &options.server_host))
        {
            Ok(session) => Some(Rc::new(RefCell::new(session))),
            Err(why) => return lost(BrokerProblem::TlsFailed, why),
        },
    };
    let (reader, mut writer) = stream.into_split();
    client.out.borrow_mut().clear();
    // PUBACKs held for delivery name packet ids of the lost connection; the broker sends those
    // messages again on this one when the session persists.
    if let Some(sub) = client.consumer.borrow().as_ref() {
        sub.forget_pending_acks();
    }
    client.forget_early();
    *client.connack.borrow_mut() = None;
    let params = ConnectParams {
        client_id: &client.client_id,
        keep_alive_s: options.keep_alive.as_secs() as u16,
        clean_start: options.clean_start,
        session_expiry_interval_s: options.session_expiry_interval_s,
        username: options.username.as_deref(),
        password: options.password.as_ref().map(|p| p.expose()),
        max_packet_bytes: options.max_packet_bytes,
    };
    if let Err(error) =
        codec::encode_connect(options.protocol, &params, &mut client.out.borrow_mut())
    {
        return lost(BrokerProblem::ConnectionRefused, error.to_string());
    }
    let canceller = Canceller::new();
    let reader_end = Rc::new(ReaderEnd::default());
    spawn_shard_task(
        "MQTT read loop",
        read_loop(
            client.clone(),
            reader,
            canceller.handle(),
            reader_end.clone(),
            tls.clone(),
        ),
    );
    // From here the reader must be stopped on every way out.
    let _stop_reader = StopReader(Some(canceller));

    let mut write_buf = BytesMut::new();
    // Before CONNACK, a connection that breaks during the TLS handshake failed at TLS (an
    // untrusted certificate, a client certificate the broker refused).
    let broke = |why: String| {
        let in_handshake = tls
            .as_ref()
            .is_some_and(|tls| tls.borrow().is_handshaking());
        let problem = if in_handshake {
            BrokerProblem::TlsFailed
        } else {
            BrokerProblem::ConnectionLost
        };
        lost(problem, format!("{server}: {why}"))
    };
    let no_connack = || {
        lost(
            BrokerProblem::Unreachable,
            format!("no CONNACK from {server} within connectTimeoutMs"),
        )
    };
    let session_present = loop {
        // Raced against the deadline too: the attempt ends by it whatever the broker does.
        match monoio::time::timeout_at(
            deadline,
            flush(client, &mut writer, &mut write_buf, tls.as_deref()),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return broke(why),
            Err(_) => return no_connack(),
        }
        let connack = client.connack.borrow_mut().take();
        if let Some(connack) = connack {
            match connack {
                Ok(session_present) => break session_present,
                Err(mut why) => {
                    why.detail = format!("{server}: {}", why.detail);
                    return End::Lost {
                        connected: false,
                        why,
                    };
                }
            }
        }
        monoio::select! {
            _ = client.shutdown.wait() => return End::Shutdown,
            _ = reader_end.signal.wait() => return broke(reader_end.why.borrow().clone()),
            _ = client.wake.notified() => {}
            _ = monoio::time::sleep_until(deadline) => return no_connack(),
        }
    };
    client.set_health(Health::Connected);
    client.end_attempt();
    ShardMetrics::inc(&client.metrics.mqtt_connects_total);
    tracing::info!(shard = client.shard, client_id = %client.client_id, session_present, "MQTT connected");
    resubscribe(client, session_present);

    let mut keep_alive = KeepAlive::new(options.keep_alive, Instant::now());
    loop {
        if let Err(why) = flush(client, &mut writer, &mut write_buf, tls.as_deref()).await {
            return End::Lost {
                connected: true,
                why: BrokerFailure::new(BrokerProblem::ConnectionLost, format!("{server}: {why}")),
            };
        }
        monoio::select! {
            _ = client.shutdown.wait() => {
                codec::encode_disconnect(&mut client.out.borrow_mut());
                let _ = monoio::time::timeout(Duration::from_secs(1), flush(client, &mut writer, &mut write_buf, tls.as_deref())).await;
                return End::Shutdown;
            }
            _ = reader_end.signal.wait() => {
                let why = format!("{server}: {}", reader_end.why.borrow());
                return End::Lost { connected: true, why: BrokerFailure::new(BrokerProblem::ConnectionLost, why) };
            }
            _ = client.wake.notified() => {}
            _ = sleep_until_some(keep_alive.next_ping()) => {
                match keep_alive.on_timer(Instant::now(), client.last_heard.get()) {
                    PingStep::Ping => codec::encode_pingreq(&mut client.out.borrow_mut()),
                    PingStep::Unanswered => {
                        let why = format!("{server}: no answer to PINGREQ within keepAliveSeconds");
                        return End::Lost { connected: true, why: BrokerFailure::new(BrokerProblem::ConnectionLost, why) };
                    }
                }
            }
        }
    }
}

/// Sleeps until `at`; forever when there is none.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => monoio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// After CONNACK: the subscription wanted on this node goes (back) out. With a persistent
/// session whose subscription the broker already granted, it is kept as is (resubscribing would
/// replay retained messages); filters released while disconnected are unsubscribed.
fn resubscribe(client: &MqttClient, session_present: bool) {
    for filter in client.stale_filters.borrow_mut().drain(..) {
        let pkid = client.allocate_pkid();
        let _ = codec::encode_unsubscribe(
            client.options.protocol,
            pkid,
            &filter,
            &mut client.out.borrow_mut(),
        );
    }
    let sub = client.consumer.borrow().clone();
    if let Some(sub) = sub {
        let granted_before = sub.state.get() == SubState::Active;
        if !(session_present && granted_before) {
            client.send_subscribe(&sub);
        }
    }
    client.wake.notify();
}

/// Writes everything the client queued (through TLS when it is on: then also the handshake).
async fn flush(
    client: &MqttClient,
    writer: &mut monoio::io::OwnedWriteHalf<TcpStream>,
    write_buf: &mut BytesMut,
    tls: Option<&RefCell<TlsSession>>,
) -> Result<(), String> {
    loop {
        {
            let mut out = client.out.borrow_mut();
            match tls {
                None => {
                    if out.is_empty() {
                        return Ok(());
                    }
                    std::mem::swap(&mut *out, write_buf);
                }
                Some(tls) => {
                    let mut tls = tls.borrow_mut();
                    if !out.is_empty() {
                        tls.encrypt(&out)?;
                        out.clear();
                    }
                    tls.outgoing(write_buf)?;
                    if write_buf.is_empty() {
                        return Ok(());
                    }
                }
            }
        }
        let buf = std::mem::take(write_buf);
        // A broker that stops reading would hold this write (and with it keep-alive, shutdown
        // and reader errors) forever: past the stall bound the connection counts as lost.
        let stall = client
            .options
            .keep_alive
            .max(client.options.connect_timeout);
        let Ok((result, mut buf)) = monoio::time::timeout(stall, writer.write_all(buf)).await
        else {
            return Err(format!(
                "the broker accepted no bytes for {} s",
                stall.as_secs()
            ));
        };
        buf.clear();
        *write_buf = buf;
        if let Err(error) = result {
            return Err(format!("write to the broker failed: {error}"));
        }
    }
}

/// Cancels the reader task when the session ends, however it ends.
struct StopReader(Option<Canceller>);

impl Drop for StopReader {
    fn drop(&mut self) {
        if let Some(canceller) = self.0.take() {
            canceller.cancel();
        }
    }
}

async fn read_loop(
    client: Rc<MqttClient>,
    mut reader: OwnedReadHalf<TcpStream>,
    cancel: monoio::io::CancelHandle,
    end: Rc<ReaderEnd>,
    tls: Option<Rc<RefCell<TlsSession>>>,
) {
    let mut inbound = InboundReader::new(client.options.protocol, client.options.max_packet_bytes);
    // Plaintext packets; with TLS, ciphertext is read into `cipher` and decrypted into `buf`.
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut cipher = BytesMut::new();
    loop {
        loop {
            match inbound.next(&mut buf) {
                Ok(Some(Inbound::Packet(packet))) => {
                    if let Err(why) = client.on_packet(packet) {
                        end.close(why);
                        return;
                    }
                }
                Ok(Some(Inbound::Skipped(publish))) => {
                    // Its PUBACK goes out now: acknowledge the earlier ones first, in order.
                    client.flush_received();
                    client.on_oversized_publish(publish)
                }
                Ok(None) => break,
                Err(error) => {
                    client.flush_received();
                    end.close(error.to_string());
                    return;
                }
            }
        }
        // What this read brought goes to the node ring (and the fan-out) as one batch.
        client.flush_received();
        if end.signal.is_fired() {
            return;
        }
        let into = if tls.is_some() {
            std::mem::take(&mut cipher)
        } else {
            std::mem::take(&mut buf)
        };
        let (result, spare) = reader
            .cancelable_read(spare_capacity(into, READ_CHUNK_BYTES), cancel.clone())
            .await;
        match &tls {
            None => buf = spare.into_inner(),
            Some(tls) => {
                cipher = spare.into_inner();
                let mut tls = tls.borrow_mut();
                if let Err(why) = tls.decrypt(&mut cipher, &mut buf) {
                    end.close(why);
                    return;
                }
                if tls.wants_write() {
                    // Handshake records, alerts or key updates to send back.
                    client.wake.notify();
                }
            }
        }
        match result {
            Ok(0) => {
                end.close("the broker closed the connection".to_owned());
                return;
            }
            Ok(_) => client.last_heard.set(Instant::now()),
            Err(error) => {
                end.close(format!("read from the broker failed: {error}"));
                return;
            }
        }
    }
}
