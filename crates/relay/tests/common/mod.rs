//! Helpers for the relay's tests: a relay on SQLite or on the PostgreSQL server the test command
//! started (`DATAHUB_TEST_POSTGRES`), signed requests, and contributors that sign in and answer.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use datahub_core::SecretKey;
use datahub_core::eth::{
    Address, CampaignScope, ChainId, Eip712Domain, SessionGrant, SubmissionReceipt, Timestamp,
    TypedStruct, U256, keccak256, personal,
};
use datahub_core::request;
use datahub_relay::{AppState, Config, Relay};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const CHAIN: u64 = 56;

/// A deterministic key per label.
pub fn key(label: &str) -> SecretKey {
    SecretKey::derive(blake3::hash(label.as_bytes()).as_bytes())
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A unique suffix for databases and ids within this process.
pub fn unique() -> String {
    format!(
        "{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server to test against, if any. Under CI it must be there.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("DATAHUB_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "DATAHUB_TEST_POSTGRES is not set: `cargo xtask test-native` starts a PostgreSQL server and sets it"
            );
            eprintln!(
                "DATAHUB_TEST_POSTGRES is not set: PostgreSQL case not run (run it with `cargo xtask test-native`)"
            );
            None
        }
    }
}

/// A fresh, empty PostgreSQL database; its URL.
pub fn fresh_postgres_db(admin: &str) -> String {
    let name = format!("datahub_test_{}", unique());
    let (admin_url, create) = (admin.to_owned(), format!("CREATE DATABASE {name}"));
    // The synchronous client may not run on an async runtime's thread.
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
        client.batch_execute(&create).unwrap();
    })
    .join()
    .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// A relay under test: in this process (driven through its router) or a real process over HTTP.
pub struct Net {
    pub target: Target,
    /// The relay's address (requests are signed for it).
    pub address: Address,
    /// The sign-in domain (`host:port`).
    pub domain: String,
    pub dir: tempfile::TempDir,
}

pub enum Target {
    Router {
        relay: AppState,
        router: Router,
    },
    Http {
        base: String,
        client: reqwest::Client,
    },
}

/// The key of the test relays' operator (the one address in their `operators`).
pub fn operator() -> SecretKey {
    key("operator")
}

/// The flags that make a relay process like the in-process test relays: the development chain
/// and [`operator`] as its operator.
pub fn relay_process_flags() -> Vec<String> {
    vec![
        "--dev".into(),
        "--operator".into(),
        operator().public_key().address().to_checksum(),
    ]
}

/// The development chain 56 and a second one, 1, to show that a campaign pays on one only.
pub fn test_chains() -> Vec<datahub_relay::config::ChainConfig> {
    let mut chains = Config::dev_chains();
    let mut other = chains[0].clone();
    other.id = 1;
    other.name = "a second chain".into();
    other.claim_contract = "0x00000000000000000000000000000000da7a0001".into();
    chains.push(other);
    chains
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        db_readers: 2,
        dev: true,
        chains: test_chains(),
        operators: vec![operator().public_key().address().to_checksum()],
        ..Config::default()
    };
    config.limits.address_per_sec = 10_000.0;
    config.limits.address_burst = 10_000.0;
    // Test nodes listen on 127.0.0.1 and register themselves; the tests of the defences set
    // these back.
    config.storage.allow_private_nodes = true;
    config.storage.open_admission = true;
    // Tests upload with throw-away keys; the metering tests set this back.
    config.storage.open_uploads = true;
    // Test campaigns name validator keys of their own; the tests of the defence set it back.
    config.open_validators = true;
    // Test upload campaigns without validators are paid at once; the test of the defence sets
    // it back.
    config.unchecked_uploads = true;
    config
}

