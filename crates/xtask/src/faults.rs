//! `cargo xtask faults`: the fault suite, on real processes. Each case starts its own network
//! (a `datahub relay` and six `datahub node` processes on loopback, fresh folders), does harm
//! the way it happens in the field — SIGKILL, bytes changed or cut on a node's disk, a node that
//! serves wrong bytes or serves them slowly — and then checks, through the `datahub` CLI as a
//! user would, what was lost (the goal: nothing) and how long recovery took. It writes
//! docs/reliability.md and target/bench/faults.json.
//!
//! Each node is reached through a small TCP proxy run here (the node advertises the proxy's
//! address with `--advertise`), which passes bytes through, or changes some of them (a node that
//! lies), or delays them (a slow node).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

use crate::cmd::{Cmd, heading, root};
use crate::report::{self, Machine};

/// The relay's settings for the suite: nodes judged dead after 6 s of silence, repair and audits
/// every second or two, and no rate limit in the way.
const RELAY_CONFIG: &str = "\
node_timeout_secs = 6
repair_interval_secs = 2
audit_interval_secs = 1

[limits]
ip_per_sec = 100000.0
ip_burst = 100000.0
address_per_sec = 100000.0
address_burst = 100000.0
";

/// `node_timeout_secs` of [`RELAY_CONFIG`].
const NODE_TIMEOUT_SECS: u64 = 6;

/// How long a case waits for the network to heal before it calls recovery failed.
const HEAL_TIMEOUT: Duration = Duration::from_secs(90);

/// What one case found.
#[derive(Serialize)]
struct Outcome {
    case: String,
    /// What was done.
    fault: String,
    /// Objects written (acknowledged by the CLI) and how many of them did not read back
    /// byte-exact afterwards.
    objects: usize,
    lost: usize,
    /// Seconds from the fault until the network was whole again (see `recovery`), if it was.
    recovery_seconds: Option<f64>,
    /// What "recovered" means for this case.
    recovery: String,
    /// Anything else worth reading, or why the case could not run.
    note: String,
    error: Option<String>,
}

/// What a node's proxy does to the bytes it passes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Honest,
    /// Flips one bit in every 1024th byte the node sends, past the first 512 of a connection:
    /// shard bodies arrive wrong, while most headers and small replies stay readable.
    Lies,
    /// Waits this long before passing on each read of at most 16 KiB, in both directions.
    Slow(Duration),
}

/// How one node of a case's network runs.
#[derive(Clone, Copy)]
struct NodeSpec {
    behaviour: Behaviour,
    /// `--capacity`, if not the default.
    capacity: Option<u64>,
    /// A disk of its own of this many bytes: the node's data folder is a tmpfs of that size,
    /// mounted in a mount namespace of the node's own (`unshare`), so it fills up for real.
    disk: Option<u64>,
}

impl NodeSpec {
    const HONEST: Self = Self {
        behaviour: Behaviour::Honest,
        capacity: None,
        disk: None,
    };
}

/// The `datahub` binary this suite drives (the debug build, made first).
fn bin() -> PathBuf {
    root().join("target/debug/datahub")
}

/// A case: given its own empty folder, does its harm and says what came of it.
type Case = fn(&Path) -> Result<Outcome>;

