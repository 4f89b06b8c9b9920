//! `datahub dev`: a whole DataHub network on 127.0.0.1 until Ctrl-C or SIGTERM.
//!
//! First a real chain: anvil (`$DATAHUB_ANVIL`, `contracts/node_modules/.bin/anvil`, or `PATH`)
//! on a free port, its state kept in `DIR/anvil-state.json` so the chain outlives a restart, with
//! mock USDT and OORT (18 decimals) and the escrow deployed from the committed artifacts
//! (`contracts/artifacts/`) by anvil's unlocked account 0, the relay's treasury as the escrow's
//! signer. The relay watches it (chain 31337, one confirmation) and the demo requester is funded
//! by a real `deposit` the relay credits before the demo campaigns are created.
//!
//! The relay (API and web app, `--dev`: placeholder contracts accepted when there is no chain,
//! `DIR/operator.key` as its operator) and `--nodes` storage nodes each run as a child process of this
//! binary (`datahub relay …`, `datahub node …`), so killing one is a real fault. Each child
//! prints one line on standard output once it listens; `dev` reads it, prints a summary (pids,
//! addresses, regions, log files), waits until every node has registered with the relay, seeds
//! the demo campaigns (unless `--no-demo`; see `demo`) and prints `ready`. A node that dies is
//! reported and not restarted (killing nodes is how faults are tested); the relay dying ends
//! `dev` with an error. On Ctrl-C or SIGTERM every child gets
//! SIGTERM, then SIGKILL if it has not stopped within a few seconds.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::{mpsc, watch};

use crate::client::Relay;

/// The environment variable through which a child learns it belongs to a `datahub dev`.
pub const PARENT_ENV: &str = "DATAHUB_DEV_PARENT";
/// Fake regions handed to the nodes in turn, so placement can spread over them.
const REGIONS: [&str; 6] = ["eu-1", "us-1", "ap-1", "eu-2", "us-2", "ap-2"];
/// How long a child may take to print its line, and the nodes to register.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a child may take to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(clap::Args)]
pub struct Args {
    /// Port of the relay (API and web app) on 127.0.0.1; 0 picks a free one
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// How many storage nodes to start
    #[arg(long, default_value_t = 6)]
    nodes: u16,
    /// Where the relay and the nodes keep their data and logs
    #[arg(long, value_name = "DIR", default_value = "datahub-dev")]
    data: PathBuf,
    /// The host page's folder [default: www/ of the checkout around the current folder]
    #[arg(long, env = "DATAHUB_WWW", value_name = "DIR")]
    www: Option<PathBuf>,
    /// The built client package [default: pkg/ beside www/]
    #[arg(long, env = "DATAHUB_PKG", value_name = "DIR")]
    pkg: Option<PathBuf>,
    /// Do not create the demo campaigns (one of each task type)
    #[arg(long)]
    no_demo: bool,
    /// Do not start a chain (anvil): vouchers then cannot be redeemed and nothing is funded
    #[arg(long)]
    no_chain: bool,
    /// How many compute nodes (`datahub compute`) to start; they judge the demo voice
    /// campaign's recordings, opened through the demo requester's grants
    #[arg(long, default_value_t = 3)]
    compute: u16,
    /// Where the compute nodes' models are [default: $DATAHUB_MODELS_DIR, else the checkout's
    /// target/models]; without them the nodes run the rule models
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
}

/// A child that has printed its line.
struct Started {
    name: String,
    pid: u32,
    url: String,
    address: String,
    log: PathBuf,
}

enum Event {
    Exited {
        index: usize,
        status: std::io::Result<ExitStatus>,
    },
}

