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
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

use datahub_testnet::{self as testnet, Lines, NodeArgs, Process, RelayArgs};

use crate::cmd::{Cmd, heading, root};
use crate::report::{self, Machine};

/// The relay's settings for the suite: nodes judged dead after 6 s of silence, repair and audits
/// every second or two, and no rate limit in the way. A development relay (placeholder chain)
/// whose operator is the load bench's public test key (`OPERATOR_ADDRESS` in
/// crates/relay/benches/load.rs), which grants its campaign budgets.
const RELAY_CONFIG: &str = "\
dev = true
operators = [\"0x9E9B296a1615FA21eadb883FDd271ce951B91641\"]
node_timeout_secs = 6
repair_interval_secs = 2
audit_interval_secs = 1

# Every node runs on 127.0.0.1 and registers itself: development switches, never on a public
# relay (docs/relay.md, \"Storage nodes\").
[storage]
allow_private_nodes = true
open_admission = true
open_uploads = true
# Audits: 5% of each node's shards a round (the bound of docs/relay.md §7 is computed from it in
# the \"node dropping 1% of shards\" case), and a node answering 503 judged after 3 s.
audit_share = 0.05
audit_grace_secs = 3

[limits]
ip_per_sec = 100000.0
ip_burst = 100000.0
address_per_sec = 100000.0
address_burst = 100000.0
sign_ins_per_hour = 100000.0
# The load's 64 contributors share one loopback network: its cap on leases held would refuse them.
leases_per_network = 1000000
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
    /// What was written and acknowledged (objects put by the CLI, or signed submissions
    /// credited by the relay), and how many of them were lost: an object that did not read back
    /// byte-exact afterwards, a credit missing from the contributor's history.
    written: usize,
    lost: usize,
    /// Seconds from the fault until the network was whole again (see `recovery`), if it was.
    recovery_seconds: Option<f64>,
    /// What "recovered" means for this case.
    recovery: String,
    /// Anything else worth reading, or why the case could not run.
    note: String,
    /// Checks other than "nothing lost" that failed (a credit counted twice, a ledger that does
    /// not balance); any makes the suite fail, as a loss does.
    failed_checks: Vec<String>,
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
    /// Flips bits in its answers to plain shard GETs (what repair and reads fetch), while its
    /// audit proofs stay honest: a node that serves garbage and hides it from audits.
    GarbageOnGet,
    /// Holds the first shard PUT it is sent this long before passing it on (a node stalled
    /// mid-placement), then behaves.
    StallFirstPut(Duration),
    /// Answers the relay itself, never reaching its node: a PUT gets 200 and its shard is thrown
    /// away; anything else gets 503. The node behind it registers and heartbeats honestly.
    Sybil,
}

/// DELETE requests seen going to nodes, as sent (head and body), with the node's address behind
/// its proxy: the "replayed delete" check sends one again.
static DELETES: std::sync::Mutex<Vec<(String, Vec<u8>)>> = std::sync::Mutex::new(Vec::new());

/// What the request a connection is serving is (set by the side reading requests, read by the
/// side passing answers: HTTP/1.1 clients here send one request at a time on a connection).
#[derive(Default)]
struct Conn {
    /// A plain shard GET (not a proof).
    plain_get: AtomicBool,
    /// Requests seen so far: the answering side counts bytes from the start of each answer.
    requests: std::sync::atomic::AtomicU64,
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
    /// `--region`, if not region-`i` (each node its own).
    region: Option<&'static str>,
}

impl NodeSpec {
    const HONEST: Self = Self {
        behaviour: Behaviour::Honest,
        capacity: None,
        disk: None,
        region: None,
    };
}

/// The `datahub` binary this suite drives: a copy of the debug build made first, taken at the
/// start, so that another build in the same target folder (`CARGO_TARGET_DIR` shared by
/// worktrees) cannot change it under a running case.
static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn bin() -> PathBuf {
    BIN.get().cloned().unwrap_or_else(built_bin)
}

/// `datahub SUBCOMMAND`, to be given its arguments.
fn datahub(subcommand: &str) -> Command {
    let mut command = Command::new(bin());
    command.arg(subcommand);
    command
}

/// Where cargo put the debug build.
fn built_bin() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("debug/datahub")
}

/// A case: given its own empty folder, does its harm and says what came of it.
type Case = fn(&Path) -> Result<Outcome>;

