//! The test network of the CLI's tests, written once: `datahub dev` as a child process (the
//! relay and its nodes as its children, as users run them), read until it is ready, stopped
//! with SIGTERM; and `datahub` commands run against it.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The `datahub` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_datahub");

/// The checkout's `www/`, which holds the web app and the demo pictures.
pub fn www() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www")
}

/// How to start a `datahub dev`: `Dev::builder(dir, nodes)`, options, then `start`.
pub struct DevBuilder {
    command: Command,
    nodes: u16,
    ready_within: Duration,
}

impl DevBuilder {
    /// One more argument of `datahub dev`.
    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    /// More arguments of `datahub dev`.
    pub fn args<S: AsRef<std::ffi::OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.command.args(args);
        self
    }

    /// Serves this folder as the web app (`--www`).
    pub fn www(self, dir: &Path) -> Self {
        self.arg("--www").arg(dir)
    }

    /// An environment variable of `datahub dev` (the ones a developer's shell may set are
    /// removed otherwise).
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// How long to wait for its `ready:` line (90 s unless set).
    pub fn ready_within(mut self, wait: Duration) -> Self {
        self.ready_within = wait;
        self
    }

    /// Starts it and reads its output until it is ready: its URL, and the pids and regions of
    /// what it started.
    pub fn start(mut self) -> Dev {
        let mut child = self.command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Read as it comes, so that a chatty dev never blocks on a full pipe.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
                sink.lock().unwrap().push_str(&text);
            }
        });
        // Owned by `dev` from here on: a failure below still stops it (Drop).
        let mut dev = Dev {
            child,
            lines,
            printed: Vec::new(),
            url: String::new(),
            nodes: Vec::new(),
            relay_pid: 0,
            anvil_pid: 0,
            stderr,
            stderr_reader: Some(stderr_reader),
        };
        let ready = dev.wait_for("ready: ", self.ready_within);
        dev.url = ready["ready: ".len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches('/')
            .to_owned();
        for line in &dev.printed {
            let words: Vec<&str> = line.split_whitespace().collect();
            let pid = || words[2].parse::<u32>().unwrap();
            match words.first() {
                Some(name) if name.starts_with("node-") => {
                    let region = words[words.iter().position(|w| *w == "region").unwrap() + 1];
                    dev.nodes.push((name.to_string(), pid(), region.to_owned()));
                }
                Some(&"relay") => dev.relay_pid = pid(),
                Some(&"anvil") => dev.anvil_pid = pid(),
                _ => {}
            }
        }
        assert_eq!(
            dev.nodes.len(),
            usize::from(self.nodes),
            "{:#?}",
            dev.printed
        );
        dev
    }
}

/// A running `datahub dev` and what it printed.
pub struct Dev {
    /// The `datahub dev` process.
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Its standard output so far, line by line.
    pub printed: Vec<String>,
    /// The relay's URL, without a trailing `/`.
    pub url: String,
    /// (name, pid, region) of each node.
    pub nodes: Vec<(String, u32, String)>,
    /// The relay's pid.
    pub relay_pid: u32,
    /// anvil's pid (0 without a chain).
    pub anvil_pid: u32,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

/// What a stopped `datahub dev` printed.
pub struct Stopped {
    /// Standard output, line by line.
    pub printed: Vec<String>,
    /// Standard error.
    pub stderr: String,
}

impl Dev {
    /// `datahub dev --port 0 --nodes N --data DIR/net` in `dir`, with none of the developer's
    /// `DATAHUB_*` settings.
    pub fn builder(dir: &Path, nodes: u16) -> DevBuilder {
        let mut command = Command::new(BIN);
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
            .env_remove("DATAHUB_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        DevBuilder {
            command,
            nodes,
            ready_within: Duration::from_secs(90),
        }
    }

    /// Reads dev's output until a line starts with `prefix`.
    pub fn wait_for(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.printed.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no {prefix:?} from datahub dev ({e}); it printed {:#?} and on stderr: {}",
                    self.printed,
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM; it must exit cleanly within 30 s. What it printed.
    pub fn stop(mut self) -> Stopped {
        let status = self.terminate(Duration::from_secs(30));
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(1)) {
            self.printed.push(line);
        }
        let status = status
            .unwrap_or_else(|| panic!("datahub dev did not stop on SIGTERM: {:#?}", self.printed));
        assert!(
            status.success(),
            "dev exited with {status}: {:#?}",
            self.printed
        );
        Stopped {
            stderr: self.stderr(),
            printed: std::mem::take(&mut self.printed),
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
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // A test that failed: let dev stop its children, then make sure.
        if self.child.try_wait().ok().flatten().is_none()
            && self.terminate(Duration::from_secs(10)).is_none()
        {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `datahub ARGS` in `dir` (its spool there too), with none of the developer's settings.
pub fn datahub(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DATAHUB_RELAY")
        .env_remove("DATAHUB_IDENTITY")
        .env("DATAHUB_SPOOL", dir.join("spool"))
        .output()
        .unwrap()
}

/// `datahub ARGS`, which must succeed; its standard output.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = datahub(dir, args);
    assert!(
        out.status.success(),
        "datahub {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `datahub ARGS`, which must fail; its standard error.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let out = datahub(dir, args);
    assert!(!out.status.success(), "datahub {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}
