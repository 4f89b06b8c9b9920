//! The real `datahub-node` binary as a process on loopback.
//!
//! The relay is not built yet, so a tiny axum server here stands in for it, **for the
//! registration handshake only**: it serves `GET /v1/info` and records the signed
//! `register`/`heartbeat` calls after checking their signatures with the same scheme the relay
//! uses. The writes the node receives are signed with the stand-in relay's key.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use datahub_core::eth::Timestamp;
use datahub_core::request::{
    DEFAULT_MAX_SKEW_MS, SIGNATURE_HEADER, TIME_HEADER, sign_request, verify_request,
};
use datahub_core::{Address, SecretKey, ShardId, proof};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Debug, Clone)]
struct Call {
    path: String,
    signer: Address,
    body: serde_json::Value,
}

#[derive(Clone)]
struct FakeRelay {
    key: Arc<SecretKey>,
    calls: Arc<Mutex<Vec<Call>>>,
}

fn now() -> Timestamp {
    datahub_node::api::system_now()
}

async fn record(
    State(relay): State<FakeRelay>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let path = uri.path().to_owned();
    let Ok(signer) = verify_request(
        "POST",
        &path,
        &body,
        &header(TIME_HEADER),
        &header(SIGNATURE_HEADER),
        &relay.key.address(),
        now(),
        DEFAULT_MAX_SKEW_MS,
    ) else {
        return StatusCode::UNAUTHORIZED;
    };
    let Ok(body) = serde_json::from_slice(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    relay
        .calls
        .lock()
        .unwrap()
        .push(Call { path, signer, body });
    StatusCode::OK
}

async fn start_fake_relay(listener: tokio::net::TcpListener) -> FakeRelay {
    let relay = FakeRelay {
        key: Arc::new(SecretKey::derive(&[42; 32])),
        calls: Arc::default(),
    };
    let info = serde_json::json!({ "relay_address": relay.key.address().to_checksum() });
    let app = Router::new()
        .route("/v1/info", get(move || async move { axum::Json(info) }))
        .route("/v1/nodes/register", post(record))
        .route("/v1/nodes/heartbeat", post(record))
        .with_state(relay.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    relay
}

struct Running {
    child: Child,
    url: String,
    address: Address,
}

async fn start_node(relay: &str, data: &std::path::Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_datahub-node"))
        .args([
            "--relay",
            relay,
            "--region",
            "test-1",
            "--heartbeat-secs",
            "1",
            // Well below any test machine's free disk: the node offers the smaller of the two,
            // so the default 10 GiB made this test depend on the machine's free space.
            "--capacity",
            "67108864",
        ])
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the node printed its line in time")
        .unwrap()
        .expect("a line on stdout");
    // datahub-node listening on http://ADDR address 0x…
    let words: Vec<&str> = line.split(' ').collect();
    assert_eq!(words[..3], ["datahub-node", "listening", "on"], "{line}");
    assert_eq!(words[4], "address", "{line}");
    Running {
        url: words[3].to_owned(),
        address: Address::parse_checksummed(words[5]).unwrap(),
        child,
    }
}

async fn wait_for(relay: &FakeRelay, path: &str, count: usize) -> Vec<Call> {
    for _ in 0..300 {
        let calls: Vec<Call> = relay
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.path == path)
            .cloned()
            .collect();
        if calls.len() >= count {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {count} calls to {path} in time");
}

async fn terminate(mut running: Running) {
    let pid = running.child.id().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), running.child.wait())
        .await
        .expect("the node stops on SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_serves_signed_writes_and_restarts_with_its_key() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_url = format!("http://{}", listener.local_addr().unwrap());
    let relay = start_fake_relay(listener).await;
    let data = tempfile::tempdir().unwrap();
    let node = start_node(&relay_url, data.path()).await;

    let registered = wait_for(&relay, "/v1/nodes/register", 1).await;
    let call = &registered[0];
    assert_eq!(call.signer, node.address);
    assert_eq!(call.body["endpoint"], node.url.as_str());
    assert_eq!(call.body["region"], "test-1");
    assert_eq!(call.body["capacity"], 64u64 << 20);
    assert_eq!(call.body["used"], 0);
    let beats = wait_for(&relay, "/v1/nodes/heartbeat", 1).await;
    assert_eq!(beats[0].signer, node.address);
    assert_eq!(beats[0].body["shards"], 0);

    // A write signed by the relay, for this node.
    let http = reqwest::Client::new();
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let id = ShardId::of(&bytes);
    let path = format!("/v1/shards/{id}");
    let time = now();
    let signature = sign_request(&relay.key, "PUT", &path, &bytes, time, &node.address);
    let put = http
        .put(format!("{}{path}", node.url))
        .header(TIME_HEADER, time.unix_millis().to_string())
        .header(SIGNATURE_HEADER, signature.to_hex())
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    // The same write signed by someone else is refused.
    let stranger = SecretKey::derive(&[7; 32]);
    let signature = sign_request(&stranger, "DELETE", &path, b"", time, &node.address);
    let delete = http
        .delete(format!("{}{path}", node.url))
        .header(TIME_HEADER, time.unix_millis().to_string())
        .header(SIGNATURE_HEADER, signature.to_hex())
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 403);

    let proof = http
        .get(format!("{}{path}/proof?offset=50000&len=4096", node.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        proof::verify(&id, 100_000, 50_000, 4096, &proof).unwrap(),
        &bytes[50_000..54_096]
    );

    // Heartbeats report the shard.
    let mut reported = false;
    for _ in 0..50 {
        let beats = wait_for(&relay, "/v1/nodes/heartbeat", 1).await;
        if beats.last().unwrap().body["shards"] == 1 {
            assert_eq!(beats.last().unwrap().body["used"], 100_000);
            reported = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(reported);

    // The key is the owner's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.path().join("node.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let address = node.address;
    terminate(node).await;

    // Restarted on the same folder: same key, same shards.
    let node = start_node(&relay_url, data.path()).await;
    assert_eq!(node.address, address);
    let got = http
        .get(format!("{}{path}", node.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got, bytes);
    terminate(node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_a_relay_that_is_down() {
    // A free port with nothing on it yet.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let relay_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let data = tempfile::tempdir().unwrap();
    let mut node = start_node(&format!("http://{relay_addr}"), data.path()).await;

    // Up, answering reads, refusing writes until it knows its relay.
    let status = reqwest::get(format!("{}/v1/status", node.url))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status).unwrap();
    assert_eq!(status["relay"], serde_json::Value::Null);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(node.child.try_wait().unwrap().is_none(), "the node exited");

    let listener = tokio::net::TcpListener::bind(relay_addr).await.unwrap();
    let relay = start_fake_relay(listener).await;
    let registered = wait_for(&relay, "/v1/nodes/register", 1).await;
    assert_eq!(registered[0].signer, node.address);
    terminate(node).await;
}

/// SIGTERM while a write is half sent: the node waits for the rest, stores it, answers 201 and
/// only then exits 0; the shard is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_write_in_flight_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_url = format!("http://{}", listener.local_addr().unwrap());
    let relay = start_fake_relay(listener).await;
    let data = tempfile::tempdir().unwrap();
    let mut node = start_node(&relay_url, data.path()).await;
    // Writes are refused until the node has registered with its relay.
    wait_for(&relay, "/v1/nodes/register", 1).await;

    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 247) as u8).collect();
    let id = ShardId::of(&bytes);
    let path = format!("/v1/shards/{id}");
    let time = now();
    let signature = sign_request(&relay.key, "PUT", &path, &bytes, time, &node.address);
    let addr = node.url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\n{TIME_HEADER}: {}\r\n{SIGNATURE_HEADER}: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        time.unix_millis(),
        signature.to_hex(),
        bytes.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&bytes[..100_000]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pid = node.child.id().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        node.child.try_wait().unwrap().is_none(),
        "the node exited with a write in flight"
    );
    stream.write_all(&bytes[100_000..]).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
        .await
        .expect("the write is answered")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    let exit = tokio::time::timeout(Duration::from_secs(10), node.child.wait())
        .await
        .expect("the node stops after the write")
        .unwrap();
    assert!(exit.success(), "{exit:?}");

    let node = start_node(&relay_url, data.path()).await;
    let got = reqwest::get(format!("{}{path}", node.url))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got, bytes);
    terminate(node).await;
}