impl Net {
    /// A relay on `backend`, or `None` when PostgreSQL is not available outside CI.
    pub fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {})
    }

    pub fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        if let Backend::Postgres = backend {
            config.database_url = Some(fresh_postgres_db(&postgres_admin_url()?));
        }
        tweak(&mut config);
        let relay = Relay::open(config, 8080).unwrap();
        let router = Relay::router(&relay);
        Some(Self {
            address: relay.address,
            domain: "127.0.0.1:8080".into(),
            target: Target::Router { relay, router },
            dir,
        })
    }

    /// A relay process listening at `base` (`http://127.0.0.1:port`).
    pub async fn http(base: &str, dir: tempfile::TempDir) -> Self {
        let client = reqwest::Client::new();
        let info: Value = client
            .get(format!("{base}/v1/info"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            address: Address::parse(info["relay_address"].as_str().unwrap()).unwrap(),
            domain: base.trim_start_matches("http://").to_owned(),
            target: Target::Http {
                base: base.to_owned(),
                client,
            },
            dir,
        }
    }

    /// The in-process relay.
    pub fn relay(&self) -> &AppState {
        match &self.target {
            Target::Router { relay, .. } => relay,
            Target::Http { .. } => panic!("not an in-process relay"),
        }
    }

    pub async fn call(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, bytes) = match &self.target {
            Target::Router { router, .. } => {
                let response = router.clone().oneshot(request).await.unwrap();
                let status = response.status();
                (
                    status,
                    response.into_body().collect().await.unwrap().to_bytes(),
                )
            }
            Target::Http { base, client } => {
                let (parts, body) = request.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                let url = format!("{base}{}", parts.uri);
                let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap();
                let mut builder = client.request(method, url).body(body);
                for (name, value) in &parts.headers {
                    builder = builder.header(name.as_str(), value.as_bytes());
                }
                match builder.send().await {
                    Ok(response) => (
                        StatusCode::from_u16(response.status().as_u16()).unwrap(),
                        response.bytes().await.unwrap_or_default(),
                    ),
                    // The relay went away mid-request (the crash test kills it).
                    Err(_) => (StatusCode::BAD_GATEWAY, Default::default()),
                }
            }
        };
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut builder = Request::get(path);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        self.call(builder.body(Body::empty()).unwrap()).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let mut builder = Request::post(path).header("content-type", "application/json");
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        self.call(builder.body(Body::from(body.to_string())).unwrap())
            .await
    }

    /// A request signed by `key` for this relay.
    pub fn signed(&self, key: &SecretKey, method: &str, path: &str, body: &Value) -> Request<Body> {
        signed_request(key, method, path, body, &self.address)
    }

    /// Funds `owner` with the campaign's budget (an operator grant, see [`Net::grant`]) and
    /// creates the campaign. A definition whose budget, token or single chain is not usable
    /// is sent unfunded, for the relay to refuse.
    pub async fn create_campaign(&self, owner: &SecretKey, spec: &Value) -> (StatusCode, Value) {
        let chains = spec["chains"].as_array().map_or(0, Vec::len);
        if let (Some(budget), Some(token), Some(chain), 1) = (
            spec["budget"].as_str(),
            spec["token"].as_str(),
            spec["chains"][0].as_u64(),
            chains,
        ) {
            // One grant per (owner, definition): creating the same campaign again is funded
            // once, as it is created once.
            let digest = blake3::hash(format!("{}{spec}", owner.public_key().address()).as_bytes());
            let request_id = format!("fund-{}", &digest.to_hex()[..32]);
            let (status, body) = self
                .grant(
                    &owner.public_key().address(),
                    chain,
                    token,
                    budget,
                    &request_id,
                )
                .await;
            // 422: a budget or token the relay refuses, which creating reports; "replayed": the
            // same grant signed within the same millisecond, already applied.
            assert!(
                status.is_success()
                    || status == StatusCode::UNPROCESSABLE_ENTITY
                    || body["error"] == "replayed",
                "funding the campaign's owner: {status} {body}"
            );
        }
        self.create_campaign_unfunded(owner, spec).await
    }

    /// Creates a campaign with whatever funds `owner` has.
    pub async fn create_campaign_unfunded(
        &self,
        owner: &SecretKey,
        spec: &Value,
    ) -> (StatusCode, Value) {
        self.call(self.signed(owner, "POST", "/v1/campaigns", spec))
            .await
    }

    /// An operator grant of `amount` tokens to `requester` on `chain`, signed by [`operator`].
    pub async fn grant(
        &self,
        requester: &Address,
        chain: u64,
        token: &str,
        amount: &str,
        request_id: &str,
    ) -> (StatusCode, Value) {
        let body = json!({
            "request_id": request_id,
            "requester": requester.to_checksum(),
            "chain_id": chain,
            "token": token,
            "amount": amount,
        });
        self.call(self.signed(&operator(), "POST", "/v1/treasury/grants", &body))
            .await
    }

    /// `GET /v1/funds` signed by `requester`: its funds, `"0"` where it has none.
    pub async fn funds(&self, requester: &SecretKey, chain: u64, token: &str) -> String {
        let (status, body) = self.call(self.signed_get(requester, "/v1/funds")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["funds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["chain_id"] == chain && f["token"] == token)
            .map_or_else(
                || "0".to_owned(),
                |f| f["amount"].as_str().unwrap().to_owned(),
            )
    }

    /// A GET with an empty body signed by `key` for this relay.
    pub fn signed_get(&self, key: &SecretKey, path: &str) -> Request<Body> {
        let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
        let signature = request::sign_request(key, "GET", path, b"", now, &self.address);
        Request::get(path)
            .header(request::TIME_HEADER, now.unix_millis().to_string())
            .header(request::SIGNATURE_HEADER, signature.to_hex())
            .body(Body::empty())
            .unwrap()
    }
}

pub fn signed_request(
    key: &SecretKey,
    method: &str,
    path: &str,
    body: &Value,
    audience: &Address,
) -> Request<Body> {
    let body = body.to_string();
    let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
    let signature = request::sign_request(key, method, path, body.as_bytes(), now, audience);
    Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header(request::TIME_HEADER, now.unix_millis().to_string())
        .header(request::SIGNATURE_HEADER, signature.to_hex())
        .body(Body::from(body))
        .unwrap()
}

/// A requester's public encryption key in hex.
pub fn encryption_key(owner: &SecretKey) -> String {
    hex::encode(owner.public_key().to_compressed())
}

/// A text-labeling campaign (the simplest to answer), with `items` items.
pub fn campaign_spec(
    id: &str,
    owner: &SecretKey,
    items: usize,
    overlap: u32,
    budget: &str,
) -> Value {
    let items: Vec<Value> = (0..items)
        .map(|i| json!({ "text": format!("item number {i}") }))
        .collect();
    json!({
        "id": id,
        "kind": "content_verification",
        "title": "Is the caption true?",
        "instructions": "Answer true, false or unsure.",
        "items": items,
        "reward": "0.05",
        "token": "USDT",
        "budget": budget,
        "overlap": overlap,
        "lease_seconds": 300,
        "encryption_key": encryption_key(owner),
        "chains": [CHAIN],
    })
}

pub struct Worker {
    pub wallet: SecretKey,
    pub session_key: SecretKey,
    pub token: String,
    pub nonce: u64,
}

impl Worker {
    pub fn address(&self) -> Address {
        self.wallet.public_key().address()
    }

    /// Signs in with a session key for any campaign.
    pub async fn sign_in(net: &Net, label: &str) -> Self {
        let wallet = key(&format!("wallet {label}"));
        let session_key = key(&format!("session {label}"));
        let (status, nonce) = net.post("/v1/auth/nonce", None, &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{nonce}");
        let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
        let grant = SessionGrant {
            key: session_key.public_key().address(),
            expires: Timestamp::from_unix_millis(now.unix_millis() + 3_600_000),
            campaigns: CampaignScope::Any,
            reward_cap: U256::from_u64(1_000_000_000_000),
        };
        let message = grant
            .siwe_message(
                wallet.public_key().address(),
                &net.domain,
                &format!("http://{}/", net.domain),
                ChainId(CHAIN),
                nonce["nonce"].as_str().unwrap(),
                now,
                Some("Sign in to DataHub"),
            )
            .to_string();
        let signature = personal::sign_message(&wallet, message.as_bytes());
        let (status, body) = net
            .post(
                "/v1/auth/session",
                None,
                &json!({ "message": message, "signature": signature.to_hex() }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        Self {
            wallet,
            session_key,
            token: body["token"].as_str().unwrap().to_owned(),
            nonce: 0,
        }
    }

    pub async fn next(&self, net: &Net, campaign: &str) -> (StatusCode, Value) {
        net.post(
            &format!("/v1/campaigns/{campaign}/next"),
            Some(&self.token),
            &json!({}),
        )
        .await
    }

    /// The body of a submission for `lease`, signed by the session key.
    pub fn submission(&mut self, net: &Net, campaign: &str, lease: &str, answer: &Value) -> Value {
        self.nonce += 1;
        submission_body(
            &self.session_key,
            &net.address,
            campaign,
            lease,
            answer,
            self.nonce,
            &domain(net),
        )
    }

    pub async fn submit(&self, net: &Net, body: &Value) -> (StatusCode, Value) {
        net.post("/v1/submissions", Some(&self.token), body).await
    }

    /// Leases the next task and answers it; the outcome.
    pub async fn work(&mut self, net: &Net, campaign: &str, answer: &Value) -> (StatusCode, Value) {
        let (status, task) = self.next(net, campaign).await;
        if status != StatusCode::OK {
            return (status, task);
        }
        let body = self.submission(net, campaign, task["lease"].as_str().unwrap(), answer);
        self.submit(net, &body).await
    }
}

/// The EIP-712 domain of receipts on [`CHAIN`] under the test configuration.
pub fn domain(_net: &Net) -> Eip712Domain {
    let chains = Config::dev_chains();
    let chain = chains.iter().find(|c| c.id == CHAIN).unwrap();
    Eip712Domain {
        name: "DataHub".into(),
        version: "1".into(),
        chain_id: ChainId(CHAIN),
        verifying_contract: Address::parse(&chain.claim_contract).unwrap(),
    }
}

pub fn submission_body(
    session_key: &SecretKey,
    _relay: &Address,
    campaign: &str,
    lease: &str,
    answer: &Value,
    nonce: u64,
    domain: &Eip712Domain,
) -> Value {
    consenting_body(
        session_key,
        campaign,
        lease,
        answer,
        nonce,
        domain,
        "",
        None,
    )
}

/// A submission whose receipt signs `licence` and the hash of `terms` (sent in the body too).
#[allow(clippy::too_many_arguments)]
pub fn consenting_body(
    session_key: &SecretKey,
    campaign: &str,
    lease: &str,
    answer: &Value,
    nonce: u64,
    domain: &Eip712Domain,
    licence: &str,
    terms: Option<&str>,
) -> Value {
    let answer = answer.to_string();
    let deadline = u64::try_from(datahub_relay::clock::now_ms() / 1000 + 600).unwrap();
    let receipt = SubmissionReceipt {
        campaign: campaign.to_owned(),
        task: lease.to_owned(),
        answer_hash: keccak256(answer.as_bytes()),
        manifest_id: [0; 32],
        nonce: U256::from_u64(nonce),
        deadline,
        licence: licence.to_owned(),
        terms_hash: SubmissionReceipt::terms_hash(terms),
    };
    let signature = receipt.sign(session_key, domain);
    let mut body = json!({
        "campaign": campaign,
        "task": lease,
        "answer": answer,
        "nonce": nonce.to_string(),
        "deadline": deadline,
        "signature": signature.to_hex(),
    });
    // Left out when empty, as clients older than consent send them.
    if !licence.is_empty() {
        body["licence"] = json!(licence);
    }
    if terms.is_some() {
        body["terms_hash"] = json!(hex::encode(receipt.terms_hash));
    }
    body
}

/// Runs `$body` (an async block taking a `Net`) on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both {
    ($name:ident, |$net:ident| $body:block) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $net = Net::start(Backend::Sqlite).unwrap();
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($net) = Net::start(Backend::Postgres) else {
                    return;
                };
                $body
            }
        }
    };
}

/// Sum of all balances is zero, and each balance is its transfers' sum.
pub async fn assert_ledger_balanced(net: &Net) {
    use datahub_relay::db::Conn;
    let (balances, transfers) = net
        .relay()
        .db
        .read(
            |conn: &mut dyn Conn| -> Result<_, datahub_relay::db::DbError> {
                Ok((
                    conn.query("SELECT id, balance FROM accounts", &[])?,
                    conn.query("SELECT debit, credit, amount FROM transfers", &[])?,
                ))
            },
        )
        .await
        .unwrap();
    let mut expected = std::collections::HashMap::<String, i64>::new();
    for t in &transfers {
        *expected.entry(t.text(0).unwrap()).or_default() -= t.int(2).unwrap();
        *expected.entry(t.text(1).unwrap()).or_default() += t.int(2).unwrap();
    }
    let mut total = 0;
    for row in &balances {
        let (id, balance) = (row.text(0).unwrap(), row.int(1).unwrap());
        assert_eq!(
            balance,
            expected.get(&id).copied().unwrap_or(0),
            "account {id}"
        );
        total += balance;
    }
    assert_eq!(total, 0, "balances sum to zero");
}