pub async fn run(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create {}", args.data.display()))?;
    let data = std::path::absolute(&args.data).unwrap_or_else(|_| args.data.clone());
    let (www, pkg) = web_app(args.www.as_deref(), args.pkg.as_deref(), &data)?;
    let exe = std::env::current_exe().context("cannot find the datahub executable")?;

    let chain = if args.no_chain {
        None
    } else {
        Some(
            crate::devchain::start(&data, www.as_deref())
                .await
                .context("the development chain did not start (--no-chain runs without one)")?,
        )
    };

    let (events, mut events_rx) = mpsc::unbounded_channel();
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut started: Vec<Started> = Vec::new();

    // The nodes start first, each on the port it had last time, and the relay after them: a
    // relay that starts on an existing database audits the nodes it knows at once, and must
    // find them where they were.
    let relay_port = match args.port {
        0 => free_port()?,
        port => port,
    };
    let relay_url = format!("http://127.0.0.1:{relay_port}");
    let mut nodes = Vec::new();
    let mut regions = Vec::new();
    for i in 0..usize::from(args.nodes) {
        let region = region(i);
        let name = format!("node-{i}");
        let port = node_port(&data, &name)?;
        let node_args: Vec<String> = vec![
            "node".into(),
            "--relay".into(),
            relay_url.clone(),
            "--data".into(),
            data.join(&name).display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--region".into(),
            region.clone(),
            "--heartbeat-secs".into(),
            "2".into(),
        ];
        let log = data.join(format!("{name}.log"));
        // On failure the nodes already started are killed as they are dropped.
        let node = start(&exe, &name, &node_args, &log)
            .await
            .with_context(|| format!("{name} did not start"))?;
        nodes.push(node);
        regions.push(region);
    }

    // The network's operator: it grants the demo requester its funds (see `demo`), and
    // `datahub treasury grant --key DIR/operator.key` grants others theirs.
    let operator = crate::demo::operator_key(&data)?;
    let mut relay_args: Vec<String> = vec![
        "relay".into(),
        "--listen".into(),
        format!("127.0.0.1:{relay_port}"),
        "--data".into(),
        data.join("relay").display().to_string(),
        "--dev".into(),
        "--operator".into(),
        operator.public_key().address().to_checksum(),
    ];
    // Whether the relay watches the development chain (it does unless another configuration
    // says otherwise), so that the demo deposit can be waited for.
    let mut watched = false;
    if std::env::var_os("DATAHUB_CONFIG").is_none() {
        let mut config = dev_config(&data)?;
        if let Some(chain) = &chain {
            (config, watched) = crate::devchain::with_chain(&data, &config, chain)?;
        }
        relay_args.extend(["--config".into(), config.display().to_string()]);
    } else if chain.is_some() {
        eprintln!(
            "warning: DATAHUB_CONFIG is set: the relay does not watch the development chain unless that file names it"
        );
    }
    if let Some(www) = &www {
        relay_args.extend(["--www".into(), www.display().to_string()]);
    }
    if let Some(pkg) = &pkg {
        relay_args.extend(["--pkg".into(), pkg.display().to_string()]);
    }
    let relay_log = data.join("relay.log");
    let (child, relay) = start(&exe, "relay", &relay_args, &relay_log)
        .await
        .with_context(|| {
            format!(
                "the relay did not start (is port {relay_port} taken? pick another with --port)"
            )
        })?;
    tasks.push(tokio::spawn(supervise(
        child,
        0,
        events.clone(),
        stop_rx.clone(),
    )));
    started.push(relay);
    for (i, (child, node)) in nodes.into_iter().enumerate() {
        tasks.push(tokio::spawn(supervise(
            child,
            i + 1,
            events.clone(),
            stop_rx.clone(),
        )));
        started.push(node);
    }

    print!("{}", summary(&started, &regions, &data, www.is_some()));
    if let Some(chain) = &chain {
        print!("{}", crate::devchain::summary(chain));
    }
    println!(
        "waiting for {} node(s) to register with the relay…",
        args.nodes
    );

    let client = Relay::new(&relay_url)?;
    let wanted: Vec<String> = started
        .iter()
        .skip(1)
        .map(|n| n.address.to_lowercase())
        .collect();
    let mut shutdown = std::pin::pin!(datahub_shutdown::shutdown_signal());
    let registered = tokio::select! {
        r = registered(&client, &wanted) => r,
        () = &mut shutdown => {
            stop_all(&stop, tasks).await;
            println!("datahub dev: stopped");
            return Ok(());
        }
        Some(Event::Exited { index, status }) = events_rx.recv() => {
            Err(anyhow::anyhow!("{}", exited(&started, index, &status)))
        }
    };
    if let Err(e) = registered {
        stop_all(&stop, tasks).await;
        return Err(e);
    }
    if chain.is_some() && !args.no_demo && !watched {
        println!(
            "demo requester not funded: the relay's configuration does not watch the development chain"
        );
    }
    if let (Some(chain), false, true) = (&chain, args.no_demo, watched) {
        let funded = tokio::select! {
            r = crate::devchain::fund_demo(&client, chain, &data) => r,
            () = &mut shutdown => {
                stop_all(&stop, tasks).await;
                println!("datahub dev: stopped");
                return Ok(());
            }
        };
        match funded {
            Ok(line) => println!("{line}"),
            Err(e) => {
                stop_all(&stop, tasks).await;
                return Err(e.context("funding the demo requester"));
            }
        }
    }
    let compute = if args.compute == 0 {
        None
    } else {
        match start_compute(&exe, &relay_url, &data, args.compute, args.models.clone()).await {
            Ok(compute) => Some(compute),
            Err(e) => {
                stop_all(&stop, tasks).await;
                return Err(e.context("the compute nodes did not start (--compute 0 runs without)"));
            }
        }
    };
    let mut compute_model = None;
    if let Some(compute) = compute {
        print!("{}", compute_summary(&compute));
        compute_model = Some(compute.model.clone());
        for (child, node) in compute.children {
            tasks.push(tokio::spawn(supervise(
                child,
                started.len(),
                events.clone(),
                stop_rx.clone(),
            )));
            started.push(node);
        }
    }
    let mut granting = None;
    if !args.no_demo {
        tokio::select! {
            // Funded by the deposit on the watched chain; by the operator's grant without one.
            () = seed_demo(&client, &data, !watched, compute_model.as_deref()) => {}
            () = &mut shutdown => {
                stop_all(&stop, tasks).await;
                println!("datahub dev: stopped");
                return Ok(());
            }
        }
        if compute_model.is_some() {
            granting = Some(tokio::spawn(grant_loop(client.clone(), data.clone())));
            println!(
                "granting the compute nodes the uploads of {} as its requester",
                crate::demo::COMPUTE_CAMPAIGN
            );
        }
    }
    println!(
        "ready: {relay_url}/ with {} node(s) and {} compute node(s). Ctrl-C stops everything.",
        args.nodes, args.compute
    );

    let outcome = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            event = events_rx.recv() => match event {
                Some(Event::Exited { index: 0, status }) => {
                    break Err(anyhow::anyhow!("{}", exited(&started, 0, &status)));
                }
                Some(Event::Exited { index, status }) => {
                    println!("{}; not restarted", exited(&started, index, &status));
                }
                None => break Ok(()),
            },
        }
    };
    println!("datahub dev: stopping");
    if let Some(granting) = granting {
        granting.abort();
    }
    stop_all(&stop, tasks).await;
    println!("datahub dev: stopped");
    outcome
}