/// Runs every case, or with `only` those whose name contains it (then docs/reliability.md is left
/// alone: its table is of whole runs).
pub fn run(only: Option<&str>) -> Result<()> {
    heading("faults: building the datahub binary");
    Cmd::new("cargo")
        .args(["build", "-p", "datahub-cli"])
        .run()?;
    let copy = std::env::temp_dir().join(format!("datahub-faults-{}", std::process::id()));
    std::fs::create_dir_all(&copy)?;
    let copy = copy.join("datahub");
    std::fs::copy(built_bin(), &copy)
        .with_context(|| format!("copying {}", built_bin().display()))?;
    let _ = BIN.set(copy);
    let cases: [(&str, &str, Case); 16] = [
        (
            "node killed during upload",
            "SIGKILL of a node while a 20 MiB object is put",
            node_killed_during_upload,
        ),
        (
            "relay killed under load",
            "SIGKILL of the relay (SQLite) while 64 contributors send signed submissions, then \
             restarted on the same data and port",
            |dir| relay_killed_under_signed_load(dir, false),
        ),
        (
            "relay killed under load, PostgreSQL",
            "the same, the relay on a PostgreSQL database",
            |dir| relay_killed_under_signed_load(dir, true),
        ),
        (
            "relay killed during puts",
            "SIGKILL of the relay during a stream of puts (1 MiB, the 7th 8 MiB), then restarted at once \
             on the same data",
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
        (
            "shards spread again",
            "SIGKILL of one of six nodes (repair puts two shards of a segment on one node), then \
             the node started again and a seventh added; a delete the relay sent is replayed",
            shards_spread_again,
        ),
        (
            "node dropping 1% of shards",
            "2 of the 200 shard files of one node deleted behind its back (it answers 404 for them \
             and is honest otherwise)",
            dropping_node,
        ),
        (
            "k+m sybil nodes",
            "six more nodes, in one failure domain, that answer 200 to every PUT and throw the \
             shard away, and 503 to everything else (audits, reads)",
            sybil_nodes,
        ),
        (
            "garbage on GET during repair",
            "one node flips bits in the shards it serves (its audit proofs stay honest) while \
             another is killed and repair fetches",
            garbage_during_repair,
        ),
        (
            "node stalled mid-placement",
            "one node holds the first shard PUT it gets for 31 s",
            stalled_placement,
        ),
        (
            "SSRF endpoints",
            "nodes registering with the cloud metadata address, loopback and a private address as \
             their endpoints, on a relay that does not allow private nodes",
            ssrf_endpoints,
        ),
    ];
    let mut outcomes = Vec::new();
    for (case, fault, body) in cases {
        if only.is_some_and(|only| !case.contains(only)) {
            continue;
        }
        heading(&format!("faults: {case}"));
        let dir = tempdir(case)?;
        let outcome = body(&dir).unwrap_or_else(|err| Outcome {
            case: case.into(),
            fault: fault.into(),
            written: 0,
            lost: 0,
            recovery_seconds: None,
            recovery: String::new(),
            note: String::new(),
            failed_checks: Vec::new(),
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
                "{case}: lost {} of {} written; recovered in {}{}",
                outcome.lost,
                outcome.written,
                outcome
                    .recovery_seconds
                    .map_or("— (did not recover)".into(), |s| format!("{s:.1} s")),
                if outcome.failed_checks.is_empty() {
                    String::new()
                } else {
                    format!("; FAILED checks: {}", outcome.failed_checks.join("; "))
                }
            ),
        }
        if outcome.error.is_none() && outcome.lost == 0 && outcome.failed_checks.is_empty() {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            println!(
                "{case}: its folder, with every process's log, is kept: {}",
                dir.display()
            );
        }
        outcomes.push(outcome);
    }

    if let Some(copy) = BIN.get().and_then(|b| b.parent()) {
        let _ = std::fs::remove_dir_all(copy);
    }
    if outcomes.is_empty() {
        bail!("no fault case has {only:?} in its name");
    }
    let machine = Machine::describe();
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    let json = out.join("faults.json");
    let doc = serde_json::json!({ "machine": machine, "cases": outcomes });
    std::fs::write(&json, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("writing {}", json.display()))?;
    let mut wrote = "target/bench/faults.json";
    if only.is_none() {
        let md = root().join("docs/reliability.md");
        std::fs::write(&md, markdown(&machine, &outcomes))
            .with_context(|| format!("writing {}", md.display()))?;
        wrote = "docs/reliability.md and target/bench/faults.json";
    }
    let bad = outcomes
        .iter()
        .filter(|o| o.error.is_some() || o.lost > 0 || !o.failed_checks.is_empty())
        .count();
    println!(
        "\nfaults: {} cases, {bad} lost data, failed a check or failed to run; wrote {wrote}",
        outcomes.len()
    );
    if bad > 0 {
        bail!("{bad} fault cases lost data, failed a check or failed to run");
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
        let relay_port = testnet::free_port()?;
        let (relay, _) = start_relay(dir, relay_port)?;
        let url = format!("http://127.0.0.1:{relay_port}");
        let stop = Arc::new(AtomicBool::new(false));
        let mut started = Vec::new();
        for (i, spec) in nodes.iter().enumerate() {
            started.push(launch_node(dir, &url, i, spec, &stop)?);
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
        Ok(testnet::wait_for_nodes(
            self.relay_port,
            n,
            Duration::from_secs(60),
        )?)
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

    /// The relay's status of an object (`object status --json`).
    fn status(&self, id: &str) -> Result<Value> {
        Ok(serde_json::from_str(
            &self.cli(&["object", "status", id, "--json"])?,
        )?)
    }

    /// Segments of the object missing a healthy shard (at risk, not counting those whose shards
    /// are all healthy but bunched: reduced redundancy).
    fn short(&self, id: &str) -> Result<u64> {
        let status = self.status(id)?;
        let count = |key: &str| status.get(key).and_then(Value::as_u64);
        Ok(count("at_risk").context("no at_risk in the status")? - count("reduced").unwrap_or(0))
    }

    /// Segments of the object at risk, as the relay reports them: a shard missing or bad, or
    /// two on one node (reduced redundancy).
    fn at_risk(&self, id: &str) -> Result<u64> {
        let out = self.cli(&["object", "status", id, "--json"])?;
        let status: Value = serde_json::from_str(&out)?;
        status
            .get("at_risk")
            .and_then(Value::as_u64)
            .context("no at_risk in the status")
    }

    /// Waits until the object has a segment missing a shard and then none; returns the seconds
    /// from `since` to whole again, or `None` if that did not happen within [`HEAL_TIMEOUT`].
    /// Whole, not spread: with a node out, five nodes hold six shards (reduced redundancy).
    fn heals(&self, id: &str, since: Instant) -> Option<f64> {
        let deadline = since + HEAL_TIMEOUT;
        let mut seen_at_risk = false;
        while Instant::now() < deadline {
            match self.short(id) {
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
        let list: Value =
            serde_json::from_str(&testnet::http_get(self.relay_port, "/v1/nodes", None)?)?;
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

/// Starts node `i` (its folder node-`i`: started again, a node keeps its key and its shards)
/// behind a proxy of its own, in region-`i`.
fn launch_node(
    dir: &Path,
    url: &str,
    i: usize,
    spec: &NodeSpec,
    stop: &Arc<AtomicBool>,
) -> Result<Node> {
    let proxy = TcpListener::bind("127.0.0.1:0")?;
    let proxy_url = format!("http://{}", proxy.local_addr()?);
    let data = dir.join(format!("node-{i}"));
    let region = spec.region.map_or(format!("region-{i}"), str::to_owned);
    let mut args = NodeArgs::new(url, &region, &data);
    args.advertise = Some(proxy_url.clone());
    args.capacity = spec.capacity;
    let log = dir.join(format!("node-{i}.log"));
    let (process, upstream, data) = match spec.disk {
        None => {
            let (process, upstream, _) = testnet::start_node(datahub("node"), &args, &log)?;
            (process, upstream, data)
        }
        Some(bytes) => {
            std::fs::create_dir_all(&data)?;
            let mut command = on_own_disk(bytes, &data);
            command.arg("node");
            let (process, upstream, _) = testnet::start_node(command, &args, &log)?;
            // The tmpfs is seen only in the node's mount namespace; this path reaches it
            // from outside.
            let seen = PathBuf::from(format!("/proc/{}/root{}", process.id(), data.display()));
            (process, upstream, seen)
        }
    };
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let (behaviour, stop) = (spec.behaviour, stop.clone());
    std::thread::spawn(move || proxy_loop(proxy, upstream, behaviour, stop));
    Ok(Node {
        process,
        data,
        endpoint: proxy_url,
    })
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

fn start_relay(dir: &Path, port: u16) -> Result<(Process, String)> {
    start_relay_on(dir, port, None, "relay.log")
}

/// Accepts connections for a node and copies bytes both ways, doing to them what `behaviour`
/// says.
fn proxy_loop(
    listener: TcpListener,
    upstream: String,
    behaviour: Behaviour,
    stop: Arc<AtomicBool>,
) {
    let stalled = Arc::new(AtomicBool::new(false));
    for client in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(client) = client else { continue };
        if behaviour == Behaviour::Sybil {
            std::thread::spawn(move || sybil(client));
            continue;
        }
        let Ok(server) = TcpStream::connect(&upstream) else {
            // The node is dead: so is the connection, as it would be without a proxy.
            continue;
        };
        let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
            continue;
        };
        let conn = Arc::new(Conn::default());
        let (conn2, upstream2) = (conn.clone(), upstream.clone());
        let stalled = stalled.clone();
        std::thread::spawn(move || {
            pipe(
                client, server, behaviour, false, &conn, &upstream2, &stalled,
            )
        });
        std::thread::spawn(move || {
            pipe(
                server2,
                client2,
                behaviour,
                true,
                &conn2,
                "",
                &AtomicBool::new(true),
            )
        });
    }
}

/// A sybil's answers (see [`Behaviour::Sybil`]): reads each request's head and body and
/// answers without a node.
fn sybil(mut client: TcpStream) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(match client.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            head.push(line);
        }
        let length: u64 = head
            .iter()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())
                    .flatten()
            })
            .unwrap_or(0);
        if std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink()).is_err() {
            return;
        }
        let answer = if head.first().is_some_and(|l| l.starts_with("PUT ")) {
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"created\":true}"
        } else {
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
        };
        if client.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Copies one direction of a connection. `conn` is shared by both directions;
/// `stalled` says whether this node's one stall (for [`Behaviour::StallFirstPut`]) is spent.
fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    behaviour: Behaviour,
    from_node: bool,
    conn: &Conn,
    upstream: &str,
    stalled: &AtomicBool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut sent: u64 = 0;
    // For answers: the request they answer, and the bytes of it passed so far.
    let (mut answering, mut answered) = (0, 0u64);
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let Some(piece) = buf.get_mut(..n) else { break };
        if from_node {
            let request = conn.requests.load(Ordering::Relaxed);
            if request != answering {
                (answering, answered) = (request, 0);
            }
        } else {
            // A request begins at a read: note what it is.
            let line = piece.split(|b| *b == b'\r').next().unwrap_or_default();
            if [&b"GET "[..], b"PUT ", b"DELETE ", b"POST "]
                .iter()
                .any(|m| line.starts_with(m))
            {
                let plain = line.starts_with(b"GET /v1/shards/")
                    && !line.windows(6).any(|w| w == b"/proof");
                conn.plain_get.store(plain, Ordering::Relaxed);
                conn.requests.fetch_add(1, Ordering::Relaxed);
            }
            if line.starts_with(b"DELETE /v1/shards/")
                && let Ok(mut deletes) = DELETES.lock()
            {
                deletes.push((upstream.to_owned(), piece.to_vec()));
            }
        }
        match behaviour {
            Behaviour::Honest | Behaviour::Sybil => {}
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
            Behaviour::GarbageOnGet if from_node && conn.plain_get.load(Ordering::Relaxed) => {
                // Past the head (a few hundred bytes), so the answer still parses.
                for (i, byte) in piece.iter_mut().enumerate() {
                    let at = answered + i as u64;
                    if at >= 1024 && at.is_multiple_of(997) {
                        *byte ^= 0x01;
                    }
                }
            }
            Behaviour::GarbageOnGet => {}
            Behaviour::StallFirstPut(delay) => {
                if !from_node
                    && piece.starts_with(b"PUT ")
                    && !stalled.swap(true, Ordering::Relaxed)
                {
                    std::thread::sleep(delay);
                }
            }
        }
        sent += n as u64;
        answered += n as u64;
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
    written: usize,
    lost: usize,
    recovery_seconds: Option<f64>,
    recovery: &str,
    note: String,
) -> Outcome {
    Outcome {
        case: String::new(),
        fault: String::new(),
        written,
        lost,
        recovery_seconds,
        recovery: recovery.into(),
        note,
        failed_checks: Vec::new(),
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
    // watch until then and after, until the object has no segment missing a shard: recovered is when it
    // last became whole.
    let judged = killed + Duration::from_secs(NODE_TIMEOUT_SECS + 2);
    let mut seen_at_risk = false;
    let mut whole_since = None;
    while killed.elapsed() < HEAL_TIMEOUT {
        // Whole, not spread: five nodes are left for six shards.
        match net.short(&id) {
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
        "the object whole again (no segment missing a shard), the relay having judged the node dead",
        note,
    ))
}

fn relay_killed_under_load(dir: &Path) -> Result<Outcome> {
    let mut net = Net::start(dir, &honest(6))?;
    let public = net.keygen()?;
    let mut written: Vec<(String, PathBuf)> = Vec::new();
    let mut failed_puts = 0;
    let mut in_flight = "refused";
    let mut refusal = String::new();
    let mut killed_at = None;
    let mut back_at = None;
    let mut restarted = None;
    for i in 0..16 {
        if i == 6 {
            // Killed while a put is in flight: one runs in the background as the relay dies.
            // Larger than the others, so that the kill lands inside it.
            let file = net.file(&format!("obj-{i}"), 8 * MIB, 100 + i)?;
            let mut put = Command::new(bin())
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
                .stderr(Stdio::piped())
                .spawn()?;
            std::thread::sleep(Duration::from_millis(150));
            let done_before = put.try_wait()?.is_some();
            net.relay.kill();
            killed_at = Some(Instant::now());
            // Back at once, as a supervisor would bring it: the put in flight retries against it.
            let (relay, _) = start_relay(dir, net.relay_port)?;
            restarted = Some(relay);
            let out = put.wait_with_output()?;
            let last_word = |bytes: &[u8]| {
                String::from_utf8_lossy(bytes)
                    .lines()
                    .last()
                    .and_then(|l| l.split_whitespace().last())
                    .map(str::to_owned)
            };
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            if out.status.success()
                && let Some(id) = last_word(&out.stdout)
            {
                // Then the kill missed it, and the case proves less: say so.
                in_flight = if done_before {
                    "done before the kill"
                } else {
                    "acknowledged, its retries reaching the restarted relay"
                };
                back_at = Some(Instant::now());
                written.push((id, file));
            } else if let Some(id) = resumable(&stderr) {
                // What a user is told to do when a put breaks off: the sealed shards were kept.
                match net.cli(&["object", "resume", &id, "-i", "owner.key"]) {
                    Ok(out) if last_word(out.as_bytes()).as_deref() == Some(id.as_str()) => {
                        in_flight = "broken off, then finished by `datahub object resume` as \
                                     the CLI said";
                        back_at = Some(Instant::now());
                        written.push((id, file));
                    }
                    resumed => {
                        failed_puts += 1;
                        refusal = format!(
                            "{}; resume: {}",
                            report::one_line(stderr.trim()),
                            match resumed {
                                Ok(out) => out,
                                Err(e) => format!("{e:#}"),
                            }
                        );
                    }
                }
            } else {
                failed_puts += 1;
                refusal = report::one_line(stderr.trim());
            }
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
            "16 puts one after another, the relay killed 150 ms into the 7th (8 MiB, which was \
             {in_flight}{}); {failed_puts} puts refused in all (not acknowledged, so not counted \
             as written); the relay restarted at once on the same data and port",
            if refusal.is_empty() {
                String::new()
            } else {
                format!(": {refusal}")
            }
        ),
    ))
}

/// The object id in the CLI's advice after a broken-off put: "… `datahub object resume ID …`".
fn resumable(stderr: &str) -> Option<String> {
    let (_, after) = stderr.split_once("datahub object resume ")?;
    after.split_whitespace().next().map(str::to_owned)
}

/// Contributors sending signed submissions at once in the "relay killed under load" cases.
const LOAD_CONNECTIONS: usize = 64;

/// How long the load goes on; the relay is killed [`KILL_AFTER`] into it.
const LOAD_SECONDS: u64 = 20;

/// When into the load the relay is killed.
const KILL_AFTER: Duration = Duration::from_secs(5);

/// The relay SIGKILLed while contributors send signed submissions (the load tool of
/// crates/relay/benches/load.rs, which retries what got no answer), restarted at once on the same
/// data and port; then every acknowledged credit is looked for through the relay's API.
fn relay_killed_under_signed_load(dir: &Path, postgres: bool) -> Result<Outcome> {
    let load_bin = load_binary()?;
    let cluster = if postgres {
        Some(crate::postgres::Cluster::start()?)
    } else {
        None
    };
    let database = cluster.as_ref().map(|c| c.url.as_str());
    std::fs::write(dir.join("relay.toml"), RELAY_CONFIG)?;
    let port = testnet::free_port()?;
    let (mut relay, _) = start_relay_on(dir, port, database, "relay.log")?;
    let report = dir.join("load.json");
    let mut load = LoadRun::start(&load_bin, &format!("http://127.0.0.1:{port}"), &report, dir)?;
    std::thread::sleep(KILL_AFTER);
    relay.kill();
    let killed_ms = unix_ms();
    let (_relay, _) = start_relay_on(dir, port, database, "relay-restarted.log")?;
    let back_ms = unix_ms();
    let said = load.finish()?;
    let text = std::fs::read_to_string(&report)
        .with_context(|| format!("reading the load's report {}", report.display()))?;
    let report: Value = serde_json::from_str(&text).context("the load's report is not JSON")?;
    let credits = Credits::check(port, &report, killed_ms, back_ms)?;
    println!("{said}");
    let seconds = |ms: i64| ms as f64 / 1000.0;
    // Short enough for a table cell (report::one_line keeps 300 characters).
    let verdict = if credits.problems.is_empty() {
        "each acknowledged credit in history and balance once"
    } else {
        "see the failed checks"
    };
    let note = format!(
        "{verdict}; {LOAD_CONNECTIONS} contributors for {LOAD_SECONDS} s, killed at {} s, up \
         again in {:.1} s; {} acknowledged before the kill, {} after; {} sent again after no \
         answer ({} had counted), {} never answered ({} credited); {} replayed: {} duplicates; \
         {:.2} USDT credited, {:.2} spent",
        KILL_AFTER.as_secs(),
        seconds(back_ms - killed_ms),
        credits.before_kill,
        credits.acknowledged - credits.before_kill,
        credits.in_flight,
        credits.counted_before,
        credits.unanswered,
        credits.unanswered_counted,
        credits.resent,
        credits.resent_duplicates,
        credits.credited as f64 / 1e6,
        credits.spent as f64 / 1e6,
    );
    Ok(Outcome {
        failed_checks: credits.problems,
        ..outcome(
            credits.acknowledged,
            credits.lost,
            credits
                .first_after_restart
                .map(|ms| seconds(ms - killed_ms)),
            "the first submission acknowledged by the restarted relay",
            note,
        )
    })
}

/// Milliseconds since the Unix epoch, the clock the load tool stamps its answers with.
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `value[key]`, or null: what the relay and the load tool write is read without indexing.
fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    value.get(key).unwrap_or(&NULL)
}

