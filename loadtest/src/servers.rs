//! The servers under test, each a child process on a free loopback port with its own generated
//! configuration in a scratch directory, measured through /proc and stopped by its PID.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::LoadError;

/// Which server a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerKind {
    /// The gateway, in-memory topic.
    Tidegate,
    /// nginx with the nchan module (Debian `nginx-light` + `libnginx-mod-nchan`).
    Nchan,
    /// The raw writer (`tidegate-load raw-server`): the physical limit.
    Raw,
}

/// Paths of the workload on each server: where publishers POST (or WebSocket-publish) and where
/// subscribers connect.
pub struct Paths {
    pub publish: &'static str,
    pub subscribe: &'static str,
}

impl ServerKind {
    pub fn paths(self) -> Paths {
        match self {
            ServerKind::Tidegate => Paths {
                publish: "/load/in",
                subscribe: "/load",
            },
            ServerKind::Nchan => Paths {
                publish: "/pub",
                subscribe: "/sub",
            },
            ServerKind::Raw => Paths {
                publish: "/pub",
                subscribe: "/sub",
            },
        }
    }
}

/// Which I/O driver the generated tidegate configuration asks for (its `gateway.driver`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// io_uring where the kernel allows it, epoll otherwise.
    #[default]
    Auto,
    /// io_uring; the gateway does not start where the kernel refuses it.
    IoUring,
    /// epoll.
    Epoll,
}

impl Driver {
    /// The value of `gateway.driver` in tidegate's YAML.
    pub fn config_value(self) -> &'static str {
        match self {
            Driver::Auto => "auto",
            Driver::IoUring => "io-uring",
            Driver::Epoll => "epoll",
        }
    }
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Driver::Auto => "auto",
            Driver::IoUring => "io_uring",
            Driver::Epoll => "epoll",
        })
    }
}

/// How to start the servers.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The tidegate binary (default: next to this one, as `cargo build --workspace` puts it).
    pub tidegate_bin: PathBuf,
    pub nginx_bin: PathBuf,
    /// Shards / worker processes / threads of the server (the raw writer always has one).
    pub threads: usize,
    /// HTTP GET: `messagesLimitDurationMs` of the generated tidegate config.
    pub get_window_ms: u64,
    /// tidegate's I/O driver (`gateway.driver` of the generated config).
    pub driver: Driver,
    /// permessage-deflate on tidegate's subscribe websocket (`idle --ws-deflate`).
    pub ws_deflate: WsDeflate,
}

/// permessage-deflate on the generated tidegate config's subscribe websocket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum WsDeflate {
    /// Not configured (the default).
    #[default]
    Off,
    /// Enabled with its defaults: no context takeover either way, nothing kept per connection.
    Shared,
    /// Enabled with `clientNoContextTakeover: false`: each connection owns an inflater.
    ContextTakeover,
}

impl WsDeflate {
    /// The websocket configuration lines (indented for the generated config).
    fn config_lines(self) -> &'static str {
        match self {
            WsDeflate::Off => "",
            WsDeflate::Shared => "          perMessageDeflate:\n            enabled: true\n",
            WsDeflate::ContextTakeover => "          perMessageDeflate:\n            enabled: true\n            clientNoContextTakeover: false\n",
        }
    }
}

/// A running server; stopped (SIGTERM, then SIGKILL after 5 s) when dropped.
pub struct Server {
    pub kind: ServerKind,
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

impl Server {
    pub fn start(kind: ServerKind, options: &ServerOptions) -> Result<Server, LoadError> {
        Self::start_with(kind, options, &|addr| tidegate_config(addr, options))
    }