/// Seeds the demo campaigns and says how it went; a failure is a warning, the network runs on.
async fn seed_demo(client: &Relay, data: &Path, grant: bool, compute_model: Option<&str>) {
    let seeding = crate::demo::seed(client, data, grant, compute_model);
    match tokio::time::timeout(START_TIMEOUT, seeding).await {
        Ok(Ok(seeded)) => {
            for failure in &seeded.failures {
                eprintln!("warning: demo campaign not created: {failure}");
            }
            let of = if seeded.failures.is_empty() {
                String::new()
            } else {
                format!(" of {}", crate::demo::DEFINITIONS.len())
            };
            println!(
                "demo campaigns: {}{of} (requester key {})",
                seeded.campaigns,
                seeded.key_file.display()
            );
        }
        Ok(Err(e)) => {
            eprintln!("warning: demo campaigns not created: {e:#}");
            println!("demo campaigns: none (see the warning; --no-demo skips them)");
        }
        Err(_) => {
            eprintln!(
                "warning: demo campaigns not created: the relay did not answer within {} s",
                START_TIMEOUT.as_secs()
            );
            println!("demo campaigns: none (see the warning; --no-demo skips them)");
        }
    }
}

/// The compute nodes `dev` started, and the model their demo campaign names.
struct Compute {
    children: Vec<(Child, Started)>,
    /// The voice model's BLAKE3 (hex): Silero's, or the speech level rule's without the models.
    model: String,
    /// The models' folder, or `None` when the nodes run the rule models only.
    models: Option<PathBuf>,
}

