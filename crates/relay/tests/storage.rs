//! The storage side over real HTTP: a relay and six storage nodes (in this process, each on its
//! own socket and folder), sealed objects uploaded shard by shard, placed on distinct nodes and
//! regions, read back byte-exact; bad uploads refused; a node stopped mid-upload.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use clap::Parser;
use common::*;
use datahub_core::eth::Timestamp;
use datahub_core::{Manifest, Params, SecretKey, request, seal_bytes};
use datahub_relay::Relay;
use serde_json::Value;
use tokio::sync::oneshot;

struct Network {
    relay: datahub_relay::AppState,
    /// Stops the relay's server (see [`Network::restart_relay`]), and its task.
    relay_stop: Option<(
        oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    )>,
    /// The relay's folder and database, to start it again.
    relay_data: std::path::PathBuf,
    database_url: Option<String>,
    base: String,
    http: reqwest::Client,
    relay_address: datahub_core::eth::Address,
    stops: Vec<Option<oneshot::Sender<()>>>,
    _dir: tempfile::TempDir,
}

#[derive(Parser)]
struct RelayCli {
    #[command(flatten)]
    args: datahub_relay::RelayArgs,
}

#[derive(Parser)]
struct NodeCli {
    #[command(flatten)]
    args: datahub_node::NodeArgs,
}

impl Network {
    async fn start(backend: &Backend, nodes: usize) -> Self {
        Self::start_with(backend, nodes, 15).await
    }

    async fn start_with(backend: &Backend, nodes: usize, node_timeout_secs: u64) -> Self {
        Self::start_tweaked(backend, nodes, |c| c.node_timeout_secs = node_timeout_secs).await
    }

