//! The relay as a real process over real HTTP: killed with SIGKILL in the middle of a stream of
//! submissions and restarted, on SQLite and PostgreSQL (nothing acknowledged is lost or doubled,
//! what was in flight counts once when sent again), stopped with SIGTERM while a request is in
//! flight (it finishes), slow clients cut off, per-IP limits.
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

/// What a contributor of the crash test saw of one submission.
#[derive(Clone)]
struct Sent {
    token: String,
    body: Value,
    /// When it was sent, from the start of the stream.
    at: Duration,
    /// The relay's answer; `None` when the connection failed or closed with no answer.
    answer: Option<(StatusCode, Value)>,
}

/// A contributor's loop: lease, answer, repeat, until the relay is gone or out of tasks. Every
/// answer is kept; a 429 is waited out and counted, anything else unexpected ends the loop and
/// is reported (never a silent stop).
async fn contribute(
    net: Arc<Net>,
    mut worker: Worker,
    started: Instant,
    sent: Arc<Mutex<Vec<Sent>>>,
    other: Arc<Mutex<Vec<String>>>,
) {
    loop {
        let (status, task) = worker.next(&net, "crash").await;
        match status {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                other.lock().await.push(format!("next {status} {task}"));
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            _ => {
                other.lock().await.push(format!("next {status} {task}"));
                return;
            }
        }
        let body = worker.submission(
            &net,
            "crash",
            task["lease"].as_str().unwrap(),
            &json!({ "verdict": "true" }),
        );
        let at = started.elapsed();
        loop {
            let (status, outcome) = worker.submit(&net, &body).await;
            // `Net::call` turns a connection that failed or closed with no answer into a
            // bodiless 502; the relay itself never answers 502.
            let answer =
                (status != StatusCode::BAD_GATEWAY || outcome != "").then_some((status, outcome));
            let retry = answer
                .as_ref()
                .is_some_and(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS);
            let ok = answer.as_ref().is_some_and(|(s, _)| *s == StatusCode::OK);
            sent.lock().await.push(Sent {
                token: worker.token.clone(),
                body: body.clone(),
                at,
                answer,
            });
            if retry {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            if !ok {
                return;
            }
            break;
        }
    }
}

/// Each account's balance is the sum of its transfers, and the balances sum to zero.
fn assert_accounts_match_transfers(
    balances: &[datahub_relay::db::Row],
    transfers: &[datahub_relay::db::Row],
) {
    let mut expected = std::collections::HashMap::<String, i64>::new();
    for t in transfers {
        *expected.entry(t.text(0).unwrap()).or_default() -= t.int(2).unwrap();
        *expected.entry(t.text(1).unwrap()).or_default() += t.int(2).unwrap();
    }
    let mut total = 0;
    for row in balances {
        let (id, balance) = (row.text(0).unwrap(), row.int(1).unwrap());
        assert_eq!(
            balance,
            expected.remove(&id).unwrap_or(0),
            "account {id} against its transfers"
        );
        total += balance;
    }
    assert!(
        expected.is_empty(),
        "transfers to accounts that do not exist: {expected:?}"
    );
    assert_eq!(total, 0, "the balances sum to zero");
}

/// The relay SIGKILLed while 8 contributors stream submissions, then restarted on the same
/// database: the kill lands mid-stream (submissions in flight, acknowledged ones just before),
/// everything acknowledged is there once, every submission left without an answer is accepted
/// once when sent again, and each account is the sum of its transfers.
async fn sigkill_mid_stream_loses_and_doubles_nothing(postgres: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let (location, database): (Location, Vec<String>) = match &postgres {
        Some(url) => (
            Location::Postgres(url.clone()),
            vec!["--database-url".into(), url.clone()],
        ),
        None => (Location::Sqlite(data.join("relay.db")), Vec::new()),
    };
    let database: Vec<&str> = database.iter().map(String::as_str).collect();
    let mut relay = start_relay(&data, &database);
    let net = Net::http(&relay.base, tempfile::tempdir().unwrap()).await;
    let owner = key("owner");
    let (status, body) = net
        .create_campaign(&owner, &campaign_spec("crash", &owner, 5000, 1, "1000"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let net = Arc::new(net);
    let sent = Arc::new(Mutex::new(Vec::<Sent>::new()));
    let other = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    let started = Instant::now();
    for i in 0..8 {
        let worker = Worker::sign_in(&net, &format!("crash {i}")).await;
        workers.push(tokio::spawn(contribute(
            net.clone(),
            worker,
            started,
            sent.clone(),
            other.clone(),
        )));
    }
    // Kill once the stream is flowing: at least 40 acknowledged.
    loop {
        let acked = sent
            .lock()
            .await
            .iter()
            .filter(|s| matches!(s.answer, Some((StatusCode::OK, _))))
            .count();
        if acked >= 40 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "only {acked} acknowledged in 30 s: {:?}",
            other.lock().await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A little more, so that the kill does not land right after a check of this loop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed_at = started.elapsed();
    relay.child.kill().unwrap(); // SIGKILL
    relay.child.wait().unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let sent = sent.lock().await.clone();
    let other = other.lock().await.clone();
    let acked: Vec<&Sent> = sent
        .iter()
        .filter(|s| matches!(s.answer, Some((StatusCode::OK, _))))
        .collect();
    let unanswered: Vec<&Sent> = sent.iter().filter(|s| s.answer.is_none()).collect();
    let refused: Vec<String> = sent
        .iter()
        .filter_map(|s| match &s.answer {
            Some((status, body)) if *status != StatusCode::OK => Some(format!("{status} {body}")),
            _ => None,
        })
        .collect();
    let in_flight = unanswered.iter().filter(|s| s.at < killed_at).count();
    let last_ack = acked.iter().map(|s| s.at).max().unwrap();
    println!(
        "{} acknowledged before SIGKILL (the last sent {:?} before it), {in_flight} in flight at the kill, {} unanswered in all; other answers: {} to submissions {:?}, {} to leases (first: {:?})",
        acked.len(),
        killed_at.saturating_sub(last_ack),
        unanswered.len(),
        refused.len(),
        refused.first(),
        other.len(),
        other.first(),
    );
    // Only rate limiting may refuse a submission while the relay runs.
    assert!(
        refused.iter().all(|r| r.starts_with("429")),
        "submissions refused: {refused:?}"
    );
    // Mid-stream: submissions were still being acknowledged just before the kill, and some
    // were on their way when it landed.
    assert!(
        killed_at.saturating_sub(last_ack) < Duration::from_secs(1),
        "the stream had stalled {:?} before the kill: {other:?}",
        killed_at.saturating_sub(last_ack)
    );
    assert!(
        in_flight >= 1,
        "no submission was in flight at the kill: {other:?}"
    );
    // Every worker stopped because the relay went away (no answer), not for another reason.
    assert!(
        other
            .iter()
            .all(|o| o.starts_with("next 429") || o.starts_with("next 502 Bad Gateway \"\"")),
        "{other:?}"
    );

    let mut restarted = start_relay(&data, &database);
    let net = Net::http(&restarted.base, tempfile::tempdir().unwrap()).await;
    // Every acknowledged submission is there, once: sending it again is a duplicate.
    for s in &acked {
        let (status, again) = net.post("/v1/submissions", Some(&s.token), &s.body).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["duplicate"], true);
        let (_, first) = s.answer.as_ref().unwrap();
        assert_eq!(again["submission"], first["submission"]);
    }
    // A submission left without an answer counted once or not at all: sent again it is
    // accepted now or found a duplicate, and a third time it is a duplicate of that.
    let (mut had_counted, mut ids) = (0, Vec::new());
    for s in &unanswered {
        let (status, again) = net.post("/v1/submissions", Some(&s.token), &s.body).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        had_counted += usize::from(again["duplicate"] == true);
        let (status, third) = net.post("/v1/submissions", Some(&s.token), &s.body).await;
        assert_eq!(status, StatusCode::OK, "{third}");
        assert_eq!(third["duplicate"], true, "{third}");
        assert_eq!(third["submission"], again["submission"]);
        ids.push(again["submission"].as_str().unwrap().to_owned());
    }
    println!(
        "after the restart: {} unanswered sent again, {had_counted} had counted before the kill",
        unanswered.len()
    );
    ids.extend(acked.iter().map(|s| {
        s.answer.as_ref().unwrap().1["submission"]
            .as_str()
            .unwrap()
            .to_owned()
    }));
    let db = Db::open(&location, 1).unwrap();
    let (accepted, credits, balances, transfers) = db
        .read(|conn: &mut dyn Conn| -> Result<_, DbError> {
            Ok((
                conn.query("SELECT id FROM submissions WHERE status = 'accepted'", &[])?,
                conn.query("SELECT id FROM transfers WHERE id LIKE 'sub:%'", &[])?,
                conn.query("SELECT id, balance FROM accounts", &[])?,
                conn.query("SELECT debit, credit, amount FROM transfers", &[])?,
            ))
        })
        .await
        .unwrap();
    let accepted: std::collections::BTreeSet<String> =
        accepted.iter().map(|r| r.text(0).unwrap()).collect();
    let credits: std::collections::BTreeSet<String> = credits
        .iter()
        .map(|r| r.text(0).unwrap().trim_start_matches("sub:").to_owned())
        .collect();
    assert_eq!(accepted, credits, "one credit per accepted submission");
    for id in &ids {
        assert!(
            accepted.contains(id),
            "submission {id} acknowledged but not accepted"
        );
    }
    // Nothing accepted that nobody was told of, except what was in flight at the kill
    // (already counted in `ids`, being sent again) — so accepted is exactly what we know of.
    assert_eq!(
        accepted.len(),
        ids.len(),
        "accepted submissions nobody sent"
    );
    assert_accounts_match_transfers(&balances, &transfers);
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
}

mod sigkill_mid_stream {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        sigkill_mid_stream_loses_and_doubles_nothing(None).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(admin) = postgres_admin_url() else {
            return;
        };
        sigkill_mid_stream_loses_and_doubles_nothing(Some(fresh_postgres_db(&admin))).await;
    }
}

/// SIGTERM while a submission is half sent: the relay stops taking connections but waits for
/// the rest of the body, accepts the submission, answers and only then exits 0; after a restart
/// the submission is there (sending it again is a duplicate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let mut relay = start_relay(dir.path(), &[]);
    let net = Net::http(&relay.base, tempfile::tempdir().unwrap()).await;
    let owner = key("owner");
    let (status, body) = net
        .create_campaign(&owner, &campaign_spec("term", &owner, 5, 1, "10"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut worker = Worker::sign_in(&net, "term").await;
    let (status, task) = worker.next(&net, "term").await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let submission = worker.submission(
        &net,
        "term",
        task["lease"].as_str().unwrap(),
        &json!({ "verdict": "true" }),
    );
    let bytes = submission.to_string().into_bytes();
    let (first, rest) = bytes.split_at(bytes.len() / 2);
    let addr = relay.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/submissions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        worker.token,
        bytes.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(first).await.unwrap();
    // Let the relay read the head before the signal, so the request is surely begun.
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&relay.child, "-TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        relay.child.try_wait().unwrap().is_none(),
        "the relay exited with a request in flight"
    );
    // A new connection is no longer served.
    if let Ok(mut other) = tokio::net::TcpStream::connect(&addr).await {
        let _ = other
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(1), other.read_to_end(&mut reply)).await;
        assert!(
            reply.is_empty(),
            "a new request was served after SIGTERM: {}",
            String::from_utf8_lossy(&reply)
        );
    }
    slow.write_all(rest).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut reply))
        .await
        .expect("the request in flight is answered")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let (_, answer) = reply.split_once("\r\n\r\n").unwrap();
    let answer: Value = serde_json::from_str(answer).unwrap();
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
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut restarted = start_relay(dir.path(), &[]);
    let net = Net::http(&restarted.base, tempfile::tempdir().unwrap()).await;
    let (status, again) = worker.submit(&net, &submission).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["submission"], answer["submission"], "{again}");
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
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
