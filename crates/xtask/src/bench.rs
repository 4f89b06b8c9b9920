//! `cargo xtask bench`: runs the project's benchmarks as they are (each writes its figures as
//! JSON through its `--json FILE` option, or criterion's own estimates files), gathers one record
//! per figure with the peer measured in the same run, and writes `target/bench/results.json` and
//! `docs/performance.md`. A benchmark that fails is recorded as failed, with its error.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

use crate::cmd::{Cmd, heading, root};
use crate::report::{self, Machine};

/// One figure, with the peer it is compared with when there is one.
#[derive(Serialize)]
pub struct Figure {
    /// The section of docs/performance.md it belongs to.
    pub area: String,
    pub name: String,
    /// `None` when the benchmark failed (then `error` says why).
    pub value: Option<f64>,
    pub unit: String,
    pub peer: Option<String>,
    pub peer_value: Option<f64>,
    /// `value / peer_value`: above 1 means more of the unit than the peer (better for MiB/s and
    /// ops/s, worse for ms and bytes).
    pub ratio: Option<f64>,
    /// What produced the figure, to rerun it alone.
    pub command: String,
    pub error: Option<String>,
}

impl Figure {
    fn new(area: &str, name: impl Into<String>, value: f64, unit: &str, command: &str) -> Self {
        Self {
            area: area.into(),
            name: name.into(),
            value: Some(value),
            unit: unit.into(),
            peer: None,
            peer_value: None,
            ratio: None,
            command: command.into(),
            error: None,
        }
    }

    fn against(mut self, peer: impl Into<String>, peer_value: f64) -> Self {
        self.peer = Some(peer.into());
        self.peer_value = Some(peer_value);
        self.ratio = self.value.map(|v| v / peer_value);
        self
    }

    fn failed(area: &str, name: &str, command: &str, error: &anyhow::Error) -> Self {
        Self {
            area: area.into(),
            name: name.into(),
            value: None,
            unit: String::new(),
            peer: None,
            peer_value: None,
            ratio: None,
            command: command.into(),
            error: Some(format!("{error:#}")),
        }
    }
}

/// How long and how big each benchmark runs.
struct Run {
    quick: bool,
    /// Where the benchmarks write their JSON: target/bench.
    out: PathBuf,
    /// Whether pkg/ was built (the JavaScript benchmarks need it), or why not.
    pkg: Result<(), String>,
}

impl Run {
    /// `cargo bench`, on the debug profile in quick mode (its crypto crates are optimized, see
    /// Cargo.toml, and it builds in a fraction of the time of the release profile).
    fn cargo_bench(&self) -> Cmd {
        let cmd = Cmd::new("cargo").arg("bench");
        if self.quick {
            cmd.args(["--profile", "dev"])
        } else {
            cmd
        }
    }

    fn json_file(&self, name: &str) -> Result<PathBuf> {
        let path = self.out.join(name);
        // A stale file from an earlier run must not pass for this run's figures.
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
        Ok(path)
    }

    fn need_pkg(&self) -> Result<()> {
        match &self.pkg {
            Ok(()) => {}
            Err(e) => bail!("pkg/ could not be built: {e}"),
        }
        if !root().join("tests/node_modules").is_dir() {
            bail!("tests/node_modules is missing: run `cargo xtask setup`");
        }
        Ok(())
    }
}

/// A benchmark: records its figures, and sets `command` to what it runs before running it, so
/// that a failure can name it.
type Bench = fn(&Run, &mut Vec<Figure>, &mut String) -> Result<()>;

const NODE: &str = "Wasm primitives and pipeline vs peers, Node.js";
const CHROMIUM: &str = "Wasm primitives and pipeline vs peers, Chromium";
const NATIVE: &str = "Native seal and open vs the ceiling";
const RELAY: &str = "Relay submissions";
const SUSTAINED: &str = "Relay sustained: contributors leasing and answering";
const STORAGE: &str = "Storage through 6 nodes";
const FIRST_TASK: &str = "Time to first task and page weight";

