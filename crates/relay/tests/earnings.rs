//! Node earnings (docs/relay.md §7a) over real HTTP: a relay and six storage nodes, an upload
//! campaign that reserves storage with its budget, audits over several short epochs, the epochs
//! settled, and every node's earnings reconciled exactly with the audits it passed and the bytes
//! it holds; a node that fails its audits earns nothing; the payout wallet claims a voucher; the
//! ledger balances. And objects nobody refers to are deleted from the nodes after the grace
//! period, requesters' uploads and submitted ones kept.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use clap::Parser;
use common::*;
use datahub_core::eth::{SubmissionReceipt, Timestamp, TypedStruct, U256, keccak256};
use datahub_core::{Manifest, Params, SecretKey, request, seal_bytes};
use datahub_relay::Relay;
use datahub_relay::db::Conn;
use datahub_relay::ledger::format_amount;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Short epochs, so that a test sees several; long enough for two audit rounds of six nodes.
const EPOCH_SECS: u64 = 2;
/// Units per audit passed ("0.001").
const PER_AUDIT: i64 = 1_000;
/// Units per GiB-month ("100000000" tokens): large, so that a few KiB held for two seconds
/// earn whole units.
const PER_GIB_MONTH: i128 = 100_000_000 * 1_000_000;

#[derive(Parser)]
struct NodeCli {
    #[command(flatten)]
    args: datahub_node::NodeArgs,
}

struct Network {
    net: Net,
    base: String,
    http: reqwest::Client,
    nodes: Vec<String>,
    _stops: Vec<oneshot::Sender<()>>,
}

impl Network {
    /// A relay (in this process, over a socket, and reachable through `net` without one) and
    /// `count` nodes; node 0 is paid to `payout`.
    async fn start(backend: &Backend, count: usize, payout: &SecretKey) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut config = test_config(&dir.path().join("relay"));
        // Audits are run by the test, round by round; settlement too.
        config.audit_interval_secs = 0;
        config.repair_interval_secs = 0;
        config.storage.epoch_secs = EPOCH_SECS;
        config.storage.fee_per_audit = "0.001".into();
        config.storage.fee_per_gib_month = "100000000".into();
        if let Backend::Postgres = backend {
            config.database_url = Some(fresh_postgres_db(&postgres_admin_url()?));
        }
        let relay = Relay::open(config, port).unwrap();
        tokio::spawn(datahub_relay::server::serve(
            listener,
            Relay::router(&relay),
            Duration::from_secs(10),
            Duration::from_secs(1),
            std::future::pending(),
        ));
        let base = format!("http://127.0.0.1:{port}");
        let mut stops = Vec::new();
        let mut nodes = Vec::new();
        for i in 0..count {
            let data = dir.path().join(format!("node-{i}"));
            let mut argv = vec![
                "node".to_owned(),
                "--relay".into(),
                base.clone(),
                "--data".into(),
                data.to_str().unwrap().into(),
                "--region".into(),
                format!("region-{}", i % 3),
                "--heartbeat-secs".into(),
                "1".into(),
                "--capacity".into(),
                "1000000000".into(),
            ];
            if i == 0 {
                argv.push("--payout".into());
                argv.push(payout.public_key().address().to_checksum());
            }
            let node = datahub_node::Node::bind(NodeCli::parse_from(argv).args)
                .await
                .unwrap();
            nodes.push(format!("0x{}", hex::encode(node.address().as_bytes())));
            let (stop, stopped) = oneshot::channel::<()>();
            tokio::spawn(node.serve(async move {
                let _ = stopped.await;
            }));
            stops.push(stop);
        }
        let net = Net {
            address: relay.address,
            domain: format!("127.0.0.1:{port}"),
            target: Target::Router {
                router: Relay::router(&relay),
                relay,
            },
            dir,
        };
        let network = Self {
            net,
            base,
            http: reqwest::Client::new(),
            nodes,
            _stops: stops,
        };
        for _ in 0..200 {
            let (_, listed) = network.net.get("/v1/nodes", None).await;
            if listed["nodes"].as_array().map_or(0, Vec::len) == count {
                return Some(network);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the nodes did not register");
    }

    /// A request with raw bytes signed by `key`, over HTTP.
    async fn signed(
        &self,
        key: &SecretKey,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
        let signature = request::sign_request(key, method, path, &body, now, &self.net.address);
        let response = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", self.base),
            )
            .header(request::TIME_HEADER, now.unix_millis().to_string())
            .header(request::SIGNATURE_HEADER, signature.to_hex())
            .body(body)
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn upload(&self, uploader: &SecretKey, data: &[u8], reader: &SecretKey) -> Manifest {
        let params = Params {
            data_shards: 4,
            parity_shards: 2,
            segment_len: 64 * 1024,
        };
        let seed = datahub_relay::clock::random::<32>();
        let (manifest, segments) = seal_bytes(data, &[reader.public_key()], &seed, params).unwrap();
        let id = manifest.object_id().to_string();
        let (status, body) = self
            .signed(uploader, "POST", "/v1/objects", manifest.to_bytes())
            .await;
        assert!(status.is_success(), "{body}");
        for shard in segments.iter().flat_map(|s| s.shards.iter()) {
            let path = format!("/v1/objects/{id}/shards/{}", shard.id);
            let (status, body) = self
                .signed(uploader, "PUT", &path, shard.bytes.clone())
                .await;
            assert!(status.is_success(), "{status} {body}");
        }
        manifest
    }

    async fn node(&self, address: &str) -> Value {
        let (status, node) = self.net.get(&format!("/v1/nodes/{address}"), None).await;
        assert_eq!(status, StatusCode::OK, "{node}");
        node
    }
}

fn random_data(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        out.extend_from_slice(&datahub_relay::clock::random::<32>());
    }
    out.truncate(len);
    out
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Sleeps until just after the next epoch starts; that epoch.
async fn next_epoch() -> i64 {
    let len = i64::try_from(EPOCH_SECS).unwrap() * 1000;
    let now = datahub_relay::clock::now_ms();
    let start = (now / len + 1) * len;
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(start - now).unwrap() + 20,
    ))
    .await;
    start / len
}

