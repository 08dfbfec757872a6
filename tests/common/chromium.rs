//! Headless Chromium for the browser tests, driven over the DevTools protocol (CDP): a plain
//! tungstenite client on a std `TcpStream`, no async runtime. Only what the tests need: open a
//! tab, evaluate JavaScript (awaiting its promise), take a screenshot, read the console.
//!
//! Written by hand rather than with a crate: the sync CDP crate (headless_chrome) generates
//! bindings for the whole protocol at build time, and the tests use five of its methods.
//!
//! Chromium is Debian's `chromium` (tests/setup/chromium.sh installs it; the tests fail, not
//! skip, without it). It runs as root only with `--no-sandbox`. Each `Chromium` has its own
//! profile in a temporary directory, its own process group, and is killed when dropped.

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// How long one DevTools command (an evaluation included) may take before the test fails.
const COMMAND_DEADLINE: Duration = Duration::from_secs(30);
/// How long Chromium may take to start and open its DevTools port (2 busy cores: generous).
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running headless Chromium and the DevTools connection to it.
pub struct Chromium {
    socket: WebSocket<TcpStream>,
    next_id: u64,
    /// Console messages, exceptions and network errors of every tab, for failure messages.
    log: Vec<String>,
    /// The Network domain's events of every tab, for what pages cannot see (e.g. the status of
    /// a refused WebSocket upgrade).
    network: Vec<Value>,
    process: Process,
}

/// A tab, attached to the connection (flat mode: its commands carry its session id).
pub struct Tab {
    session: String,
}

