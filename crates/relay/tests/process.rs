//! The relay as a real process over real HTTP: killed with SIGKILL in the middle of a stream of
//! submissions and restarted (nothing acknowledged is lost or doubled), stopped with SIGTERM,
//! slow clients cut off, per-IP limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use datahub_relay::db::{Conn, Db, DbError, Location};
use serde_json::{Value, json};
use tokio::sync::Mutex;

struct Process {
    child: Child,
    base: String,
}

fn start_relay(data: &Path, extra: &[&str]) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_datahub-relay"))
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(relay_process_flags())
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Process { child, base }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let mut relay = start_relay(&data, &[]);
    let net = Net::http(&relay.base, tempfile::tempdir().unwrap()).await;
    let owner = key("owner");
    let (status, body) = net
        .create_campaign(&owner, &campaign_spec("crash", &owner, 5000, 1, "1000"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let net = Arc::new(net);
    // Acknowledged submissions: (token, body, outcome).
    let acked = Arc::new(Mutex::new(Vec::<(String, Value, Value)>::new()));
    let mut workers = Vec::new();
    for i in 0..8 {
        let (net, acked) = (net.clone(), acked.clone());
        let mut worker = Worker::sign_in(&net, &format!("crash {i}")).await;
        workers.push(tokio::spawn(async move {
            loop {
                let (status, task) = worker.next(&net, "crash").await;
                if status != StatusCode::OK {
                    return;
                }
                let body = worker.submission(
                    &net,
                    "crash",
                    task["lease"].as_str().unwrap(),
                    &json!({ "verdict": "true" }),
                );
                let (status, outcome) = worker.submit(&net, &body).await;
                if status != StatusCode::OK {
                    return;
                }
                acked
                    .lock()
                    .await
                    .push((worker.token.clone(), body, outcome));
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    relay.child.kill().unwrap(); // SIGKILL
    relay.child.wait().unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().await.clone();
    assert!(
        acked.len() > 20,
        "only {} submissions before the kill",
        acked.len()
    );

    let mut restarted = start_relay(&data, &[]);
    let net = Net::http(&restarted.base, tempfile::tempdir().unwrap()).await;
    // Every acknowledged submission is there, once: sending it again is a duplicate.
    for (token, body, outcome) in &acked {
        let (status, again) = net.post("/v1/submissions", Some(token), body).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["submission"], outcome["submission"]);
    }
    let db = Db::open(&Location::Sqlite(data.join("relay.db")), 1).unwrap();
    let (accepted, credited, balances) = db
        .read(|conn: &mut dyn Conn| -> Result<_, DbError> {
            let accepted = conn.query(
                "SELECT COUNT(*) FROM submissions WHERE status = 'accepted'",
                &[],
            )?;
            let credited =
                conn.query("SELECT COUNT(*) FROM transfers WHERE id LIKE 'sub:%'", &[])?;
            let balances = conn.query("SELECT balance FROM accounts", &[])?;
            Ok((accepted[0].int(0)?, credited[0].int(0)?, balances))
        })
        .await
        .unwrap();
    assert!(accepted >= i64::try_from(acked.len()).unwrap());
    assert_eq!(accepted, credited, "one credit per accepted submission");
    let total: i64 = balances.iter().map(|r| r.int(0).unwrap()).sum();
    assert_eq!(total, 0, "the ledger balances");
    println!(
        "{} acknowledged before SIGKILL; {accepted} accepted after restart",
        acked.len()
    );
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
}

#[test]
fn sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = start_relay(dir.path(), &[]);
    signal(&relay.child, "-TERM");
    let started = Instant::now();
    loop {
        if let Some(status) = relay.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn slow_headers_are_cut_off_and_ips_limited() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("relay.toml");
    std::fs::write(
        &config,
        "[limits]\nheader_timeout_secs = 1\nip_per_sec = 1.0\nip_burst = 2.0\n",
    )
    .unwrap();
    let mut relay = start_relay(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let addr = relay.base.trim_start_matches("http://").to_owned();
    // A client that never finishes its headers is disconnected.
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "slow client kept for {:?}",
        started.elapsed()
    );
    // The third request in a burst of an IP is refused with 429 and Retry-After.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        statuses.push(reply.lines().next().unwrap_or("").to_owned());
        if reply.starts_with("HTTP/1.1 429") {
            assert!(reply.to_lowercase().contains("retry-after:"), "{reply}");
            assert!(reply.contains("\"error\":\"rate_limited\""), "{reply}");
        }
    }
    assert!(statuses[2].starts_with("HTTP/1.1 429"), "{statuses:?}");
    relay.child.kill().unwrap();
    relay.child.wait().unwrap();
}