/// Builds the load tool and returns its executable. It is built like a test (`cargo test
/// --bench load`), on the debug build the suite makes anyway, rather than in release as
/// `cargo bench` would: here it only has to keep the (debug) relay busy, not measure it, and a
/// release build of the workspace would add many minutes to the suite.
fn load_binary() -> Result<PathBuf> {
    let out = Cmd::new("cargo")
        .args(["test", "-p", "datahub-relay", "--bench", "load", "--no-run"])
        .arg("--message-format=json")
        .read()?;
    out.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| {
            field(v, "reason") == "compiler-artifact" && field(field(v, "target"), "name") == "load"
        })
        .find_map(|v| field(&v, "executable").as_str().map(PathBuf::from))
        .context("cargo test --no-run named no executable for the load benchmark")
}

/// Starts `datahub relay` on `port` with the suite's settings and the data in `dir`, on
/// `database` (PostgreSQL) if given, else SQLite; logs to `log` in `dir`.
fn start_relay_on(
    dir: &Path,
    port: u16,
    database: Option<&str>,
    log: &str,
) -> Result<(Process, String)> {
    let args = RelayArgs {
        port,
        config: dir.join("relay.toml"),
        data: dir.join("relay"),
        database: database.map(str::to_owned),
    };
    let (process, url, _) = testnet::start_relay(datahub("relay"), &args, &dir.join(log))?;
    Ok((process, url))
}

