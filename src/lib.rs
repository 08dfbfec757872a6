//! tidegate: an event-native API gateway.
//!
//! It exposes message brokers (Kafka, MQTT), in-memory topics and a Mock generator to web clients
//! over HTTP GET (batch poll), HTTP POST, WebSocket and Server-Sent Events, on a thread-per-core
//! runtime.
//!
//! # Module map
//! ```text
//! main.rs ─ CLI (`run`, `check`, `apikey generate`), logging, signals (SIGHUP: apply the file live)
//! config/      YAML → validated, typed `Config` (every problem reported at once)
//! runtime/     the top: starts and stops the node's shards (one pinned thread + monoio runtime +
//!              SO_REUSEPORT listener each; a ShardSeed carries the shard's node-wide
//!              `shard::ShardHandles` into the thread, builds the `shard::Shard` there around
//!              them and runs its accept loop beside it: shard.rs), shutdown
//!              broadcast; live apply (apply.rs: `Gateway::apply`; deployment.rs: the node-wide
//!              versioned API set; shard_apply.rs: each shard's routing-table swap). Nothing but
//!              main.rs and manage/node.rs names it (tests/module_layers.rs)
//! shard/       the shard context, below everything that serves clients: `Shard` (what a shard
//!              hands to entrypoints, endpoints, server, webhooks, with the handles to node-wide
//!              state it holds, `ShardHandles`, each declared once: context.rs), LocalSignal, the
//!              supervisor every task is spawned through (a panic closes one connection, or takes
//!              its shard down visibly), LogThrottle (one line per interval for errors that
//!              repeat), Alarms (one timer for many deadlines: hibernating sessions' pings),
//!              Lifeline (what a connection keeps alive, carried by a stream that hibernates), the I/O driver (io_uring / epoll), io_buf.rs (read buffers every socket
//!              reader shares), test-only fault injection (feature `fault-injection`)
//! dispatch/    the connection step, above the entrypoints: accept → HTTP head → route (virtual
//!              host, then context path) → CORS / Origin check → plan gate → body (100-continue,
//!              408) → the entrypoint the request's shape picks (connection.rs). Only the
//!              runtime's accept loop names it
//! deployed/    what a shard serves: each deployed API version (api.rs: entrypoint options,
//!              endpoint, plan limits), the routing table over them (router.rs), ending one
//!              version's streams and requests (drain.rs); read by entrypoints and dispatch alike
//! server/      the transport building blocks under the entrypoints (names neither them, nor
//!              dispatch, nor deployed): Conn (reads, answers, error answers with details to the
//!              log only), request ids, request bodies, CORS rules (cors.rs); duplex.rs and
//!              stream_read.rs: WebSocket/SSE streams, whose idle reader holds no buffer
//!              (read_pool.rs: per-shard read buffers lent only while reading) and can be
//!              paused, handing back what it holds (a hibernating stream, which takes
//!              ignorable bytes off its socket itself: stream_peek.rs); gathered,
//!              stall-bounded writes (write_batch.rs, stall_write.rs, transport.rs);
//!              direct_write.rs: the fan-out's own non-blocking write to an idle stream's socket
//! codec/       sans-IO codecs: HTTP head/body/response, GET batch rendering, WebSocket frames and
//!              their JSON envelope, subprotocol selection, permessage-deflate (negotiation:
//!              ws/deflate_offer.rs; data path with per-shard compressors: ws/deflate.rs), SSE
//! entrypoint/  how clients receive and send, built on server's blocks: http-get, http-post, sse,
//!              websocket (its reader: websocket/inbound.rs; upgrade negotiation:
//!              websocket/negotiate.rs; outbound compression: websocket/deflate_out.rs; plain frames
//!              built once: websocket/frames.rs; the session's writer loop:
//!              websocket/session.rs; a quiet session held as plain state, with no task but one
//!              small waiter: websocket/hibernate.rs)
//! endpoint/    where messages come from and go to: mock, in_memory, echo (each WebSocket
//!              connection's own messages back to it), mqtt (broker connection
//!              per shard, one subscription per node read by every shard),
//!              kafka (the shard side: fetches paced by their readers, shared catch-up readers:
//!              catch_up.rs; Kafka I/O on its own bridge thread: kafka/bridge/, the only tokio
//!              code, which the shard side reaches only through cross_shard::kafka_link);
//!              fault.rs: a broker failure as the client's short reason + the log's details
//! error/       data-path errors: each kind's fault (client, configuration, broker, gateway) and its
//!              answer on every entrypoint (HTTP status, Retry-After, WebSocket close code, SSE
//!              ending, log level, `tidegate_errors_total`), decided in one table (table.rs)
//! delivery/    the retention ring messages wait in for their readers (retention_ring.rs);
//!              per-client bounded outbound queue with the slow-client policy; the cursor fan-out
//!              of a retention ring to a shard's clients (and how far delivery has got; a
//!              subscriber is a guard that unsubscribes on drop); pump.rs: the one loop that
//!              refills the fan-outs of in-memory, MQTT and Kafka rings when they ring; the
//!              shard's budget of HTTP GET reply bytes in flight; frame_cache.rs: a message's
//!              WebSocket frame / SSE event built once per shard, shared by every subscriber;
//!              outbound_queue/direct.rs: a parked writer's messages written by the fan-out
//! rate_limit/  plan policies: request rate limits, quotas, message rates; node-wide counters,
//!              or Redis-shared ones through a dedicated thread (the only blocking client)
//! message/     the one message type, and Kafka positions beside its id (kafka_cursor.rs,
//!              kafka_compact_id.rs); metrics.rs the counters every bound reports to;
//!              civil_date.rs UTC calendar days (access-log times, RFC 3339 instants, quotas)
//! observe/     access log (a line per request / stream end, written by a thread of its own behind a
//!              bounded queue) and per-API metrics (per-shard series summed at scrape)
//! admin/       GET /metrics and /health off the data path (technical port 18082, loopback by
//!              default), served by http_server.rs: bounded connections, whole-request deadline,
//!              bounded head and Content-Length body; the management API's server too
//! console/     the web console and developer portal (`management.console.listen`): ES modules
//!              embedded from `console/`, served with the admin endpoint's bounded server, and the
//!              management API forwarded on the same origin
//! tls/         the TLS listener: rustls driven sans-IO on the shards (handshake with a deadline,
//!              then the same Conn/Duplex I/O over a TlsSession), certificates by SNI, client
//!              certificates kept for request handling, certificate reload off the shards;
//!              client_trust.rs: what tidegate's own TLS clients (MQTT, PostgreSQL, Kafka)
//!              trust and present
//! security/   plans, applications, subscriptions, API keys: the node-wide versioned registry
//!              (each shard's lock-free view), plan selection by credential (401 / 403), the gate
//!              every routed request passes (API key, or client certificate for mtls plans),
//!              live streams ended when their key or subscription
//!              ends, reload on SIGHUP; `Principal` (api, plan, application, subscription)
//!              jwt/ verifies bearer tokens for `security: jwt` plans (its JWKS URL thread is
//!              the one cross-thread piece outside cross_shard/)
//! manage/      the management plane (with a `management:` section): store/ the document store
//!              (memory, SQLite, PostgreSQL; store/transaction.rs: each write transaction once,
//!              over a backend's `Txn` primitives); service/ the lifecycle rules over its documents
//!              (one validator: config::load_str of the candidate); api/ the REST API on
//!              management.listen (routes, tokens, OpenAPI; the developer portal's routes and
//!              its per-address write limit, portal_limit.rs); seed.rs, desired.rs, follower.rs:
//!              each node seeds an empty store once and follows the store's generation,
//!              applying changes live; node.rs starts it all; export.rs and cli.rs back
//!              `tidegate export` / `tidegate apis …`. Blocking, never on a shard
//! webhook/     the webhook entrypoint: push subscriptions delivered to callback URLs by an HTTP/1.1
//!              client on the shards (pooled keep-alive, TLS, SSRF guard), retries, Standard
//!              Webhooks signatures, dead letters, and the outcome seam (webhook::outcome) through
//!              which broker sources acknowledge a message only once it is delivered or dead-lettered;
//!              the runners follow each live apply's push subscriptions (webhook::live)
//! cross_shard/ every cross-thread mechanism: shutdown signal, shared topic rings, doorbells,
//!              host lookups, the Kafka bridge link, per-subscription Kafka group feeds, shared
//!              Kafka catch-up readers, how far a feed's readers have read (fetch pacing), MQTT
//!              node feeds, shard health
//! ```
//!
//! # Data path
//! ```text
//! accept (per shard) → dispatch::connection: codec::http_head (httparse, bounded)
//!   → deployed::router (host, then longest context path)
//!   → server::cors (preflight 204/403, disallowed Origin 403, before any body)
//!   → plan check (security::gate) → rate_limit::admit (429, or X-RateLimit-* on every answer)
//!   → entrypoint by request shape:
//!        Upgrade: websocket → websocket;  GET + Accept: text/event-stream → sse;  other GET → http_get;
//!        POST → http_post (endpoint::publish)
//!   → endpoint::subscribe → delivery::Fanout → delivery::OutboundQueue (bounded)
//!   → idle plain-TCP stream: written by the fan-out itself (server::direct_write), else
//!     by the stream's writer task:
//!   → framed, gathered socket writes (server::write_batch, payloads shared, never copied per client;
//!     server::stall_write: a write the client takes nothing of for the stall timeout ends it)
//! ```

// What is `pub` is reachable from outside (the binary, the tests): everything else says
// `pub(crate)` or `pub(super)`, so that a reader sees how far an item goes.
#![warn(unreachable_pub)]
// Every public item says what it is for.
#![warn(missing_docs)]

pub mod admin;
pub mod civil_date;
pub mod codec;
pub mod config;
pub mod console;
pub mod cross_shard;
pub mod delivery;
pub mod deployed;
pub mod dispatch;
pub mod endpoint;
pub mod entrypoint;
pub mod error;
pub mod manage;
pub mod message;
pub mod metrics;
pub mod observe;
pub mod rate_limit;
pub mod runtime;
pub mod security;
pub mod server;
pub mod shard;
pub mod tls;
pub mod webhook;
