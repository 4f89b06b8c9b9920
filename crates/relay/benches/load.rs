//! Load benchmark: signed submissions per second and their latency through a real relay
//! process over HTTP.
//!
//! `cargo bench -p datahub-relay --bench load [-- --connections 64,256 --campaigns 20
//! --database-url postgres://… --json FILE]`
//!
//! Set-up (not timed): a relay process on a fresh data folder (SQLite unless a PostgreSQL URL is
//! given), `campaigns` campaigns, one contributor per connection signed in with a session key,
//! each holding one lease in every campaign and the signed receipts for them. Timed: every
//! contributor sends its submissions one after another on its own connection, all at once.
//! Printed: leases/s of the set-up, then submissions/s and p50/p90/p99 latency. With `--json
//! FILE`, each round's figures are also appended to FILE as one JSON line (for `cargo xtask bench`).
//!
//! `… --bench load -- --relay URL[,URL…] [--connections 64 --campaigns 4 --seconds 20
//! --submissions 250 --resend 1 --report FILE]` targets relays that are already running (the
//! fault suite's, which it kills and restarts meanwhile; or replicas sharing one database, each
//! contributor kept on one of them) instead: it makes its campaigns there, signs in one
//! contributor per connection, prints `load: ready …`, and then every contributor leases and
//! answers tasks one after another for `seconds` (at most `submissions` each), riding out a dead
//! relay: a request with no answer is sent again, the same signed bytes, until one comes (or
//! [`GIVE_UP`] passes). At the end each contributor sends `resend` receipts it already had
//! acknowledged again. With `--report FILE` it writes what it saw as JSON: per contributor its
//! session, every acknowledged submission with its credit and when, those that had no answer at
//! first or never, the refusals and the resends, for the fault suite to check against the
//! relay's API (see `Seen`). It prints the sustained rate (submissions answered over the time
//! they were being sent, each after its own lease) and the p50/p99 latency of a submission, and
//! puts them in the report (`submissions_per_sec`, `p50_ms`, `p99_ms`), with what each answered
//! submission cost over the run (its lease and everything else the relays did meanwhile
//! included): the relays' CPU time and database statements (from their `/metrics`), the load
//! tool's own CPU time and, with `--db-pid PID` (a PostgreSQL server's postmaster), the server's
//! (`relay_cpu_ms_per_submission`, `statements_per_submission`, `load_cpu_ms_per_submission`,
//! `postgres_cpu_ms_per_submission`).
//!
//! `--flood N` (with `--relay`) adds N flooders while the contributors work: each posts, one
//! after another, manifests of the most shards a relay takes (`--flood-shards`, default 16384,
//! 1 KiB segments so they cost almost no bytes of quota), each from a fresh key, which the relay
//! must let create objects (`storage.open_uploads`). Every shard is a row written by the one
//! writer the submissions also wait for; the report adds `manifests`, `manifests_per_sec` and
//! `manifest_p99_ms`.
//!
//! Campaign budgets are granted first by [`operator`], a key everyone can derive: the relays
//! this bench starts name its address ([`OPERATOR_ADDRESS`]) in `operators`, and so must the one
//! given with `--relay` (the fault suite's does). Never list it on a relay that pays anyone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datahub_core::eth::{
    Address, CampaignScope, ChainId, Eip712Domain, SessionGrant, SubmissionReceipt, Timestamp,
    TypedStruct, U256, keccak256, personal,
};
use datahub_core::request;
use datahub_core::{Manifest, Params, SecretKey, ShardId};
use serde_json::{Value, json};

const CHAIN: u64 = 56;

/// The address of [`operator`]: what a relay under load lists in `operators`.
pub const OPERATOR_ADDRESS: &str = "0x9E9B296a1615FA21eadb883FDd271ce951B91641";