/// Starts `count` compute nodes (`datahub compute`, keys `DIR/compute-N.key`), with the ONNX
/// models of `models` when they load (checked here once: a node refuses to start without
/// them), else the rule models.
async fn start_compute(
    exe: &Path,
    relay_url: &str,
    data: &Path,
    count: u16,
    models: Option<PathBuf>,
) -> Result<Compute> {
    use datahub_compute::Model as _;
    let dir = models.unwrap_or_else(datahub_compute::default_models_dir);
    let probe = dir.clone();
    let checked = tokio::task::spawn_blocking(move || datahub_compute::check_models(&probe))
        .await
        .context("checking the models stopped")?;
    let (model, models) = match checked {
        // The vad model is named by its file's BLAKE3, which the check just matched.
        Ok(()) => (
            datahub_compute::pins::SILERO_VAD.blake3.to_owned(),
            Some(dir),
        ),
        Err(e) => {
            eprintln!("warning: {e}: the compute nodes run the rule models only");
            (
                hex::encode(datahub_compute::rules::SpeechLevel.hash()),
                None,
            )
        }
    };
    let mut starting = Vec::new();
    for i in 0..count {
        let name = format!("compute-{i}");
        let key = data.join(format!("{name}.key"));
        datahub_keyfile::load_or_create(&key)
            .with_context(|| format!("cannot read or make {}", key.display()))?;
        let mut compute_args: Vec<String> = vec![
            "compute".into(),
            "--relay".into(),
            relay_url.to_owned(),
            "--key".into(),
            key.display().to_string(),
            "--poll-secs".into(),
            "1".into(),
        ];
        match &models {
            Some(dir) => compute_args.extend(["--models".into(), dir.display().to_string()]),
            None => compute_args.push("--rules-only".into()),
        }
        let log = data.join(format!("{name}.log"));
        starting.push(async move {
            start(exe, &name, &compute_args, &log)
                .await
                .with_context(|| format!("{name} did not start"))
        });
    }
    // Together: each loads its models before it registers, seconds in a debug build.
    let children = futures_util::future::join_all(starting)
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    Ok(Compute {
        children,
        model,
        models,
    })
}

/// What `dev` prints of its compute nodes.
fn compute_summary(compute: &Compute) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (_, node) in &compute.children {
        let _ = writeln!(
            out,
            "  {:<9} pid {:<7} {}  log {}",
            node.name,
            node.pid,
            node.address,
            node.log.display()
        );
    }
    let _ = writeln!(
        out,
        "  compute models: {} (vad {})",
        compute.models.as_ref().map_or_else(
            || "the rule models (no ONNX models: cargo xtask setup fetches them)".to_owned(),
            |dir| dir.display().to_string()
        ),
        compute.model
    );
    out
}