/// The Chromium process and its profile directory; kills the process group when dropped, so a
/// test that panics half-way leaves no browser behind.
struct Process {
    child: Child,
    profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts Chromium with `extra_args` (e.g. `--ignore-certificate-errors-spki-list=…`).
    /// Panics, saying what to install, when there is no `chromium`.
    pub fn start(extra_args: &[String]) -> Chromium {
        let profile = tempfile::tempdir().expect("profile directory");
        let output = std::fs::File::create(profile.path().join("chromium.log")).unwrap();
        let mut command = Command::new("chromium");
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
                "--password-store=basic",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra_args)
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            // Its own group: the renderers and helpers it forks die with it at drop.
            .process_group(0);
        let child = command.spawn().unwrap_or_else(|err| {
            panic!("cannot start `chromium` ({err}): run tests/setup/chromium.sh to install it")
        });
        let mut process = Process { child, profile };
        let (port, path) = process.devtools_endpoint();
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("DevTools port");
        stream.set_nodelay(true).unwrap();
        let url = format!("ws://127.0.0.1:{port}{path}");
        let (socket, _) = tungstenite::client::client(url, stream).expect("DevTools handshake");
        Chromium {
            socket,
            next_id: 0,
            log: Vec::new(),
            network: Vec::new(),
            process,
        }
    }

    /// What Chromium printed (its stderr), for failure messages.
    pub fn output(&self) -> String {
        self.process.output()
    }

    /// Console messages, uncaught exceptions and network errors seen so far, one per line.
    pub fn log(&self) -> String {
        self.log.join("\n")
    }

    /// Whether `check` holds of what DevTools reported, waiting (bounded) for it while reading
    /// more events: Chromium's network events may come after the page already saw the outcome.
    pub fn eventually(&mut self, check: impl Fn(&Chromium) -> bool) -> bool {
        let deadline = Instant::now() + COMMAND_DEADLINE;
        while !check(self) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
            // Any command will do: the events sent before its answer are recorded meanwhile.
            if self.command(None, "Browser.getVersion", json!({})).is_err() {
                return check(self);
            }
        }
        true
    }

    /// The Network events named `method` that `tab` saw so far, their `params`.
    fn network_events<'a>(
        &'a self,
        tab: &'a Tab,
        method: &'a str,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.network
            .iter()
            .filter(move |event| event["method"] == method && event["sessionId"] == tab.session)
            .map(|event| &event["params"])
    }

    /// Why Chromium failed the WebSockets `tab` opened to `url`, as DevTools report it (e.g.
    /// "Error during WebSocket handshake: Unexpected response code: 403"): what the page itself
    /// is never told.
    pub fn websocket_errors(&self, tab: &Tab, url: &str) -> Vec<String> {
        let ids: Vec<&Value> = self
            .network_events(tab, "Network.webSocketCreated")
            .filter(|created| created["url"] == url)
            .map(|created| &created["requestId"])
            .collect();
        self.network_events(tab, "Network.webSocketFrameError")
            .filter(|error| ids.contains(&&error["requestId"]))
            .map(|error| {
                error["errorMessage"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    /// The statuses of the answers `tab` received for `method` requests to `url` (CORS
    /// preflights included, as `OPTIONS`), whether or not the page was allowed to see them.
    pub fn response_statuses(&self, tab: &Tab, method: &str, url: &str) -> Vec<u64> {
        let ids: Vec<&Value> = self
            .network_events(tab, "Network.requestWillBeSent")
            .filter(|sent| sent["request"]["url"] == url && sent["request"]["method"] == method)
            .map(|sent| &sent["requestId"])
            .collect();
        // The extra-info event, not `responseReceived`: Chromium sends that one for answers the
        // page may not see (blocked by CORS) too.
        self.network_events(tab, "Network.responseReceivedExtraInfo")
            .filter(|received| ids.contains(&&received["requestId"]))
            .filter_map(|received| received["statusCode"].as_u64())
            .collect()
    }

    /// Opens a new tab on `url` and waits until its document has loaded. Errors with Chromium's
    /// reason when the page cannot be loaded (e.g. `net::ERR_CERT_AUTHORITY_INVALID`).
    pub fn open(&mut self, url: &str) -> Result<Tab, String> {
        let created = self.command(None, "Target.createTarget", json!({"url": "about:blank"}))?;
        let target = created["targetId"]
            .as_str()
            .ok_or("no targetId")?
            .to_owned();
        let attached = self.command(
            None,
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        )?;
        let tab = Tab {
            session: attached["sessionId"]
                .as_str()
                .ok_or("no sessionId")?
                .to_owned(),
        };
        for domain in [
            "Runtime.enable",
            "Log.enable",
            "Page.enable",
            "Network.enable",
        ] {
            self.command(Some(&tab), domain, json!({}))?;
        }
        let navigated = self.command(Some(&tab), "Page.navigate", json!({"url": url}))?;
        if let Some(error) = navigated["errorText"].as_str().filter(|e| !e.is_empty()) {
            return Err(format!("cannot load {url}: {error}"));
        }
        let deadline = Instant::now() + COMMAND_DEADLINE;
        while self.evaluate(&tab, "document.readyState")? != "complete" {
            if Instant::now() > deadline {
                return Err(format!("{url} did not finish loading"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(tab)
    }

    /// Evaluates `expression` in `tab`, awaits it if it is a promise, and returns its value as
    /// JSON. A thrown exception or rejected promise is an `Err` with its description.
    pub fn evaluate(&mut self, tab: &Tab, expression: &str) -> Result<Value, String> {
        let params = json!({
            "expression": expression,
            "awaitPromise": true,
            "returnByValue": true,
        });
        let mut answer = self.command(Some(tab), "Runtime.evaluate", params)?;
        if let Some(details) = answer.get("exceptionDetails") {
            let description = details["exception"]["description"]
                .as_str()
                .or(details["text"].as_str())
                .unwrap_or("exception");
            return Err(description.to_owned());
        }
        Ok(answer["result"]["value"].take())
    }

    /// A PNG screenshot of `tab`, written to `path` (for looking at what a test saw).
    pub fn screenshot(&mut self, tab: &Tab, path: &Path) -> Result<PathBuf, String> {
        let shot = self.command(
            Some(tab),
            "Page.captureScreenshot",
            json!({"format": "png"}),
        )?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().ok_or("no data")?)
            .map_err(|err| err.to_string())?;
        std::fs::write(path, png).map_err(|err| err.to_string())?;
        Ok(path.to_owned())
    }

    /// Sends one command and waits (bounded) for its answer, logging the events read meanwhile.
    fn command(&mut self, tab: Option<&Tab>, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut request = json!({"id": id, "method": method, "params": params});
        if let Some(tab) = tab {
            request["sessionId"] = json!(tab.session);
        }
        self.socket
            .send(Message::text(request.to_string()))
            .map_err(|err| format!("{method}: {err}"))?;
        let deadline = Instant::now() + COMMAND_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("{method}: no answer in {COMMAND_DEADLINE:?}"));
            }
            self.socket.get_ref().set_read_timeout(Some(left)).unwrap();
            let text = match self.socket.read() {
                Ok(Message::Text(text)) => text,
                Ok(_) => continue,
                Err(err) => return Err(format!("{method}: {err}")),
            };
            let mut message: Value =
                serde_json::from_str(&text).map_err(|err| format!("{method}: {err}"))?;
            if message["id"] == json!(id) {
                if let Some(error) = message.get("error") {
                    return Err(format!("{method}: {error}"));
                }
                return Ok(message["result"].take());
            }
            self.record_event(&message);
        }
    }

    /// Keeps what a failing test would want to see: console output and errors.
    fn record_event(&mut self, event: &Value) {
        let params = &event["params"];
        let line = match event["method"].as_str() {
            Some("Runtime.consoleAPICalled") => {
                let args: Vec<String> = params["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|arg| match &arg["value"] {
                        Value::String(text) => text.clone(),
                        Value::Null => arg["description"].as_str().unwrap_or("").to_owned(),
                        other => other.to_string(),
                    })
                    .collect();
                format!("console.{}: {}", params["type"], args.join(" "))
            }
            Some("Runtime.exceptionThrown") => format!(
                "exception: {}",
                params["exceptionDetails"]["exception"]["description"]
            ),
            Some("Log.entryAdded") => format!(
                "{} {}: {} ({})",
                params["entry"]["source"],
                params["entry"]["level"],
                params["entry"]["text"],
                params["entry"]["url"]
            ),
            Some(method) if method.starts_with("Network.") => {
                self.network.push(event.clone());
                return;
            }
            _ => return,
        };
        self.log.push(line);
    }
}

impl Process {
    /// The DevTools port and browser path Chromium writes to `DevToolsActivePort` in the profile.
    fn devtools_endpoint(&mut self) -> (u16, String) {
        let file = self.profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    if let Ok(port) = port.trim().parse() {
                        return (port, path.trim().to_owned());
                    }
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("chromium exited ({status}) at start:\n{}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "chromium opened no DevTools port in {START_DEADLINE:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn output(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.profile.path().join("chromium.log")) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The whole group (helpers may outlive the browser process); ours alone, by its id.
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals the process group Chromium leads, which
        // `process_group(0)` gave it; no memory is touched.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}