/// How long the load tool may take to sign its contributors in.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// The load tool running against the suite's relay.
struct LoadRun {
    process: Process,
    lines: Lines,
    log: PathBuf,
}

impl LoadRun {
    /// Starts it and waits until its contributors are signed in and submitting.
    fn start(bin: &Path, url: &str, report: &Path, dir: &Path) -> Result<Self> {
        let log = dir.join("load.log");
        let mut command = Command::new(bin);
        command
            .args(["--relay", url])
            .args(["--connections", &LOAD_CONNECTIONS.to_string()])
            .args(["--seconds", &LOAD_SECONDS.to_string()])
            .arg("--report")
            .arg(report);
        let (process, first, lines) = testnet::start_logged(command, &log, READY_WITHIN)?;
        let load = Self {
            process,
            lines,
            log,
        };
        if !first.starts_with("load: ready") {
            load.lines
                .wait_for("load: ready", READY_WITHIN, &mut Vec::new())
                .with_context(|| {
                    format!("the load tool did not get ready: {}", load.stderr_tail())
                })?;
        }
        Ok(load)
    }

    /// Waits for it to finish; its last line (what it saw, in short).
    fn finish(&mut self) -> Result<String> {
        let status = self.process.wait()?;
        let said = self
            .lines
            .rest(Duration::from_secs(10))
            .pop()
            .unwrap_or_default();
        if !status.success() {
            bail!("the load tool failed ({status}): {}", self.stderr_tail());
        }
        Ok(said)
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let from = lines.len().saturating_sub(3);
        format!(
            "{} (see {})",
            lines.get(from..).unwrap_or_default().join(" / "),
            self.log.display()
        )
    }
}