/// Grants the compute nodes the demo voice campaign's uploads, as its requester, every second
/// until `dev` stops (the task is aborted).
async fn grant_loop(client: Relay, data: PathBuf) {
    let setup = async {
        let (_, key) = crate::demo::requester_key(&data)?;
        let audience = client.address().await?;
        anyhow::Ok(crate::grant::Granter::new(
            client.clone(),
            key.clone(),
            audience,
            key,
            crate::demo::COMPUTE_CAMPAIGN.to_owned(),
        ))
    };
    let mut granter = match setup.await {
        Ok(granter) => granter,
        Err(e) => {
            eprintln!("warning: no grants for the compute nodes: {e:#}");
            return;
        }
    };
    let mut last_error = String::new();
    loop {
        match granter.round().await {
            Ok(_) => last_error.clear(),
            // Said once, not every second.
            Err(e) if format!("{e:#}") == last_error => {}
            Err(e) => {
                last_error = format!("{e:#}");
                eprintln!("warning: granting the compute nodes: {last_error}");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The relay's configuration for `dev`, written on first start and kept (edit it freely).
const DEV_CONFIG: &str = "\
# Written by `datahub dev` on its first start; edit freely (docs/relay.md lists every setting).
# DATAHUB_CONFIG, when set, is used instead of this file.
#
# One person uploads large objects here: a public relay's limit of 20 signed requests per
# second per signer would pace a 256 MiB upload (390 shards) to about 17 seconds.
#
# Nodes heartbeat every 2 s here: one silent for 6 s is taken for dead, and repair looks every
# 2 s, so killing a node shows the network healing within seconds.
#
# Every local wallet signs in from 127.0.0.1: a public relay's 60 sign-ins an hour per network
# would stop a test run that signs in many wallets.
node_timeout_secs = 6
repair_interval_secs = 2

[limits]
address_per_sec = 1000.0
address_burst = 2000.0
sign_ins_per_hour = 100000.0
";

fn dev_config(data: &Path) -> Result<PathBuf> {
    let path = data.join("relay.toml");
    if !path.exists() {
        std::fs::write(&path, DEV_CONFIG)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(path)
}

/// A free port on 127.0.0.1 (free now; the child binds it a moment later, up to seconds later
/// for the relay, which starts after the nodes).
///
/// It is taken below the kernel's ephemeral range: a port from that range (what binding port 0
/// gives) can be handed, in the meantime, to any outgoing connection or port-0 listener on the
/// machine, and the child then fails to bind it.
fn free_port() -> Result<u16> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let low = ephemeral_low.saturating_sub(12_000).max(1_024);
    let span = u64::from(ephemeral_low.saturating_sub(low));
    if span > 0 {
        // Random starting points, so that parallel `datahub dev`s do not try the same ports.
        let seed = {
            use std::hash::{BuildHasher as _, Hasher as _};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.finish()
        };
        for attempt in 0..64u64 {
            let offset = seed.wrapping_add(attempt.wrapping_mul(7_919)) % span;
            let port = low.saturating_add(u16::try_from(offset).unwrap_or(0));
            if std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(port);
            }
        }
    }
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .context("cannot find a free port on 127.0.0.1")?;
    Ok(listener
        .local_addr()
        .context("cannot find a free port on 127.0.0.1")?
        .port())
}

/// The port node `name` listened on last time (kept in `DIR/<name>.port`) if it is still free,
/// else a new one: the relay knows each node by the endpoint it registered, so a node that
/// comes back on another port looks, for a moment, like a node that lost its shards.
fn node_port(data: &Path, name: &str) -> Result<u16> {
    let file = data.join(format!("{name}.port"));
    let remembered = std::fs::read_to_string(&file)
        .ok()
        .and_then(|text| text.trim().parse::<u16>().ok())
        .filter(|port| {
            *port != 0
                && std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, *port)).is_ok()
        });
    let port = match remembered {
        Some(port) => port,
        None => free_port()?,
    };
    std::fs::write(&file, format!("{port}\n"))
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(port)
}

fn region(i: usize) -> String {
    let base = REGIONS.get(i % REGIONS.len()).copied().unwrap_or("local");
    if i < REGIONS.len() {
        base.to_owned()
    } else {
        format!("{base}-{}", i / REGIONS.len())
    }
}

/// What `dev` prints once every child listens.
fn summary(started: &[Started], regions: &[String], data: &Path, web: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut rows = started.iter();
    if let Some(relay) = rows.next() {
        let _ = writeln!(
            out,
            "datahub dev\n  {}  {}/",
            if web {
                "web app and API"
            } else {
                "API (no web app)"
            },
            relay.url
        );
        let _ = writeln!(
            out,
            "  {:<7} pid {:<7} {}  log {}",
            relay.name,
            relay.pid,
            relay.address,
            relay.log.display()
        );
    }
    for (node, region) in rows.zip(regions) {
        let _ = writeln!(
            out,
            "  {:<7} pid {:<7} {}  region {region:<5} {}  log {}",
            node.name,
            node.pid,
            node.address,
            node.url,
            node.log.display()
        );
    }
    let _ = writeln!(out, "  data    {}", data.display());
    let _ = writeln!(
        out,
        "  operator key {} (datahub treasury grant --key it)",
        data.join("operator.key").display()
    );
    out
}

fn exited(started: &[Started], index: usize, status: &std::io::Result<ExitStatus>) -> String {
    let how = match status {
        Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(s)) {
            (Some(code), _) => format!("with status {code}"),
            (None, Some(signal)) => format!("on signal {signal}"),
            (None, None) => "".to_owned(),
        },
        Err(e) => format!("(cannot tell how: {e})"),
    };
    match started.get(index) {
        Some(c) => format!(
            "{} (pid {}, {}) exited {how}: see {}",
            c.name,
            c.pid,
            c.address,
            c.log.display()
        ),
        None => format!("a child exited {how}"),
    }
}