pub fn run() -> Result<()> {
    heading("faults: building the datahub binary");
    Cmd::new("cargo")
        .args(["build", "-p", "datahub-cli"])
        .run()?;
    let cases: [(&str, &str, Case); 8] = [
        (
            "node killed during upload",
            "SIGKILL of a node while a 20 MiB object is put",
            node_killed_during_upload,
        ),
        (
            "relay killed under load",
            "SIGKILL of the relay during a stream of 1 MiB puts, then restarted on the same data",
            relay_killed_under_load,
        ),
        (
            "corrupted shard",
            "one byte flipped in a shard file on a node's disk",
            |dir| damaged_shard(dir, Damage::Flip),
        ),
        (
            "truncated shard",
            "a shard file on a node's disk cut to half its length",
            |dir| damaged_shard(dir, Damage::Truncate),
        ),
        (
            "node that lies",
            "one node's replies have bits flipped on the way out",
            lying_node,
        ),
        (
            "node at its capacity",
            "one node offers 64 KiB (its --capacity), less than one shard",
            node_at_capacity,
        ),
        (
            "full disk",
            "one node's disk (a 24 MiB tmpfs of its own) filled by another file behind its back",
            full_disk,
        ),
        (
            "slow node",
            "one node's traffic delayed 100 ms per 16 KiB, both ways",
            slow_node,
        ),
    ];
    let mut outcomes = Vec::new();
    for (case, fault, body) in cases {
        heading(&format!("faults: {case}"));
        let dir = tempdir(case)?;
        let outcome = body(&dir).unwrap_or_else(|err| Outcome {
            case: case.into(),
            fault: fault.into(),
            objects: 0,
            lost: 0,
            recovery_seconds: None,
            recovery: String::new(),
            note: String::new(),
            error: Some(format!("{err:#}")),
        });
        let outcome = Outcome {
            case: case.into(),
            fault: fault.into(),
            ..outcome
        };
        match &outcome.error {
            Some(err) => println!("{case}: FAILED to run: {err}"),
            None => println!(
                "{case}: lost {} of {} objects; recovered in {}",
                outcome.lost,
                outcome.objects,
                outcome
                    .recovery_seconds
                    .map_or("— (did not recover)".into(), |s| format!("{s:.1} s"))
            ),
        }
        let _ = std::fs::remove_dir_all(&dir);
        outcomes.push(outcome);
    }

    let machine = Machine::describe();
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    let json = out.join("faults.json");
    let doc = serde_json::json!({ "machine": machine, "cases": outcomes });
    std::fs::write(&json, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("writing {}", json.display()))?;
    let md = root().join("docs/reliability.md");
    std::fs::write(&md, markdown(&machine, &outcomes))
        .with_context(|| format!("writing {}", md.display()))?;
    let bad = outcomes
        .iter()
        .filter(|o| o.error.is_some() || o.lost > 0)
        .count();
    println!(
        "\nfaults: {} cases, {bad} lost data or failed to run; wrote docs/reliability.md and target/bench/faults.json",
        outcomes.len()
    );
    if bad > 0 {
        bail!("{bad} fault cases lost data or failed to run");
    }
    Ok(())
}