/// `GET path` from the relay on `port`, as the holder of the session `token` if given: the
/// JSON body.
fn api_get(port: u16, path: &str, token: Option<&str>) -> Result<Value> {
    let body = testnet::http_get(port, path, token)?;
    serde_json::from_str(&body).with_context(|| format!("GET {path}: not JSON"))
}

/// A token amount as the relay writes it (`"0.01"`, `"-12"`) in millionths, the ledger's unit.
fn units(text: &str) -> Option<i64> {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || fraction.len() > 6 || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = format!("{fraction:0<6}").parse().ok()?;
    Some(sign * whole.checked_mul(1_000_000)?.checked_add(fraction)?)
}

/// A JSON value that should be a token amount, in millionths.
fn units_of(value: &Value) -> Result<i64> {
    value
        .as_str()
        .and_then(units)
        .with_context(|| format!("not a token amount: {value}"))
}

/// What the relay's API says about the credits the load tool reported.
#[derive(Default)]
struct Credits {
    acknowledged: usize,
    /// Acknowledged before the relay was killed.
    before_kill: usize,
    /// Acknowledged credits missing from the contributor's history.
    lost: usize,
    /// Acknowledged after a try with no answer, and of those the ones answered as duplicates
    /// (the lost try had counted).
    in_flight: usize,
    counted_before: usize,
    /// Never answered, and of those the ones credited anyway.
    unanswered: usize,
    unanswered_counted: usize,
    /// Tries of any request (a lease, a submission) that got no answer.
    no_answer: u64,
    resent: usize,
    resent_duplicates: usize,
    /// When the restarted relay first acknowledged a submission (Unix ms).
    first_after_restart: Option<i64>,
    /// Everything credited to the load's contributors, and what the campaigns spent; in
    /// millionths of a token.
    credited: i64,
    spent: i64,
    problems: Vec<String>,
}