fn epoch_now() -> i64 {
    datahub_relay::clock::now_ms() / (i64::try_from(EPOCH_SECS).unwrap() * 1000)
}

/// What holding `bytes` for one epoch earns, computed here from the published rate (30-day
/// month, rounded down), not by the relay's code.
fn storage_fee(bytes: i64) -> i64 {
    let epoch_ms = i128::from(EPOCH_SECS) * 1000;
    let month_ms: i128 = 30 * 24 * 3600 * 1000;
    i64::try_from(i128::from(bytes) * PER_GIB_MONTH * epoch_ms / ((1i128 << 30) * month_ms))
        .unwrap()
}

async fn ledger_balance(net: &Net, account: &str) -> i64 {
    let account = account.to_owned();
    net.relay()
        .db
        .read(move |conn: &mut dyn Conn| datahub_relay::ledger::balance(conn, &account))
        .await
        .unwrap()
}

async fn earnings_reconcile_with_audits_passed(backend: Backend) {
    let payout = key("wallet payout");
    let Some(network) = Network::start(&backend, 6, &payout).await else {
        return;
    };
    let net = &network.net;
    let owner = key("owner");

    // An upload campaign reserving 50 USDT for storage besides its 1 USDT budget: refused while
    // the funds cover the budget only, nothing reserved or spent.
    let mut spec = campaign_spec("photos", &owner, 2, 1, "1");
    spec["kind"] = json!("image_upload");
    spec["items"] = json!([{ "prompt": "a cat" }, { "prompt": "a dog" }]);
    spec["storage_budget"] = json!("50");
    let (status, refused) = net.create_campaign(&owner, &spec).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("insufficient_funds")),
        "{refused}"
    );
    assert_eq!(net.funds(&owner, CHAIN, "USDT").await, "1");
    let (status, body) = net
        .grant(
            &owner.public_key().address(),
            CHAIN,
            "USDT",
            "50",
            "storage-photos",
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, created) = net.create_campaign_unfunded(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(net.funds(&owner, CHAIN, "USDT").await, "0");
    let reserve = "storage:photos";
    assert_eq!(ledger_balance(net, reserve).await, 50_000_000);

    // A contributor uploads an object and submits it to the campaign.
    let mut worker = Worker::sign_in(net, "uploader").await;
    let manifest = network
        .upload(&worker.wallet, &random_data(150_000), &owner)
        .await;
    submit_upload(net, &mut worker, "photos", &manifest).await;
    let object = manifest.object_id().to_string();

    // Where each shard is, as the object's status says: bytes held per node.
    let (_, placed) = net.get(&format!("/v1/objects/{object}/status"), None).await;
    assert_eq!(placed["complete"], true, "{placed}");
    let mut held = std::collections::BTreeMap::<String, i64>::new();
    for segment in placed["segments"].as_array().unwrap() {
        for shard in segment["shards"].as_array().unwrap() {
            *held
                .entry(shard["node"].as_str().unwrap().to_owned())
                .or_default() += shard["len"].as_i64().unwrap();
        }
    }
    assert_eq!(
        held.len(),
        6,
        "a shard of each segment on each node: {placed}"
    );

    // The last node throws its shards' bytes away (flips them on disk): it fails its audits.
    let cheat = network.nodes[5].clone();
    let cheat_dir = net.dir.path().join("node-5").join("shards");
    let flipped = files_under(&cheat_dir);
    assert!(!flipped.is_empty());
    for file in &flipped {
        let mut bytes = std::fs::read(file).unwrap();
        bytes[0] ^= 0x55;
        std::fs::write(file, bytes).unwrap();
    }

    // Three epochs of two audit rounds each; every node holding shards is audited each round.
    const EPOCHS: usize = 3;
    const ROUNDS: usize = 2;
    let (mut passed, mut failed) = (0, 0);
    for _ in 0..EPOCHS {
        let epoch = next_epoch().await;
        for _ in 0..ROUNDS {
            let (p, f) = datahub_relay::maintenance::audit_round(net.relay())
                .await
                .unwrap();
            assert_eq!(p, 5, "the five honest nodes pass every audit");
            passed += p;
            failed += f;
        }
        assert_eq!(epoch_now(), epoch, "the rounds overran their epoch");
    }
    assert!(failed >= 1, "the cheat failed audits");

    // Nothing is paid for an epoch still running; each ended epoch is paid once.
    let settled = datahub_relay::maintenance::settle_round(net.relay())
        .await
        .unwrap();
    assert_eq!(settled.epochs, u64::try_from(EPOCHS - 1).unwrap());
    next_epoch().await;
    let last = datahub_relay::maintenance::settle_round(net.relay())
        .await
        .unwrap();
    assert_eq!(last.epochs, 1);
    let again = datahub_relay::maintenance::settle_round(net.relay())
        .await
        .unwrap();
    assert_eq!((again.epochs, again.paid), (0, 0), "settled once");

    // Each honest node: every audit it passed, and its bytes for every epoch; the cheat nothing.
    let rounds = i64::try_from(EPOCHS * ROUNDS).unwrap();
    let mut total = 0;
    for address in &network.nodes {
        let node = network.node(address).await;
        if *address == cheat {
            assert_eq!(node["audits"]["passed"], 0, "{node}");
            assert_eq!(node["audits"]["failed"].as_u64(), Some(failed), "{node}");
            assert_eq!(node["earnings"], json!([]), "{node}");
            continue;
        }
        let expected = rounds * PER_AUDIT
            + i64::try_from(EPOCHS).unwrap() * storage_fee(held[address.as_str()]);
        assert_eq!(
            node["audits"],
            json!({ "passed": rounds, "failed": 0 }),
            "{node}"
        );
        assert_eq!(
            node["earnings"],
            json!([{ "token": "USDT", "chain_id": CHAIN, "earned": format_amount(expected), "unclaimed": format_amount(expected) }]),
            "{node}"
        );
        total += expected;
    }
    assert_eq!(u64::try_from(rounds).unwrap() * 5, passed);
    assert_eq!(ledger_balance(net, reserve).await, 50_000_000 - total);

    // Node 0 is paid to the operator's wallet, which claims it like any contributor.
    let node0 = network.node(&network.nodes[0]).await;
    let payout_db = format!(
        "0x{}",
        hex::encode(payout.public_key().address().as_bytes())
    );
    assert_eq!(node0["payout"], payout_db.as_str());
    let earned0 = node0["earnings"][0]["earned"].as_str().unwrap().to_owned();
    let operator = Worker::sign_in(net, "payout").await;
    let (status, voucher) = net
        .post(
            "/v1/claims",
            Some(&operator.token),
            &json!({ "chain_id": CHAIN, "token": "USDT", "request_id": "node-earnings-1" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{voucher}");
    assert_eq!(voucher["amount_tokens"], earned0.as_str());
    let node0 = network.node(&network.nodes[0]).await;
    assert_eq!(node0["earnings"][0]["earned"], earned0.as_str());
    assert_eq!(node0["earnings"][0]["unclaimed"], "0");

    assert_ledger_balanced(net).await;
}

/// Submits `manifest` for `worker`'s current lease in `campaign`.
async fn submit_upload(net: &Net, worker: &mut Worker, campaign: &str, manifest: &Manifest) {
    let (status, task) = worker.next(net, campaign).await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let object = manifest.object_id().to_string();
    let answer = json!({ "object": object }).to_string();
    worker.nonce += 1;
    let receipt = SubmissionReceipt {
        campaign: campaign.into(),
        task: task["lease"].as_str().unwrap().into(),
        answer_hash: keccak256(answer.as_bytes()),
        manifest_id: manifest.object_id().0,
        nonce: U256::from_u64(worker.nonce),
        deadline: u64::try_from(datahub_relay::clock::now_ms() / 1000 + 600).unwrap(),
        licence: String::new(),
        terms_hash: [0; 32],
    };
    let signature = receipt.sign(&worker.session_key, &domain(net));
    let body = json!({
        "campaign": campaign, "task": receipt.task, "answer": answer, "manifest_id": object,
        "nonce": worker.nonce.to_string(), "deadline": receipt.deadline, "signature": signature.to_hex(),
    });
    let (status, outcome) = worker.submit(net, &body).await;
    assert_eq!(outcome["status"], "accepted", "{status} {outcome}");
}

/// Where each shard of `object` is: (shard id, node endpoint).
async fn placements(net: &Net, object: &str) -> Vec<(String, String)> {
    let (status, placed) = net.get(&format!("/v1/objects/{object}/status"), None).await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    assert_eq!(placed["complete"], true, "{placed}");
    placed["segments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["shards"].as_array().unwrap().clone())
        .map(|s| {
            (
                s["shard"].as_str().unwrap().to_owned(),
                s["endpoint"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn unreferenced_objects_are_deleted_from_the_nodes(backend: Backend) {
    let payout = key("wallet payout");
    let Some(network) = Network::start(&backend, 6, &payout).await else {
        return;
    };
    let net = &network.net;
    let owner = key("owner");
    let mut spec = campaign_spec("snaps", &owner, 2, 1, "1");
    spec["kind"] = json!("image_upload");
    spec["items"] = json!([{ "prompt": "a cat" }, { "prompt": "a dog" }]);
    let (status, created) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let mut worker = Worker::sign_in(net, "uploader").await;
    // Submitted: kept. Uploaded and never submitted: deleted. The requester's own: kept.
    let submitted = network
        .upload(&worker.wallet, &random_data(70_000), &owner)
        .await;
    submit_upload(net, &mut worker, "snaps", &submitted).await;
    let orphan = network
        .upload(&worker.wallet, &random_data(70_000), &owner)
        .await;
    let requesters = network.upload(&owner, &random_data(70_000), &owner).await;
    let orphan_id = orphan.object_id().to_string();
    let orphan_shards = placements(net, &orphan_id).await;
    for (shard, endpoint) in &orphan_shards {
        let held = network
            .http
            .get(format!("{endpoint}/v1/shards/{shard}"))
            .send()
            .await
            .unwrap();
        assert_eq!(held.status().as_u16(), 200);
    }

    // Within the grace period nothing goes.
    let now = datahub_relay::clock::now_ms();
    let gone = datahub_relay::orphans::delete_round(net.relay(), now)
        .await
        .unwrap();
    assert_eq!(gone, 0);
    placements(net, &orphan_id).await;

    // After it, the orphan is gone from the nodes and the relay; the others stay whole.
    let grace = i64::try_from(net.relay().config.storage.orphan_grace_secs).unwrap() * 1000;
    let later = now + grace + 1_000;
    let gone = datahub_relay::orphans::delete_round(net.relay(), later)
        .await
        .unwrap();
    assert_eq!(gone, 1);
    for (shard, endpoint) in &orphan_shards {
        let held = network
            .http
            .get(format!("{endpoint}/v1/shards/{shard}"))
            .send()
            .await
            .unwrap();
        assert_eq!(held.status().as_u16(), 404, "{shard} still on {endpoint}");
    }
    let (status, _) = net
        .get(&format!("/v1/objects/{orphan_id}/status"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for kept in [&submitted, &requesters] {
        let kept = kept.object_id().to_string();
        for (shard, endpoint) in placements(net, &kept).await {
            let held = network
                .http
                .get(format!("{endpoint}/v1/shards/{shard}"))
                .send()
                .await
                .unwrap();
            assert_eq!(held.status().as_u16(), 200, "{shard} of a kept object");
        }
    }
    let again = datahub_relay::orphans::delete_round(net.relay(), later)
        .await
        .unwrap();
    assert_eq!(again, 0);
}

async fn bad_node_requests_are_refused(backend: Backend) {
    let payout = key("wallet payout");
    let Some(network) = Network::start(&backend, 1, &payout).await else {
        return;
    };
    let (status, body) = network.net.get("/v1/nodes/0x1234", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_address"))
    );
    let stranger = format!(
        "0x{}",
        hex::encode(key("stranger").public_key().address().as_bytes())
    );
    let (status, body) = network
        .net
        .get(&format!("/v1/nodes/{stranger}"), None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_node"))
    );
    let registration = json!({
        "endpoint": "http://127.0.0.1:9", "region": "r", "capacity": 1, "used": 0, "payout": "my wallet",
    });
    let (status, body) = network
        .signed(
            &key("a node"),
            "POST",
            "/v1/nodes/register",
            registration.to_string().into_bytes(),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_payout")),
        "{body}"
    );
}

macro_rules! on_both {
    ($($name:ident),*) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if super::postgres_admin_url().is_some() {
                        super::$name(super::Backend::Postgres).await;
                    }
                }
            )*
        }
    };
}

on_both!(
    earnings_reconcile_with_audits_passed,
    unreferenced_objects_are_deleted_from_the_nodes,
    bad_node_requests_are_refused
);
