//! A real Kafka-protocol broker for the tests: tansu 0.6 on a free loopback port, one per test
//! (killed by PID on drop), and an independent client (confluent-kafka, `tests/kafka/client.py`).
//! `tests/setup/tansu.sh` installs both under `$HOME/.cache/tidegate`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "tls_front.rs"]
mod tls_front;
pub use tls_front::{ClientCa, TlsFront};

fn cache() -> PathBuf {
    std::env::var_os("TIDEGATE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/tidegate")
        })
}

fn tansu() -> PathBuf {
    let path = cache().join("tansu-0.6.0/bin/tansu");
    assert!(
        path.exists(),
        "{} is missing: run tests/setup/tansu.sh (tests/run.sh does)",
        path.display()
    );
    path
}

fn python() -> PathBuf {
    let path = cache().join("venv/bin/python");
    assert!(
        path.exists(),
        "{} is missing: run tests/setup/tansu.sh (tests/run.sh does)",
        path.display()
    );
    path
}

fn client_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kafka/client.py")
}

/// One tansu broker on 127.0.0.1.
pub struct Broker {
    pub addr: SocketAddr,
    storage: String,
    /// Start with `--authentication` (SASL required).
    authentication: bool,
    /// Start with `--schema-registry` (a directory of `<topic>.json` schemas records must match).
    schema_registry: Option<String>,
    /// The address advertised to clients (a TLS front's, when there is one).
    advertised: SocketAddr,
    /// librdkafka settings the independent client adds (SASL, TLS), and where it bootstraps.
    client_settings: Value,
    client_bootstrap: Option<String>,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Broker {
    /// A broker keeping topics in memory.
    pub fn start() -> Broker {
        Self::start_with(false, &[])
    }

    /// A broker keeping topics in a SQLite file, so they survive `restart`.
    pub fn start_persistent() -> Broker {
        Self::start_with(true, &[])
    }

    /// A broker (topics in memory) validating records against JSON schemas: `(topic, schema)`
    /// pairs, each a JSON Schema object whose `properties` hold `key` and/or `value` (tansu's
    /// layout). A record that does not match is refused with INVALID_RECORD.
    pub fn start_with_schemas(schemas: &[(&str, &str)]) -> Broker {
        Self::start_with(false, schemas)
    }

    fn start_with(persistent: bool, schemas: &[(&str, &str)]) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = if persistent {
            // tansu resolves the path against its working directory (the temp dir).
            "sqlite://tansu.db".to_owned()
        } else {
            "memory://tansu/".to_owned()
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let schema_registry = (!schemas.is_empty()).then(|| {
            let schema_dir = dir.path().join("schema");
            std::fs::create_dir_all(&schema_dir).expect("schema directory");
            for (topic, schema) in schemas {
                std::fs::write(schema_dir.join(format!("{topic}.json")), schema)
                    .expect("schema written");
            }
            // Resolved against tansu's working directory (the temp dir).
            "file://./schema".to_owned()
        });
        let mut broker = Broker {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            storage,
            authentication: false,
            schema_registry,
            advertised: SocketAddr::from(([127, 0, 0, 1], port)),
            client_settings: serde_json::json!({}),
            client_bootstrap: None,
            child: None,
            _dir: dir,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let url = format!("tcp://{}", self.addr);
        let advertised = format!("tcp://{}", self.advertised);
        let log = std::fs::File::create(self._dir.path().join("tansu.log")).expect("log file");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ])
            .args(["--storage-engine", &self.storage])
            .args(self.authentication.then_some("--authentication"))
            .args(
                self.schema_registry
                    .iter()
                    .flat_map(|url| ["--schema-registry", url.as_str()]),
            )
            .env("RUST_LOG", "warn")
            .current_dir(self._dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("tansu starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(self.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `host:port`, for `bootstrapServers`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Kills the broker (by its PID) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Puts a TLS front (see `TlsFront`) before the broker and restarts the broker advertising
    /// it. Returns the front and the PEM of its self-signed certificate (what clients trust).
    /// tansu 0.6.0 cannot serve TLS itself: its `--cert` and `--key` options exclude each other.
    pub fn restart_behind_tls(&mut self) -> (TlsFront, String) {
        self.restart_behind_front(None)
    }

    /// `restart_behind_tls`, the front's certificate written to `dir/trusted.pem` (returned).
    pub fn restart_behind_tls_trusted(&mut self, dir: &std::path::Path) -> (TlsFront, PathBuf) {
        let (front, pem) = self.restart_behind_tls();
        let trusted = dir.join("trusted.pem");
        std::fs::write(&trusted, pem).expect("trusted.pem written");
        (front, trusted)
    }

    /// `restart_behind_tls` with a front that requires a client certificate issued by `client_ca`.
    pub fn restart_behind_mtls(&mut self, client_ca: &ClientCa) -> (TlsFront, String) {
        self.restart_behind_front(Some(client_ca))
    }

    /// Restarts it advertising `addr`, a proxy before it (`kafka_commit_hold::CommitHold`):
    /// clients then reach the broker only through the proxy.
    pub fn restart_advertising(&mut self, addr: SocketAddr) {
        self.advertised = addr;
        self.restart();
    }

    fn restart_behind_front(&mut self, client_ca: Option<&ClientCa>) -> (TlsFront, String) {
        let front = TlsFront::start(self.addr, client_ca);
        self.advertised = front.addr;
        self.restart();
        let pem = front.cert_pem.clone();
        (front, pem)
    }

    /// Restarts it requiring SASL authentication (users stay: use `start_persistent`).
    pub fn restart_with_authentication(&mut self) {
        self.authentication = true;
        self.restart();
    }

    /// Makes the independent client authenticate (after `restart_with_authentication`):
    /// `mechanism` as in Kafka, e.g. `SCRAM-SHA-512`.
    pub fn authenticate_client(&mut self, mechanism: &str, user: &str, password: &str) {
        self.client_settings = serde_json::json!({
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": mechanism,
            "sasl.username": user,
            "sasl.password": password,
        });
    }

    /// Makes the independent client go through `front` with SASL over TLS (SASL_SSL), trusting
    /// the PEM certificate file `trusted` and authenticating as `user` with `mechanism`.
    pub fn client_sasl_through(
        &mut self,
        front: &TlsFront,
        trusted: &std::path::Path,
        (mechanism, user, password): (&str, &str, &str),
    ) {
        self.client_through(front, trusted);
        self.client_settings["security.protocol"] = "SASL_SSL".into();
        self.client_settings["sasl.mechanisms"] = mechanism.into();
        self.client_settings["sasl.username"] = user.into();
        self.client_settings["sasl.password"] = password.into();
    }

    /// Makes the independent client go through `front` (after `restart_behind_tls`), trusting
    /// the PEM certificate file `trusted`.
    pub fn client_through(&mut self, front: &TlsFront, trusted: &std::path::Path) {
        self.client_bootstrap = Some(front.addr.to_string());
        self.client_settings = serde_json::json!({
            "security.protocol": "SSL",
            "ssl.ca.location": trusted.display().to_string(),
            "ssl.endpoint.identification.algorithm": "none",
        });
    }

    /// Creates a SCRAM user (`mechanism`: `scram256` or `scram512`) with tansu's own client.
    pub fn create_user(&self, name: &str, password: &str, mechanism: &str) {
        let broker = format!("tcp://{}", self.addr);
        let out = Command::new(tansu())
            .args([
                "user",
                "create",
                "--broker",
                &broker,
                "--mechanism",
                mechanism,
                name,
                password,
            ])
            .output()
            .expect("tansu user create runs");
        assert!(
            out.status.success(),
            "user create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates a topic with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = self.client(&["create", topic, &partitions.to_string()], "");
        assert!(
            out.status.success(),
            "create topic failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Produces records (each `{"value", "key"?, "partition"?, "headers"?}`) with the
    /// independent client, one at a time; returns `(partition, offset)` of each.
    pub fn produce(&self, topic: &str, records: &[Value]) -> Vec<(i64, i64)> {
        let input: String = records.iter().map(|r| format!("{r}\n")).collect();
        let out = self.client(&["produce", topic], &input);
        assert!(
            out.status.success(),
            "produce failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        lines(&out.stdout)
            .iter()
            .map(|v| {
                (
                    v["partition"].as_i64().unwrap(),
                    v["offset"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    /// Consumes `count` records from the earliest offsets with the independent client.
    pub fn consume(&self, topic: &str, count: usize) -> Vec<Value> {
        let out = self.client(&["consume", topic, &count.to_string(), "30"], "");
        let records = lines(&out.stdout);
        assert!(
            out.status.success(),
            "consumed {} of {count}: {}",
            records.len(),
            String::from_utf8_lossy(&out.stderr)
        );
        records
    }

    /// The committed offsets of consumer group `group` on `topic`: `partition → offset`
    /// (partitions without one are left out), read with the independent client.
    pub fn committed(&self, group: &str, topic: &str) -> BTreeMap<i64, i64> {
        let out = self.client(&["committed", group, topic], "");
        assert!(
            out.status.success(),
            "committed failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let value: Value = serde_json::from_slice(&out.stdout).expect("committed JSON");
        value
            .as_object()
            .expect("an object")
            .iter()
            .map(|(partition, offset)| {
                (
                    partition.parse().expect("partition"),
                    offset.as_i64().expect("offset"),
                )
            })
            .collect()
    }

    /// Established TCP connections to the broker's port from this process (the gateway under
    /// test runs in it; the Python clients are other processes).
    pub fn connections_from_this_process(&self) -> usize {
        crate::common::broker_sockets::established_from_this_process(self.addr.port())
    }

    pub(crate) fn client(&self, args: &[&str], stdin: &str) -> std::process::Output {
        let bootstrap = self
            .client_bootstrap
            .clone()
            .unwrap_or_else(|| self.bootstrap());
        let mut child = Command::new(python())
            .arg(client_script())
            .arg(bootstrap)
            .args(args)
            .env(
                "TIDEGATE_TEST_KAFKA_CONFIG",
                self.client_settings.to_string(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python client starts");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().expect("python client runs")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// A record for `Broker::produce`.
pub fn record(value: &str) -> Value {
    serde_json::json!({ "value": value })
}

/// A record for one partition.
pub fn record_to(value: &str, partition: i64) -> Value {
    serde_json::json!({ "value": value, "partition": partition })
}

/// A Kafka API on `/k` over `topic` (SSE with metadata comments, GET with metadata, WebSocket,
/// POST) with producer and consumer on `bootstrap`.
pub fn kafka_api_yaml(bootstrap: &str, topic: &str, extra_consumer: &str) -> String {
    format!(
        r#"
apis:
  - id: kafka-api
    name: Kafka API
    contextPaths: [/k]
    entrypoints:
      - type: http-get
        configuration:
          messagesLimitCount: 100
          messagesLimitDurationMs: 1500
          headersInPayload: true
          metadataInPayload: true
      - type: http-post
        configuration:
          requestHeadersToMessage: true
      - type: sse
        configuration:
          metadataAsComment: true
          headersAsComment: true
      - type: websocket
    endpoint:
      type: kafka
      configuration:
        bootstrapServers: {bootstrap}
        consumer:
          enabled: true
          topics: [{topic}]
          {extra_consumer}
        producer:
          enabled: true
          topics: [{topic}]
          requestTimeoutMs: 3000
    plans:
      - name: Keyless
        security: keyless
"#
    )
}

/// A gateway serving `kafka_api_yaml` for `topic` on `broker`, returned once its feed has started
/// (its first poll no longer answers 503).
pub fn started_gateway(
    broker: &Broker,
    topic: &str,
    extra_consumer: &str,
    driver: tidegate::config::DriverChoice,
) -> tidegate::runtime::Gateway {
    use crate::common::{eventually, get, start, test_config};
    let yaml = kafka_api_yaml(&broker.bootstrap(), topic, extra_consumer);
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    assert!(
        eventually(Duration::from_secs(60), || get(addr, "/k?limit=1", &[])
            .status
            == 200),
        "the Kafka feed did not start"
    );
    gateway
}

/// `yaml` (from `kafka_api_yaml`) with the endpoint's `security` mapping (YAML flow style).
pub fn with_security(yaml: &str, security: &str) -> String {
    yaml.replacen(
        "        consumer:\n",
        &format!("        security: {security}\n        consumer:\n"),
        1,
    )
}

/// Polls `/k` for JSON, following `nextCursor` (with `query` and `headers` on every poll, and
/// retrying while the feed answers 503), until `count` record contents arrived; returns them
/// sorted.
pub fn read_contents(
    addr: SocketAddr,
    query: &str,
    headers: &[(&str, &str)],
    count: usize,
) -> Vec<String> {
    use crate::common::get;
    let mut headers = headers.to_vec();
    headers.push(("Accept", "application/json"));
    let mut values = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        if values.len() >= count {
            break;
        }
        let mut target = format!("/k?limit=100{query}");
        if let Some(cursor) = &cursor {
            target.push_str(&format!("&cursor={cursor}"));
        }
        let response = get(addr, &target, &headers);
        if response.status == 503 {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        assert_eq!(response.status, 200, "{}", response.text());
        let body = response.json();
        for item in body["items"].as_array().cloned().unwrap_or_default() {
            values.push(item["content"].as_str().unwrap_or_default().to_owned());
        }
        if let Some(next) = body["pagination"]["nextCursor"].as_str() {
            cursor = Some(next.to_owned());
        }
    }
    values.sort();
    assert_eq!(values.len(), count, "values: {values:?}");
    values
}