    /// `start`, tidegate running the configuration `config` makes for its listen address
    /// (`tidegate-load broker`: APIs over a broker).
    pub fn start_with(
        kind: ServerKind,
        options: &ServerOptions,
        config: &dyn Fn(SocketAddr) -> String,
    ) -> Result<Server, LoadError> {
        let addr = free_port()?;
        let dir = std::env::temp_dir().join(format!(
            "tidegate-load-{}-{:?}-{}",
            std::process::id(),
            kind,
            addr.port()
        ));
        fs::create_dir_all(&dir).map_err(|err| LoadError::io(&dir, err))?;
        let config_of = config;
        let mut command = match kind {
            ServerKind::Tidegate => {
                let config = dir.join("gateway.yaml");
                write(&config, &config_of(addr))?;
                let mut command = Command::new(&options.tidegate_bin);
                command
                    .arg("run")
                    .arg("-c")
                    .arg(&config)
                    .arg("--log-level")
                    .arg("warn");
                command
            }
            ServerKind::Nchan => {
                let config = dir.join("nginx.conf");
                write(&config, &nchan_config(addr, &dir, options))?;
                let mut command = Command::new(&options.nginx_bin);
                command
                    .arg("-p")
                    .arg(&dir)
                    .arg("-c")
                    .arg(&config)
                    .arg("-e")
                    .arg(dir.join("error.log"));
                command
            }
            ServerKind::Raw => {
                let mut command = Command::new(
                    std::env::current_exe()
                        .map_err(|err| LoadError::io(Path::new("current_exe"), err))?,
                );
                command
                    .arg("raw-server")
                    .arg("--listen")
                    .arg(addr.to_string());
                command
            }
        };
        let log =
            fs::File::create(dir.join("server.log")).map_err(|err| LoadError::io(&dir, err))?;
        let log2 = log.try_clone().map_err(|err| LoadError::io(&dir, err))?;
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|err| LoadError::Spawn { program, err })?;
        let mut server = Server {
            kind,
            addr,
            child,
            dir,
        };
        server.wait_listening()?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_listening(&mut self) -> Result<(), LoadError> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(LoadError::ServerDied {
                    kind: self.kind,
                    status: status.to_string(),
                    log: self.log(),
                });
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(LoadError::ServerDied {
                    kind: self.kind,
                    status: "not listening after 15 s".into(),
                    log: self.log(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's own output (its last 2 KB), for error messages.
    pub fn log(&self) -> String {
        let mut text = fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        text.push_str(&fs::read_to_string(self.dir.join("error.log")).unwrap_or_default());
        let start = text.len().saturating_sub(2048);
        text.get(start..).unwrap_or("").to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: signalling our own child by its PID; it is not reaped yet, so the PID is ours.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                let _ = fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn write(path: &Path, text: &str) -> Result<(), LoadError> {
    fs::write(path, text).map_err(|err| LoadError::io(path, err))
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<SocketAddr, LoadError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|err| LoadError::io(Path::new("127.0.0.1:0"), err))?;
    listener
        .local_addr()
        .map_err(|err| LoadError::io(Path::new("127.0.0.1:0"), err))
}

/// One in-memory topic: `/load/in` takes POSTs and WebSocket publishes, `/load` serves it over
/// WebSocket, SSE and HTTP GET.
/// Both APIs publish to / read from the same in-memory topic, keyless.
const TOPIC_AND_PLAN: &str = "    endpoint:
      type: in-memory
      configuration:
        topic: load
        maxRetainedMessages: 100000
        maxRetainedBytes: 67108864
    plans:
      - name: Keyless
        security: keyless
";

/// The gateway configuration `--serve tidegate` runs: listening on `addr`, with the shards, I/O
/// driver and HTTP GET window of `options`, and the load-test topic's two APIs.
pub fn tidegate_config(addr: SocketAddr, options: &ServerOptions) -> String {
    format!(
        r#"# Generated by tidegate-load.
gateway:
  listen: "{addr}"
  adminListen: off
  shards: {shards}
  driver: {driver}
  pinShards: false
  timeouts:
    shutdownMs: 1000
apis:
  - id: load-in
    name: Load test (publish)
    contextPaths: [/load/in]
    entrypoints:
      - type: http-post
      - type: websocket
        configuration:
          subscriber:
            enabled: false
{topic}  - id: load-out
    name: Load test (subscribe)
    contextPaths: [/load]
    entrypoints:
      - type: websocket
        configuration:
          publisher:
            enabled: false
{deflate}      - type: sse
      - type: http-get
        configuration:
          messagesLimitCount: 10000
          messagesLimitDurationMs: {window}
{topic}"#,
        shards = options.threads,
        driver = options.driver.config_value(),
        topic = TOPIC_AND_PLAN,
        window = options.get_window_ms,
        deflate = options.ws_deflate.config_lines(),
    )
}

/// nginx + nchan: POST `/pub` publishes to channel `load`, WebSocket `/sub` subscribes to it.
fn nchan_config(addr: SocketAddr, dir: &Path, options: &ServerOptions) -> String {
    let d = dir.display();
    let fds = crate::limits::nofile_hard().min(65_535);
    format!(
        r#"# Generated by tidegate-load.
daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile {fds};
pid {d}/nginx.pid;
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
events {{
  worker_connections {fds};
  multi_accept on;
}}
http {{
  access_log off;
  # One publisher connection carries the whole run (nginx closes after 1000 by default).
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen {addr} backlog=4096;
    location = /pub {{
      nchan_publisher http;
      nchan_channel_id load;
      nchan_message_buffer_length 1000;
    }}
    location = /sub {{
      nchan_subscriber websocket;
      nchan_channel_id load;
    }}
  }}
}}
"#,
        workers = options.threads,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidegate::config::{load_str, DriverChoice};

    fn options(driver: Driver) -> ServerOptions {
        ServerOptions {
            tidegate_bin: "unused".into(),
            nginx_bin: "unused".into(),
            threads: 1,
            get_window_ms: 100,
            driver,
            ws_deflate: WsDeflate::Off,
        }
    }

    #[test]
    fn the_generated_config_carries_ws_deflate() {
        use tidegate::config::EntrypointConfig;
        let addr = "127.0.0.1:0".parse().unwrap();
        for (mode, expected) in [
            (WsDeflate::Off, None),
            (WsDeflate::Shared, Some(true)),
            (WsDeflate::ContextTakeover, Some(false)),
        ] {
            let options = ServerOptions {
                ws_deflate: mode,
                ..options(Driver::Auto)
            };
            let yaml = tidegate_config(addr, &options);
            let config = load_str(&yaml, "generated").unwrap();
            let subscribe = config.apis.iter().find(|api| api.id == "load-out").unwrap();
            let deflate = subscribe.entrypoints.iter().find_map(|e| match e {
                EntrypointConfig::WebSocket(ws) => Some(ws.per_message_deflate),
                _ => None,
            });
            let no_takeover = deflate
                .flatten()
                .map(|d| d.settings.client_no_context_takeover);
            assert_eq!(no_takeover, expected, "{yaml}");
        }
    }

    #[test]
    fn the_generated_config_carries_the_driver() {
        let addr = "127.0.0.1:0".parse().unwrap();
        for (driver, choice) in [
            (Driver::Auto, DriverChoice::Auto),
            (Driver::IoUring, DriverChoice::IoUring),
            (Driver::Epoll, DriverChoice::Epoll),
        ] {
            let yaml = tidegate_config(addr, &options(driver));
            let line = format!("\n  driver: {}\n", driver.config_value());
            assert!(yaml.contains(&line), "{yaml}");
            let config = load_str(&yaml, "generated").unwrap();
            assert_eq!(config.gateway.driver, choice, "{yaml}");
        }
    }
}
