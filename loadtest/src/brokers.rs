//! The brokers behind `tidegate-load broker`: tansu (Kafka protocol) and mosquitto (MQTT), the
//! ones the test suite uses, each a child process on a free loopback port in a scratch
//! directory, stopped by its PID. Kafka topics are created with the independent client
//! (`loadtest/direct/kafka_direct.py`, confluent-kafka), which also measures the direct side.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::LoadError;

/// Which broker a run goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BrokerKind {
    /// tansu, a Kafka-protocol broker.
    Kafka,
    /// mosquitto.
    Mqtt,
}

/// Where the broker binaries and the independent client live.
#[derive(Clone, Debug)]
pub struct BrokerBins {
    pub tansu: PathBuf,
    pub mosquitto: PathBuf,
    /// A Python with confluent-kafka (tests/setup/tansu.sh makes one).
    pub python: PathBuf,
}

impl BrokerBins {
    /// The paths tests/setup/tansu.sh and mosquitto.sh install to.
    pub fn installed() -> BrokerBins {
        let cache = std::env::var_os("TIDEGATE_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tidegate")
            });
        BrokerBins {
            tansu: cache.join("tansu-0.6.0/bin/tansu"),
            mosquitto: PathBuf::from("/usr/sbin/mosquitto"),
            python: cache.join("venv/bin/python"),
        }
    }
}

/// The independent client script (confluent-kafka; also the direct-consumer benchmark).
pub fn kafka_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("direct/kafka_direct.py")
}

/// A running broker, stopped (killed by PID) when dropped.
pub struct Broker {
    pub kind: BrokerKind,
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

impl Broker {
    pub fn start(kind: BrokerKind, bins: &BrokerBins) -> Result<Broker, LoadError> {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|err| LoadError::io(Path::new("127.0.0.1:0"), err))?;
        let dir = std::env::temp_dir().join(format!(
            "tidegate-load-broker-{}-{}",
            std::process::id(),
            addr.port()
        ));
        fs::create_dir_all(&dir).map_err(|err| LoadError::io(&dir, err))?;
        let mut command = match kind {
            BrokerKind::Kafka => {
                let url = format!("tcp://{addr}");
                let mut command = Command::new(&bins.tansu);
                command
                    .args(["broker", "--listener-url", &url])
                    .args(["--advertised-listener-url", &url])
                    .args(["--storage-engine", "memory://tansu/"])
                    .env("RUST_LOG", "warn");
                command
            }
            BrokerKind::Mqtt => {
                let config = dir.join("mosquitto.conf");
                let text = format!(
                    "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                     max_queued_messages 100000\nmax_inflight_messages 1000\nuser root\n",
                    addr.port()
                );
                fs::write(&config, text).map_err(|err| LoadError::io(&config, err))?;
                let mut command = Command::new(&bins.mosquitto);
                command.arg("-c").arg(&config);
                command
            }
        };
        let log =
            fs::File::create(dir.join("broker.log")).map_err(|err| LoadError::io(&dir, err))?;
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|err| LoadError::Spawn { program, err })?;
        let broker = Broker {
            kind,
            addr,
            child,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                return Err(LoadError::Setup(format!(
                    "{kind:?} broker not listening on {addr} after 30 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(broker)
    }

    /// Creates `topic` with `partitions` partitions (Kafka), waiting until the metadata shows it.
    pub fn create_topic(
        &self,
        bins: &BrokerBins,
        topic: &str,
        partitions: u32,
    ) -> Result<(), LoadError> {
        let status = Command::new(&bins.python)
            .arg(kafka_script())
            .arg(self.addr.to_string())
            .args(["create", topic, &partitions.to_string()])
            .status()
            .map_err(|err| LoadError::Spawn {
                program: bins.python.display().to_string(),
                err,
            })?;
        if !status.success() {
            return Err(LoadError::Setup(format!("creating topic {topic} failed")));
        }
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Established TCP connections to the broker's port right now (from /proc/net/tcp): what the
    /// gateway holds open to it, plus any other client's.
    pub fn connections(&self) -> usize {
        let port = format!(":{:04X}", self.addr.port());
        let table = fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        table
            .lines()
            .skip(1)
            .filter(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // local address, remote address, state (01: established); the broker's side.
                fields.len() > 3 && fields[1].ends_with(&port) && fields[3] == "01"
            })
            .count()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