/// Starts `datahub ARGS…` with its standard error (and standard output after the first line)
/// in `log`, and reads its first line.
async fn start(exe: &Path, name: &str, args: &[String], log: &Path) -> Result<(Child, Started)> {
    let log_file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut command = Command::new(exe);
    // Every node of a dev network is on 127.0.0.1 and registers itself: the relay must accept
    // private endpoints and unadmitted nodes, which a public relay refuses (docs/relay.md,
    // "Storage nodes"), any local key may upload (`datahub object put` with a fresh key), its
    // demo validators are nobody's approved ones, and its demo upload campaigns name none.
    // Nodes ignore these; a value set by the user wins.
    for switch in [
        "DATAHUB_ALLOW_PRIVATE_NODES",
        "DATAHUB_OPEN_ADMISSION",
        "DATAHUB_OPEN_UPLOADS",
        "DATAHUB_OPEN_VALIDATORS",
        "DATAHUB_UNCHECKED_UPLOADS",
    ] {
        if std::env::var_os(switch).is_none() {
            command.env(switch, "1");
        }
    }
    let mut child = command
        .args(args)
        .env(PARENT_ENV, std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        // Its own process group: Ctrl-C reaches `dev`, which stops the children in order.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    let pid = child.id().unwrap_or(0);
    let stdout = child
        .stdout
        .take()
        .context("no standard output from the child")?;
    let mut lines = BufReader::new(stdout);
    let mut line = String::new();
    let read = tokio::time::timeout(START_TIMEOUT, lines.read_line(&mut line)).await;
    match read {
        Ok(Ok(n)) if n > 0 => {}
        Ok(_) => bail!("it exited: {}", tail(log)),
        Err(_) => bail!(
            "it printed nothing within {} s: see {}",
            START_TIMEOUT.as_secs(),
            log.display()
        ),
    }
    let (url, address) = parse_ready(&line).with_context(|| {
        format!(
            "unexpected first line {:?}: see {}",
            line.trim(),
            log.display()
        )
    })?;
    tokio::spawn(copy_rest(lines, log.to_owned()));
    Ok((
        child,
        Started {
            name: name.to_owned(),
            pid,
            url,
            address,
            log: log.to_owned(),
        },
    ))
}

/// `datahub-… listening on http://ADDR address 0x… [database …]` → (URL, address).
fn parse_ready(line: &str) -> Option<(String, String)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |word: &str| {
        words
            .iter()
            .position(|w| *w == word)
            .and_then(|i| words.get(i + 1))
            .map(|s| (*s).to_owned())
    };
    let url = after("on")?;
    let address = after("address")?;
    url.starts_with("http").then_some((url, address))
}

/// Appends whatever else the child prints on standard output to its log.
async fn copy_rest(mut lines: BufReader<ChildStdout>, log: PathBuf) {
    let Ok(mut file) = tokio::fs::OpenOptions::new().append(true).open(&log).await else {
        return;
    };
    let mut line = String::new();
    while let Ok(n) = lines.read_line(&mut line).await {
        if n == 0 || file.write_all(line.as_bytes()).await.is_err() {
            break;
        }
        line.clear();
    }
}