/// The load test's operator, derived from a public label: it grants the campaign owner the
/// budgets, as an operator of a real relay would grant a requester who paid off chain.
fn operator() -> SecretKey {
    let key = SecretKey::derive(blake3::hash(b"datahub load bench operator").as_bytes());
    assert_eq!(
        key.public_key().address().to_checksum(),
        OPERATOR_ADDRESS,
        "OPERATOR_ADDRESS is not the operator key's address"
    );
    key
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn now_ms() -> i64 {
    datahub_relay::clock::now_ms()
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value, Duration) {
        self.try_post(path, token, body).await.unwrap()
    }

    /// `post`, with a failed connection or a reply cut short as an error rather than a panic.
    async fn try_post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<(u16, Value, Duration), reqwest::Error> {
        let started = Instant::now();
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let response = req.send().await?;
        let status = response.status().as_u16();
        // A body cut short by a dying relay is no answer either.
        let bytes = response.bytes().await?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value, started.elapsed()))
    }
}

/// The body of `POST /v1/submissions` answering `lease` of `campaign` "true", its receipt
/// signed by the session key with `nonce`; and the submission's id (the receipt's hash).
fn signed_answer(
    campaign: &str,
    lease: &str,
    nonce: u64,
    session_key: &SecretKey,
    domain: &Eip712Domain,
) -> (String, Value) {
    let answer = json!({ "verdict": "true" }).to_string();
    let deadline = u64::try_from(now_ms() / 1000 + 3600).unwrap();
    let receipt = SubmissionReceipt {
        campaign: campaign.to_owned(),
        task: lease.to_owned(),
        answer_hash: keccak256(answer.as_bytes()),
        manifest_id: [0; 32],
        nonce: U256::from_u64(nonce),
        deadline,
        licence: String::new(),
        terms_hash: [0; 32],
    };
    let id = format!("0x{}", hex::encode(receipt.signing_hash(domain)));
    let body = json!({
        "campaign": campaign, "task": lease, "answer": answer,
        "nonce": nonce.to_string(), "deadline": deadline,
        "signature": receipt.sign(session_key, domain).to_hex(),
    });
    (id, body)
}

fn domain() -> Eip712Domain {
    let chains = datahub_relay::Config::dev_chains();
    let chain = chains.iter().find(|c| c.id == CHAIN).unwrap();
    Eip712Domain {
        name: "DataHub".into(),
        version: "1".into(),
        chain_id: ChainId(CHAIN),
        verifying_contract: Address::parse(&chain.claim_contract).unwrap(),
    }
}

fn main() {
    if let Some(relay) = arg("--relay") {
        against_running_relay(&relay);
        return;
    }
    let connections: Vec<usize> = arg("--connections")
        .unwrap_or_else(|| "64,256".into())
        .split(',')
        .map(|c| c.parse().unwrap())
        .collect();
    let campaigns: usize = arg("--campaigns").map_or(20, |c| c.parse().unwrap());
    let database = arg("--database-url");
    let json_out = arg("--json");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for c in connections {
        // A fresh database per round, made outside the runtime (the client is synchronous).
        let url = database.as_deref().map(fresh_postgres);
        let figures = runtime.block_on(round(c, campaigns, url.as_deref()));
        if let Some(path) = &json_out {
            use std::io::Write as _;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            writeln!(file, "{figures}").unwrap();
        }
    }
}