impl Credits {
    fn check(port: u16, report: &Value, killed_ms: i64, back_ms: i64) -> Result<Self> {
        let mut c = Self::default();
        let empty = Vec::new();
        let list = |v: &Value| v.as_array().unwrap_or(&empty).clone();
        for contributor in list(field(report, "contributors")) {
            let wallet = field(&contributor, "wallet")
                .as_str()
                .unwrap_or("?")
                .to_owned();
            let token = field(&contributor, "session")
                .as_str()
                .context("the report has a contributor without a session")?;
            let balances = api_get(port, "/v1/me/balances", Some(token))?;
            let mut balance = 0;
            for b in list(field(&balances, "balances")) {
                balance += units_of(field(&b, "amount"))?;
            }
            let history = api_get(port, "/v1/me/history?limit=500", Some(token))?;
            let entries = list(field(&history, "entries"));
            if entries.len() >= 500 {
                c.problems.push(format!(
                    "{wallet}'s history is longer than one page: its credits were not all checked"
                ));
            }
            // Each credit is a transfer `sub:<submission>` into the contributor's account.
            let mut credits: std::collections::HashMap<String, (usize, i64)> =
                std::collections::HashMap::new();
            let mut in_history = 0;
            for e in &entries {
                let amount = units_of(field(e, "amount"))?;
                in_history += amount;
                if let Some(sub) = field(e, "id")
                    .as_str()
                    .and_then(|id| id.strip_prefix("sub:"))
                {
                    let entry = credits.entry(sub.to_owned()).or_default();
                    entry.0 += 1;
                    entry.1 += amount;
                }
            }
            let mut explained = std::collections::HashSet::new();
            let mut expected = 0;
            for a in list(field(&contributor, "acknowledged")) {
                let id = field(&a, "submission")
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let credited = units_of(field(&a, "credited"))?;
                let at = field(&a, "at_ms").as_i64().unwrap_or(0);
                c.acknowledged += 1;
                c.before_kill += usize::from(at < killed_ms);
                if at >= back_ms {
                    c.first_after_restart = Some(c.first_after_restart.map_or(at, |f| f.min(at)));
                }
                if field(&a, "after_no_answer") == true {
                    c.in_flight += 1;
                    c.counted_before += usize::from(field(&a, "duplicate") == true);
                }
                expected += credited;
                match credits.get(&id) {
                    None if credited > 0 => c.lost += 1,
                    Some(&(_, amount)) if amount != credited => c.problems.push(format!(
                        "submission {id} was acknowledged with {credited} millionths credited, \
                         the history says {amount}"
                    )),
                    _ => {}
                }
                if !explained.insert(id.clone()) {
                    c.problems
                        .push(format!("submission {id} was acknowledged as new twice"));
                }
            }
            for u in list(field(&contributor, "unanswered")) {
                let id = field(&u, "submission")
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                c.unanswered += 1;
                if let Some(&(_, amount)) = credits.get(&id) {
                    c.unanswered_counted += 1;
                    expected += amount;
                }
                explained.insert(id);
            }
            for (id, (times, _)) in &credits {
                if *times > 1 {
                    c.problems
                        .push(format!("submission {id} was credited {times} times"));
                }
                if !explained.contains(id) {
                    c.problems.push(format!(
                        "submission {id} was credited but never acknowledged nor sent"
                    ));
                }
            }
            if balance != in_history || balance != expected {
                c.problems.push(format!(
                    "{wallet}: balance {balance}, credits in the history {in_history}, \
                     acknowledged {expected} (millionths of a token)"
                ));
            }
            c.credited += balance;
            let refused = list(field(&contributor, "refused"));
            if let Some(first) = refused.first() {
                c.problems.push(format!(
                    "{} requests of {wallet} refused, the first: {first}",
                    refused.len()
                ));
            }
            c.no_answer += field(&contributor, "no_answer").as_u64().unwrap_or(0);
            for r in list(field(&contributor, "resent")) {
                c.resent += 1;
                if field(&r, "status") == 200 && field(&r, "duplicate") == true {
                    c.resent_duplicates += 1;
                } else {
                    c.problems.push(format!(
                        "an acknowledged receipt sent again was answered {}",
                        field(&r, "answer")
                    ));
                }
            }
        }
        // The ledger balances: what the campaigns' accounts lost is what the contributors got.
        for campaign in list(field(report, "campaigns")) {
            let id = field(&campaign, "id")
                .as_str()
                .context("a campaign without an id")?;
            let shown = api_get(port, &format!("/v1/campaigns/{id}"), None)?;
            c.spent += units_of(field(&shown, "budget"))? - units_of(field(&shown, "budget_left"))?;
        }
        if c.spent != c.credited {
            c.problems.push(format!(
                "the campaigns spent {} millionths of their budgets, the contributors were credited {}",
                c.spent, c.credited
            ));
        }
        if c.acknowledged == 0 {
            c.problems
                .push("no submission was acknowledged at all".into());
        }
        // Whether a submission rather than a lease was in flight is chance (on PostgreSQL the
        // contributors fall into step: all lease, then all submit), so only ask for requests.
        if c.no_answer == 0 {
            c.problems
                .push("no request was in flight at the kill: the fault was not under load".into());
        }
        Ok(c)
    }
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
        "an audit found the bad shard and repair rebuilt it (no segment missing a shard)",
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
        "audits caught the lying node and repair moved its shard (no segment missing a shard)",
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
    let at_risk = net.short(&id)?;
    let lost = usize::from(!net.reads_back(&id, &file));
    Ok(outcome(
        1,
        lost,
        (at_risk == 0).then_some(put_secs),
        "the put done with no segment missing a shard",
        format!(
            "the node's own limit, not its disk (see the full disk case); shards on the full node \
             afterwards: {on_full}; segments missing a shard: {at_risk}"
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

/// Whether every segment of the object has its `k + m` shards on distinct nodes (as its status
/// lists them).
fn spread_apart(status: &Value) -> bool {
    let Some(segments) = status.get("segments").and_then(Value::as_array) else {
        return false;
    };
    segments.iter().all(|segment| {
        let shards = segment.get("shards").and_then(Value::as_array);
        let mut nodes: Vec<&str> = shards
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("node").and_then(Value::as_str))
            .collect();
        let total = shards.map_or(0, Vec::len);
        nodes.sort_unstable();
        nodes.dedup();
        total > 0 && nodes.len() == total
    })
}

/// Sends `request` (as captured) to 127.0.0.1:`upstream` again; the status code of the answer.
fn replay(upstream: &str, request: &[u8]) -> Result<u16> {
    let mut stream = TcpStream::connect(upstream)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request)?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    text.get(9..12)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP answer: {text:?}"))
}

fn shards_spread_again(dir: &Path) -> Result<Outcome> {
    let mut net = Net::start(dir, &honest(6))?;
    let public = net.keygen()?;
    let file = net.file("obj", 16 * MIB, 29)?;
    let id = net.put(&file, &public)?;
    let mut checks = Vec::new();
    if !spread_apart(&net.status(&id)?) {
        checks.push("the put did not spread the shards over six nodes".to_owned());
    }
    if let Some(node) = net.nodes.first_mut() {
        node.process.kill();
    }
    let killed = Instant::now();
    // Repaired on five nodes: nothing short, every segment reduced.
    let mut reduced_at = None;
    let mut last = Value::Null;
    while killed.elapsed() < HEAL_TIMEOUT {
        if let Ok(status) = net.status(&id) {
            let segments = field(&status, "segments").as_array().map_or(0, Vec::len) as u64;
            if net.short(&id).ok() == Some(0)
                && field(&status, "reduced").as_u64() == Some(segments)
            {
                reduced_at = Some(killed.elapsed().as_secs_f64());
                last = status;
                break;
            }
            last = status;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let Some(reduced_at) = reduced_at else {
        bail!("after the kill, repair never left every segment whole and reduced: {last}");
    };
    let text = net.cli(&["object", "status", &id])?;
    if !text.contains("(reduced redundancy)") {
        checks.push(format!(
            "`object status` did not say reduced redundancy: {text}"
        ));
    }

    // The node comes back, and a seventh joins.
    DELETES.lock().map(|mut d| d.clear()).ok();
    let url = net.url.clone();
    let restarted = launch_node(dir, &url, 0, &NodeSpec::HONEST, &net.stop)?;
    if let Some(first) = net.nodes.first_mut() {
        *first = restarted;
    }
    net.nodes
        .push(launch_node(dir, &url, 6, &NodeSpec::HONEST, &net.stop)?);
    net.wait_for_nodes(7)?;
    let back = Instant::now();
    let mut spread_in = None;
    while back.elapsed() < HEAL_TIMEOUT {
        if let Ok(status) = net.status(&id)
            && field(&status, "at_risk") == 0
            && spread_apart(&status)
        {
            spread_in = Some(back.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    if spread_in.is_none() {
        checks.push(format!(
            "segments still bunched {} s after the nodes came back: {}",
            HEAL_TIMEOUT.as_secs(),
            net.status(&id)?
        ));
    }
    // The relay asked old holders to delete the copies it moved: sent again, a delete is refused.
    let captured = DELETES.lock().map(|d| d.first().cloned()).ok().flatten();
    let replayed = match &captured {
        Some((upstream, request)) => {
            let code = replay(upstream, request)?;
            if (200..300).contains(&code) {
                checks.push(format!("a replayed delete was accepted ({code})"));
            }
            format!("a delete the relay sent, replayed to its node: {code}")
        }
        None => {
            checks.push("the relay sent no delete to replay".to_owned());
            "no delete seen".to_owned()
        }
    };
    let lost = usize::from(!net.reads_back(&id, &file));
    Ok(Outcome {
        failed_checks: checks,
        ..outcome(
            1,
            lost,
            spread_in,
            "from the node's return (and a seventh's arrival) until every segment had its six \
             shards on six distinct nodes, at risk 0",
            format!(
                "{} segments; {reduced_at:.1} s after the kill repair had left every segment \
                 whole on five nodes and status said reduced redundancy; {replayed}",
                field(&last, "segments").as_array().map_or(0, Vec::len)
            ),
        )
    })
}

/// `audit_share` in [`RELAY_CONFIG`], and the relay's default `audit_max_per_node`.
const AUDIT_SHARE: f64 = 0.05;
const AUDIT_MAX_PER_NODE: u64 = 32;

/// The relay's audits per round of a node holding `held` shards (maintenance::audits_for).
fn audits_for(held: u64) -> u64 {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let wanted = (held as f64 * AUDIT_SHARE).ceil() as u64;
    wanted.clamp(1, AUDIT_MAX_PER_NODE).min(held)
}

/// Puts `count` small objects, four at a time: their ids and files.
fn put_many(net: &Net, count: usize, public: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for i in 0..count {
        files.push(net.file(&format!("small-{i}"), 1024, 1000 + i as u64)?);
    }
    let mut written = Vec::new();
    for batch in files.chunks(4) {
        let ids: Vec<Result<String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|file| scope.spawn(|| net.put(file, public)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("put panicked")))
                })
                .collect()
        });
        for (id, file) in ids.into_iter().zip(batch) {
            written.push((id?, file.clone()));
        }
    }
    Ok(written)
}

fn dropping_node(dir: &Path) -> Result<Outcome> {
    let net = Net::start(dir, &honest(6))?;
    let public = net.keygen()?;
    // One segment each: every node holds one shard of every object.
    let written = put_many(&net, 200, &public)?;
    let node = net.nodes.first().context("no node")?;
    let held = net.shard_files(0);
    let n = held.len() as u64;
    // Drop the node's shards of the first two objects.
    let mut dropped = Vec::new();
    for (id, _) in written.iter().take(2) {
        let status = net.status(id)?;
        let shard = field(
            field(&status, "segments").get(0).unwrap_or(&Value::Null),
            "shards",
        )
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| field(s, "endpoint").as_str() == Some(&node.endpoint))
        .and_then(|s| field(s, "shard").as_str())
        .context("node-0 holds no shard of the object")?
        .to_owned();
        let path = held
            .iter()
            .find(|p| p.file_name().is_some_and(|f| f.to_string_lossy() == shard))
            .context("the shard is not on node-0's disk")?;
        std::fs::remove_file(path)?;
        dropped.push(id.clone());
    }
    let dropped_at = Instant::now();
    // The bound of docs/relay.md §7: found within ln(1/ε) / (f·a) rounds but with probability ε.
    let a = audits_for(n);
    let f = dropped.len() as f64 / n as f64;
    let epsilon: f64 = 0.001;
    let bound = (1.0 / epsilon).ln() / (f * a as f64);
    let average = 1.0 / (1.0 - (1.0 - f).powi(i32::try_from(a).unwrap_or(i32::MAX)));
    let mut found = None;
    while dropped_at.elapsed().as_secs_f64() < bound.max(10.0) * 2.0 {
        if net.node_view(0)?.reputation.is_some_and(|r| r < 100) {
            found = Some(dropped_at.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut checks = Vec::new();
    match found {
        None => checks.push(format!("not found within {:.0} s", bound.max(10.0) * 2.0)),
        Some(t) if t > bound => checks.push(format!(
            "found after {t:.1} s, beyond the stated bound of {bound:.0} s"
        )),
        Some(_) => {}
    }
    // Found shards are repaired: both objects whole again.
    let mut repaired = None;
    while dropped_at.elapsed() < HEAL_TIMEOUT + Duration::from_secs_f64(bound) {
        let short: u64 = dropped
            .iter()
            .map(|id| net.short(id).unwrap_or(1))
            .sum::<u64>()
            + dropped
                .iter()
                .map(|id| net.at_risk(id).unwrap_or(1))
                .sum::<u64>();
        if found.is_some() && short == 0 {
            repaired = Some(dropped_at.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let lost = written
        .iter()
        .filter(|(id, file)| dropped.contains(id) && !net.reads_back(id, file))
        .count();
    Ok(Outcome {
        failed_checks: checks,
        ..outcome(
            written.len(),
            lost,
            repaired,
            "from the deletion until the node had failed an audit and both objects were whole \
             again",
            format!(
                "node-0 held {n} shards and dropped {} ({:.1}%); audits check {a} of its shards \
                 a round (audit_share {AUDIT_SHARE}, a round a second): stated bound {bound:.0} s \
                 (99.9%), average {average:.0} s; found after {}",
                dropped.len(),
                f * 100.0,
                found.map_or("— (not found)".into(), |t| format!("{t:.1} s")),
            ),
        )
    })
}

fn sybil_nodes(dir: &Path) -> Result<Outcome> {
    let mut nodes = honest(6);
    nodes.extend(vec![
        NodeSpec {
            behaviour: Behaviour::Sybil,
            region: Some("sybil-land"),
            ..NodeSpec::HONEST
        };
        6
    ]);
    let net = Net::start(dir, &nodes)?;
    let public = net.keygen()?;
    let started = Instant::now();
    let mut written = Vec::new();
    for i in 0..3 {
        let file = net.file(&format!("obj-{i}"), 8 * MIB, 31 + i)?;
        written.push((net.put(&file, &public)?, file));
    }
    let mut on_sybils = 0;
    for (id, _) in &written {
        let status = net.status(id)?;
        let sybil_endpoints: Vec<&str> = net
            .nodes
            .iter()
            .skip(6)
            .map(|n| n.endpoint.as_str())
            .collect();
        on_sybils += field(&status, "segments")
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| field(s, "shards").as_array().into_iter().flatten())
            .filter(|s| {
                field(s, "endpoint")
                    .as_str()
                    .is_some_and(|e| sybil_endpoints.contains(&e))
            })
            .count();
    }
    // Detected: every sybil below the reputation to hold shards; repaired: nothing at risk.
    let mut healed = None;
    while started.elapsed() < HEAL_TIMEOUT {
        let distrusted = (6..12)
            .filter(|&i| {
                net.node_view(i)
                    .ok()
                    .and_then(|v| v.reputation)
                    .is_some_and(|r| r < 50)
            })
            .count();
        let at_risk: u64 = written
            .iter()
            .map(|(id, _)| net.at_risk(id).unwrap_or(1))
            .sum();
        if distrusted == 6 && at_risk == 0 {
            healed = Some(started.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let lost = written
        .iter()
        .filter(|(id, file)| !net.reads_back(id, file))
        .count();
    let reputations: Vec<String> = (6..12)
        .map(|i| {
            net.node_view(i)
                .ok()
                .and_then(|v| v.reputation)
                .map_or("?".into(), |r| r.to_string())
        })
        .collect();
    Ok(outcome(
        written.len(),
        lost,
        healed,
        "from the first put until every sybil was distrusted (reputation below 50) and no segment \
         was at risk",
        format!(
            "{on_sybils} shards were placed on sybils (the failure domain keeps them to one per \
             segment: the operator's admission records put one operator's nodes in one domain; \
             with open admission and a region each they could take whole segments); sybil \
             reputations after: {}",
            reputations.join(", ")
        ),
    ))
}

fn garbage_during_repair(dir: &Path) -> Result<Outcome> {
    let mut net = Net::start(
        dir,
        &first_odd(NodeSpec {
            behaviour: Behaviour::GarbageOnGet,
            ..NodeSpec::HONEST
        }),
    )?;
    let public = net.keygen()?;
    let file = net.file("obj", 12 * MIB, 37)?;
    let id = net.put(&file, &public)?;
    if let Some(node) = net.nodes.get_mut(1) {
        node.process.kill();
    }
    let killed = Instant::now();
    let mut repaired = None;
    let mut seen_short = false;
    while killed.elapsed() < HEAL_TIMEOUT {
        match net.short(&id) {
            Ok(0) if seen_short => {
                repaired = Some(killed.elapsed().as_secs_f64());
                break;
            }
            Ok(n) if n > 0 => seen_short = true,
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let garbler = net.node_view(0)?.reputation;
    let mut checks = Vec::new();
    if garbler.is_none_or(|r| r >= 100) {
        checks.push(format!(
            "repair never caught the node serving garbage (reputation {garbler:?})"
        ));
    }
    let lost = usize::from(!net.reads_back(&id, &file));
    Ok(Outcome {
        failed_checks: checks,
        ..outcome(
            1,
            lost,
            repaired,
            "from the kill until no segment missed a shard (repair went past the garbage)",
            format!(
                "the garbling node's reputation after: {}",
                garbler.map_or("?".into(), |r| r.to_string())
            ),
        )
    })
}

fn stalled_placement(dir: &Path) -> Result<Outcome> {
    let net = Net::start(
        dir,
        &first_odd(NodeSpec {
            behaviour: Behaviour::StallFirstPut(Duration::from_secs(31)),
            ..NodeSpec::HONEST
        }),
    )?;
    let public = net.keygen()?;
    let file = net.file("obj", 8 * MIB, 41)?;
    let started = Instant::now();
    let id = net.put(&file, &public)?;
    let put_secs = started.elapsed().as_secs_f64();
    let status = net.status(&id)?;
    let complete = field(&status, "complete") == true;
    let mut checks = Vec::new();
    if !complete {
        checks.push(format!(
            "the object is not complete after the put: {status}"
        ));
    }
    let lost = usize::from(!net.reads_back(&id, &file));
    Ok(Outcome {
        failed_checks: checks,
        ..outcome(
            1,
            lost,
            complete.then_some(put_secs),
            "the put of 8 MiB done and the object complete (the relay gives up on a node after \
             storage.node_request_secs, 10 s, and places the shard elsewhere)",
            format!(
                "put {put_secs:.1} s; complete: {complete}; segments at risk right after: {}",
                field(&status, "at_risk")
            ),
        )
    })
}

/// A relay that allows no private node endpoints (as in production), admission open.
const PUBLIC_RELAY_CONFIG: &str = "\
dev = true
[storage]
open_admission = true
";

fn ssrf_endpoints(dir: &Path) -> Result<Outcome> {
    std::fs::write(dir.join("relay.toml"), PUBLIC_RELAY_CONFIG)?;
    let port = testnet::free_port()?;
    let (_relay, _) = start_relay(dir, port)?;
    let url = format!("http://127.0.0.1:{port}");
    let endpoints = [
        "http://169.254.169.254",
        "http://127.0.0.1:1",
        "http://10.0.0.5",
    ];
    let mut nodes = Vec::new();
    for (i, endpoint) in endpoints.iter().enumerate() {
        let data = dir.join(format!("node-{i}"));
        let mut args = NodeArgs::new(&url, "region-0", &data);
        args.advertise = Some((*endpoint).to_owned());
        args.heartbeat_secs = 1;
        let log = dir.join(format!("node-{i}.log"));
        nodes.push(testnet::start_node(datahub("node"), &args, &log)?);
    }
    // Each node tries to register at once and again with backoff: wait for every refusal.
    let started = Instant::now();
    let refused_now = || {
        (0..endpoints.len())
            .filter(|i| {
                std::fs::read_to_string(dir.join(format!("node-{i}.log")))
                    .unwrap_or_default()
                    .contains("is not public")
            })
            .count()
    };
    let mut all_refused = None;
    while started.elapsed() < Duration::from_secs(20) {
        if refused_now() == endpoints.len() {
            all_refused = Some(started.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let listed: Value = serde_json::from_str(&testnet::http_get(port, "/v1/nodes", None)?)?;
    let registered = field(&listed, "nodes").as_array().map_or(0, Vec::len);
    let refused = refused_now();
    let mut checks = Vec::new();
    if registered > 0 {
        checks.push(format!(
            "{registered} of the nodes were registered: {listed}"
        ));
    }
    if refused < endpoints.len() {
        checks.push(format!(
            "only {refused} of {} nodes were told their endpoint is not public",
            endpoints.len()
        ));
    }
    Ok(Outcome {
        failed_checks: checks,
        ..outcome(
            0,
            0,
            all_refused,
            "until every node had been told its endpoint is not public (422 invalid_endpoint)",
            format!(
                "endpoints {}: registered {registered}, refused with \"not public\" {refused}",
                endpoints.join(", ")
            ),
        )
    })
}

fn markdown(machine: &Machine, outcomes: &[Outcome]) -> String {
    let mut md = String::from("# Reliability\n\n");
    md.push_str(&report::generated_by("cargo xtask faults", machine));
    md.push_str(
        "\nEach case starts its own network on loopback (a `datahub relay` and six `datahub node` \
         processes, nodes judged dead after 6 s of silence, audits every second, repair every 2 s), \
         does the harm named, and checks with `datahub object get` that every object it wrote \
         reads back byte-exact. Lost is objects that did not. The \"relay killed under load\" \
         cases run a relay alone under the signed-submission load of \
         `cargo bench -p datahub-relay --bench load -- --relay URL` and check through the \
         relay's API, with each contributor's session, that every credit the relay acknowledged \
         is in the contributor's history and balance, none counted twice, and that the campaigns' \
         spent budget equals what was credited; there written is acknowledged submissions and \
         lost is acknowledged credits missing. See crates/xtask/src/faults.rs.\n\n\
         | case | fault | written | lost | recovery | recovered means | notes |\n\
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
                "| {} | {} | {} | {} | {} | {} | {}{} |\n",
                o.case,
                o.fault,
                o.written,
                o.lost,
                o.recovery_seconds
                    .map_or("did not recover".into(), |s| format!("{s:.1} s")),
                o.recovery,
                if o.failed_checks.is_empty() {
                    String::new()
                } else {
                    format!(
                        "**failed checks**: {}; ",
                        report::one_line(&o.failed_checks.join("; "))
                    )
                },
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
            written: 3,
            lost: 1,
            recovery_seconds: None,
            recovery: "put and get".into(),
            note: "a | b".into(),
            failed_checks: vec!["a credit counted twice".into(), "balance off".into()],
            error: None,
        };
        let failed = Outcome {
            case: "full disk".into(),
            fault: "filled".into(),
            error: Some("unshare: not permitted".into()),
            ..outcome(0, 0, Some(1.0), "", String::new())
        };
        let md = markdown(&machine, &[ran, failed]);
        assert!(md.contains(
            "| slow node | delayed | 3 | 1 | did not recover | put and get | **failed checks**: \
             a credit counted twice; balance off; a / b |"
        ));
        assert!(md.contains(
            "| full disk | filled | | | | | **could not run**: unshare: not permitted |"
        ));
    }
}
