//! Two relay replicas on one PostgreSQL database, each a real HTTP server on 127.0.0.1: what one
//! has seen (a signed request, a sign-out, a submission) the other must honour. These run only
//! where a PostgreSQL server is available (`DATAHUB_TEST_POSTGRES`, set by `cargo xtask test-native`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use datahub_core::eth::Timestamp;
use datahub_core::request;
use datahub_relay::db::{Leadership, Location};
use datahub_relay::{AppState, Relay};
use serde_json::{Value, json};

/// Two replicas sharing one database and one set of keys (as replicas behind a load balancer
/// do), and an in-process handle on the first for reading the ledger.
struct Replicas {
    a: Net,
    b: Net,
    ledger: Net,
    url: String,
    _dir: tempfile::TempDir,
}

async fn serve(relay: &AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = Relay::router(relay);
    tokio::spawn(datahub_relay::server::serve(
        listener,
        router,
        Duration::from_secs(5),
        Duration::from_secs(1),
        std::future::pending(),
    ));
    base
}

fn http_net(relay: &AppState, base: String) -> Net {
    Net {
        target: Target::Http {
            base,
            client: reqwest::Client::new(),
        },
        address: relay.address,
        // Both replicas answer for the one public name a load balancer would give them.
        domain: "127.0.0.1:8080".into(),
        dir: tempfile::tempdir().unwrap(),
    }
}

async fn replicas() -> Option<Replicas> {
    replicas_with(|_| {}).await
}

async fn replicas_with(tweak: impl Fn(&mut datahub_relay::Config)) -> Option<Replicas> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    tweak(&mut config);
    let url = fresh_postgres_db(&postgres_admin_url()?);
    config.database_url = Some(url.clone());
    let (first, second) = (config.clone(), config);
    let a = tokio::task::spawn_blocking(move || Relay::open(first, 8080).unwrap())
        .await
        .unwrap();
    let b = tokio::task::spawn_blocking(move || Relay::open(second, 8080).unwrap())
        .await
        .unwrap();
    assert_eq!(a.address, b.address, "replicas share the relay key");
    let (base_a, base_b) = (serve(&a).await, serve(&b).await);
    Some(Replicas {
        a: http_net(&a, base_a),
        b: http_net(&b, base_b),
        ledger: Net {
            address: a.address,
            domain: "127.0.0.1:8080".into(),
            target: Target::Router {
                router: Relay::router(&a),
                relay: a,
            },
            dir: tempfile::tempdir().unwrap(),
        },
        url,
        _dir: dir,
    })
}