    async fn start_tweaked(
        backend: &Backend,
        nodes: usize,
        tweak: impl FnOnce(&mut datahub_relay::Config),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut config = test_config(&dir.path().join("relay"));
        config.audit_interval_secs = 0;
        config.repair_interval_secs = 0;
        config.node_timeout_secs = 15;
        if let Backend::Postgres = backend {
            config.database_url = Some(fresh_postgres_db(&postgres_admin_url().unwrap()));
        }
        tweak(&mut config);
        let (relay_data, database_url) = (config.data_dir.clone(), config.database_url.clone());
        let relay = Relay::open(config, port).unwrap();
        let relay_address = relay.address;
        let app = relay.clone();
        let (stop_relay, relay_stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(datahub_relay::server::serve(
            listener,
            Relay::router(&relay),
            Duration::from_secs(10),
            Duration::from_secs(1),
            async move {
                let _ = relay_stopped.await;
            },
        ));
        let base = format!("http://127.0.0.1:{port}");
        let mut net = Self {
            relay: app,
            relay_stop: Some((stop_relay, served)),
            relay_data,
            database_url,
            base,
            http: reqwest::Client::new(),
            relay_address,
            stops: Vec::new(),
            _dir: dir,
        };
        for i in 0..nodes {
            net.start_node(i).await;
        }
        net
    }

    /// Starts node `i` (its folder node-`i`, so a stopped node comes back with its key and its
    /// shards), in region-`i % 3`.
    async fn start_node(&mut self, i: usize) {
        self.start_node_with(i, &[]).await;
    }

    /// [`Self::start_node`] with more `datahub-node` arguments.
    async fn start_node_with(&mut self, i: usize, more: &[&str]) {
        let data = self._dir.path().join(format!("node-{i}"));
        let region = format!("region-{}", i % 3);
        let mut args = vec![
            "node",
            "--relay",
            &self.base,
            "--data",
            data.to_str().unwrap(),
            "--region",
            &region,
            "--heartbeat-secs",
            "1",
        ];
        args.extend_from_slice(more);
        let cli = NodeCli::parse_from(args);
        let node = datahub_node::Node::bind(cli.args).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(node.serve(async move {
            let _ = stopped.await;
        }));
        if self.stops.len() <= i {
            self.stops.resize_with(i + 1, || None);
        }
        self.stops[i] = Some(stop);
    }

    /// Stops the relay's server and starts the relay again the way `datahub-relay` does
    /// ([`datahub_relay::run`]) on the same folder, database and port, as after a crash: nothing
    /// of the first one runs any more (its server is stopped; the test made no other task).
    async fn restart_relay(&mut self) {
        let (stop, served) = self.relay_stop.take().expect("the first relay is running");
        let _ = stop.send(());
        served.await.unwrap().unwrap();
        let config = self.relay_data.with_extension("toml");
        std::fs::write(
            &config,
            "audit_interval_secs = 0\nrepair_interval_secs = 0\nnode_timeout_secs = 15\n\
             [storage]\nallow_private_nodes = true\nopen_admission = true\n",
        )
        .unwrap();
        let mut argv = vec![
            "relay".to_owned(),
            "--config".into(),
            config.to_str().unwrap().into(),
            "--listen".into(),
            self.base.trim_start_matches("http://").into(),
            "--data".into(),
            self.relay_data.to_str().unwrap().into(),
        ];
        if let Some(url) = &self.database_url {
            argv.extend(["--database-url".into(), url.clone()]);
        }
        argv.extend(relay_process_flags());
        let cli = RelayCli::parse_from(argv);
        tokio::spawn(async move {
            datahub_relay::run(cli.args, std::future::pending())
                .await
                .unwrap();
        });
        // Pooled connections were to the first server.
        self.http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(response) = self.http.get(format!("{}/healthz", self.base)).send().await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the relay did not come back");
    }

    async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A request signed by `key`; `(status, JSON)`.
    async fn signed(
        &self,
        key: &SecretKey,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
        let signature = request::sign_request(key, method, path, &body, now, &self.relay_address);
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
}

fn nodes_count(v: Value) -> usize {
    v["nodes"].as_array().map_or(0, Vec::len)
}

async fn wait_for_nodes(net: &Network, want: usize) {
    for _ in 0..200 {
        if nodes_count(net.get_json("/v1/nodes").await) >= want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nodes did not register");
}

/// Seals `data` to `reader` with 4+2 over 64 KiB segments (several segments from small data).
fn seal(data: &[u8], reader: &SecretKey) -> (Manifest, Vec<datahub_core::seal::EncodedSegment>) {
    let params = Params {
        data_shards: 4,
        parity_shards: 2,
        segment_len: 64 * 1024,
    };
    seal_bytes(
        data,
        &[reader.public_key()],
        &datahub_relay::clock::random::<32>(),
        params,
    )
    .unwrap()
}

async fn objects_are_placed_across_nodes_and_read_back(backend: Backend) {
    let net = Network::start(&backend, 6).await;
    wait_for_nodes(&net, 6).await;
    let uploader = key("uploader");
    let reader = key("reader");
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let (manifest, segments) = seal(&data, &reader);
    let id = manifest.object_id().to_string();

    // Unsigned and malformed manifests are refused.
    let response = net
        .http
        .post(format!("{}/v1/objects", net.base))
        .body(manifest.to_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let (status, body) = net
        .signed(&uploader, "POST", "/v1/objects", b"DHMF garbage".to_vec())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_manifest"))
    );

    let (status, state) = net
        .signed(&uploader, "POST", "/v1/objects", manifest.to_bytes())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{state}");
    let total = segments.len() * 6;
    assert_eq!(state["shards"], total);
    assert_eq!(state["missing"].as_array().unwrap().len(), total);

    // A shard whose bytes are not its id, and a shard the object does not have.
    let first = &segments[0].shards[0];
    let path = format!("/v1/objects/{id}/shards/{}", first.id);
    let (status, body) = net
        .signed(&uploader, "PUT", &path, b"not the shard".to_vec())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("wrong_shard_id"))
    );
    let stranger = blake3::hash(b"stranger").to_hex().to_string();
    let (status, _) = net
        .signed(
            &uploader,
            "PUT",
            &format!("/v1/objects/{id}/shards/{stranger}"),
            b"stranger".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = net
        .signed(
            &uploader,
            "PUT",
            &format!("/v1/objects/{id}/shards/..%2f..%2fetc"),
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Upload half, ask what is missing (resume), then the rest.
    let all: Vec<_> = segments.iter().flat_map(|s| s.shards.iter()).collect();
    for shard in &all[..total / 2] {
        net.put_shard(&uploader, &id, shard).await;
    }
    let missing = net.get_json(&format!("/v1/objects/{id}/missing")).await;
    let missing: Vec<String> = missing["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert!(!missing.is_empty() && missing.len() <= total - total / 2);
    for shard in all.iter().filter(|s| missing.contains(&s.id.to_string())) {
        net.put_shard(&uploader, &id, shard).await;
    }
    let status = net.get_json(&format!("/v1/objects/{id}/status")).await;
    assert_eq!(status["complete"], true, "{status}");
    assert_eq!(status["at_risk"], 0);
    // Each segment's six shards on six distinct nodes.
    for segment in status["segments"].as_array().unwrap() {
        let mut nodes: Vec<&str> = segment["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["node"].as_str().unwrap())
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        assert_eq!(nodes.len(), 6, "{segment}");
    }

    // Read back through the relay: the manifest (hash = id) and any k shards per segment.
    let bytes = net
        .http
        .get(format!("{}/v1/objects/{id}", net.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let fetched = Manifest::parse(&bytes).unwrap();
    assert_eq!(fetched.object_id().to_string(), id);
    let mut read = Vec::new();
    for segment in &segments {
        let mut shards = Vec::new();
        for (i, shard) in segment.shards.iter().enumerate() {
            // Skip two shards of every segment: any four suffice.
            if i == 1 || i == 4 {
                shards.push(None);
                continue;
            }
            let got = net
                .http
                .get(format!("{}/v1/objects/{id}/shards/{}", net.base, shard.id))
                .send()
                .await
                .unwrap();
            assert_eq!(got.status().as_u16(), 200);
            shards.push(Some(got.bytes().await.unwrap().to_vec()));
        }
        read.push(shards);
    }
    let plain = datahub_core::open_bytes(&fetched, &read, &reader).unwrap();
    assert_eq!(plain.as_slice(), data.as_slice());
}

async fn upload_goes_on_when_a_node_stops(backend: Backend) {
    let mut net = Network::start(&backend, 7).await;
    wait_for_nodes(&net, 7).await;
    let uploader = key("uploader");
    let (manifest, segments) = seal(&vec![7u8; 200_000], &key("reader"));
    let id = manifest.object_id().to_string();
    net.signed(&uploader, "POST", "/v1/objects", manifest.to_bytes())
        .await;
    // One node stops answering; the relay still thinks it alive (its heartbeat is recent).
    let _ = net.stops[0].take().unwrap().send(());
    tokio::time::sleep(Duration::from_millis(200)).await;
    for shard in segments.iter().flat_map(|s| s.shards.iter()) {
        net.put_shard(&uploader, &id, shard).await;
    }
    let status = net.get_json(&format!("/v1/objects/{id}/status")).await;
    assert_eq!(status["complete"], true, "{status}");
    let nodes = net.get_json("/v1/nodes").await;
    let stopped = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["reputation"].as_i64().unwrap() < 100);
    assert!(
        stopped.is_some(),
        "the failing node lost reputation: {nodes}"
    );
}

/// A relay killed between recording a placement and hearing back from the node leaves the
/// position taken but not stored; the relay forgets it when it starts again, so the uploader's
/// resend places it and the upload completes.
async fn a_placement_left_unfinished_by_a_crash_is_forgotten_at_start(backend: Backend) {
    let mut net = Network::start(&backend, 6).await;
    wait_for_nodes(&net, 6).await;
    let uploader = key("uploader");
    let (manifest, segments) = seal(&vec![9u8; 150_000], &key("reader"));
    let id = manifest.object_id().to_string();
    net.upload(&uploader, &manifest, &segments).await;
    // As the crash leaves it: one position recorded on its node, never confirmed stored.
    let (object, stuck) = (id.clone(), segments[0].shards[0].id.to_string());
    let changed = net
        .relay
        .db
        .write(move |conn: &mut dyn datahub_relay::db::Conn| -> Result<u64, datahub_relay::db::DbError> {
            conn.execute(
                "UPDATE shards SET stored = 0 WHERE object = $1 AND shard = $2",
                &[object.into(), stuck.into()],
            )
        })
        .await
        .unwrap();
    assert_eq!(changed, 1);
    net.put_shard(&uploader, &id, &segments[0].shards[0]).await;
    let status = net.get_json(&format!("/v1/objects/{id}/status")).await;
    assert_eq!(
        status["complete"], false,
        "the resend alone cannot place it: {status}"
    );

    net.restart_relay().await;
    if matches!(backend, Backend::Postgres) {
        // Other relays may share a PostgreSQL database, with placements in flight: a start
        // forgets nothing there, and the leader's reaper forgets placements older than any
        // request can be (here: as if an hour had passed).
        let later = datahub_relay::clock::now_ms() + 3_600_000;
        let forgotten = datahub_relay::storage::forget_stuck_placements(&net.relay, later)
            .await
            .unwrap();
        assert_eq!(forgotten, 1);
    }
    net.put_shard(&uploader, &id, &segments[0].shards[0]).await;
    let status = net.get_json(&format!("/v1/objects/{id}/status")).await;
    assert_eq!(status["complete"], true, "{status}");
    let left = net.get_json(&format!("/v1/objects/{id}/missing")).await;
    assert_eq!(left["missing"].as_array().map(Vec::len), Some(0), "{left}");
    assert_eq!(
        net.read(&manifest, &key("reader")).await.unwrap(),
        vec![9u8; 150_000]
    );
}

/// A registration is refused with 422, never stored, when its endpoint or region is not what a
/// node would send: control characters included (PostgreSQL cannot even store a NUL).
async fn bad_registrations_are_refused(backend: Backend) {
    let net = Network::start(&backend, 0).await;
    let node = key("odd node");
    let cases = [
        // JSON escapes: the relay reads them as a NUL and an ESC.
        ("http://127.0.0.1:1", r"eu\u00001", "invalid_region"),
        ("http://127.0.0.1:1", r"eu\u001b[31m", "invalid_region"),
        ("http://127.0.0.1:1", "", "invalid_region"),
        (r"http://127.0.0.1:1\u0000", "eu", "invalid_endpoint"),
        ("ftp://127.0.0.1:1", "eu", "invalid_endpoint"),
    ];
    for (endpoint, region, code) in cases {
        let body = format!(
            r#"{{"endpoint": "{endpoint}", "region": "{region}", "capacity": 1000, "used": 0}}"#
        );
        let (status, answer) = net
            .signed(&node, "POST", "/v1/nodes/register", body.into_bytes())
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{endpoint:?} {region:?}: {answer}"
        );
        assert_eq!(answer["error"], code, "{answer}");
    }
    assert_eq!(nodes_count(net.get_json("/v1/nodes").await), 0);
}

impl Network {
    async fn put_shard(
        &self,
        uploader: &SecretKey,
        object: &str,
        shard: &datahub_core::seal::Shard,
    ) {
        let path = format!("/v1/objects/{object}/shards/{}", shard.id);
        let (status, body) = self
            .signed(uploader, "PUT", &path, shard.bytes.clone())
            .await;
        assert!(status.is_success(), "{status} {body}");
    }

    async fn upload(
        &self,
        uploader: &SecretKey,
        manifest: &Manifest,
        segments: &[datahub_core::seal::EncodedSegment],
    ) {
        let id = manifest.object_id().to_string();
        let (status, body) = self
            .signed(uploader, "POST", "/v1/objects", manifest.to_bytes())
            .await;
        assert!(status.is_success(), "{body}");
        for shard in segments.iter().flat_map(|s| s.shards.iter()) {
            self.put_shard(uploader, &id, shard).await;
        }
    }

    /// Reads an object back through the relay (any k shards per segment).
    async fn read(&self, manifest: &Manifest, reader: &SecretKey) -> Result<Vec<u8>, String> {
        let id = manifest.object_id().to_string();
        let mut segments = Vec::new();
        for index in 0..manifest.segment_count() {
            let mut shards = Vec::new();
            for shard in manifest.shard_ids(index) {
                let got = self
                    .http
                    .get(format!("{}/v1/objects/{id}/shards/{shard}", self.base))
                    .send()
                    .await
                    .unwrap();
                shards.push(if got.status().is_success() {
                    Some(got.bytes().await.unwrap().to_vec())
                } else {
                    None
                });
            }
            segments.push(shards);
        }
        datahub_core::open_bytes(manifest, &segments, reader)
            .map(|p| p.to_vec())
            .map_err(|e| e.to_string())
    }

    fn stop(&mut self, node: usize) {
        let _ = self.stops[node].take().unwrap().send(());
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

async fn corrupt_shards_are_audited_down_and_repaired(backend: Backend) {
    let net = Network::start(&backend, 6).await;
    wait_for_nodes(&net, 6).await;
    let reader = key("reader");
    let data = random_data(200_000);
    let (manifest, segments) = seal(&data, &reader);
    net.upload(&key("uploader"), &manifest, &segments).await;
    // Flip a byte in every shard file of node 0, on disk.
    let mut flipped = 0;
    for entry in walk(&net._dir.path().join("node-0").join("shards")) {
        let mut bytes = std::fs::read(&entry).unwrap();
        bytes[0] ^= 0x55;
        std::fs::write(&entry, bytes).unwrap();
        flipped += 1;
    }
    assert!(flipped > 0);
    let mut failed = 0;
    for _ in 0..20 {
        let (_, f) = datahub_relay::maintenance::audit_round(&net.relay)
            .await
            .unwrap();
        failed += f;
        if failed > 0 {
            break;
        }
    }
    assert!(failed > 0, "the corrupt node failed an audit");
    let (at_risk, rebuilt) = datahub_relay::maintenance::repair_round(&net.relay)
        .await
        .unwrap();
    assert!(
        at_risk >= 1 && rebuilt >= 1,
        "{at_risk} at risk, {rebuilt} rebuilt"
    );
    let nodes = net.get_json("/v1/nodes").await;
    let worst = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["reputation"].as_i64().unwrap())
        .min()
        .unwrap();
    assert!(worst < 100, "{nodes}");
    assert_eq!(net.read(&manifest, &reader).await.unwrap(), data);
}

async fn dead_nodes_are_repaired_around_then_more_can_die(backend: Backend) {
    let mut net = Network::start_with(&backend, 8, 2).await;
    wait_for_nodes(&net, 8).await;
    let reader = key("reader");
    let data = random_data(150_000);
    let (manifest, segments) = seal(&data, &reader);
    net.upload(&key("uploader"), &manifest, &segments).await;
    net.stop(0);
    net.stop(1);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(
        net.read(&manifest, &reader).await.unwrap(),
        data,
        "readable with m nodes dead"
    );
    let (at_risk, rebuilt) = datahub_relay::maintenance::repair_round(&net.relay)
        .await
        .unwrap();
    assert!(
        at_risk > 0 && rebuilt > 0,
        "{at_risk} at risk, {rebuilt} rebuilt"
    );
    let (at_risk, _) = datahub_relay::maintenance::repair_round(&net.relay)
        .await
        .unwrap();
    assert_eq!(at_risk, 0, "everything repaired");
    net.stop(2);
    net.stop(3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        net.read(&manifest, &reader).await.unwrap(),
        data,
        "readable after m more died"
    );
}

/// A repair that finds no node with room for a rebuilt shard leaves its position marked lost,
/// so a later round, once a node with room has joined, places it. (Before, the position was
/// left unplaced, no round counted it at risk, and the object stayed a shard short for good.)
async fn a_repair_that_finds_no_room_is_tried_again(backend: Backend) {
    let mut net = Network::start_with(&backend, 0, 2).await;
    // Room for one ~15 KB shard each, and no more.
    for i in 0..6 {
        net.start_node_with(i, &["--capacity", "20000"]).await;
    }
    wait_for_nodes(&net, 6).await;
    let reader = key("reader");
    let data = random_data(60_000);
    let (manifest, segments) = seal(&data, &reader);
    net.upload(&key("uploader"), &manifest, &segments).await;
    net.stop(0);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(repair_round(&net).await, (1, 0), "no live node has room");
    assert_eq!(
        repair_round(&net).await,
        (1, 0),
        "the lost shard is still at risk"
    );
    net.start_node_with(6, &[]).await;
    wait_for_alive(&net, 6).await;
    assert_eq!(
        repair_round(&net).await,
        (1, 1),
        "placed on the node with room"
    );
    assert_eq!(repair_round(&net).await.0, 0, "nothing at risk any more");
    assert_eq!(net.read(&manifest, &reader).await.unwrap(), data);
}

async fn repair_round(net: &Network) -> (i64, u64) {
    datahub_relay::maintenance::repair_round(&net.relay)
        .await
        .unwrap()
}

/// Every segment has all its `k + m` shards on live nodes; the only segments at risk are those
/// with two on one node (reduced redundancy).
fn assert_nothing_missing(status: &Value) {
    for segment in status["segments"].as_array().unwrap() {
        assert_eq!(segment["healthy"], 6, "{segment}");
    }
    assert_eq!(status["at_risk"], status["reduced"], "{status}");
}

/// Waits until the relay lists `want` live nodes.
async fn wait_for_alive(net: &Network, want: usize) {
    for _ in 0..200 {
        let nodes = net.get_json("/v1/nodes").await;
        let alive = nodes["nodes"]
            .as_array()
            .map_or(0, |l| l.iter().filter(|n| n["alive"] == true).count());
        if alive >= want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{want} nodes did not come alive");
}

/// Issue 23.7: a node dies and repair, with five nodes for six shards, puts two shards of each
/// segment on one node. Status says so (reduced redundancy, counted at risk, one node loss
/// survivable instead of two); once the node comes back and another joins, repair spreads every
/// segment over six distinct nodes again.
async fn shards_bunched_by_a_repair_spread_again(backend: Backend) {
    let mut net = Network::start_with(&backend, 6, 2).await;
    wait_for_alive(&net, 6).await;
    let reader = key("reader");
    let data = random_data(150_000);
    let (manifest, segments) = seal(&data, &reader);
    net.upload(&key("uploader"), &manifest, &segments).await;
    let id = manifest.object_id();
    let status = net.get_json(&format!("/v1/objects/{id}/status")).await;
    assert_eq!(status["at_risk"], 0, "{status}");
    for segment in status["segments"].as_array().unwrap() {
        assert_eq!(
            (&segment["state"], &segment["nodes"], &segment["survives"]),
            (&Value::from("ok"), &Value::from(6), &Value::from(2)),
            "{segment}"
        );
    }

    net.stop(0);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let (at_risk, rebuilt) = datahub_relay::maintenance::repair_round(&net.relay)
        .await
        .unwrap();
    assert!(
        at_risk > 0 && rebuilt > 0,
        "{at_risk} at risk, {rebuilt} rebuilt"
    );
    let status = net.get_json(&format!("/v1/objects/{id}/status")).await;
    let count = segments.len();
    assert_eq!(
        (&status["at_risk"], &status["reduced"]),
        (&Value::from(count), &Value::from(count)),
        "{status}"
    );
    for segment in status["segments"].as_array().unwrap() {
        assert_eq!(
            (
                &segment["state"],
                &segment["healthy"],
                &segment["nodes"],
                &segment["survives"]
            ),
            (
                &Value::from("reduced"),
                &Value::from(6),
                &Value::from(5),
                &Value::from(1)
            ),
            "{segment}"
        );
    }
    // Nothing better exists yet: repair has nothing to do and moves nothing.
    let (at_risk, moved) = datahub_relay::maintenance::repair_round(&net.relay)
        .await
        .unwrap();
    assert_eq!((at_risk, moved), (0, 0));

    net.start_node(0).await;
    net.start_node(6).await;
    wait_for_alive(&net, 7).await;
    let (at_risk, moved) = datahub_relay::maintenance::repair_round(&net.relay)
        .await
        .unwrap();
    assert!(
        at_risk > 0 && moved >= count as u64,
        "{at_risk} to spread, {moved} moved"
    );
    let status = net.get_json(&format!("/v1/objects/{id}/status")).await;
    assert_eq!(
        (&status["at_risk"], &status["reduced"]),
        (&Value::from(0), &Value::from(0)),
        "{status}"
    );
    for segment in status["segments"].as_array().unwrap() {
        let mut nodes: Vec<&str> = segment["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["node"].as_str().unwrap())
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        assert_eq!(nodes.len(), 6, "{segment}");
        assert_eq!(segment["state"], "ok", "{segment}");
    }
    let (at_risk, _) = datahub_relay::maintenance::repair_round(&net.relay)
        .await
        .unwrap();
    assert_eq!(at_risk, 0, "nothing left to spread");
    assert_eq!(net.read(&manifest, &reader).await.unwrap(), data);
}

/// Issue 18: audits are proportional to what a node holds (`storage.audit_share` of its shards
/// per round, rounded up): with a share of one half, a node holding five shards is asked about
/// three of them each round; with a share of one, every shard is asked about, so a node that
/// silently dropped one is found in the first round.
async fn audits_are_proportional_to_what_a_node_holds(backend: Backend) {
    let net = Network::start_tweaked(&backend, 6, |c| c.storage.audit_share = 0.5).await;
    wait_for_alive(&net, 6).await;
    let (manifest, segments) = seal(&random_data(300_000), &key("reader"));
    net.upload(&key("uploader"), &manifest, &segments).await;
    let held = segments.len() as u64;
    assert_eq!(held, 5, "one shard of each segment on each node");
    let (passed, failed) = datahub_relay::maintenance::audit_round(&net.relay)
        .await
        .unwrap();
    assert_eq!((passed, failed), (6 * 3, 0));

    // A network auditing every shard each round: one shard thrown away is found at once.
    let net = Network::start_tweaked(&backend, 6, |c| c.storage.audit_share = 1.0).await;
    wait_for_alive(&net, 6).await;
    let (manifest, segments) = seal(&random_data(300_000), &key("reader"));
    net.upload(&key("uploader"), &manifest, &segments).await;
    let dropped = walk(&net._dir.path().join("node-2").join("shards"))
        .into_iter()
        .next()
        .unwrap();
    std::fs::remove_file(&dropped).unwrap();
    let (passed, failed) = datahub_relay::maintenance::audit_round(&net.relay)
        .await
        .unwrap();
    assert_eq!((passed, failed), (6 * 5 - 1, 1));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.file_name().is_some_and(|n| n.len() == 64) {
            out.push(path);
        }
    }
    out
}

/// Upload campaigns in the requester's results: one record per accepted upload, with its object
/// id and uploader, all of an item's uploads in one page.
async fn accepted_uploads_are_results(backend: Backend) {
    use datahub_core::eth::{SubmissionReceipt, TypedStruct, U256, keccak256};
    use serde_json::json;
    let net = Network::start(&backend, 6).await;
    wait_for_nodes(&net, 6).await;
    let owner = key("owner");
    let mut spec = campaign_spec("photos", &owner, 2, 2, "1");
    spec["kind"] = json!("image_upload");
    spec["items"] = json!([{ "prompt": "a cat" }, { "prompt": "a dog" }]);
    let api = Net::http(&net.base, tempfile::tempdir().unwrap()).await;
    let (status, created) = api.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let mut uploaded = Vec::new();
    for name in ["u0", "u1", "u2"] {
        let mut worker = Worker::sign_in(&api, name).await;
        let (status, task) = worker.next(&api, "photos").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        let (manifest, segments) = seal(&random_data(70_000), &owner);
        net.upload(&worker.wallet, &manifest, &segments).await;
        let object = manifest.object_id().to_string();
        let answer = json!({ "object": object }).to_string();
        worker.nonce += 1;
        let receipt = SubmissionReceipt {
            campaign: "photos".into(),
            task: task["lease"].as_str().unwrap().into(),
            answer_hash: keccak256(answer.as_bytes()),
            manifest_id: manifest.object_id().0,
            nonce: U256::from_u64(worker.nonce),
            deadline: u64::try_from(datahub_relay::clock::now_ms() / 1000 + 600).unwrap(),
            licence: String::new(),
            terms_hash: [0; 32],
        };
        let signature = receipt.sign(&worker.session_key, &domain(&api));
        let body = json!({
            "campaign": "photos", "task": receipt.task, "answer": answer, "manifest_id": object,
            "nonce": worker.nonce.to_string(), "deadline": receipt.deadline, "signature": signature.to_hex(),
        });
        let (status, outcome) = worker.submit(&api, &body).await;
        assert_eq!(
            (status, outcome["status"].as_str()),
            (StatusCode::OK, Some("accepted")),
            "{outcome}"
        );
        uploaded.push((
            task["item"]["prompt"].as_str().unwrap().to_owned(),
            object,
            worker.address(),
        ));
    }
    let (status, page) = net
        .signed(
            &owner,
            "GET",
            "/v1/campaigns/photos/results?limit=1",
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let records = page["records"].as_array().unwrap();
    // Item 0 had both of its uploads; the page holds both though the limit is one item.
    assert_eq!(records.len(), 2, "{page}");
    assert_eq!(page["next"], 0);
    for record in records {
        assert_eq!(record["index"], 0);
        assert_eq!(record["method"], "upload");
        let object = record["object"].as_str().unwrap();
        let (prompt, _, uploader) = uploaded.iter().find(|(_, o, _)| o == object).unwrap();
        assert_eq!(record["item"]["prompt"], prompt.as_str());
        assert_eq!(record["answer"]["object"], object);
        let address = format!("0x{}", hex::encode(uploader.as_bytes()));
        assert_eq!(record["contributors"], json!([address]));
    }
    let (_, rest) = net
        .signed(
            &owner,
            "GET",
            "/v1/campaigns/photos/results?after=0",
            Vec::new(),
        )
        .await;
    assert_eq!(rest["records"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["records"][0]["index"], 1);
    assert_eq!(rest["next"], Value::Null);
}

/// The attack of issue 17: one complete object submitted again by its uploader, then by a second
/// wallet, was paid all three times. An upload is paid to the wallet that uploaded it, once.
async fn an_upload_is_paid_once_to_its_uploader(backend: Backend) {
    use datahub_core::eth::{SubmissionReceipt, TypedStruct, U256, keccak256};
    use serde_json::json;
    let net = Network::start(&backend, 6).await;
    wait_for_nodes(&net, 6).await;
    let owner = key("owner");
    let mut spec = campaign_spec("snaps", &owner, 3, 1, "1");
    spec["kind"] = json!("image_upload");
    spec["items"] = json!([{ "prompt": "a cat" }, { "prompt": "a dog" }, { "prompt": "a cow" }]);
    let api = Net::http(&net.base, tempfile::tempdir().unwrap()).await;
    let (status, created) = api.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (manifest, segments) = seal(&random_data(70_000), &owner);
    let object = manifest.object_id().to_string();
    let submit = |worker: &mut Worker, task: &Value| {
        let answer = json!({ "object": object }).to_string();
        worker.nonce += 1;
        let receipt = SubmissionReceipt {
            campaign: "snaps".into(),
            task: task["lease"].as_str().unwrap().into(),
            answer_hash: keccak256(answer.as_bytes()),
            manifest_id: manifest.object_id().0,
            nonce: U256::from_u64(worker.nonce),
            deadline: u64::try_from(datahub_relay::clock::now_ms() / 1000 + 600).unwrap(),
            licence: String::new(),
            terms_hash: [0; 32],
        };
        let signature = receipt.sign(&worker.session_key, &domain(&api));
        json!({
            "campaign": "snaps", "task": receipt.task, "answer": answer, "manifest_id": object,
            "nonce": worker.nonce.to_string(), "deadline": receipt.deadline, "signature": signature.to_hex(),
        })
    };
    let mut uploader = Worker::sign_in(&api, "up").await;
    net.upload(&uploader.wallet, &manifest, &segments).await;
    let (status, task) = uploader.next(&api, "snaps").await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let body = submit(&mut uploader, &task);
    let (status, outcome) = uploader.submit(&api, &body).await;
    assert_eq!(
        (status, outcome["status"].as_str()),
        (StatusCode::OK, Some("accepted")),
        "{outcome}"
    );

    // The same object again, by its uploader, for another item: refused.
    let (status, task) = uploader.next(&api, "snaps").await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let body = submit(&mut uploader, &task);
    let (status, outcome) = uploader.submit(&api, &body).await;
    assert_eq!(
        (status, outcome["error"].as_str()),
        (StatusCode::CONFLICT, Some("object_already_submitted")),
        "{outcome}"
    );

    // The same object by a second wallet, which even uploads it again itself: refused.
    let mut other = Worker::sign_in(&api, "other").await;
    net.upload(&other.wallet, &manifest, &segments).await;
    let (status, task) = other.next(&api, "snaps").await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let body = submit(&mut other, &task);
    let (status, outcome) = other.submit(&api, &body).await;
    assert_eq!(
        (status, outcome["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_your_upload")),
        "{outcome}"
    );

    // Paid once: the uploader's balance is one reward, the other wallet's nothing.
    let (_, mine) = api.get("/v1/me/balances", Some(&uploader.token)).await;
    assert_eq!(mine["balances"][0]["amount"], "0.05", "one reward: {mine}");
    let (_, theirs) = api.get("/v1/me/balances", Some(&other.token)).await;
    assert!(
        theirs["balances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["amount"] == "0"),
        "{theirs}"
    );
}

/// Each test on SQLite, and on PostgreSQL when the test command started one.
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

/// A node that stores what it is sent but answers with other bytes: flipped shards and proofs
/// of the flipped bytes. It registers and heartbeats like an honest one.
async fn start_lying_node(net: &Network) -> String {
    use axum::extract::{Path, State};
    use axum::routing::{get, put};
    type Shards = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>;
    fn flipped(shards: &Shards, id: &str) -> Option<Vec<u8>> {
        let mut bytes = shards.lock().unwrap().get(id)?.clone();
        if let Some(b) = bytes.first_mut() {
            *b ^= 1;
        }
        Some(bytes)
    }
    let shards: Shards = Default::default();
    let app = axum::Router::new()
        .route(
            "/v1/shards/{id}",
            put(|State(s): State<Shards>, Path(id): Path<String>, body: axum::body::Bytes| async move {
                s.lock().unwrap().insert(id, body.to_vec());
                StatusCode::CREATED
            })
            .get(|State(s): State<Shards>, Path(id): Path<String>| async move {
                flipped(&s, &id).ok_or(StatusCode::NOT_FOUND)
            }),
        )
        .route(
            "/v1/shards/{id}/proof",
            get(|State(s): State<Shards>, Path(id): Path<String>, axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, u64>>| async move {
                let bytes = flipped(&s, &id).ok_or(StatusCode::NOT_FOUND)?;
                let proof = datahub_core::proof::RangeProof::build(&bytes, q["offset"], q["len"]).map_err(|_| StatusCode::BAD_REQUEST)?;
                Ok::<_, StatusCode>(proof.to_bytes())
            }),
        )
        .with_state(shards);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let key = key("liar");
    let liar = key.public_key().address();
    let register = serde_json::json!({ "endpoint": endpoint, "region": "nowhere", "capacity": 1u64 << 34, "used": 0 });
    let (status, body) = net
        .signed(
            &key,
            "POST",
            "/v1/nodes/register",
            register.to_string().into_bytes(),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (base, http, relay_address) = (net.base.clone(), net.http.clone(), net.relay_address);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let body = br#"{"used":0,"capacity":17179869184,"shards":0}"#.to_vec();
            let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
            let sig = request::sign_request(
                &key,
                "POST",
                "/v1/nodes/heartbeat",
                &body,
                now,
                &relay_address,
            );
            let _ = http
                .post(format!("{base}/v1/nodes/heartbeat"))
                .header(request::TIME_HEADER, now.unix_millis().to_string())
                .header(request::SIGNATURE_HEADER, sig.to_hex())
                .body(body)
                .send()
                .await;
        }
    });
    datahub_relay::auth::db_address(&liar)
}

async fn a_lying_node_is_caught_and_audited_down(backend: Backend) {
    let net = Network::start(&backend, 5).await;
    wait_for_nodes(&net, 5).await;
    let liar = start_lying_node(&net).await;
    let reader = key("reader");
    // Seven segments: the liar holds one shard of each (six positions, six nodes).
    let data = random_data(420_000);
    let (manifest, segments) = seal(&data, &reader);
    net.upload(&key("uploader"), &manifest, &segments).await;
    let status = net
        .get_json(&format!("/v1/objects/{}/status", manifest.object_id()))
        .await;
    assert!(
        status.to_string().matches(&liar).count() >= 3,
        "the liar holds shards: {status}"
    );
    // Its bytes never pass the hash check: reads skip them and still come back right.
    assert_eq!(net.read(&manifest, &reader).await.unwrap(), data);
    // Each audit round catches it; three take it below the reputation to get new shards.
    for _ in 0..3 {
        datahub_relay::maintenance::audit_round(&net.relay)
            .await
            .unwrap();
    }
    let nodes = net.get_json("/v1/nodes").await;
    let entry = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["address"] == liar)
        .unwrap()
        .clone();
    assert!(
        entry["reputation"].as_i64().unwrap() < datahub_relay::storage::MIN_REPUTATION,
        "{entry}"
    );
    let (manifest2, segments2) = seal(&random_data(50_000), &reader);
    net.upload(&key("uploader"), &manifest2, &segments2).await;
    let status = net
        .get_json(&format!("/v1/objects/{}/status", manifest2.object_id()))
        .await;
    assert!(
        !status.to_string().contains(&liar),
        "no new shards for the liar: {status}"
    );
    // Repair moves what it held to honest nodes.
    let (_, rebuilt) = datahub_relay::maintenance::repair_round(&net.relay)
        .await
        .unwrap();
    assert!(rebuilt > 0);
    let status = net
        .get_json(&format!("/v1/objects/{}/status", manifest.object_id()))
        .await;
    // Five honest nodes for six shards: nothing is missing, some segments are bunched.
    assert_nothing_missing(&status);
}

/// What a hostile node does (see [`start_hostile_node`]). Each stores what it is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hostile {
    /// Answers every GET with a redirect to `target`.
    Redirect,
    /// Serves shards but answers every audit with 503, as a node that threw its shards away and
    /// hides it would.
    Audit503,
    /// Proves it holds shards (audits pass) but serves garbage of the right length on GET.
    GarbageOnGet,
    /// Answers GET with a body that never ends (cut at 64 MiB so a broken relay fails the test
    /// rather than the machine).
    Endless,
    /// Takes PUTs and never answers until `release` is set, then answers 500 at once.
    HangPuts,
}

/// A hostile node, registered (and heartbeating) with `net`'s relay as `label`; its address,
/// the count of body bytes it sent, and a switch (for `HangPuts`: stop hanging).
async fn start_hostile_node(
    net: &Network,
    label: &str,
    behaviour: Hostile,
    target: &str,
) -> (
    String,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, Query, State};
    use axum::response::IntoResponse;
    use axum::routing::{get, put};
    #[derive(Clone)]
    struct St {
        shards: Arc<Mutex<HashMap<String, Vec<u8>>>>,
        behaviour: Hostile,
        target: String,
        sent: Arc<AtomicU64>,
        release: Arc<AtomicBool>,
    }
    let st = St {
        shards: Default::default(),
        behaviour,
        target: target.to_owned(),
        sent: Arc::default(),
        release: Arc::default(),
    };
    let (sent, release) = (st.sent.clone(), st.release.clone());
    let app = axum::Router::new()
        .route(
            "/v1/shards/{id}",
            put(
                |State(s): State<St>, Path(id): Path<String>, body: axum::body::Bytes| async move {
                    if s.behaviour == Hostile::HangPuts {
                        while !s.release.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    s.shards.lock().unwrap().insert(id, body.to_vec());
                    StatusCode::CREATED
                },
            )
            .get(|State(s): State<St>, Path(id): Path<String>| async move {
                let Some(bytes) = s.shards.lock().unwrap().get(&id).cloned() else {
                    return StatusCode::NOT_FOUND.into_response();
                };
                match s.behaviour {
                    Hostile::Redirect => (
                        StatusCode::TEMPORARY_REDIRECT,
                        [(axum::http::header::LOCATION, s.target.clone())],
                    )
                        .into_response(),
                    Hostile::GarbageOnGet => random_data(bytes.len()).into_response(),
                    Hostile::Endless => {
                        let sent = s.sent.clone();
                        let chunks = futures_util::stream::unfold(0u64, move |n| {
                            let sent = sent.clone();
                            async move {
                                if n >= 1024 {
                                    return None;
                                }
                                sent.fetch_add(64 * 1024, Ordering::Relaxed);
                                Some((Ok::<_, std::io::Error>(vec![7u8; 64 * 1024]), n + 1))
                            }
                        });
                        axum::body::Body::from_stream(chunks).into_response()
                    }
                    _ => bytes.into_response(),
                }
            }),
        )
        .route(
            "/v1/shards/{id}/proof",
            get(
                |State(s): State<St>,
                 Path(id): Path<String>,
                 Query(q): Query<HashMap<String, u64>>| async move {
                    if s.behaviour == Hostile::Audit503 {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    let Some(bytes) = s.shards.lock().unwrap().get(&id).cloned() else {
                        return StatusCode::NOT_FOUND.into_response();
                    };
                    match datahub_core::proof::RangeProof::build(&bytes, q["offset"], q["len"]) {
                        Ok(proof) => proof.to_bytes().into_response(),
                        Err(_) => StatusCode::BAD_REQUEST.into_response(),
                    }
                },
            ),
        )
        .with_state(st);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let key = key(label);
    let address = key.public_key().address();
    // A large claimed disk, so placement picks it (up to the relay's cap).
    let register = serde_json::json!({ "endpoint": endpoint, "region": label, "capacity": 1u64 << 40, "used": 0 });
    let (status, body) = net
        .signed(
            &key,
            "POST",
            "/v1/nodes/register",
            register.to_string().into_bytes(),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (base, http, relay_address) = (net.base.clone(), net.http.clone(), net.relay_address);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let body = br#"{"used":0,"capacity":1099511627776,"shards":0}"#.to_vec();
            let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
            let sig = request::sign_request(
                &key,
                "POST",
                "/v1/nodes/heartbeat",
                &body,
                now,
                &relay_address,
            );
            let _ = http
                .post(format!("{base}/v1/nodes/heartbeat"))
                .header(request::TIME_HEADER, now.unix_millis().to_string())
                .header(request::SIGNATURE_HEADER, sig.to_hex())
                .body(body)
                .send()
                .await;
        }
    });
    (datahub_relay::auth::db_address(&address), sent, release)
}

/// The node holding `shard`'s first position, per the object's status.
fn holder_of(status: &Value, node: &str) -> Vec<String> {
    status["segments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["shards"].as_array().unwrap().iter())
        .filter(|s| s["node"] == node)
        .map(|s| s["shard"].as_str().unwrap().to_owned())
        .collect()
}

async fn node_entry(net: &Network, address: &str) -> Value {
    net.get_json("/v1/nodes").await["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["address"] == address)
        .cloned()
        .unwrap_or(Value::Null)
}

/// On a public relay (no private nodes allowed) a node endpoint that points into the relay's own
/// network — the cloud metadata service, loopback, a private range — is refused at
/// registration: the relay would otherwise fetch it (SSRF).
async fn private_and_metadata_endpoints_are_refused(backend: Backend) {
    let net = Network::start_tweaked(&backend, 0, |c| {
        c.storage.allow_private_nodes = false;
    })
    .await;
    let node = key("ssrf");
    for endpoint in [
        "http://169.254.169.254/latest/meta-data#",
        "http://169.254.169.254",
        "http://[fd00:ec2::254]",
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://10.0.0.1",
        "http://user@8.8.8.8",
        "http://8.8.8.8/admin",
        "http://8.8.8.8?x=1",
    ] {
        let body = serde_json::json!({ "endpoint": endpoint, "region": "eu", "capacity": 1000, "used": 0 });
        let (status, answer) = net
            .signed(
                &node,
                "POST",
                "/v1/nodes/register",
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{endpoint}: {answer}"
        );
        assert_eq!(answer["error"], "invalid_endpoint", "{answer}");
    }
    assert_eq!(nodes_count(net.get_json("/v1/nodes").await), 0);
}

/// With admission closed, a node must be admitted by an operator before it registers; the
/// operator's region is recorded (not the node's), a claimed capacity is capped, and a revoked
/// node is refused and taken out of placement.
async fn nodes_are_admitted_by_an_operator(backend: Backend) {
    let operator = key("operator");
    let op = operator.public_key().address().to_checksum();
    let net = Network::start_tweaked(&backend, 0, move |c| {
        c.storage.open_admission = false;
        c.storage.max_node_capacity = 1 << 30;
        c.operators = vec![op];
    })
    .await;
    let node = key("new node");
    let node_address = node.public_key().address();
    let register = serde_json::json!({ "endpoint": "http://127.0.0.1:9", "region": "claims-eu", "capacity": u64::MAX, "used": 0 });
    let register = register.to_string().into_bytes();
    let (status, answer) = net
        .signed(&node, "POST", "/v1/nodes/register", register.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["error"], "not_admitted");
    let admit = serde_json::json!({ "address": node_address.to_checksum(), "region": "rack-7" });
    let admit = admit.to_string().into_bytes();
    // A node cannot admit itself.
    let (status, answer) = net
        .signed(&node, "POST", "/v1/nodes/admit", admit.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["error"], "not_operator");
    let (status, answer) = net
        .signed(&operator, "POST", "/v1/nodes/admit", admit)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = net
        .signed(&node, "POST", "/v1/nodes/register", register)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let entry = node_entry(&net, &datahub_relay::auth::db_address(&node_address)).await;
    assert_eq!(entry["region"], "rack-7", "{entry}");
    assert_eq!(entry["capacity"], 1 << 30, "{entry}");
    let revoke = serde_json::json!({ "address": node_address.to_checksum(), "region": "rack-7", "admitted": false });
    let (status, answer) = net
        .signed(
            &operator,
            "POST",
            "/v1/nodes/admit",
            revoke.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let beat = br#"{"used":0,"capacity":1,"shards":0}"#.to_vec();
    let (status, answer) = net.signed(&node, "POST", "/v1/nodes/heartbeat", beat).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let entry = node_entry(&net, &datahub_relay::auth::db_address(&node_address)).await;
    assert!(
        entry["reputation"].as_i64().unwrap() < datahub_relay::storage::MIN_REPUTATION,
        "{entry}"
    );
}

/// A node that answers with a redirect does not make the relay follow it (to the metadata
/// service, say): the shard is read from other holders or not at all.
async fn a_redirecting_node_is_not_followed(backend: Backend) {
    let net = Network::start(&backend, 5).await;
    wait_for_nodes(&net, 5).await;
    // Where the redirect points: a server that counts hits.
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = hits.clone();
    let inner = axum::Router::new().fallback(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async { "secret" }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/latest/meta-data", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, inner).await });
    let (node, _, _) = start_hostile_node(&net, "redirector", Hostile::Redirect, &target).await;
    let reader = key("reader");
    let (manifest, segments) = seal(&random_data(100_000), &reader);
    net.upload(&key("uploader"), &manifest, &segments).await;
    let id = manifest.object_id();
    let status = net.get_json(&format!("/v1/objects/{id}/status")).await;
    let held = holder_of(&status, &node);
    assert!(!held.is_empty(), "the redirector holds shards: {status}");
    for shard in &held {
        let got = net
            .http
            .get(format!("{}/v1/objects/{id}/shards/{shard}", net.base))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), reqwest::StatusCode::BAD_GATEWAY);
    }
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "the relay followed a redirect"
    );
}

/// A node that answers with an endless body is cut off after the shard's length: the relay's
/// memory is not the node's to fill.
async fn an_endless_body_is_cut_off(backend: Backend) {
    let net = Network::start(&backend, 5).await;
    wait_for_nodes(&net, 5).await;
    let (node, sent, _) = start_hostile_node(&net, "endless", Hostile::Endless, "").await;
    let (manifest, segments) = seal(&random_data(100_000), &key("reader"));
    net.upload(&key("uploader"), &manifest, &segments).await;
    let id = manifest.object_id();
    let status = net.get_json(&format!("/v1/objects/{id}/status")).await;
    let held = holder_of(&status, &node);
    assert!(!held.is_empty(), "{status}");
    let started = std::time::Instant::now();
    let got = net
        .http
        .get(format!("{}/v1/objects/{id}/shards/{}", net.base, held[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), reqwest::StatusCode::BAD_GATEWAY);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The shards are 16 KiB; what the relay took is that plus socket buffers, not 64 MiB.
    let taken = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        taken < 16 * 1024 * 1024,
        "the relay read {taken} bytes of an endless body"
    );
}

/// A node that keeps answering audits with 503 (it threw the shards away and hides it) is
/// judged failing after the grace period, drops out of placement, and its shards are rebuilt
/// elsewhere.
async fn a_node_failing_audits_with_503_is_repaired_around(backend: Backend) {
    let net = Network::start_tweaked(&backend, 5, |c| c.storage.audit_grace_secs = 0).await;
    wait_for_nodes(&net, 5).await;
    let (node, _, _) = start_hostile_node(&net, "hider", Hostile::Audit503, "").await;
    let (manifest, segments) = seal(&random_data(300_000), &key("reader"));
    net.upload(&key("uploader"), &manifest, &segments).await;
    let id = manifest.object_id();
    let status = net.get_json(&format!("/v1/objects/{id}/status")).await;
    assert!(!holder_of(&status, &node).is_empty(), "{status}");
    for _ in 0..3 {
        datahub_relay::maintenance::audit_round(&net.relay)
            .await
            .unwrap();
    }
    let entry = node_entry(&net, &node).await;
    assert!(
        entry["reputation"].as_i64().unwrap() < datahub_relay::storage::MIN_REPUTATION,
        "audits answered 503 cost nothing: {entry}"
    );
    let (at_risk, rebuilt) = datahub_relay::maintenance::repair_round(&net.relay)
        .await
        .unwrap();
    assert!(
        at_risk > 0 && rebuilt > 0,
        "{at_risk} at risk, {rebuilt} rebuilt"
    );
    let status = net.get_json(&format!("/v1/objects/{id}/status")).await;
    // Five honest nodes for six shards: nothing is missing, some segments are bunched.
    assert_nothing_missing(&status);
    assert!(holder_of(&status, &node).is_empty(), "{status}");
}

/// Within the grace period a 503 is a bad minute, not a failure.
async fn audit_errors_within_the_grace_period_cost_nothing(backend: Backend) {
    let net = Network::start_tweaked(&backend, 5, |c| c.storage.audit_grace_secs = 3600).await;
    wait_for_nodes(&net, 5).await;
    let (node, _, _) = start_hostile_node(&net, "flaky", Hostile::Audit503, "").await;
    let (manifest, segments) = seal(&random_data(100_000), &key("reader"));
    net.upload(&key("uploader"), &manifest, &segments).await;
    for _ in 0..3 {
        datahub_relay::maintenance::audit_round(&net.relay)
            .await
            .unwrap();
    }
    let entry = node_entry(&net, &node).await;
    assert_eq!(
        entry["reputation"],
        datahub_relay::storage::START_REPUTATION,
        "{entry}"
    );
}

/// A holder that serves garbage when repair fetches from it (while passing audits) does not
/// block repair: its bytes fail the hash check, its copy is marked lost, and the next holder
/// is asked.
async fn garbage_from_a_holder_does_not_block_repair(backend: Backend) {
    let mut net = Network::start_with(&backend, 5, 2).await;
    wait_for_nodes(&net, 5).await;
    let (node, _, _) = start_hostile_node(&net, "garbler", Hostile::GarbageOnGet, "").await;
    let reader = key("reader");
    let data = random_data(300_000);
    let (manifest, segments) = seal(&data, &reader);
    net.upload(&key("uploader"), &manifest, &segments).await;
    let id = manifest.object_id();
    let status = net.get_json(&format!("/v1/objects/{id}/status")).await;
    assert!(!holder_of(&status, &node).is_empty(), "{status}");
    // Audits do not see it: it proves what it holds.
    let (_, failed) = datahub_relay::maintenance::audit_round(&net.relay)
        .await
        .unwrap();
    assert_eq!(failed, 0);
    net.stop(0);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let (at_risk, rebuilt) = datahub_relay::maintenance::repair_round(&net.relay)
        .await
        .unwrap();
    assert!(
        at_risk > 0 && rebuilt > 0,
        "{at_risk} at risk, {rebuilt} rebuilt"
    );
    // Once the garbler is marked down, what it still holds is repaired too.
    let mut at_risk = -1;
    for _ in 0..3 {
        (at_risk, _) = datahub_relay::maintenance::repair_round(&net.relay)
            .await
            .unwrap();
        if at_risk == 0 {
            break;
        }
    }
    assert_eq!(at_risk, 0, "everything repaired");
    let entry = node_entry(&net, &node).await;
    assert!(
        entry["reputation"].as_i64().unwrap() < datahub_relay::storage::START_REPUTATION,
        "{entry}"
    );
    assert_eq!(net.read(&manifest, &reader).await.unwrap(), data);
}

/// A placement cut short by the relay's request timeout (the node did not answer in time, the
/// handler was dropped) is forgotten once older than the timeout, while the relay runs, so
/// the shard can be sent again.
async fn a_placement_cut_short_by_the_request_timeout_is_reaped(backend: Backend) {
    let net = Network::start_tweaked(&backend, 4, |c| {
        c.limits.request_timeout_secs = 3;
        c.storage.node_request_secs = 2;
    })
    .await;
    wait_for_nodes(&net, 4).await;
    let mut releases = Vec::new();
    for i in 0..3 {
        let (_, _, release) =
            start_hostile_node(&net, &format!("hang-{i}"), Hostile::HangPuts, "").await;
        releases.push(release);
    }
    let uploader = key("uploader");
    let (manifest, segments) = seal(&random_data(20_000), &key("reader"));
    let id = manifest.object_id().to_string();
    let (status, body) = net
        .signed(&uploader, "POST", "/v1/objects", manifest.to_bytes())
        .await;
    assert!(status.is_success(), "{body}");
    let shard = &segments[0].shards[0];
    let path = format!("/v1/objects/{id}/shards/{}", shard.id);
    // Hanging nodes, tried one after another, outlast the request: it ends in a timeout.
    let (status, body) = net
        .signed(&uploader, "PUT", &path, shard.bytes.clone())
        .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
    for release in &releases {
        release.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    // Nothing young is reaped.
    let young =
        datahub_relay::storage::forget_stuck_placements(&net.relay, datahub_relay::clock::now_ms())
            .await
            .unwrap();
    assert_eq!(young, 0);
    let later = datahub_relay::clock::now_ms() + 6_000;
    let forgotten = datahub_relay::storage::forget_stuck_placements(&net.relay, later)
        .await
        .unwrap();
    assert_eq!(forgotten, 1, "the cut-short placement");
    for shard in segments.iter().flat_map(|s| s.shards.iter()) {
        net.put_shard(&uploader, &id, shard).await;
    }
    let status = net.get_json(&format!("/v1/objects/{id}/status")).await;
    assert_eq!(status["complete"], true, "{status}");
}

on_both!(
    shards_bunched_by_a_repair_spread_again,
    audits_are_proportional_to_what_a_node_holds,
    private_and_metadata_endpoints_are_refused,
    nodes_are_admitted_by_an_operator,
    a_redirecting_node_is_not_followed,
    an_endless_body_is_cut_off,
    a_node_failing_audits_with_503_is_repaired_around,
    audit_errors_within_the_grace_period_cost_nothing,
    garbage_from_a_holder_does_not_block_repair,
    a_placement_cut_short_by_the_request_timeout_is_reaped,
    a_lying_node_is_caught_and_audited_down,
    objects_are_placed_across_nodes_and_read_back,
    upload_goes_on_when_a_node_stops,
    corrupt_shards_are_audited_down_and_repaired,
    dead_nodes_are_repaired_around_then_more_can_die,
    a_repair_that_finds_no_room_is_tried_again,
    accepted_uploads_are_results,
    an_upload_is_paid_once_to_its_uploader,
    a_placement_left_unfinished_by_a_crash_is_forgotten_at_start,
    bad_registrations_are_refused
);