fn tempdir(case: &str) -> Result<PathBuf> {
    let name: String = case
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let dir = std::env::temp_dir().join(format!("datahub-faults-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// A child process killed (SIGKILL) and reaped when dropped.
struct Process(Child);

impl Process {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `command` (the `datahub` binary, maybe behind a wrapper) with `args…`, logging to
/// `log`, and returns it with the first line it printed.
fn spawn(mut command: Command, args: &[String], log: &Path) -> Result<(Process, String)> {
    let log_file = std::fs::File::create(log)?;
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("could not start {}", command.get_program().display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let process = Process(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(first)) = lines.next() {
            let _ = tx.send(first);
        }
        // Keep draining, so the child never blocks on a full pipe.
        for _ in lines {}
    });
    let first = rx.recv_timeout(Duration::from_secs(60)).with_context(|| {
        format!(
            "`datahub {}` printed nothing; see {}",
            args.join(" "),
            log.display()
        )
    })?;
    Ok((process, first))
}

/// `datahub` with `data` on a tmpfs of `bytes`: in a new user and mount namespace (no root
/// needed), mount the tmpfs over the folder, then become the node. The mount lives and dies with
/// the node's process.
fn on_own_disk(bytes: u64, data: &Path) -> Command {
    let mut command = Command::new("unshare");
    command
        .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
        .arg(
            "size=$1 data=$2; shift 2; \
             mount -t tmpfs -o size=$size datahub-disk \"$data\" && exec \"$@\"",
        )
        .arg("sh")
        .arg(bytes.to_string())
        .arg(data)
        .arg(bin());
    command
}

/// The word after `on` in a ready line: `… listening on http://127.0.0.1:1234 address 0x…`.
fn url_in(line: &str) -> Result<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .iter()
        .position(|w| *w == "on")
        .and_then(|i| words.get(i + 1))
        .filter(|u| u.starts_with("http://"))
        .map(|u| u.trim_end_matches('/').to_owned())
        .with_context(|| format!("no URL in {line:?}"))
}

/// One node: its process, its data folder (as this process reaches it) and the proxy URL it
/// advertises.
struct Node {
    process: Process,
    data: PathBuf,
    endpoint: String,
}

/// A relay and six nodes on loopback.
struct Net {
    dir: PathBuf,
    relay: Process,
    relay_port: u16,
    url: String,
    nodes: Vec<Node>,
    /// Tells the proxies to stop accepting.
    stop: Arc<AtomicBool>,
}

impl Net {
    /// Starts a relay and one node per entry of `nodes`.
    fn start(dir: &Path, nodes: &[NodeSpec]) -> Result<Self> {
        std::fs::write(dir.join("relay.toml"), RELAY_CONFIG)?;
        let relay_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let (relay, _) = start_relay(dir, relay_port)?;
        let url = format!("http://127.0.0.1:{relay_port}");
        let stop = Arc::new(AtomicBool::new(false));
        let mut started = Vec::new();
        for (i, spec) in nodes.iter().enumerate() {
            let proxy = TcpListener::bind("127.0.0.1:0")?;
            let proxy_url = format!("http://{}", proxy.local_addr()?);
            let data = dir.join(format!("node-{i}"));
            let mut args: Vec<String> = [
                "node",
                "--relay",
                &url,
                "--listen",
                "127.0.0.1:0",
                "--advertise",
                &proxy_url,
                "--region",
                &format!("region-{i}"),
                "--heartbeat-secs",
                "2",
                "--data",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            args.push(data.display().to_string());
            if let Some(capacity) = spec.capacity {
                args.extend(["--capacity".into(), capacity.to_string()]);
            }
            let log = dir.join(format!("node-{i}.log"));
            let (process, line, data) = match spec.disk {
                None => {
                    let (process, line) = spawn(Command::new(bin()), &args, &log)?;
                    (process, line, data)
                }
                Some(bytes) => {
                    std::fs::create_dir_all(&data)?;
                    let (process, line) = spawn(on_own_disk(bytes, &data), &args, &log)?;
                    // The tmpfs is seen only in the node's mount namespace; this path reaches it
                    // from outside.
                    let seen =
                        PathBuf::from(format!("/proc/{}/root{}", process.0.id(), data.display()));
                    (process, line, seen)
                }
            };
            let upstream = url_in(&line)?.trim_start_matches("http://").to_owned();
            let (behaviour, stop) = (spec.behaviour, stop.clone());
            std::thread::spawn(move || proxy_loop(proxy, upstream, behaviour, stop));
            started.push(Node {
                process,
                data,
                endpoint: proxy_url,
            });
        }
        let net = Self {
            dir: dir.to_owned(),
            relay,
            relay_port,
            url,
            nodes: started,
            stop,
        };
        net.wait_for_nodes(nodes.len())?;
        Ok(net)
    }

    /// Waits until the relay lists `n` live nodes.
    fn wait_for_nodes(&self, n: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let alive = http_get(self.relay_port, "/v1/nodes")
                .ok()
                .and_then(|body| serde_json::from_str::<Value>(&body).ok())
                .and_then(|v| {
                    let list = v.get("nodes")?.as_array()?.clone();
                    Some(list.iter().filter(|n| n["alive"] == true).count())
                });
            if alive.is_some_and(|a| a >= n) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the relay did not see {n} live nodes within 60 s (saw {alive:?})");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Runs `datahub args… --relay URL` in the case's folder; its stdout, or an error with its
    /// stderr.
    fn cli(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(bin())
            .args(args)
            .args(["--relay", &self.url])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("could not start {}", bin().display()))?;
        if !out.status.success() {
            bail!(
                "`datahub {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Makes the owner's key (owner.key) and returns its public key.
    fn keygen(&self) -> Result<String> {
        let out = Command::new(bin())
            .args(["keygen", "-o", "owner.key"])
            .current_dir(&self.dir)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("public key"))
            .map(|k| k.trim().to_owned())
            .context("keygen printed no public key")
    }

    /// A file of `len` bytes from a seed (xorshift: varied, reproducible, not compressible).
    fn file(&self, name: &str, len: usize, seed: u64) -> Result<PathBuf> {
        let mut x = seed | 1;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            })
            .collect();
        let path = self.dir.join(name);
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    /// `object put`: the object id.
    fn put(&self, file: &Path, public: &str) -> Result<String> {
        let out = self.cli(&[
            "object",
            "put",
            &file.display().to_string(),
            "-r",
            public,
            "-i",
            "owner.key",
        ])?;
        out.lines()
            .last()
            .and_then(|l| l.split_whitespace().last())
            .map(str::to_owned)
            .context("object put printed no id")
    }

    /// Whether `object get` gives back exactly `file`'s bytes.
    fn reads_back(&self, id: &str, file: &Path) -> bool {
        let back = self.dir.join(format!("{id}.back"));
        let ok = self
            .cli(&[
                "object",
                "get",
                id,
                "-i",
                "owner.key",
                "-o",
                &back.display().to_string(),
            ])
            .is_ok()
            && std::fs::read(&back).ok() == std::fs::read(file).ok();
        let _ = std::fs::remove_file(&back);
        ok
    }

    /// Segments of the object with a shard missing or bad, as the relay reports them.
    fn at_risk(&self, id: &str) -> Result<u64> {
        let out = self.cli(&["object", "status", id, "--json"])?;
        let status: Value = serde_json::from_str(&out)?;
        status
            .get("at_risk")
            .and_then(Value::as_u64)
            .context("no at_risk in the status")
    }

    /// Waits until the object has a segment at risk and then none; returns the seconds from
    /// `since` to whole again, or `None` if that did not happen within [`HEAL_TIMEOUT`].
    fn heals(&self, id: &str, since: Instant) -> Option<f64> {
        let deadline = since + HEAL_TIMEOUT;
        let mut seen_at_risk = false;
        while Instant::now() < deadline {
            match self.at_risk(id) {
                Ok(0) if seen_at_risk => return Some(since.elapsed().as_secs_f64()),
                Ok(n) if n > 0 => seen_at_risk = true,
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        None
    }

    /// Node `i` as the relay lists it in `GET /v1/nodes`.
    fn node_view(&self, i: usize) -> Result<NodeView> {
        let endpoint = &self.nodes.get(i).context("no such node")?.endpoint;
        let list: Value = serde_json::from_str(&http_get(self.relay_port, "/v1/nodes")?)?;
        let node = list
            .get("nodes")
            .and_then(Value::as_array)
            .and_then(|nodes| {
                nodes
                    .iter()
                    .find(|n| n.get("endpoint").and_then(Value::as_str) == Some(endpoint))
            })
            .with_context(|| format!("the relay does not list the node at {endpoint}"))?;
        let int = |key| node.get(key).and_then(Value::as_i64);
        Ok(NodeView {
            alive: node.get("alive").and_then(Value::as_bool) == Some(true),
            reputation: int("reputation"),
            room: int("capacity").unwrap_or(0) - int("used").unwrap_or(0),
        })
    }

    /// Every shard file on node `i`'s disk.
    fn shard_files(&self, i: usize) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut dirs: Vec<PathBuf> = self
            .nodes
            .get(i)
            .map(|n| n.data.join("shards"))
            .into_iter()
            .collect();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.file_name().is_some_and(|n| n.len() == 64) {
                    found.push(path);
                }
            }
        }
        found
    }
}

/// What the relay says of a node.
struct NodeView {
    alive: bool,
    reputation: Option<i64>,
    /// Capacity less use: the bytes the relay may still place on it.
    room: i64,
}

impl Drop for Net {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `GET path` from 127.0.0.1:`port` over plain HTTP/1.0: the body.
fn http_get(port: u16, path: &str) -> Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no end of headers in the reply")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!("GET {path}: {}", head.lines().next().unwrap_or(""));
    }
    Ok(body.to_owned())
}

fn start_relay(dir: &Path, port: u16) -> Result<(Process, String)> {
    let args: Vec<String> = [
        "relay",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--config",
        &dir.join("relay.toml").display().to_string(),
        "--data",
        &dir.join("relay").display().to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    spawn(Command::new(bin()), &args, &dir.join("relay.log"))
}

/// Accepts connections for a node and copies bytes both ways, doing to them what `behaviour`
/// says.
fn proxy_loop(
    listener: TcpListener,
    upstream: String,
    behaviour: Behaviour,
    stop: Arc<AtomicBool>,
) {
    for client in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(&upstream) else {
            // The node is dead: so is the connection, as it would be without a proxy.
            continue;
        };
        let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
            continue;
        };
        std::thread::spawn(move || pipe(client, server, behaviour, false));
        std::thread::spawn(move || pipe(server2, client2, behaviour, true));
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, behaviour: Behaviour, from_node: bool) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut sent: u64 = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let Some(piece) = buf.get_mut(..n) else { break };
        match behaviour {
            Behaviour::Honest => {}
            Behaviour::Lies if from_node => {
                for (i, byte) in piece.iter_mut().enumerate() {
                    let at = sent + i as u64;
                    if at >= 512 && at.is_multiple_of(1024) {
                        *byte ^= 0x01;
                    }
                }
            }
            Behaviour::Lies => {}
            Behaviour::Slow(delay) => std::thread::sleep(delay),
        }
        sent += n as u64;
        if to.write_all(piece).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn honest(n: usize) -> Vec<NodeSpec> {
    vec![NodeSpec::HONEST; n]
}

/// Six nodes, the first of them as given, the others honest and of the default capacity.
fn first_odd(first: NodeSpec) -> Vec<NodeSpec> {
    let mut nodes = vec![first];
    nodes.extend(honest(5));
    nodes
}

const MIB: usize = 1024 * 1024;

fn outcome(
    objects: usize,
    lost: usize,
    recovery_seconds: Option<f64>,
    recovery: &str,
    note: String,
) -> Outcome {
    Outcome {
        case: String::new(),
        fault: String::new(),
        objects,
        lost,
        recovery_seconds,
        recovery: recovery.into(),
        note,
        error: None,
    }
}

fn node_killed_during_upload(dir: &Path) -> Result<Outcome> {
    let mut net = Net::start(dir, &honest(6))?;
    let public = net.keygen()?;
    let file = net.file("big", 20 * MIB, 1)?;
    // The upload runs in its own process; the node dies once the first shards have landed on it.
    let put = Command::new(bin())
        .args([
            "object",
            "put",
            "big",
            "-r",
            &public,
            "-i",
            "owner.key",
            "--relay",
            &net.url,
        ])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let started = Instant::now();
    while net.shard_files(0).is_empty() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stored_before = net.shard_files(0).len();
    if let Some(node) = net.nodes.first_mut() {
        node.process.kill();
    }
    let killed = Instant::now();
    let out = put.wait_with_output()?;
    let mut note = format!("node-0 killed after it stored {stored_before} shards; ");
    let id = if out.status.success() {
        note.push_str("the put went on and finished");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .and_then(|l| l.split_whitespace().last())
            .map(str::to_owned)
            .context("object put printed no id")?
    } else {
        // The CLI resumes an interrupted upload when run again: that is the user's recovery.
        note.push_str(&format!(
            "the put failed ({}) and was run again",
            report::one_line(&String::from_utf8_lossy(&out.stderr))
        ));
        net.put(&file, &public)?
    };
    // The relay can only see the death once the node has been silent for node_timeout_secs, so
    // watch until then and after, until the object has no segment at risk: recovered is when it
    // last became whole.
    let judged = killed + Duration::from_secs(NODE_TIMEOUT_SECS + 2);
    let mut seen_at_risk = false;
    let mut whole_since = None;
    while killed.elapsed() < HEAL_TIMEOUT {
        match net.at_risk(&id) {
            Ok(0) => {
                whole_since.get_or_insert(killed.elapsed().as_secs_f64());
            }
            Ok(_) => {
                seen_at_risk = true;
                whole_since = None;
            }
            Err(_) => {}
        }
        if whole_since.is_some() && Instant::now() >= judged {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let healed = whole_since;
    note.push_str(if seen_at_risk {
        "; segments were seen at risk, then repaired"
    } else {
        "; no segment was seen at risk (placed around the dead node, or repaired between looks)"
    });
    let lost = usize::from(!net.reads_back(&id, &file));
    Ok(outcome(
        1,
        lost,
        healed,
        "the object whole again (no segment at risk), the relay having judged the node dead",
        note,
    ))
}

fn relay_killed_under_load(dir: &Path) -> Result<Outcome> {
    let mut net = Net::start(dir, &honest(6))?;
    let public = net.keygen()?;
    let mut written: Vec<(String, PathBuf)> = Vec::new();
    let mut failed_puts = 0;
    let mut in_flight = "refused";
    let mut killed_at = None;
    let mut back_at = None;
    let mut restarted = None;
    for i in 0..16 {
        if i == 6 {
            // Killed while a put is in flight: one runs in the background as the relay dies.
            let file = net.file(&format!("obj-{i}"), MIB, 100 + i)?;
            let put = Command::new(bin())
                .args([
                    "object",
                    "put",
                    &file.display().to_string(),
                    "-r",
                    &public,
                    "-i",
                    "owner.key",
                    "--relay",
                    &net.url,
                ])
                .current_dir(dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()?;
            std::thread::sleep(Duration::from_millis(150));
            net.relay.kill();
            killed_at = Some(Instant::now());
            let out = put.wait_with_output()?;
            if out.status.success()
                && let Some(id) = String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .last()
                    .and_then(|l| l.split_whitespace().last())
            {
                in_flight = "acknowledged";
                written.push((id.to_owned(), file));
            } else {
                failed_puts += 1;
            }
            let (relay, _) = start_relay(dir, net.relay_port)?;
            restarted = Some(relay);
            continue;
        }
        let file = net.file(&format!("obj-{i}"), MIB, 100 + i)?;
        match net.put(&file, &public) {
            Ok(id) => {
                if killed_at.is_some() && back_at.is_none() {
                    back_at = Some(Instant::now());
                }
                written.push((id, file));
            }
            Err(_) => failed_puts += 1,
        }
    }
    if let Some(relay) = restarted {
        net.relay = relay;
    }
    let lost = written
        .iter()
        .filter(|(id, file)| !net.reads_back(id, file))
        .count();
    let recovery = match (killed_at, back_at) {
        (Some(k), Some(b)) => Some(b.duration_since(k).as_secs_f64()),
        _ => None,
    };
    Ok(outcome(
        written.len(),
        lost,
        recovery,
        "the first put accepted by the restarted relay",
        format!(
            "16 puts of 1 MiB one after another, the relay killed 150 ms into the 7th (which was \
             {in_flight}); {failed_puts} puts refused in all (not acknowledged, so not counted as \
             written); the relay restarted at once on the same data and port"
        ),
    ))
}

enum Damage {
    Flip,
    Truncate,
}

fn damaged_shard(dir: &Path, damage: Damage) -> Result<Outcome> {
    let net = Net::start(dir, &honest(6))?;
    let public = net.keygen()?;
    // One segment: every node holds one shard of it, so each audit round asks for it.
    let file = net.file("obj", 3 * MIB, 7)?;
    let id = net.put(&file, &public)?;
    let shard = net
        .shard_files(0)
        .into_iter()
        .next()
        .context("node-0 holds no shard")?;
    let mut bytes = std::fs::read(&shard)?;
    match damage {
        Damage::Flip => {
            let middle = bytes.len() / 2;
            if let Some(b) = bytes.get_mut(middle) {
                *b ^= 0x80;
            }
        }
        Damage::Truncate => bytes.truncate(bytes.len() / 2),
    }
    std::fs::write(&shard, &bytes)?;
    let damaged = Instant::now();
    let read_at_once = net.reads_back(&id, &file);
    let healed = net.heals(&id, damaged);
    let lost = usize::from(!net.reads_back(&id, &file));
    Ok(outcome(
        1,
        lost,
        healed,
        "an audit found the bad shard and repair rebuilt it (no segment at risk)",
        format!(
            "read back byte-exact right after the damage, before any repair: {}",
            if read_at_once { "yes" } else { "no" }
        ),
    ))
}

fn lying_node(dir: &Path) -> Result<Outcome> {
    let net = Net::start(
        dir,
        &first_odd(NodeSpec {
            behaviour: Behaviour::Lies,
            ..NodeSpec::HONEST
        }),
    )?;
    let public = net.keygen()?;
    let file = net.file("obj", 3 * MIB, 11)?;
    let id = net.put(&file, &public)?;
    let started = Instant::now();
    let read_at_once = net.reads_back(&id, &file);
    let healed = net.heals(&id, started);
    let lost = usize::from(!read_at_once || !net.reads_back(&id, &file));
    Ok(outcome(
        1,
        lost,
        healed,
        "audits caught the lying node and repair moved its shard (no segment at risk)",
        format!(
            "read back byte-exact while the node lied: {}",
            if read_at_once { "yes" } else { "no" }
        ),
    ))
}

fn node_at_capacity(dir: &Path) -> Result<Outcome> {
    let net = Net::start(
        dir,
        &first_odd(NodeSpec {
            capacity: Some(64 * 1024),
            ..NodeSpec::HONEST
        }),
    )?;
    let public = net.keygen()?;
    let file = net.file("obj", 8 * MIB, 13)?;
    let started = Instant::now();
    let id = net.put(&file, &public)?;
    let put_secs = started.elapsed().as_secs_f64();
    let on_full = net.shard_files(0).len();
    let at_risk = net.at_risk(&id)?;
    let lost = usize::from(!net.reads_back(&id, &file));
    Ok(outcome(
        1,
        lost,
        (at_risk == 0).then_some(put_secs),
        "the put done with no segment at risk",
        format!(
            "the node's own limit, not its disk (see the full disk case); shards on the full node \
             afterwards: {on_full}; segments at risk: {at_risk}"
        ),
    ))
}

fn full_disk(dir: &Path) -> Result<Outcome> {
    let net = Net::start(
        dir,
        &first_odd(NodeSpec {
            disk: Some(24 * MIB as u64),
            ..NodeSpec::HONEST
        }),
    )?;
    let node = net.nodes.first().context("no node")?;
    let public = net.keygen()?;
    let mut written = Vec::new();
    let file = net.file("obj-0", 8 * MIB, 19)?;
    written.push((net.put(&file, &public)?, file));
    let held_before = net.shard_files(0).len();
    let reputation_before = net.node_view(0)?.reputation;

    // Another program fills the disk: the relay still counts the room the node offered at its
    // last heartbeat.
    let filler = node.data.join("filler");
    let filled = fill_disk(&filler)?;
    for i in 1..4 {
        let file = net.file(&format!("obj-{i}"), 8 * MIB, 19 + i)?;
        written.push((net.put(&file, &public)?, file));
    }
    let held_while_full = net.shard_files(0).len();
    let mut at_risk = 0;
    for (id, _) in &written {
        at_risk += net.at_risk(id)?;
    }
    let while_full = net.node_view(0)?;
    let half_written = std::fs::read_dir(node.data.join("shards"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|level1| {
            std::fs::read_dir(level1.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .flat_map(|level2| {
            std::fs::read_dir(level2.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .count();
    let refusals = std::fs::read_to_string(net.dir.join("relay.log"))
        .unwrap_or_default()
        .matches("the node is full")
        .count();

    // The other program's file goes: the node offers room again at its next heartbeat.
    std::fs::remove_file(&filler).with_context(|| format!("removing {}", filler.display()))?;
    let freed = Instant::now();
    let mut room_again = None;
    while freed.elapsed() < HEAL_TIMEOUT {
        if net.node_view(0)?.room >= MIB as i64 {
            room_again = Some(freed.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let file = net.file("obj-4", 8 * MIB, 24)?;
    written.push((net.put(&file, &public)?, file));
    let held_after = net.shard_files(0).len();

    let lost = written
        .iter()
        .filter(|(id, file)| !net.reads_back(id, file))
        .count();
    let alive = net.node_view(0)?.alive;
    Ok(outcome(
        written.len(),
        lost,
        room_again,
        "from freeing the disk until the relay saw room on the node again",
        format!(
            "another program wrote {} MiB, filling the disk; 3 objects put then: {refusals} \
             placements refused (507) and sent elsewhere, node's shards {held_before} → \
             {held_while_full}, {at_risk} segments at risk, {half_written} half-written files; \
             node reputation {} → {}, alive: {alive}; once freed, the next object put {} shards \
             on it",
            filled / MIB as u64,
            reputation_before.map_or("?".into(), |r| r.to_string()),
            while_full.reputation.map_or("?".into(), |r| r.to_string()),
            held_after.saturating_sub(held_while_full),
        ),
    ))
}

/// Writes zeros to `path` until the disk is full; the bytes written.
fn fill_disk(path: &Path) -> Result<u64> {
    let mut file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => return Err(e).with_context(|| format!("writing {}", path.display())),
        }
    }
    Ok(written)
}

fn slow_node(dir: &Path) -> Result<Outcome> {
    let net = Net::start(
        dir,
        &first_odd(NodeSpec {
            behaviour: Behaviour::Slow(Duration::from_millis(100)),
            ..NodeSpec::HONEST
        }),
    )?;
    let public = net.keygen()?;
    let file = net.file("obj", 8 * MIB, 17)?;
    let started = Instant::now();
    let id = net.put(&file, &public)?;
    let put_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let ok = net.reads_back(&id, &file);
    let get_secs = started.elapsed().as_secs_f64();
    let at_risk = net.at_risk(&id)?;
    Ok(outcome(
        1,
        usize::from(!ok),
        Some(put_secs + get_secs),
        "put and get of 8 MiB, end to end (no recovery needed: the time is what the slow node costs)",
        format!("put {put_secs:.1} s, get {get_secs:.1} s; segments at risk after: {at_risk}"),
    ))
}

fn markdown(machine: &Machine, outcomes: &[Outcome]) -> String {
    let mut md = String::from("# Reliability\n\n");
    md.push_str(&report::generated_by("cargo xtask faults", machine));
    md.push_str(
        "\nEach case starts its own network on loopback (a `datahub relay` and six `datahub node` \
         processes, nodes judged dead after 6 s of silence, audits every second, repair every 2 s), \
         does the harm named, and checks with `datahub object get` that every object it wrote \
         reads back byte-exact. Lost is objects that did not. See crates/xtask/src/faults.rs.\n\n\
         | case | fault | objects | lost | recovery | recovered means | notes |\n\
         |---|---|---:|---:|---:|---|---|\n",
    );
    for o in outcomes {
        match &o.error {
            Some(err) => md.push_str(&format!(
                "| {} | {} | | | | | **could not run**: {} |\n",
                o.case,
                o.fault,
                report::one_line(err)
            )),
            None => md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                o.case,
                o.fault,
                o.objects,
                o.lost,
                o.recovery_seconds
                    .map_or("did not recover".into(), |s| format!("{s:.1} s")),
                o.recovery,
                report::one_line(&o.note)
            )),
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_read_from_a_ready_line() -> Result<()> {
        let line = "datahub node listening on http://127.0.0.1:4321/ address 0xabc";
        assert_eq!(url_in(line)?, "http://127.0.0.1:4321");
        assert!(url_in("listening on 127.0.0.1:4321").is_err());
        assert!(url_in("ready").is_err());
        Ok(())
    }

    #[test]
    fn the_table_says_what_was_lost_and_which_cases_could_not_run() {
        let machine = Machine {
            date: "2026-12-06 08:00 UTC".into(),
            cpu: "Test CPU".into(),
            cores: 2,
            ram_gib: 24.0,
            commit: "abc1234".into(),
        };
        let ran = Outcome {
            case: "slow node".into(),
            fault: "delayed".into(),
            objects: 3,
            lost: 1,
            recovery_seconds: None,
            recovery: "put and get".into(),
            note: "a | b".into(),
            error: None,
        };
        let failed = Outcome {
            case: "full disk".into(),
            fault: "filled".into(),
            error: Some("unshare: not permitted".into()),
            ..outcome(0, 0, Some(1.0), "", String::new())
        };
        let md = markdown(&machine, &[ran, failed]);
        assert!(
            md.contains("| slow node | delayed | 3 | 1 | did not recover | put and get | a / b |")
        );
        assert!(md.contains(
            "| full disk | filled | | | | | **could not run**: unshare: not permitted |"
        ));
    }
}