pub fn run(quick: bool, only: Option<&str>) -> Result<()> {
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let chosen = |name: &str| only.is_none_or(|o| name.contains(o));
    let pkg = if ["pipeline.mjs", "pipeline-chromium.mjs", "first-task.mjs"]
        .iter()
        .any(|name| chosen(name))
    {
        crate::pkg::build().map(drop).map_err(|e| format!("{e:#}"))
    } else {
        Err("not needed by the benchmarks chosen with --only".to_owned())
    };
    let run = Run { quick, out, pkg };
    let benches: [(&str, &str, Bench); 11] = [
        (NODE, "pipeline.mjs", wasm_node),
        (CHROMIUM, "pipeline-chromium.mjs", wasm_chromium),
        (NATIVE, "criterion seal", native),
        (RELAY, "load on SQLite", relay_sqlite),
        (RELAY, "load on PostgreSQL", relay_postgres),
        (SUSTAINED, "sustained on SQLite", |r, f, c| {
            sustained(r, f, c, Setup::Sqlite)
        }),
        (SUSTAINED, "sustained on PostgreSQL", |r, f, c| {
            sustained(r, f, c, Setup::Postgres(1))
        }),
        (
            SUSTAINED,
            "sustained on PostgreSQL, two relays",
            |r, f, c| sustained(r, f, c, Setup::Postgres(2)),
        ),
        (
            SUSTAINED,
            "sustained on SQLite, manifest flood",
            |r, f, c| sustained(r, f, c, Setup::SqliteFlood),
        ),
        (STORAGE, "storage", storage),
        (FIRST_TASK, "first-task.mjs", first_task),
    ];
    let mut figures = Vec::new();
    for (area, name, bench) in benches.into_iter().filter(|(_, name, _)| chosen(name)) {
        heading(&format!("bench: {area} ({name})"));
        let mut these = Vec::new();
        let mut command = String::new();
        if let Err(err) = bench(&run, &mut these, &mut command) {
            eprintln!("\nerror: benchmark {name} failed: {err:#}");
            these.push(Figure::failed(area, name, &command, &err));
        }
        figures.extend(these);
    }

    let machine = Machine::describe();
    let json = run.out.join("results.json");
    let doc = serde_json::json!({ "machine": machine, "quick": quick, "figures": figures });
    std::fs::write(&json, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("writing {}", json.display()))?;
    let md = if only.is_some() {
        // A part of the benchmarks must not pass for the whole page.
        run.out.join("performance-only.md")
    } else {
        root().join("docs/performance.md")
    };
    let mut text = markdown(&machine, quick, &figures);
    text.push_str(&kept_section(&md)?);
    std::fs::write(&md, text).with_context(|| format!("writing {}", md.display()))?;
    let failed = figures.iter().filter(|f| f.error.is_some()).count();
    println!(
        "\nbench: {} figures, {failed} benchmarks failed; wrote {} and {}",
        figures.len() - failed,
        md.strip_prefix(root()).unwrap_or(&md).display(),
        json.strip_prefix(root()).unwrap_or(&json).display()
    );
    Ok(())
}

/// The heading of the one hand-written part of docs/performance.md: figures of a change taken
/// before and after it (same run, same machine), which a rerun of the benchmarks must keep.
const KEPT_HEADING: &str = "\n## Before and after\n";

/// The hand-written part of the page about to be rewritten, from [`KEPT_HEADING`] to its end
/// (empty when there is none).
fn kept_section(md: &Path) -> Result<String> {
    let old = match std::fs::read_to_string(md) {
        Ok(old) => old,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", md.display())),
    };
    Ok(old
        .find(KEPT_HEADING)
        .and_then(|at| old.get(at..))
        .unwrap_or_default()
        .to_owned())
}

/// Reads a JSON file a benchmark wrote.
fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("the benchmark wrote no {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn number(value: &Value, key: &str) -> Result<f64> {
    value
        .get(key)
        .and_then(Value::as_f64)
        .with_context(|| format!("no number `{key}` in {value}"))
}

/// The wasm suite (pipeline-suite.mjs) in Node.js or Chromium: each of ours against the best
/// peer of its group, as the suite itself prints it.
fn wasm_suite(
    run: &Run,
    area: &str,
    script: &str,
    figures: &mut Vec<Figure>,
    command: &mut String,
) -> Result<()> {
    run.need_pkg()?;
    let stem = script.trim_end_matches(".mjs");
    let json = run.json_file(&format!("{stem}.json"))?;
    let (seconds, mib) = if run.quick { ("0.3", "8") } else { ("2", "64") };
    // The coding parameters are stated, not left to the suite's defaults, so that the command
    // in docs/performance.md says what was measured (the same in Node.js and Chromium).
    let cmd = Cmd::new("node")
        .env("BENCH_SECONDS", seconds)
        .env("BENCH_MIB", mib)
        .env("BENCH_K", "10")
        .env("BENCH_M", "4")
        .env("BENCH_SEGMENT_MIB", "8")
        .arg(format!("bench/{script}"))
        .arg("--json")
        // From tests/, where it runs.
        .arg(format!("../target/bench/{stem}.json"))
        .dir(root().join("tests"));
    *command = format!("(cd tests) {}", cmd.shown());
    let command = command.as_str();
    cmd.run_explained()?;
    let rows = read_json(&json)?;
    let rows = rows.as_array().context("the suite's JSON is not a list")?;
    figures.extend(suite_figures(rows, area, command)?);
    Ok(())
}

