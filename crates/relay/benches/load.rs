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

use datahub_core::SecretKey;
use datahub_core::eth::{
    Address, CampaignScope, ChainId, Eip712Domain, SessionGrant, SubmissionReceipt, Timestamp,
    TypedStruct, U256, keccak256, personal,
};
use datahub_core::request;
use serde_json::{Value, json};

const CHAIN: u64 = 56;

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
        let started = Instant::now();
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let value = response.json().await.unwrap_or(Value::Null);
        (status, value, started.elapsed())
    }
}

fn domain() -> Eip712Domain {
    let config = datahub_relay::Config::default();
    Eip712Domain {
        name: "DataHub".into(),
        version: "1".into(),
        chain_id: ChainId(CHAIN),
        verifying_contract: Address::parse(&config.chain(CHAIN).unwrap().claim_contract).unwrap(),
    }
}

fn main() {
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
        "[limits]\nip_per_sec = 1000000.0\nip_burst = 1000000.0\naddress_per_sec = 1000000.0\naddress_burst = 1000000.0\n",
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
        let items: Vec<Value> = (0..connections)
            .map(|n| json!({ "text": format!("item {n}") }))
            .collect();
        let spec = json!({
            "id": format!("load-{i}"), "kind": "content_verification", "title": "load",
            "instructions": "", "items": items, "reward": "0.01", "token": "USDT",
            "budget": "100000", "overlap": 1, "lease_seconds": 3600,
            "encryption_key": hex::encode(owner.public_key().to_compressed()), "chains": [CHAIN],
        });
        let body = spec.to_string();
        let t = Timestamp::from_unix_millis(now_ms());
        let sig =
            request::sign_request(&owner, "POST", "/v1/campaigns", body.as_bytes(), t, &relay);
        let status = client
            .http
            .post(format!("{base}/v1/campaigns"))
            .header(request::TIME_HEADER, t.unix_millis().to_string())
            .header(request::SIGNATURE_HEADER, sig.to_hex())
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 201);
    }

    // Sign in every contributor, lease one task per campaign, sign the receipts.
    let domain = Arc::new(domain());
    let set_up = Instant::now();
    let mut tasks = Vec::new();
    for u in 0..connections {
        let (client, domain) = (client.clone(), domain.clone());
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let wallet = SecretKey::derive(blake3::hash(format!("w{u}").as_bytes()).as_bytes());
            let session_key =
                SecretKey::derive(blake3::hash(format!("s{u}").as_bytes()).as_bytes());
            let (_, nonce, _) = client.post("/v1/auth/nonce", None, &json!({})).await;
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
                    nonce["nonce"].as_str().unwrap(),
                    now,
                    None,
                )
                .to_string();
            let signature = personal::sign_message(&wallet, message.as_bytes()).to_hex();
            let (status, session, _) = client
                .post(
                    "/v1/auth/session",
                    None,
                    &json!({ "message": message, "signature": signature }),
                )
                .await;
            assert_eq!(status, 200, "{session}");
            let token = session["token"].as_str().unwrap().to_owned();
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
                let answer = json!({ "verdict": "true" }).to_string();
                let deadline = u64::try_from(now_ms() / 1000 + 3600).unwrap();
                let receipt = SubmissionReceipt {
                    campaign: campaign.clone(),
                    task: lease.clone(),
                    answer_hash: keccak256(answer.as_bytes()),
                    manifest_id: [0; 32],
                    nonce: U256::from_u64(i as u64),
                    deadline,
                };
                let signature = receipt.sign(&session_key, &domain);
                bodies.push(json!({
                    "campaign": campaign, "task": lease, "answer": answer,
                    "nonce": i.to_string(), "deadline": deadline, "signature": signature.to_hex(),
                }));
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