/// The last lines of a log, to say why a child stopped.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let last = lines
        .get(lines.len().saturating_sub(5)..)
        .unwrap_or_default();
    if last.is_empty() {
        format!("see {}", log.display())
    } else {
        format!("{} (from {})", last.join(" | "), log.display())
    }
}

/// Waits on one child: reports its exit, or stops it when told to.
async fn supervise(
    mut child: Child,
    index: usize,
    events: mpsc::UnboundedSender<Event>,
    mut stop: watch::Receiver<bool>,
) {
    tokio::select! {
        status = child.wait() => {
            let _ = events.send(Event::Exited { index, status });
        }
        _ = async { let _ = stop.wait_for(|stop| *stop).await; } => {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()).and_then(rustix::process::Pid::from_raw) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }
}

async fn stop_all(stop: &watch::Sender<bool>, tasks: Vec<tokio::task::JoinHandle<()>>) {
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
}

/// Polls `GET /v1/nodes` until every address in `wanted` is listed alive.
async fn registered(client: &Relay, wanted: &[String]) -> Result<()> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        let last_error = match client.nodes().await {
            Ok(nodes) => {
                let alive: Vec<String> = nodes
                    .iter()
                    .filter(|n| n.alive)
                    .map(|n| n.address.to_lowercase())
                    .collect();
                let waiting = wanted.iter().filter(|w| !alive.contains(w)).count();
                if waiting == 0 {
                    return Ok(());
                }
                format!("{waiting} node(s) not registered yet")
            }
            Err(e) => format!("{e:#}"),
        };
        if tokio::time::Instant::now() > deadline {
            bail!(
                "the nodes did not all register within {} s: {last_error}",
                START_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The web app's folders: `www` (the checkout's, else the copy built into the binary, written
/// into `data`) and `pkg`, which may be absent (with a warning).
fn web_app(
    www: Option<&Path>,
    pkg: Option<&Path>,
    data: &Path,
) -> Result<(Option<PathBuf>, Option<PathBuf>)> {
    let (www, embedded) = match www {
        Some(www) if www.join("index.html").is_file() => (Some(www.to_owned()), false),
        Some(www) => bail!(
            "{} has no index.html: pass the host page's folder with --www",
            www.display()
        ),
        None => match find_www() {
            Ok(www) => (Some(www), false),
            // Outside the checkout (an installed binary): the copy built in, so that the demo
            // campaigns' pictures are there.
            Err(_) => (Some(write_embedded_www(data)?), true),
        },
    };
    let pkg = match (pkg, &www) {
        (Some(pkg), _) => Some(pkg.to_owned()),
        (None, Some(www)) if !embedded => Some(www.parent().unwrap_or(Path::new(".")).join("pkg")),
        (None, _) if !embedded::PKG.is_empty() => Some(write_embedded(data, "pkg", embedded::PKG)?),
        (None, _) => {
            eprintln!(
                "warning: the web app's client (pkg/) is not built into this binary: pass --pkg DIR (built with `cargo xtask pkg`) for the web app, or install with `cargo xtask install`; the API and the demo pictures are served"
            );
            None
        }
    };
    let pkg = match pkg {
        Some(pkg) => match check_pkg(&pkg) {
            Ok(()) => Some(std::path::absolute(&pkg).unwrap_or(pkg)),
            Err(e) => {
                eprintln!("warning: {e:#}; the web app will not load its client");
                None
            }
        },
        None => None,
    };
    let www = www.map(|w| std::path::absolute(&w).unwrap_or(w));
    Ok((www, pkg))
}

/// The checkout's `www/` and built `pkg/` folders as they were when this binary was built.
mod embedded {
    mod www {
        include!(concat!(env!("OUT_DIR"), "/www_files.rs"));
    }
    mod pkg {
        include!(concat!(env!("OUT_DIR"), "/pkg_files.rs"));
    }
    pub use pkg::FILES as PKG;
    pub use www::FILES as WWW;
}

/// Writes built-in files into `data/{name}` (afresh: they are the binary's, not the user's) and
/// returns that folder.
fn write_embedded(data: &Path, name: &str, files: &[(&str, &[u8])]) -> Result<PathBuf> {
    let dir = data.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    for (path, bytes) in files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&file, bytes).with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(dir)
}

/// The built-in `www/`, written into `data/www`.
fn write_embedded_www(data: &Path) -> Result<PathBuf> {
    let www = write_embedded(data, "www", embedded::WWW)?;
    if !www.join("index.html").is_file() {
        bail!("this binary was built without www/: run it from the DataHub checkout or pass --www");
    }
    Ok(www)
}

/// www/ of the checkout: in the current folder or the nearest one above that has it.
fn find_www() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("could not read the current folder")?;
    cwd.ancestors()
        .map(|dir| dir.join("www"))
        .find(|www| www.join("index.html").is_file())
        .with_context(|| {
            format!(
                "found no www/index.html in {} or above: run from the DataHub checkout or pass --www",
                cwd.display()
            )
        })
}