/// The suite's rows (`{group, name, value, unit, ours}`, higher is better) as figures: each of
/// ours against the fastest peer of its group.
fn suite_figures(rows: &[Value], area: &str, command: &str) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    let field = |row: &Value, key: &str| {
        row.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    for row in rows.iter().filter(|r| r["ours"] == true) {
        let group = field(row, "group");
        let mut figure = Figure::new(
            area,
            format!("{group}: {}", field(row, "name")),
            number(row, "value")?,
            &field(row, "unit"),
            command,
        );
        let best_peer = rows
            .iter()
            .filter(|r| r["ours"] != true && r["group"] == row["group"])
            .filter_map(|r| Some((field(r, "name"), r.get("value")?.as_f64()?)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((peer, value)) = best_peer {
            figure = figure.against(peer, value);
        }
        figures.push(figure);
    }
    Ok(figures)
}

fn wasm_node(run: &Run, figures: &mut Vec<Figure>, command: &mut String) -> Result<()> {
    wasm_suite(run, NODE, "pipeline.mjs", figures, command)
}

fn wasm_chromium(run: &Run, figures: &mut Vec<Figure>, command: &mut String) -> Result<()> {
    wasm_suite(run, CHROMIUM, "pipeline-chromium.mjs", figures, command)
}

/// crates/core/benches/seal.rs through criterion, read from criterion's estimates files.
fn native(run: &Run, figures: &mut Vec<Figure>, command: &mut String) -> Result<()> {
    let group = root().join("target/criterion/64MiB");
    if group.exists() {
        std::fs::remove_dir_all(&group).with_context(|| format!("removing {}", group.display()))?;
    }
    let mut cmd = run
        .cargo_bench()
        .args(["-p", "datahub-core", "--bench", "seal", "--"]);
    if run.quick {
        cmd = cmd.args(["--warm-up-time", "0.5", "--measurement-time", "2"]);
    }
    *command = cmd.shown().to_owned();
    let command = command.as_str();
    cmd.run_explained()?;
    // Criterion's mean time per iteration, each iteration over 64 MiB.
    let mib_per_sec = |bench: &str| -> Result<f64> {
        let estimates = read_json(&group.join(bench).join("new/estimates.json"))?;
        let nanos = estimates
            .pointer("/mean/point_estimate")
            .and_then(Value::as_f64)
            .context("no mean in criterion's estimates")?;
        Ok(64.0 / (nanos * 1e-9))
    };
    let memcpy = mib_per_sec("ceiling_memcpy")?;
    let chacha = mib_per_sec("part_chacha20poly1305_chunks")?;
    let rs = mib_per_sec("part_reed_solomon_4+2")?;
    let blake3 = mib_per_sec("part_blake3_shards")?;
    // The crates alone, one after the other over the same bytes: what sealing would cost with
    // no overhead of its own.
    let crates_alone = 1.0 / (1.0 / chacha + 1.0 / rs + 1.0 / blake3);
    let crates = "chacha20poly1305 + reed-solomon-simd + blake3 crates alone, in sequence";
    let seal = mib_per_sec("seal")?;
    let open = mib_per_sec("open")?;
    let lost = mib_per_sec("open_with_2_shards_lost")?;
    let figure = |name: &str, value| Figure::new(NATIVE, name, value, "MiB/s", command);
    figures.extend([
        figure("seal 64 MiB", seal).against(crates, crates_alone),
        figure("seal 64 MiB", seal).against("memcpy", memcpy),
        figure("open 64 MiB", open).against("memcpy", memcpy),
        figure("open 64 MiB, 2 shards of each segment lost", lost).against("open, none lost", open),
        figure("part: ChaCha20-Poly1305 over 64 KiB chunks", chacha).against("memcpy", memcpy),
        figure("part: Reed-Solomon 4+2", rs).against("memcpy", memcpy),
        figure("part: BLAKE3", blake3).against("memcpy", memcpy),
    ]);
    Ok(())
}

fn load_command(run: &Run, json: &Path) -> Cmd {
    let campaigns = if run.quick { "2" } else { "40" };
    run.cargo_bench()
        .args(["-p", "datahub-relay", "--bench", "load", "--"])
        .args([
            "--connections",
            "64,256",
            "--campaigns",
            campaigns,
            "--json",
        ])
        .arg(json)
}

/// The rounds load.rs appended to `json`, one JSON object a line.
fn load_rounds(json: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(json)
        .with_context(|| format!("the benchmark wrote no {}", json.display()))?;
    text.lines()
        .map(|l| {
            serde_json::from_str(l).with_context(|| format!("{} is not JSON lines", json.display()))
        })
        .collect()
}

fn load_figures(
    rounds: &[Value],
    backend: &str,
    peer: Option<&[Value]>,
    command: &str,
    figures: &mut Vec<Figure>,
) -> Result<()> {
    for round in rounds {
        let connections = number(round, "connections")?;
        let peer_round =
            peer.and_then(|p| p.iter().find(|r| r["connections"] == round["connections"]));
        for (key, what, unit) in [
            ("submissions_per_sec", "submissions/s", "submissions/s"),
            ("p99_ms", "p99 latency", "ms"),
        ] {
            let mut figure = Figure::new(
                RELAY,
                format!("{backend}, {connections} connections: {what}"),
                number(round, key)?,
                unit,
                command,
            );
            if let Some(p) = peer_round {
                figure = figure.against("SQLite, same run", number(p, key)?);
            }
            figures.push(figure);
        }
    }
    Ok(())
}

fn relay_sqlite(run: &Run, figures: &mut Vec<Figure>, command: &mut String) -> Result<()> {
    let json = run.json_file("load-sqlite.jsonl")?;
    let cmd = load_command(run, &json);
    *command = cmd.shown().to_owned();
    let command = command.as_str();
    cmd.run_explained()?;
    load_figures(&load_rounds(&json)?, "SQLite", None, command, figures)
}

fn relay_postgres(run: &Run, figures: &mut Vec<Figure>, command: &mut String) -> Result<()> {
    let json = run.json_file("load-postgres.jsonl")?;
    let cluster = crate::postgres::Cluster::start()?;
    let cmd = load_command(run, &json).args(["--database-url", &cluster.url]);
    // The cluster's port changes with every run.
    *command = cmd
        .shown()
        .replace(&cluster.url, "postgres://…(a throwaway cluster)");
    let command = command.as_str();
    cmd.run_explained()?;
    // Compared with the SQLite rounds of this same run, when they succeeded.
    let sqlite = load_rounds(&run.out.join("load-sqlite.jsonl")).ok();
    load_figures(
        &load_rounds(&json)?,
        "PostgreSQL",
        sqlite.as_deref(),
        command,
        figures,
    )
}

/// What the sustained load runs against.
#[derive(Clone, Copy)]
enum Setup {
    Sqlite,
    /// This many relays sharing one PostgreSQL database.
    Postgres(usize),
    /// One relay on SQLite while flooders post the largest manifests it takes (issue 18: the
    /// manifests' rows and the submissions wait for the same writer).
    SqliteFlood,
}

/// Flooders in the manifest-flood run, each posting manifests one after another.
const FLOODERS: &str = "4";

/// The relays' settings for the sustained load: a development relay whose operator is the load
/// bench's public test key (`OPERATOR_ADDRESS` in crates/relay/benches/load.rs, which grants the
/// budgets), and no limit in the way of 256 contributors on one address.
const SUSTAINED_CONFIG: &str = "\
dev = true
operators = [\"0x9E9B296a1615FA21eadb883FDd271ce951B91641\"]

[limits]
ip_per_sec = 1000000.0
ip_burst = 1000000.0
address_per_sec = 1000000.0
address_burst = 1000000.0
sign_ins_per_hour = 1000000.0
leases_per_network = 1000000
";

/// Contributors that sign in, then lease and answer one task after another for 30 s (a
/// sustained run, not a burst), through the load tool's `--relay` mode against relays this
/// starts: one on SQLite, one on PostgreSQL, or two sharing one PostgreSQL database (each
/// contributor kept on one of them). The relay binary is the one `cargo bench` builds.
fn sustained(
    run: &Run,
    figures: &mut Vec<Figure>,
    command: &mut String,
    setup: Setup,
) -> Result<()> {
    let (connections, seconds) = if run.quick {
        ("32", "5")
    } else {
        ("256", "30")
    };
    let build = run
        .cargo_bench()
        .args(["-p", "datahub-relay", "--bench", "load", "--no-run"]);
    build.run_explained()?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let bin = target
        .join(if run.quick { "debug" } else { "release" })
        .join("datahub-relay");
    let (count, label) = match setup {
        Setup::Sqlite => (1, "SQLite, one relay".to_owned()),
        Setup::SqliteFlood => (1, "SQLite, one relay, manifest flood".to_owned()),
        Setup::Postgres(1) => (1, "PostgreSQL, one relay".to_owned()),
        Setup::Postgres(n) => (n, format!("PostgreSQL, {n} relays")),
    };
    let stem = format!(
        "sustained-{}",
        label.to_lowercase().replace([',', ' '], "-")
    );
    // A fresh folder each run: a database left by an earlier run would change the figures.
    let dir = run.out.join(&stem);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let config = dir.join("relay.toml");
    let mut settings = SUSTAINED_CONFIG.to_owned();
    if matches!(setup, Setup::SqliteFlood) {
        // Fresh keys post the manifests: the rows' cost is measured, not the admission rules.
        settings.push_str("\n[storage]\nopen_uploads = true\n");
    }
    std::fs::write(&config, settings)?;
    let cluster = match setup {
        Setup::Sqlite | Setup::SqliteFlood => None,
        Setup::Postgres(_) => Some(crate::postgres::Cluster::start()?),
    };
    let database = cluster.as_ref().map(|c| c.url.as_str());
    let mut relays = Vec::new();
    let mut bases = Vec::new();
    for i in 0..count {
        // One data folder: the replicas share the relay and treasury keys, as they must.
        let args = datahub_testnet::RelayArgs {
            port: 0,
            config: config.clone(),
            data: dir.join("data"),
            database: database.map(str::to_owned),
        };
        let log = dir.join(format!("relay-{i}.log"));
        let (process, base, _) =
            datahub_testnet::start_relay(std::process::Command::new(&bin), &args, &log)
                .with_context(|| format!("starting {}", bin.display()))?;
        relays.push(process);
        bases.push(base);
    }
    let report = run.json_file(&format!("{stem}.json"))?;
    let mut cmd = run
        .cargo_bench()
        .args(["-p", "datahub-relay", "--bench", "load", "--", "--relay"])
        .arg(bases.join(","))
        .args(["--connections", connections, "--campaigns", "8"])
        .args([
            "--seconds",
            seconds,
            "--submissions",
            "2000",
            "--resend",
            "0",
        ])
        .args([
            "--flood",
            if matches!(setup, Setup::SqliteFlood) {
                FLOODERS
            } else {
                "0"
            },
        ])
        .arg("--report")
        .arg(&report);
    // The database server's CPU time counts in what a submission costs (SQLite's is the relay's).
    if let Some(pid) = cluster.as_ref().and_then(crate::postgres::Cluster::pid) {
        cmd = cmd.args(["--db-pid", &pid.to_string()]);
    }
    // The ports change with every run; the page shows the shape of the command.
    *command = format!(
        "{count} relay(s) started with --config (dev, the load operator, limits lifted), then: {}",
        cmd.shown().replace(&bases.join(","), "URL[,URL]")
    );
    cmd.run_explained()?;
    let doc = read_json(&report)?;
    let rate = number(&doc, "submissions_per_sec")?;
    let p99 = number(&doc, "p99_ms")?;
    // Compared with the SQLite run of this same `cargo xtask bench`, when it succeeded.
    let sqlite = read_json(&run.out.join("sustained-sqlite--one-relay.json")).ok();
    let mut per_sec = Figure::new(
        SUSTAINED,
        format!("{label}, {connections} contributors: submissions/s"),
        rate,
        "submissions/s",
        command.as_str(),
    );
    let mut latency = Figure::new(
        SUSTAINED,
        format!("{label}, {connections} contributors: p99 latency"),
        p99,
        "ms",
        command.as_str(),
    );
    let peer = match setup {
        Setup::Sqlite => None,
        Setup::Postgres(_) => Some("SQLite, same run"),
        Setup::SqliteFlood => Some("no flood, same run"),
    };
    if let (Some(doc), Some(peer)) = (&sqlite, peer) {
        per_sec = per_sec.against(peer, number(doc, "submissions_per_sec")?);
        latency = latency.against(peer, number(doc, "p99_ms")?);
    }
    figures.push(per_sec);
    figures.push(latency);
    if matches!(setup, Setup::SqliteFlood) {
        figures.push(Figure::new(
            SUSTAINED,
            format!("{label}: manifests of 16384 shards created by {FLOODERS} flooders"),
            number(&doc, "manifests_per_sec")?,
            "manifests/s",
            command.as_str(),
        ));
    }
    // What each submission cost (its lease included), where the load tool could read it.
    let costs = [
        (
            "relay_cpu_ms_per_submission",
            "relay CPU per submission",
            "ms",
        ),
        (
            "postgres_cpu_ms_per_submission",
            "PostgreSQL CPU per submission",
            "ms",
        ),
        (
            "load_cpu_ms_per_submission",
            "load tool CPU per submission",
            "ms",
        ),
        (
            "statements_per_submission",
            "database statements per submission",
            "statements",
        ),
    ];
    for (key, what, unit) in costs {
        if let Ok(value) = number(&doc, key) {
            figures.push(Figure::new(
                SUSTAINED,
                format!("{label}, {connections} contributors: {what}"),
                value,
                unit,
                command.as_str(),
            ));
        }
    }
    drop(relays);
    Ok(())
}

/// Put and get of one object through `datahub dev` (relay and 6 nodes, real processes): the wall
/// time of the CLI, sealing and opening included; a get with 2 of the 6 nodes killed (opened
/// from the shards left); then how long the relay takes to judge them dead and repair around
/// them, and a put while they are still down. Every read is compared byte for byte.
fn storage(run: &Run, figures: &mut Vec<Figure>, command: &mut String) -> Result<()> {
    let (mib, release) = if run.quick { (16, false) } else { (256, true) };
    *command = format!(
        "cargo xtask bench --only storage{}",
        if run.quick { " --quick" } else { "" }
    );
    let command = command.as_str();
    let mut build = Cmd::new("cargo").args(["build", "-q", "-p", "datahub-cli"]);
    if release {
        build = build.arg("--release");
    }
    build.run()?;
    let bin = root()
        .join("target")
        .join(if release { "release" } else { "debug" })
        .join("datahub");
    let work = run.out.join("storage");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let result = storage_run(&bin, &work, mib);
    let _ = std::fs::remove_dir_all(&work);
    let r = result?;
    let figure = |name: String, value, unit| Figure::new(STORAGE, name, value, unit, command);
    let rate = |seconds: f64| f64::from(mib) / seconds;
    figures.extend([
        figure(format!("put {mib} MiB"), rate(r.put), "MiB/s"),
        figure(format!("get {mib} MiB"), rate(r.get), "MiB/s"),
        figure(
            format!("get {mib} MiB, 2 of 6 nodes dead"),
            rate(r.get_degraded),
            "MiB/s",
        ),
        figure(
            "2 nodes killed: judged dead after".into(),
            r.dead_after,
            "s",
        ),
        figure(
            "2 nodes killed: every shard rebuilt after that".into(),
            r.repaired,
            "s",
        ),
        figure(
            format!("put {mib} MiB, 2 of 6 nodes dead"),
            rate(r.put_degraded),
            "MiB/s",
        ),
    ]);
    Ok(())
}

/// Seconds each step of [`storage`] took.
struct StorageTimes {
    put: f64,
    get: f64,
    get_degraded: f64,
    dead_after: f64,
    repaired: f64,
    put_degraded: f64,
}

fn storage_run(bin: &Path, work: &Path, mib: u32) -> Result<StorageTimes> {
    use std::io::Read as _;
    use std::time::Instant;

    let dev = datahub_testnet::Dev::builder(bin, work, 6)
        .args(["--no-chain", "--no-demo"])
        .start()
        .context("datahub dev did not start")?;
    // Quietly: the status is polled every quarter second.
    let datahub = |args: &[&str]| -> Result<String> {
        let out = std::process::Command::new(bin)
            .args(args)
            .args(["--relay", dev.url.as_str()])
            .output()?;
        if !out.status.success() {
            bail!(
                "datahub {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let key = work.join("key");
    let keygen = Cmd::new(bin).arg("keygen").arg("-o").arg(&key).read()?;
    let public = keygen
        .lines()
        .find(|l| l.contains("public key"))
        .and_then(|l| l.split_whitespace().last())
        .context("keygen printed no public key")?
        .to_owned();
    let (key, data) = (key.display().to_string(), work.join("data"));
    let mut bytes = Vec::new();
    std::fs::File::open("/dev/urandom")?
        .take(u64::from(mib) << 20)
        .read_to_end(&mut bytes)?;
    std::fs::write(&data, &bytes)?;
    let data = data.display().to_string();
    let put = |what: &str| -> Result<(String, f64)> {
        let started = Instant::now();
        let out = datahub(&["object", "put", &data, "-r", &public, "-i", &key])
            .with_context(|| format!("put {what}"))?;
        let id = out
            .lines()
            .last()
            .and_then(|l| l.split_whitespace().last())
            .context("put printed no object id")?
            .to_owned();
        Ok((id, started.elapsed().as_secs_f64()))
    };
    let get = |id: &str, what: &str| -> Result<f64> {
        let back = work.join("back");
        let _ = std::fs::remove_file(&back);
        let started = Instant::now();
        datahub(&[
            "object",
            "get",
            id,
            "-i",
            &key,
            "-o",
            &back.display().to_string(),
        ])
        .with_context(|| format!("get {what}"))?;
        let took = started.elapsed().as_secs_f64();
        if std::fs::read(&back)? != bytes {
            bail!("get {what}: the bytes read back differ from those put");
        }
        Ok(took)
    };
    let status = |id: &str| -> Result<Value> {
        Ok(serde_json::from_str(&datahub(&[
            "object", "status", id, "--json",
        ])?)?)
    };
    let at_risk = |id: &str| -> Result<u64> {
        status(id)?
            .get("at_risk")
            .and_then(Value::as_u64)
            .context("object status without at_risk")
    };
    // Every segment has its k+m shards again. With 4 live nodes for 14 shards some share a
    // node, so the status still says "reduced" (at risk) until the dead nodes come back.
    let whole = |id: &str| -> Result<bool> {
        let status = status(id)?;
        let segments = status
            .get("segments")
            .and_then(Value::as_array)
            .context("object status without segments")?;
        Ok(segments.iter().all(|s| {
            let n = |key| s.get(key).and_then(Value::as_u64);
            n("healthy").is_some() && n("healthy") == n("k").zip(n("m")).map(|(k, m)| k + m)
        }))
    };
    let until = |what: &str, done: &dyn Fn() -> Result<bool>| -> Result<f64> {
        let started = Instant::now();
        while !done()? {
            if started.elapsed() > std::time::Duration::from_secs(300) {
                bail!("{what}: not within 300 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        Ok(started.elapsed().as_secs_f64())
    };

    let (id, put_seconds) = put("(6 nodes)")?;
    let get_seconds = get(&id, "(6 nodes)")?;
    for node in dev.nodes.iter().take(2) {
        datahub_testnet::kill_pid(node.pid)?;
    }
    let get_degraded = get(&id, "(2 nodes dead)")?;
    let dead_after = until("the relay judging the nodes dead", &|| {
        Ok(at_risk(&id)? != 0)
    })?;
    let repaired = until("repair", &|| whole(&id))?;
    get(&id, "(after repair)")?;
    let (second, put_degraded) = put("(2 nodes dead)")?;
    get(&second, "(put with 2 nodes dead)")?;
    Ok(StorageTimes {
        put: put_seconds,
        get: get_seconds,
        get_degraded,
        // From the kill: the get in between is part of the wait.
        dead_after: dead_after + get_degraded,
        repaired,
        put_degraded,
    })
}

/// tests/bench/first-task.mjs: the mini-app in Chromium with its CPU slowed 4×, on loopback
/// and as a phone on a "Fast 3G" network.
fn first_task(run: &Run, figures: &mut Vec<Figure>, command: &mut String) -> Result<()> {
    run.need_pkg()?;
    let json = run.json_file("first-task.json")?;
    let runs = if run.quick { "1" } else { "5" };
    let cmd = Cmd::new("node")
        .args(["bench/first-task.mjs", "--runs", runs, "--json"])
        // From tests/, where it runs.
        .arg("../target/bench/first-task.json")
        .dir(root().join("tests"));
    *command = format!("(cd tests) {}", cmd.shown());
    let command = command.as_str();
    cmd.run_explained()?;
    let r = read_json(&json)?;
    let kib = |key| number(&r, key).map(|b| b / 1024.0);
    let figure = |name: &str, value, unit| Figure::new(FIRST_TASK, name, value, unit, command);
    figures.extend([
        figure(
            "connect screen (before the wasm)",
            number(&r, "ready_ms")?,
            "ms",
        ),
        figure("campaigns to browse", number(&r, "browse_ms")?, "ms"),
        figure("mini-app mounted", number(&r, "mounted_ms")?, "ms"),
        figure("first task rendered", number(&r, "first_task_ms")?, "ms"),
        figure(
            "phone, Fast 3G: connect screen",
            number(&r, "phone_ready_ms")?,
            "ms",
        ),
        figure(
            "phone, Fast 3G: campaigns to browse",
            number(&r, "phone_browse_ms")?,
            "ms",
        ),
        figure(
            "phone, Fast 3G: first task rendered",
            number(&r, "phone_first_task_ms")?,
            "ms",
        ),
        figure(".wasm", kib("wasm_bytes")?, "KiB"),
        figure(".wasm, gzip", kib("wasm_gzip_bytes")?, "KiB"),
        figure("whole page", kib("page_bytes")?, "KiB"),
        figure("whole page, gzip", kib("page_gzip_bytes")?, "KiB"),
    ]);
    Ok(())
}

fn markdown(machine: &Machine, quick: bool, figures: &[Figure]) -> String {
    let mut md = String::from("# Performance\n\n");
    md.push_str(&report::generated_by("cargo xtask bench", machine));
    if quick {
        md.push_str(
            "\n**Quick mode** (`--quick`): every run shrunk and the native benchmarks built on the \
             debug profile, to check the harness; these figures are not the project's figures. \
             Run `cargo xtask bench` on a quiet machine for those.\n",
        );
    }
    md.push_str(
        "\nRatio is value / peer value: above 1 is ahead for MiB/s and ops/s, behind for ms. \
         For the wasm suites the peer is the fastest peer of the same group in the same run.\n",
    );
    let mut areas: Vec<&str> = Vec::new();
    for f in figures {
        if !areas.contains(&f.area.as_str()) {
            areas.push(&f.area);
        }
    }
    for area in areas {
        md.push_str(&format!("\n## {area}\n\n"));
        let these: Vec<&Figure> = figures.iter().filter(|f| f.area == area).collect();
        let mut commands: Vec<&str> = Vec::new();
        for f in &these {
            if !f.command.is_empty() && !commands.contains(&f.command.as_str()) {
                commands.push(&f.command);
            }
        }
        // Paths shown from the repository root, so the file reads the same on every machine.
        let root = format!("{}/", root().display());
        for c in commands {
            md.push_str(&format!("`{}`\n\n", c.replace(&root, "")));
        }
        md.push_str("| figure | value | peer | peer value | ratio |\n|---|---:|---|---:|---:|\n");
        for f in these {
            let cell =
                |v: Option<f64>| v.map_or(String::new(), |v| format!("{} {}", round(v), f.unit));
            match &f.error {
                Some(err) => md.push_str(&format!(
                    "| {} | **failed**: {} | | | |\n",
                    f.name,
                    report::one_line(err)
                )),
                None => md.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    f.name,
                    cell(f.value),
                    f.peer.as_deref().unwrap_or(""),
                    cell(f.peer_value),
                    f.ratio.map_or(String::new(), |r| format!("{r:.2}×")),
                )),
            }
        }
    }
    md
}

/// Three significant figures or so, enough for a benchmark.
fn round(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn machine() -> Machine {
        Machine {
            date: "2026-12-06 08:00 UTC".into(),
            cpu: "Test CPU".into(),
            cores: 2,
            ram_gib: 24.0,
            commit: "abc1234".into(),
        }
    }

    #[test]
    fn a_rewrite_keeps_the_before_and_after_section() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("xtask-kept-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let md = dir.join("performance.md");
        assert_eq!(kept_section(&md)?, "", "no page yet");
        std::fs::write(&md, "# Performance\n\n## Relay\n\n| a |\n")?;
        assert_eq!(kept_section(&md)?, "", "no hand-written part");
        let kept = "\n## Before and after\n\nseal: 1× then 2×\n";
        std::fs::write(&md, format!("# Performance\n\n## Relay\n{kept}"))?;
        assert_eq!(kept_section(&md)?, kept);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn each_of_ours_is_set_against_the_fastest_peer_of_its_group() -> Result<()> {
        let rows = [
            json!({"group": "hash", "name": "ours", "value": 300.0, "unit": "MiB/s", "ours": true}),
            json!({"group": "hash", "name": "slow peer", "value": 100.0, "unit": "MiB/s", "ours": false}),
            json!({"group": "hash", "name": "fast peer", "value": 150.0, "unit": "MiB/s", "ours": false}),
            json!({"group": "sign", "name": "peer of another group", "value": 999.0, "unit": "ops/s", "ours": false}),
            json!({"group": "sign", "name": "ours too", "value": 50.0, "unit": "ops/s", "ours": true}),
            json!({"group": "alone", "name": "no peer", "value": 7.0, "unit": "MiB/s", "ours": true}),
        ];
        let figures = suite_figures(&rows, NODE, "node bench/pipeline.mjs")?;
        assert_eq!(figures.len(), 3);
        let hash = figures.first().context("no figure")?;
        assert_eq!(hash.name, "hash: ours");
        assert_eq!(hash.peer.as_deref(), Some("fast peer"));
        assert_eq!(hash.ratio, Some(2.0));
        let sign = figures.get(1).context("no second figure")?;
        assert_eq!(sign.peer.as_deref(), Some("peer of another group"));
        assert_eq!(sign.unit, "ops/s");
        let alone = figures.get(2).context("no third figure")?;
        assert_eq!((alone.peer.as_deref(), alone.ratio), (None, None));
        Ok(())
    }

    #[test]
    fn a_row_without_a_number_is_an_error_not_a_zero() {
        let rows = [json!({"group": "hash", "name": "ours", "value": "fast", "ours": true})];
        assert!(suite_figures(&rows, NODE, "cmd").is_err());
    }

    #[test]
    fn postgres_rounds_are_compared_with_the_sqlite_round_of_the_same_connections() -> Result<()> {
        let sqlite = [
            json!({"connections": 64, "submissions_per_sec": 2000.0, "p99_ms": 40.0}),
            json!({"connections": 256, "submissions_per_sec": 2500.0, "p99_ms": 200.0}),
        ];
        let postgres =
            [json!({"connections": 256, "submissions_per_sec": 5000.0, "p99_ms": 100.0})];
        let mut figures = Vec::new();
        load_figures(&postgres, "PostgreSQL", Some(&sqlite), "cmd", &mut figures)?;
        let names: Vec<&str> = figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "PostgreSQL, 256 connections: submissions/s",
                "PostgreSQL, 256 connections: p99 latency"
            ]
        );
        let ratios: Vec<Option<f64>> = figures.iter().map(|f| f.ratio).collect();
        assert_eq!(ratios, [Some(2.0), Some(0.5)]);
        Ok(())
    }

    #[test]
    fn the_table_shows_failures_ratios_and_commands_without_this_machines_paths() {
        let root = format!("{}/", root().display());
        let command = format!("cargo xtask bench --only storage --target-dir {root}target");
        let figures = [
            Figure::new(STORAGE, "put 256 MiB", 123.456, "MiB/s", &command).against("peer", 61.7),
            Figure::failed(
                RELAY,
                "load on SQLite",
                "cargo bench",
                &anyhow::anyhow!("the relay | exited\nearly"),
            ),
        ];
        let md = markdown(&machine(), false, &figures);
        assert!(md.contains("- Commit: abc1234"));
        assert!(!md.contains("Quick mode"));
        assert!(md.contains("`cargo xtask bench --only storage --target-dir target`"));
        assert!(!md.contains(&root));
        assert!(md.contains("| put 256 MiB | 123 MiB/s | peer | 61.7 MiB/s | 2.00× |"));
        // One line, and no pipe to break the table.
        assert!(md.contains("| load on SQLite | **failed**: the relay / exited early | | | |"));
        let storage = md.find("## Storage").unwrap_or(usize::MAX);
        let relay = md.find("## Relay").unwrap_or(usize::MAX);
        assert!(storage < relay, "areas keep the order of the figures");
        assert!(markdown(&machine(), true, &figures).contains("Quick mode"));
    }

    #[test]
    fn rounding_keeps_about_three_significant_figures() {
        let shown: Vec<String> = [1234.5, 99.94, 9.876, 0.1234].map(round).into();
        assert_eq!(shown, ["1234", "99.9", "9.88", "0.12"]);
    }
}