/// Runs one round and returns its figures as JSON.
async fn round(connections: usize, campaigns: usize, database: Option<&str>) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("relay.toml");
    std::fs::write(
        &config,
        format!("dev = true\noperators = [\"{OPERATOR_ADDRESS}\"]\n[limits]\nip_per_sec = 1000000.0\nip_burst = 1000000.0\naddress_per_sec = 1000000.0\naddress_burst = 1000000.0\nsign_ins_per_hour = 1000000.0\n"),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_datahub-relay"));
    command
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(url) = database {
        command.args(["--database-url", url]);
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let backend = line.split_whitespace().last().unwrap_or("?").to_owned();
    let client = Arc::new(Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()
            .unwrap(),
        base: base.clone(),
    });
    let info: Value = client
        .http
        .get(format!("{base}/v1/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let relay = Address::parse(info["relay_address"].as_str().unwrap()).unwrap();

    let owner = SecretKey::derive(&[7; 32]);
    for i in 0..campaigns {
        let spec = campaign_spec(&format!("load-{i}"), connections, &owner);
        assert_eq!(create_campaign(&client, &owner, &relay, &spec).await, 201);
    }

    // Sign in every contributor, lease one task per campaign, sign the receipts.
    let domain = Arc::new(domain());
    let set_up = Instant::now();
    let mut tasks = Vec::new();
    for u in 0..connections {
        let (client, domain) = (client.clone(), domain.clone());
        tasks.push(tokio::spawn(async move {
            let wallet = SecretKey::derive(blake3::hash(format!("w{u}").as_bytes()).as_bytes());
            let session_key =
                SecretKey::derive(blake3::hash(format!("s{u}").as_bytes()).as_bytes());
            let token = sign_in(&client, &wallet, &session_key).await.unwrap();
            let mut bodies = Vec::new();
            for i in 0..campaigns {
                let campaign = format!("load-{i}");
                let (status, task, _) = client
                    .post(
                        &format!("/v1/campaigns/{campaign}/next"),
                        Some(&token),
                        &json!({}),
                    )
                    .await;
                assert_eq!(status, 200, "{task}");
                let lease = task["lease"].as_str().unwrap().to_owned();
                let (_, body) = signed_answer(&campaign, &lease, i as u64, &session_key, &domain);
                bodies.push(body);
            }
            (token, bodies)
        }));
    }
    let mut users = Vec::new();
    for t in tasks {
        users.push(t.await.unwrap());
    }
    let setup_secs = set_up.elapsed().as_secs_f64();
    let leases = connections * campaigns;

    // Timed: every contributor submits its answers back to back, all contributors at once.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (token, bodies) in users {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(bodies.len());
            for body in &bodies {
                let (status, outcome, took) =
                    client.post("/v1/submissions", Some(&token), body).await;
                assert_eq!(status, 200, "{outcome}");
                assert_eq!(outcome["status"], "accepted");
                latencies.push(took);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i].as_secs_f64() * 1000.0
    };
    let setup_per_sec = (connections + leases) as f64 / setup_secs;
    let per_sec = latencies.len() as f64 / secs;
    println!(
        "{backend:8} {connections:4} connections: set-up {setup_per_sec:.0} sign-ins+leases/s; {} submissions in {secs:.2} s = {per_sec:.0} submissions/s, latency p50 {:.1} ms p90 {:.1} ms p99 {:.1} ms",
        latencies.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
    );
    let _ = child.kill();
    let _ = child.wait();
    json!({
        "backend": backend, "connections": connections, "submissions": latencies.len(),
        "setup_per_sec": setup_per_sec, "submissions_per_sec": per_sec,
        "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99),
    })
}

fn fresh_postgres(admin: &str) -> String {
    let name = format!("datahub_load_{}_{}", std::process::id(), now_ms());
    let mut client = postgres::Client::connect(admin, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// A content-verification campaign of `items` items, one answer each, paid 0.01 USDT an answer.
fn campaign_spec(id: &str, items: usize, owner: &SecretKey) -> Value {
    let items: Vec<Value> = (0..items)
        .map(|n| json!({ "text": format!("item {n}") }))
        .collect();
    json!({
        "id": id, "kind": "content_verification", "title": "load",
        "instructions": "", "items": items, "reward": "0.01", "token": "USDT",
        "budget": "100000", "overlap": 1, "lease_seconds": 3600,
        "encryption_key": hex::encode(owner.public_key().to_compressed()), "chains": [CHAIN],
    })
}

/// `POST /v1/campaigns`, signed by `owner`, after [`operator`] granted `owner` the budget: the
/// status code.
async fn create_campaign(client: &Client, owner: &SecretKey, relay: &Address, spec: &Value) -> u16 {
    let grant = json!({
        "request_id": format!("budget-{}", spec["id"].as_str().unwrap()),
        "requester": owner.public_key().address().to_checksum(),
        "chain_id": CHAIN, "token": spec["token"], "amount": spec["budget"],
    });
    let status = signed_post(client, &operator(), relay, "/v1/treasury/grants", &grant).await;
    assert!(
        status == 201 || status == 200,
        "granting the budget: {status}"
    );
    signed_post(client, owner, relay, "/v1/campaigns", spec).await
}

/// A `POST` of `body` signed by `key`: the status code.
async fn signed_post(
    client: &Client,
    key: &SecretKey,
    relay: &Address,
    path: &str,
    body: &Value,
) -> u16 {
    let body = body.to_string();
    let t = Timestamp::from_unix_millis(now_ms());
    let sig = request::sign_request(key, "POST", path, body.as_bytes(), t, relay);
    client
        .http
        .post(format!("{}{path}", client.base))
        .header(request::TIME_HEADER, t.unix_millis().to_string())
        .header(request::SIGNATURE_HEADER, sig.to_hex())
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Signs `wallet` in, granting `session_key` every campaign for an hour: the bearer token, or
/// why not.
async fn sign_in(
    client: &Client,
    wallet: &SecretKey,
    session_key: &SecretKey,
) -> Result<String, String> {
    let base = &client.base;
    let (status, nonce, _) = client
        .try_post("/v1/auth/nonce", None, &json!({}))
        .await
        .map_err(|e| e.to_string())?;
    let nonce = match nonce["nonce"].as_str() {
        Some(nonce) if status == 200 => nonce.to_owned(),
        _ => return Err(format!("nonce: {status} {nonce}")),
    };
    let now = Timestamp::from_unix_millis(now_ms());
    let grant = SessionGrant {
        key: session_key.public_key().address(),
        expires: Timestamp::from_unix_millis(now_ms() + 3_600_000),
        campaigns: CampaignScope::Any,
        reward_cap: U256::from_u64(u64::MAX),
    };
    let host = base.trim_start_matches("http://");
    let message = grant
        .siwe_message(
            wallet.public_key().address(),
            host,
            &format!("{base}/"),
            ChainId(CHAIN),
            &nonce,
            now,
            None,
        )
        .to_string();
    let signature = personal::sign_message(wallet, message.as_bytes()).to_hex();
    let (status, session, _) = client
        .try_post(
            "/v1/auth/session",
            None,
            &json!({ "message": message, "signature": signature }),
        )
        .await
        .map_err(|e| e.to_string())?;
    match session["token"].as_str() {
        Some(token) if status == 200 => Ok(token.to_owned()),
        _ => Err(format!("session: {status} {session}")),
    }
}

/// How long a request may go unanswered (the relay dead) before a contributor gives up on it.
const GIVE_UP: Duration = Duration::from_secs(60);

/// The pause between tries while the relay does not answer.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Sends `body` until the relay answers or [`GIVE_UP`] passes, counting the tries that got no
/// answer in `no_answer`. Always the same bytes: a signed receipt sent again is a retry the
/// relay must recognise, not a new submission.
async fn until_answered(
    client: &Client,
    path: &str,
    token: &str,
    body: &Value,
    no_answer: &mut u64,
) -> Option<(u16, Value)> {
    let started = Instant::now();
    loop {
        match client.try_post(path, Some(token), body).await {
            Ok((status, value, _)) => return Some((status, value)),
            Err(_) if started.elapsed() < GIVE_UP => {
                *no_answer += 1;
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(_) => {
                *no_answer += 1;
                return None;
            }
        }
    }
}

/// `--relay URL`: load on a relay that is already running, reported for the fault suite.
fn against_running_relay(base: &str) {
    let number = |name: &str, default: usize| {
        arg(name).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: one number (with --relay)"))
        })
    };
    let load = Load {
        bases: base
            .split(',')
            .map(|b| b.trim().trim_end_matches('/').to_owned())
            .filter(|b| !b.is_empty())
            .collect(),
        connections: number("--connections", 64).max(1),
        campaigns: number("--campaigns", 4).max(1),
        seconds: number("--seconds", 20) as u64,
        most: number("--submissions", 250),
        resend: number("--resend", 1),
        flood: number("--flood", 0),
        flood_shards: number("--flood-shards", 16_384),
    };
    let report = arg("--report");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let doc = runtime.block_on(load.run());
    if let Some(path) = report {
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }
}

/// What the run has cost so far, summed over the relays: their CPU time and database
/// statements (from their `/metrics`), and the load tool's own CPU time. CPU time rather than
/// wall time: on a machine shared with other work, a request's cost is what it used, not how
/// long it waited for a core. `None` where a figure could not be read.
struct Costs {
    relay_cpu_s: Option<f64>,
    statements: Option<f64>,
    load_cpu_s: Option<f64>,
    /// The PostgreSQL server's (`--db-pid`: its postmaster and every backend of it).
    db_cpu_s: Option<f64>,
}

/// The CPU time of process `pid` and its children (a PostgreSQL server: its backends), in
/// seconds; `None` if `pid` cannot be read.
fn tree_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = |path: std::path::PathBuf| std::fs::read_to_string(path).ok();
    let mut total =
        datahub_relay::metrics::cpu_seconds_of_stat(&stat(format!("/proc/{pid}/stat").into())?)?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(text) = stat(entry.path().join("stat")) else {
            continue;
        };
        // The parent's pid is the second field after the command name.
        let parent = text
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if parent == Some(pid) {
            total += datahub_relay::metrics::cpu_seconds_of_stat(&text).unwrap_or(0.0);
        }
    }
    Some(total)
}

impl Costs {
    async fn now(clients: &[Arc<Client>]) -> Self {
        let (mut cpu, mut statements) = (Some(0.0), Some(0.0));
        for client in clients {
            let text = match client
                .http
                .get(format!("{}/metrics", client.base))
                .send()
                .await
            {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            let metric = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            };
            cpu = cpu
                .zip(metric("process_cpu_seconds_total"))
                .map(|(a, b)| a + b);
            statements = statements
                .zip(metric("datahub_db_statements_total"))
                .map(|(a, b)| a + b);
        }
        Self {
            relay_cpu_s: cpu,
            statements,
            load_cpu_s: datahub_relay::metrics::process_cpu_seconds(),
            db_cpu_s: arg("--db-pid")
                .and_then(|p| p.parse().ok())
                .and_then(tree_cpu_seconds),
        }
    }
}

/// The settings of `--relay` mode.
struct Load {
    /// The relays (`--relay URL,URL`: replicas sharing one database); contributor `u` works
    /// on relay `u % n`, as a load balancer keeping a client on one replica would send it.
    bases: Vec<String>,
    connections: usize,
    campaigns: usize,
    seconds: u64,
    /// Submissions per contributor at most (the history the fault suite reads holds 500).
    most: usize,
    /// Acknowledged receipts each contributor sends again at the end.
    resend: usize,
    /// Flooders posting the largest manifests meanwhile.
    flood: usize,
    /// Shards in each flooder's manifest.
    flood_shards: usize,
}

/// What one contributor saw.
#[derive(Default)]
struct Seen {
    /// Submissions answered `accepted`: `{submission, campaign, credited, at_ms, duplicate,
    /// after_no_answer}` (`at_ms` when the answer came, Unix milliseconds; `after_no_answer`
    /// when an earlier try of the same receipt got none, and then `duplicate` says whether
    /// that try had counted).
    acknowledged: Vec<Value>,
    /// Receipts that never got an answer: `{submission, campaign}`.
    unanswered: Vec<Value>,
    /// Any other answer: `{request, status, answer}`.
    refused: Vec<Value>,
    /// Acknowledged receipts sent again at the end: `{submission, status, duplicate,
    /// credited}`.
    resent: Vec<Value>,
    /// Tries that got no answer.
    no_answer: u64,
    /// How long each answered submission took, first try to answer, in microseconds.
    latencies_us: Vec<u64>,
    /// When the last of them was answered (Unix milliseconds).
    last_ms: i64,
}

impl Load {
    async fn run(self) -> Value {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let clients: Vec<Arc<Client>> = self
            .bases
            .iter()
            .map(|base| {
                Arc::new(Client {
                    http: http.clone(),
                    base: base.clone(),
                })
            })
            .collect();
        let client = clients[0].clone();
        let info: Value = client
            .http
            .get(format!("{}/v1/info", client.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let relay = Address::parse(info["relay_address"].as_str().unwrap()).unwrap();
        // This run's own keys and campaigns, so that runs against one relay do not meet.
        let run = format!("{:x}", now_ms());
        let key = |what: String| SecretKey::derive(blake3::hash(what.as_bytes()).as_bytes());
        let owner = key(format!("{run} owner"));
        // Each item goes to one contributor (overlap 1): enough for every one to reach `most`.
        let items = self.connections * self.most.div_ceil(self.campaigns).max(1);
        let mut campaigns = Vec::new();
        let mut listed = Vec::new();
        for i in 0..self.campaigns {
            let id = format!("kill-{run}-{i}");
            let spec = campaign_spec(&id, items, &owner);
            let status = create_campaign(&client, &owner, &relay, &spec).await;
            assert!(status == 201, "creating campaign {id}: {status}");
            listed.push(json!({ "id": id, "budget": spec["budget"], "token": spec["token"] }));
            campaigns.push(id);
        }
        let campaigns = Arc::new(campaigns);

        let mut signing_in = Vec::new();
        for u in 0..self.connections {
            let client = clients[u % clients.len()].clone();
            let (wallet, session_key) = (key(format!("{run} w{u}")), key(format!("{run} s{u}")));
            signing_in.push(tokio::spawn(async move {
                let started = Instant::now();
                loop {
                    match sign_in(&client, &wallet, &session_key).await {
                        Ok(token) => return (wallet, session_key, token),
                        Err(e) if started.elapsed() > GIVE_UP => panic!("signing in: {e}"),
                        Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
                    }
                }
            }));
        }
        let mut contributors = Vec::new();
        for s in signing_in {
            contributors.push(s.await.unwrap());
        }
        println!(
            "load: ready, {} contributors signed in, {} campaigns; submitting for {} s",
            self.connections, self.campaigns, self.seconds
        );

        let before = Costs::now(&clients).await;
        let started_ms = now_ms();
        let end = Instant::now() + Duration::from_secs(self.seconds);
        let domain = Arc::new(domain());
        let this = Arc::new(self);
        let mut working = Vec::new();
        for (u, (wallet, session_key, token)) in contributors.into_iter().enumerate() {
            let (client, domain, campaigns, this) = (
                clients[u % clients.len()].clone(),
                domain.clone(),
                campaigns.clone(),
                this.clone(),
            );
            let bearer = token.clone();
            let task = tokio::spawn(async move {
                this.contribute(&client, &domain, &session_key, &bearer, &campaigns, end)
                    .await
            });
            working.push((wallet.public_key().address().to_checksum(), token, task));
        }
        let flooding: Vec<_> = (0..this.flood)
            .map(|f| {
                let (client, this, run) = (
                    clients[f % clients.len()].clone(),
                    this.clone(),
                    run.clone(),
                );
                tokio::spawn(async move {
                    this.flood(&client, &relay, &format!("{run} f{f}"), end)
                        .await
                })
            })
            .collect();
        let mut report = Vec::new();
        let (mut acked, mut in_flight, mut counted, mut never, mut refused) = (0, 0, 0, 0, 0);
        let (mut resent, mut duplicates, mut no_answer) = (0, 0, 0);
        let mut latencies = Vec::new();
        let mut last_ms = started_ms;
        let mut manifest_latencies = Vec::new();
        for flooder in flooding {
            manifest_latencies.extend(flooder.await.unwrap());
        }
        for (wallet, token, task) in working {
            let seen = task.await.unwrap();
            latencies.extend_from_slice(&seen.latencies_us);
            last_ms = last_ms.max(seen.last_ms);
            acked += seen.acknowledged.len();
            let late: Vec<&Value> = seen
                .acknowledged
                .iter()
                .filter(|a| a["after_no_answer"] == true)
                .collect();
            in_flight += late.len();
            counted += late.iter().filter(|a| a["duplicate"] == true).count();
            never += seen.unanswered.len();
            refused += seen.refused.len();
            resent += seen.resent.len();
            duplicates += seen
                .resent
                .iter()
                .filter(|r| r["duplicate"] == true)
                .count();
            no_answer += seen.no_answer;
            report.push(json!({
                "wallet": wallet,
                "session": token,
                "acknowledged": seen.acknowledged,
                "unanswered": seen.unanswered,
                "refused": seen.refused,
                "resent": seen.resent,
                "no_answer": seen.no_answer,
            }));
        }
        println!(
            "load: {acked} submissions acknowledged, {in_flight} of them after a try with no \
             answer ({counted} had counted already); {never} never answered; {refused} refused; \
             {no_answer} tries with no answer; {resent} acknowledged receipts sent again, \
             {duplicates} answered as duplicates"
        );
        let after = Costs::now(&clients).await;
        // Submissions answered over the time they were being sent (resends at the end are not
        // counted: they are retries the relay answers from what it stored).
        latencies.sort_unstable();
        let pick = |q: f64| {
            let i = ((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1);
            latencies.get(i).map_or(0.0, |us| *us as f64 / 1000.0)
        };
        let span = (last_ms - started_ms).max(1) as f64 / 1000.0;
        let per_sec = latencies.len() as f64 / span;
        let (p50, p99) = (pick(0.50), pick(0.99));
        println!(
            "load: sustained {per_sec:.0} submissions/s over {span:.1} s ({} answered, each \
             after its lease), p50 {p50:.1} ms, p99 {p99:.1} ms, {} relay(s), {} contributors",
            latencies.len(),
            this.bases.len(),
            this.connections
        );
        manifest_latencies.sort_unstable();
        let manifests = manifest_latencies.len();
        let manifest_p99 = manifest_latencies
            .get((manifests * 99).div_ceil(100).saturating_sub(1))
            .map_or(0.0, |us| *us as f64 / 1000.0);
        let manifests_per_sec = manifests as f64 / this.seconds.max(1) as f64;
        if this.flood > 0 {
            println!(
                "load: {manifests} manifests of {} shards created by {} flooders meanwhile \
                 ({manifests_per_sec:.1}/s, p99 {manifest_p99:.1} ms)",
                this.flood_shards, this.flood
            );
        }
        let answered = latencies.len().max(1) as f64;
        let per = |a: Option<f64>, b: Option<f64>, scale: f64| match (a, b) {
            (Some(a), Some(b)) => json!((b - a) * scale / answered),
            _ => Value::Null,
        };
        let relay_cpu_ms = per(before.relay_cpu_s, after.relay_cpu_s, 1000.0);
        let load_cpu_ms = per(before.load_cpu_s, after.load_cpu_s, 1000.0);
        let statements = per(before.statements, after.statements, 1.0);
        let db_cpu_ms = per(before.db_cpu_s, after.db_cpu_s, 1000.0);
        println!(
            "load: per submission (its lease, the session reads and the relays' background work \
             included): relay CPU {relay_cpu_ms} ms, PostgreSQL CPU {db_cpu_ms} ms, load tool \
             CPU {load_cpu_ms} ms, {statements} database statements"
        );
        json!({
            "manifests": manifests, "manifests_per_sec": manifests_per_sec,
            "manifest_p99_ms": manifest_p99, "flooders": this.flood,
            "relay": this.bases.join(","), "connections": this.connections, "seconds": this.seconds,
            "relays": this.bases.len(),
            "submissions_per_sec": per_sec, "p50_ms": p50, "p99_ms": p99, "span_s": span,
            "started_ms": started_ms, "ended_ms": now_ms(),
            "relay_cpu_ms_per_submission": relay_cpu_ms,
            "load_cpu_ms_per_submission": load_cpu_ms,
            "statements_per_submission": statements,
            "postgres_cpu_ms_per_submission": db_cpu_ms,
            "campaigns": listed, "contributors": report,
        })
    }

    /// One flooder: posts manifests of `flood_shards` shards, each from a fresh key, one after
    /// another until `end`; returns how long each creation took, in microseconds.
    async fn flood(&self, client: &Client, relay: &Address, name: &str, end: Instant) -> Vec<u64> {
        // 64 + 64 over 1 KiB segments: 128 rows per KiB sealed.
        let params = Params {
            data_shards: 64,
            parity_shards: 64,
            segment_len: 1024,
        };
        let segments = self.flood_shards / params.total_shards();
        let mut latencies = Vec::new();
        for n in 0u64.. {
            if Instant::now() >= end {
                break;
            }
            let seed = blake3::hash(format!("{name} {n}").as_bytes());
            let ids = (0..segments * params.total_shards())
                .map(|i| {
                    let mut hasher = blake3::Hasher::new_keyed(seed.as_bytes());
                    hasher.update(&(i as u64).to_le_bytes());
                    ShardId(*hasher.finalize().as_bytes())
                })
                .collect();
            let sealed_len = (segments as u64) * u64::from(params.segment_len);
            let body = Manifest::new(params, sealed_len, ids).unwrap().to_bytes();
            let uploader = SecretKey::derive(seed.as_bytes());
            let now = Timestamp::from_unix_millis(now_ms());
            let signature =
                request::sign_request(&uploader, "POST", "/v1/objects", &body, now, relay);
            let started = Instant::now();
            let sent = client
                .http
                .post(format!("{}/v1/objects", client.base))
                .header(request::TIME_HEADER, now.unix_millis().to_string())
                .header(request::SIGNATURE_HEADER, signature.to_hex())
                .body(body)
                .send()
                .await;
            let Ok(response) = sent else { continue };
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            assert!(
                status == 201,
                "a flood manifest was answered {status}: the relay must set storage.open_uploads"
            );
            latencies.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        latencies
    }

    /// One contributor: leases a task in each campaign in turn and answers it, until `end`.
    async fn contribute(
        &self,
        client: &Client,
        domain: &Eip712Domain,
        session_key: &SecretKey,
        token: &str,
        campaigns: &[String],
        end: Instant,
    ) -> Seen {
        let mut seen = Seen::default();
        let mut kept = Vec::new();
        for n in 0..self.most {
            if Instant::now() >= end {
                break;
            }
            let campaign = &campaigns[n % campaigns.len()];
            // Asking again after no answer is safe: a lease already made is answered again.
            let next = format!("/v1/campaigns/{campaign}/next");
            let leased =
                until_answered(client, &next, token, &json!({}), &mut seen.no_answer).await;
            let lease = match leased {
                None => break,
                Some((200, task)) if task["lease"].is_string() => {
                    task["lease"].as_str().unwrap().to_owned()
                }
                Some((status, answer)) => {
                    seen.refused
                        .push(json!({ "request": next, "status": status, "answer": answer }));
                    break;
                }
            };
            // The nonce is per session key: `n` never repeats for this contributor.
            let (id, body) = signed_answer(campaign, &lease, n as u64, session_key, domain);
            let mut no_answer = 0;
            let sent = Instant::now();
            let answered =
                until_answered(client, "/v1/submissions", token, &body, &mut no_answer).await;
            if answered.is_some() {
                seen.latencies_us
                    .push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                seen.last_ms = now_ms();
            }
            seen.no_answer += no_answer;
            match answered {
                None => {
                    seen.unanswered
                        .push(json!({ "submission": id, "campaign": campaign }));
                    break;
                }
                Some((200, outcome)) if outcome["status"] == "accepted" => {
                    seen.acknowledged.push(json!({
                        "submission": outcome["submission"], "campaign": campaign,
                        "credited": outcome["credited"], "at_ms": now_ms(),
                        "duplicate": outcome["duplicate"], "after_no_answer": no_answer > 0,
                    }));
                    if kept.len() < self.resend {
                        kept.push((id, body));
                    }
                }
                Some((status, answer)) => seen.refused.push(
                    json!({ "request": "/v1/submissions", "status": status, "answer": answer }),
                ),
            }
        }
        // A client that never heard its answer, or a replay: the relay must give back the stored
        // outcome and credit nothing again.
        for (id, body) in kept {
            let answered =
                until_answered(client, "/v1/submissions", token, &body, &mut seen.no_answer).await;
            let (status, outcome) = answered.unwrap_or((0, Value::Null));
            seen.resent.push(json!({
                "submission": id, "status": status, "duplicate": outcome["duplicate"],
                "credited": outcome["credited"], "answer": outcome,
            }));
        }
        seen
    }
}
