//! `datahub dev` as a child process: the relay, its nodes and anvil as its children, as users run
//! them; read until it is ready, stopped with SIGTERM.

use std::ffi::OsStr;
use std::io::{self, Read as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::process::{Lines, Process};

/// How to start a `datahub dev`: [`Dev::builder`], options, then [`DevBuilder::start`].
#[derive(Debug)]
pub struct DevBuilder {
    command: Command,
    nodes: u16,
    compute: u16,
    ready_within: Duration,
}

impl DevBuilder {
    /// One more argument of `datahub dev`.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    /// More arguments of `datahub dev`.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.command.args(args);
        self
    }

    /// Serves this folder as the web app (`--www`).
    pub fn www(self, dir: &Path) -> Self {
        self.arg("--www").arg(dir)
    }

    /// An environment variable of `datahub dev` (the ones a developer's shell may set are
    /// removed otherwise).
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// How many compute nodes it starts (`--compute`; none unless set: they load models and
    /// take jobs, which only the tests about them want).
    pub fn compute(mut self, nodes: u16) -> Self {
        self.compute = nodes;
        self
    }

    /// How long to wait for its `ready:` line (90 s unless set).
    pub fn ready_within(mut self, wait: Duration) -> Self {
        self.ready_within = wait;
        self
    }

    /// Starts it and reads its output until it is ready: its URL, and the pids and regions of
    /// what it started. An error (with what it printed) if it was not ready in time or started
    /// another number of nodes than asked; it is stopped then.
    pub fn start(mut self) -> io::Result<Dev> {
        self.command
            .args(["--compute", &self.compute.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut process = Process::spawn(self.command)?;
        let child = process.child_mut();
        let (Some(stdout), Some(mut pipe)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(io::Error::other("datahub dev has no standard output"));
        };
        // Read as it comes, so that a chatty dev never blocks on a full pipe.
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
                if let Ok(mut all) = sink.lock() {
                    all.push_str(&text);
                }
            }
        });
        // Owned by `dev` from here on: a failure below still stops it (Drop).
        let mut dev = Dev {
            process,
            lines: Lines::read(stdout),
            printed: Vec::new(),
            url: String::new(),
            nodes: Vec::new(),
            relay_pid: 0,
            anvil_pid: 0,
            stderr,
            stderr_reader: Some(stderr_reader),
        };
        let ready = dev.wait_for("ready: ", self.ready_within)?;
        dev.url = ready
            .strip_prefix("ready: ")
            .and_then(|rest| rest.split_whitespace().next())
            .map(|url| url.trim_end_matches('/').to_owned())
            .ok_or_else(|| dev.error(&format!("no URL in {ready:?}")))?;
        let mut nodes = Vec::new();
        for line in &dev.printed {
            // `NAME pid PID …` for each process it started; a node's line names its region.
            let words: Vec<&str> = line.split_whitespace().collect();
            let pid = || words.get(2).and_then(|w| w.parse::<u32>().ok());
            match words.first() {
                Some(name) if name.starts_with("node-") => {
                    let region = words
                        .iter()
                        .position(|w| *w == "region")
                        .and_then(|i| words.get(i + 1));
                    let (Some(pid), Some(region)) = (pid(), region) else {
                        return Err(
                            dev.error(&format!("a node line without pid or region: {line:?}"))
                        );
                    };
                    nodes.push(DevNode {
                        name: (*name).to_owned(),
                        pid,
                        region: (*region).to_owned(),
                    });
                }
                Some(&"relay") => dev.relay_pid = pid().unwrap_or(0),
                Some(&"anvil") => dev.anvil_pid = pid().unwrap_or(0),
                _ => {}
            }
        }
        dev.nodes = nodes;
        if dev.nodes.len() != usize::from(self.nodes) {
            return Err(dev.error(&format!(
                "{} nodes started, {} asked",
                dev.nodes.len(),
                self.nodes
            )));
        }
        Ok(dev)
    }
}

/// A node `datahub dev` started, as its line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevNode {
    /// `node-0`, `node-1`, …
    pub name: String,
    /// Its pid.
    pub pid: u32,
    /// Its region.
    pub region: String,
}

/// A running `datahub dev` and what it printed.
#[derive(Debug)]
pub struct Dev {
    /// The `datahub dev` process.
    pub process: Process,
    lines: Lines,
    /// Its standard output so far, line by line.
    pub printed: Vec<String>,
    /// The relay's URL, without a trailing `/`.
    pub url: String,
    /// Each node it started.
    pub nodes: Vec<DevNode>,
    /// The relay's pid.
    pub relay_pid: u32,
    /// anvil's pid (0 without a chain).
    pub anvil_pid: u32,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

/// What a stopped `datahub dev` printed.
#[derive(Debug)]
pub struct Stopped {
    /// Standard output, line by line.
    pub printed: Vec<String>,
    /// Standard error.
    pub stderr: String,
}

impl Dev {
    /// `BIN dev --port 0 --nodes N --data DIR/net` in `dir`, with none of the developer's
    /// `DATAHUB_*` settings; `bin` is the `datahub` binary.
    pub fn builder(bin: impl AsRef<OsStr>, dir: &Path, nodes: u16) -> DevBuilder {
        let mut command = Command::new(bin);
        command
            .args([
                "dev",
                "--port",
                "0",
                "--nodes",
                &nodes.to_string(),
                "--data",
            ])
            .arg(dir.join("net"))
            .current_dir(dir)
            .env_remove("DATAHUB_WWW")
            .env_remove("DATAHUB_PKG")
            .env_remove("DATAHUB_CONFIG");
        DevBuilder {
            command,
            nodes,
            compute: 0,
            ready_within: Duration::from_secs(90),
        }
    }

    /// Reads dev's output until a line starts with `prefix`; an error with all it printed and
    /// its standard error if none came within `timeout`.
    pub fn wait_for(&mut self, prefix: &str, timeout: Duration) -> io::Result<String> {
        let mut seen = Vec::new();
        let found = self.lines.wait_for(prefix, timeout, &mut seen);
        self.printed.append(&mut seen);
        found.map_err(|e| self.error(&e.to_string()))
    }

    /// `message`, with what dev printed on both outputs so far.
    fn error(&self, message: &str) -> io::Error {
        let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        io::Error::other(format!(
            "datahub dev: {message}; it printed {:#?} and on stderr: {stderr}",
            self.printed
        ))
    }

    /// SIGTERM; it must exit cleanly within 30 s. What it printed.
    pub fn stop(mut self) -> io::Result<Stopped> {
        let status = self.process.terminate(Duration::from_secs(30))?;
        let mut rest = self.lines.rest(Duration::from_secs(1));
        self.printed.append(&mut rest);
        match status {
            None => Err(self.error("it did not stop on SIGTERM within 30 s")),
            Some(status) if !status.success() => {
                Err(self.error(&format!("it exited with {status}")))
            }
            Some(_) => Ok(Stopped {
                stderr: self.stderr(),
                printed: std::mem::take(&mut self.printed),
            }),
        }
    }

    /// What dev wrote on standard error, once it has exited.
    pub fn stderr(&mut self) -> String {
        // Its children may hold the pipe a moment longer; what came by then is enough.
        if let Some(reader) = self.stderr_reader.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // A test that failed: let dev stop its children (SIGTERM); the process's own drop kills
        // it if it did not within 10 s.
        let _ = self.process.terminate(Duration::from_secs(10));
    }
}