/// The same signed request, byte for byte, as many times as asked.
fn copies(net: &Net, key: &datahub_core::SecretKey, path: &str, n: usize) -> Vec<Request<Body>> {
    let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
    let signature = request::sign_request(key, "GET", path, b"", now, &net.address);
    (0..n)
        .map(|_| {
            Request::get(path)
                .header(request::TIME_HEADER, now.unix_millis().to_string())
                .header(request::SIGNATURE_HEADER, signature.to_hex())
                .body(Body::empty())
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_request_replayed_to_the_other_replica_is_refused() {
    let Some(r) = replicas().await else { return };
    let requester = key("requester");
    let mut requests = copies(&r.a, &requester, "/v1/funds", 2).into_iter();
    let (status, body) = r.a.call(requests.next().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = r.b.call(requests.next().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("replayed")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_signed_out_on_one_replica_is_refused_on_the_other() {
    let Some(r) = replicas().await else { return };
    let worker = Worker::sign_in(&r.a, "leaver").await;
    let (status, _) = r.b.get("/v1/me/balances", Some(&worker.token)).await;
    assert_eq!(status, StatusCode::OK, "the session is known to both");
    let (status, body) =
        r.a.post("/v1/auth/signout", Some(&worker.token), &json!({}))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = r.b.get("/v1/me/balances", Some(&worker.token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("signed_out")),
        "{body}"
    );
}

fn verdict(v: &str) -> Value {
    json!({ "verdict": v })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_on_both_replicas_credit_once() {
    let Some(r) = replicas().await else { return };
    retries_credit_once(r).await;
}

/// Two relays with four writers each are, for their database, like eight relays: the same
/// retries, sent at once, must be credited once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_on_four_writers_credit_once() {
    let Some(r) = replicas_with(|c| c.db_writers = 4).await else {
        return;
    };
    retries_credit_once(r).await;
}

async fn retries_credit_once(r: Replicas) {
    let owner = key("owner");
    let (status, body) =
        r.a.create_campaign(&owner, &campaign_spec("spread", &owner, 40, 1, "100"))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut bodies = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..20 {
        let mut w = Worker::sign_in(&r.a, &format!("spreader {i}")).await;
        let (status, task) = w.next(&r.b, "spread").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        bodies.push(w.submission(
            &r.a,
            "spread",
            task["lease"].as_str().unwrap(),
            &verdict("true"),
        ));
        tokens.push(w.token.clone());
    }
    let (a, b) = (std::sync::Arc::new(r.a), std::sync::Arc::new(r.b));
    let mut handles = Vec::new();
    for round in 0..4 {
        for (body, token) in bodies.iter().zip(&tokens) {
            let net = if round % 2 == 0 { a.clone() } else { b.clone() };
            let (body, token) = (body.clone(), token.clone());
            handles.push(tokio::spawn(async move {
                net.post("/v1/submissions", Some(&token), &body).await
            }));
        }
    }
    let mut fresh = 0;
    for h in handles {
        let (status, outcome) = h.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{outcome}");
        assert_eq!(outcome["balance"], "0.05");
        if outcome["duplicate"] == false {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 20, "each submission credited exactly once");
    let (_, campaign) = r.ledger.get("/v1/campaigns/spread", None).await;
    assert_eq!(campaign["budget_left"], "99");
    assert_ledger_balanced(&r.ledger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lead_passes_to_another_relay_when_the_leader_goes() {
    let Some(r) = replicas().await else { return };
    let location = Location::parse(&r.url);
    let check = Duration::from_millis(50);
    let mut first = Leadership::start(&location, check).unwrap();
    tokio::time::timeout(Duration::from_secs(5), first.wait_for(true))
        .await
        .expect("the first to ask leads");
    let mut second = Leadership::start(&location, check).unwrap();
    // Several of its attempts, all refused while the first holds the lock.
    tokio::time::sleep(check * 6).await;
    assert!(
        first.is_leader() && !second.is_leader(),
        "one leader at a time"
    );
    let gone = Instant::now();
    drop(first);
    tokio::time::timeout(Duration::from_secs(5), second.wait_for(true))
        .await
        .expect("the second takes over once the first is gone");
    assert!(
        gone.elapsed() < check * 20,
        "took over in {:?}",
        gone.elapsed()
    );

    let dir = tempfile::tempdir().unwrap();
    let alone = Leadership::start(&Location::Sqlite(dir.path().join("relay.db")), check).unwrap();
    assert!(alone.is_leader(), "a relay on SQLite always leads");
}

/// A relay process, its base URL and the line it printed when it started listening.
struct Process(Child, String, String);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_relay(data: &std::path::Path, url: &str) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_datahub-relay"))
        .args(["--listen", "127.0.0.1:0", "--database-url", url, "--data"])
        .arg(data)
        .args(relay_process_flags())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Process(child, base, line)
}

/// `datahub_leader` from the relay's `/metrics`; `None` when it does not answer.
async fn leads(client: &reqwest::Client, base: &str) -> Option<bool> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("datahub_leader "))
        .map(|v| v.trim() == "1")
}

/// Polls until exactly the relays in `expected` lead; how long it took.
async fn until_leaders(
    client: &reqwest::Client,
    relays: &[&Process],
    expected: &[bool],
) -> Duration {
    let start = Instant::now();
    loop {
        let mut now = Vec::new();
        for p in relays {
            now.push(leads(client, &p.1).await.unwrap_or(false));
        }
        if now == expected {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "leaders {now:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_leaders_work_is_taken_over_by_the_other_process() {
    let Some(r) = replicas().await else { return };
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let first = start_relay(data.path(), &r.url);
    until_leaders(&client, &[&first], &[true]).await;
    let second = start_relay(data.path(), &r.url);
    until_leaders(&client, &[&first, &second], &[true, false]).await;
    let status = Command::new("kill")
        .args(["-KILL", &first.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let took = until_leaders(&client, &[&second], &[true]).await;
    // Two node timeouts (15 s each by default) is the bound the design promises; the lock
    // passes as soon as the server sees the connection close and the other relay next asks.
    assert!(took < Duration::from_secs(30), "took over in {took:?}");
    eprintln!("the lead passed in {took:?}");
}

/// The relay reaches PostgreSQL over TLS when its URL asks (`sslmode=verify-full` and the test
/// cluster's CA as `sslrootcert`): the server itself says the connection is encrypted. Without
/// that CA the server's certificate is refused and the error says why; the relay never falls
/// back to a plain connection.
#[test]
fn postgres_over_tls_is_encrypted_and_its_certificate_checked() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let Ok(ca) = std::env::var("DATAHUB_TEST_POSTGRES_CA") else {
        assert!(
            std::env::var("CI").is_err(),
            "DATAHUB_TEST_POSTGRES_CA is not set: `cargo xtask test-native` starts PostgreSQL with TLS and sets it"
        );
        return;
    };
    let url = fresh_postgres_db(&admin);
    // The synchronous client may not run on an async runtime's thread: only the read awaits.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let encrypted = |db: datahub_relay::db::Db| {
        runtime
            .block_on(db.read(|conn: &mut dyn datahub_relay::db::Conn| {
                conn.query_opt(
                    "SELECT count(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
                    &[],
                )?
                .map_or(Ok(0), |row| row.int(0))
            }))
            .map_err(|e: datahub_relay::db::DbError| e.to_string())
    };
    let plain = datahub_relay::db::Db::open(&Location::parse(&url), 1).unwrap();
    assert_eq!(encrypted(plain), Ok(0), "the plain URL is not encrypted");

    let tls = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
    let db = datahub_relay::db::Db::open(&Location::parse(&tls), 1).unwrap();
    assert_eq!(encrypted(db), Ok(1), "sslmode=verify-full is encrypted");

    // The Mozilla roots do not know the test CA: no connection, and no plain one instead.
    let err = datahub_relay::db::Db::open(&Location::parse(&format!("{url}?sslmode=require")), 1)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("certificate"), "{err}");
}

/// A [`Net`] over HTTP to a relay process, for the address it printed as it started.
fn process_net(process: &Process) -> Net {
    let mut line = process.2.split_whitespace().skip_while(|w| *w != "address");
    let address = line.nth(1).unwrap_or_default();
    Net {
        target: Target::Http {
            base: process.1.clone(),
            client: reqwest::Client::new(),
        },
        address: datahub_core::eth::Address::parse(address)
            .unwrap_or_else(|e| panic!("no address in {:?}: {e}", process.2)),
        // Each process answers sign-ins for its own listening address.
        domain: process.1.trim_start_matches("http://").to_owned(),
        dir: tempfile::tempdir().unwrap(),
    }
}

/// Two relay processes on one database take submissions from 20 contributors at once (one
/// network's lease cap), half on each; the leader is SIGKILLed as soon as the first answer comes
/// back. Whatever it had not answered is sent again to the survivor, as a client would: every
/// contributor is credited
/// exactly once, the campaign spent exactly that, the ledger balances, and the survivor takes
/// the lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_sigkilled_under_load_loses_and_doubles_no_credit() {
    let Some(r) = replicas().await else { return };
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let first = start_relay(data.path(), &r.url);
    until_leaders(&client, &[&first], &[true]).await;
    let second = start_relay(data.path(), &r.url);
    let (a, b) = (
        std::sync::Arc::new(process_net(&first)),
        std::sync::Arc::new(process_net(&second)),
    );
    let owner = key("owner");
    let (status, body) = b
        .create_campaign(&owner, &campaign_spec("killed", &owner, 30, 1, "100"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut sends = Vec::new();
    for i in 0..20 {
        let net = if i % 2 == 0 { &a } else { &b };
        let mut w = Worker::sign_in(net, &format!("loaded {i}")).await;
        let (status, task) = w.next(net, "killed").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        let lease = task["lease"].as_str().unwrap().to_owned();
        let body = w.submission(net, "killed", &lease, &verdict("true"));
        sends.push((i % 2 == 0, w.token.clone(), body));
    }
    let (answered_tx, mut answered) = tokio::sync::mpsc::unbounded_channel();
    let mut handles = Vec::new();
    for (to_first, token, body) in sends.clone() {
        let net = if to_first { a.clone() } else { b.clone() };
        let answered_tx = answered_tx.clone();
        handles.push(tokio::spawn(async move {
            let out = net.post("/v1/submissions", Some(&token), &body).await;
            let _ = answered_tx.send(());
            out
        }));
    }
    answered.recv().await;
    let killed = Command::new("kill")
        .args(["-KILL", &first.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut lost = 0;
    for (h, (_, token, body)) in handles.into_iter().zip(&sends) {
        // No answer (502 here: the connection broke) or a 5xx from a relay going down: the
        // client sends it again, elsewhere.
        let (status, outcome) = h.await.unwrap();
        let acknowledged = (status == StatusCode::OK).then_some(outcome);
        let outcome = match acknowledged {
            Some(outcome) => outcome,
            None => {
                lost += 1;
                let (status, outcome) = b.post("/v1/submissions", Some(token), body).await;
                assert_eq!(status, StatusCode::OK, "{outcome}");
                outcome
            }
        };
        assert_eq!(outcome["balance"], "0.05", "{outcome}");
    }
    eprintln!("{lost} of 20 submissions were sent again after the kill");
    let (_, campaign) = b.get("/v1/campaigns/killed", None).await;
    assert_eq!(campaign["budget_left"], "99", "20 answers paid once each");
    assert_ledger_balanced(&r.ledger).await;
    let took = until_leaders(&client, &[&second], &[true]).await;
    assert!(took < Duration::from_secs(30), "took over in {took:?}");
}

/// A PostgreSQL server of this test's own, which it may restart without disturbing the other
/// tests' server: made with the same Debian binaries `cargo xtask test-native` uses.
struct OwnServer {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    url: String,
}

impl OwnServer {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|b| b.join("initdb").is_file())
            .max()
            .expect("PostgreSQL's binaries (cargo xtask setup installs them)");
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            bin,
            dir,
        };
        if as_root() {
            // PostgreSQL refuses to run as root: it runs as Debian's `postgres` user.
            let status = Command::new("chown")
                .arg("postgres:postgres")
                .arg(server.dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        server.pg(
            "initdb",
            &["-U", "postgres", "--auth=trust", "--no-instructions", "-D"],
            &[],
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1",
            server.dir.path().display()
        );
        let log = server.dir.path().join("log");
        server.pg(
            "pg_ctl",
            &["-w", "-l", log.to_str().unwrap(), "-o", &options, "-D"],
            &["start"],
        );
        server
    }

    /// `program before… DATA after…`, as the server's user.
    fn pg(&self, program: &str, before: &[&str], after: &[&str]) {
        let program = self.bin.join(program);
        let mut command = if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let out = command
            .args(before)
            .arg(self.dir.path().join("data"))
            .args(after)
            .current_dir("/")
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A fast restart: every connection is cut, as in a failover or a crash.
    fn restart(&self) {
        self.pg("pg_ctl", &["-w", "-m", "fast", "-D"], &["restart"]);
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            self.pg("pg_ctl", &["-w", "-m", "immediate", "-D"], &["stop"])
        });
    }
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// PostgreSQL restarted while a relay process takes submissions: the relay recovers by itself
/// (its connections reconnect on their next statement), every submission it acknowledged is
/// credited once, the ones that failed during the restart succeed when sent again, and the
/// ledger balances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_the_relay_recovers_by_itself() {
    if postgres_admin_url().is_none() {
        return;
    }
    let began = Instant::now();
    let server = tokio::task::spawn_blocking(OwnServer::start).await.unwrap();
    eprintln!("own server up in {:?}", began.elapsed());
    let url = fresh_postgres_db(&server.url);
    let data = tempfile::tempdir().unwrap();
    let relay = start_relay(data.path(), &url);
    let net = std::sync::Arc::new(process_net(&relay));
    let owner = key("owner");
    let (status, body) = net
        .create_campaign(&owner, &campaign_spec("restarted", &owner, 30, 1, "100"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut sends = Vec::new();
    for i in 0..20 {
        let mut w = Worker::sign_in(&net, &format!("restart {i}")).await;
        let (status, task) = w.next(&net, "restarted").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        let lease = task["lease"].as_str().unwrap().to_owned();
        sends.push((
            w.token.clone(),
            w.submission(&net, "restarted", &lease, &verdict("true")),
        ));
    }
    let (answered_tx, mut answered) = tokio::sync::mpsc::unbounded_channel();
    let mut handles = Vec::new();
    for (token, body) in sends.clone() {
        let (net, answered_tx) = (net.clone(), answered_tx.clone());
        handles.push(tokio::spawn(async move {
            let out = net.post("/v1/submissions", Some(&token), &body).await;
            let _ = answered_tx.send(());
            out
        }));
    }
    answered.recv().await;
    let restarting = Instant::now();
    let server = tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .unwrap();
    eprintln!("restarted in {:?}", restarting.elapsed());
    let mut failed = 0;
    for (h, (token, body)) in handles.into_iter().zip(&sends) {
        let (status, mut outcome) = h.await.unwrap();
        if status != StatusCode::OK {
            failed += 1;
            // Sent again, as a client would, until the relay has its database back.
            let start = Instant::now();
            loop {
                let (status, again) = net.post("/v1/submissions", Some(token), body).await;
                if status == StatusCode::OK {
                    outcome = again;
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "the relay did not recover: {status} {again}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        assert_eq!(outcome["balance"], "0.05", "{outcome}");
    }
    eprintln!("{failed} of 20 submissions failed during the restart and were sent again");
    let (_, campaign) = net.get("/v1/campaigns/restarted", None).await;
    assert_eq!(campaign["budget_left"], "99", "20 answers paid once each");
    let (status, _) = net.get("/healthz", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "healthy again without a restart of its own"
    );
    let mut config = test_config(data.path());
    config.database_url = Some(url);
    let ledger = tokio::task::spawn_blocking(move || Relay::open(config, 8080).unwrap())
        .await
        .unwrap();
    assert_ledger_balanced(&Net {
        address: ledger.address,
        domain: "127.0.0.1:8080".into(),
        target: Target::Router {
            router: Relay::router(&ledger),
            relay: ledger,
        },
        dir: tempfile::tempdir().unwrap(),
    })
    .await;
    drop(relay);
    drop(server);
}