fn check_pkg(pkg: &Path) -> Result<()> {
    // The mini-app's build (the page) and the library's web build (the console).
    for file in [
        "app/datahub_wasm.js",
        "app/datahub_wasm_bg.wasm",
        "web/datahub_wasm.js",
        "web/datahub_wasm_bg.wasm",
    ] {
        if !pkg.join(file).is_file() {
            bail!(
                "{} is missing: pkg/ is not built, run `cargo xtask pkg` (or `cargo xtask dev`)",
                pkg.join(file).display()
            );
        }
    }
    Ok(())
}

/// In a child of `datahub dev`: die with the parent (SIGTERM when it goes), so a `dev` killed
/// with SIGKILL leaves no orphans behind.
pub fn follow_parent() {
    let Some(parent) = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    else {
        return;
    };
    #[cfg(target_os = "linux")]
    {
        let _ =
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM));
    }
    // The parent may have gone before the line above.
    if rustix::process::getppid()
        .map(rustix::process::Pid::as_raw_nonzero)
        .map(i32::from)
        != Some(parent)
    {
        std::process::exit(1);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn ready_lines() {
        assert_eq!(
            parse_ready(
                "datahub-relay listening on http://127.0.0.1:8080 address 0xAbC database sqlite\n"
            ),
            Some(("http://127.0.0.1:8080".into(), "0xAbC".into()))
        );
        assert_eq!(
            parse_ready("datahub-node listening on http://127.0.0.1:4012 address 0x12"),
            Some(("http://127.0.0.1:4012".into(), "0x12".into()))
        );
        assert_eq!(parse_ready("hello"), None);
    }

    #[test]
    fn the_summary_users_read() {
        let child = |name: &str, pid: u32, url: &str, address: &str| Started {
            name: name.into(),
            pid,
            url: url.into(),
            address: address.into(),
            log: PathBuf::from(format!("/d/{name}.log")),
        };
        let started = [
            child("relay", 10, "http://127.0.0.1:8080", "0xAA"),
            child("node-0", 11, "http://127.0.0.1:4001", "0xBB"),
            child("node-1", 12, "http://127.0.0.1:4002", "0xCC"),
        ];
        assert_eq!(
            summary(
                &started,
                &["eu-1".into(), "us-1".into()],
                Path::new("/d"),
                true
            ),
            "\
datahub dev
  web app and API  http://127.0.0.1:8080/
  relay   pid 10      0xAA  log /d/relay.log
  node-0  pid 11      0xBB  region eu-1  http://127.0.0.1:4001  log /d/node-0.log
  node-1  pid 12      0xCC  region us-1  http://127.0.0.1:4002  log /d/node-1.log
  data    /d
  operator key /d/operator.key (datahub treasury grant --key it)
"
        );
        let status = std::process::Command::new("sh")
            .args(["-c", "kill -9 $$"])
            .status()
            .unwrap();
        assert_eq!(
            exited(&started, 2, &Ok(status)),
            "node-1 (pid 12, 0xCC) exited on signal 9: see /d/node-1.log"
        );
    }

    #[test]
    fn regions_are_distinct() {
        let all: Vec<String> = (0..13).map(region).collect();
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 13);
        assert_eq!(all[0], "eu-1");
        assert_eq!(all[6], "eu-1-1");
    }
}
