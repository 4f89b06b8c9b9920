//! What each fuzz target of the relay checks, as plain functions of the input bytes: a check
//! panics when a property fails. The fuzz targets (`fuzz_targets/*.rs`) and the relay's test
//! `tests/fuzz_seeds.rs` both include this file, so every input kept in `seeds/<target>/` is
//! replayed by the ordinary test run, with no extra crate to build.
//!
//! - [`campaign_spec`]: the body of `POST /v1/campaigns` on its own, against the default settings.
//! - [`submission`]: the body of `POST /v1/submissions` and the answer inside it.
//! - [`api`]: any JSON-bodied `POST` of the relay's API, through the real router.
//! - [`node_api`]: any request to a storage node's API, through its real router.
//! - [`chain_log`]: a JSON-RPC endpoint's log or block, and the escrow's events inside a log.

// Each fuzz target uses one of these functions; the test uses them all.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
pub use axum::http::StatusCode;
use axum::http::{HeaderValue, Method, Request, header};
use datahub_core::SecretKey;
use datahub_core::eth::{
    Address, CampaignScope, ChainId, Eip712Domain, SessionGrant, SubmissionReceipt, Timestamp,
    TypedStruct, U256, keccak256, personal,
};
use datahub_core::request;
use datahub_relay::campaigns::{CampaignSpec, SpecRules as _, check_answer};
use datahub_relay::tasks::SubmissionRequest;
use datahub_relay::{AppState, Config, Relay};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// `POST /v1/campaigns`'s body alone: reading it as a campaign spec and validating it against the
/// default settings never panics, and a spec that validates still validates, to the same amounts,
/// after a trip through JSON.
pub fn campaign_spec(data: &[u8]) {
    let Ok(spec) = serde_json::from_slice::<CampaignSpec>(data) else {
        return;
    };
    let config = Config {
        dev: true,
        chains: Config::dev_chains(),
        ..Config::default()
    };
    if let Ok(amounts) = spec.validate_for(&config) {
        let text = serde_json::to_vec(&spec)
            .unwrap_or_else(|e| panic!("a parsed spec does not serialize: {e}"));
        let again: CampaignSpec = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("a spec's own JSON does not parse: {e}"));
        assert_eq!(again.validate_for(&config).ok(), Some(amounts));
    }
}

/// A valid campaign of each of the six task types, and the item answered.
fn answer_campaigns() -> &'static [(CampaignSpec, Value)] {
    static CAMPAIGNS: OnceLock<Vec<(CampaignSpec, Value)>> = OnceLock::new();
    CAMPAIGNS.get_or_init(|| {
        let kinds = [
            "image_categorization",
            "content_verification",
            "text_labeling",
            "content_moderation",
            "image_upload",
            "voice_recording",
        ];
        kinds
            .iter()
            .map(|kind| {
                let item = json!({ "text": "the quick brown fox", "prompt": "read this" });
                let spec = json!({
                    "id": "fuzz", "kind": kind, "title": "fuzz", "instructions": "",
                    "labels": ["cat", "dog", "spam"], "multi_label": true, "items": [item],
                    "reward": "0.01", "token": "USDT", "budget": "1", "chains": [56],
                    "encryption_key": "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
                });
                let spec: CampaignSpec = serde_json::from_value(spec)
                    .unwrap_or_else(|e| panic!("the {kind} fixture does not parse: {e}"));
                (spec, item)
            })
            .collect()
    })
}

/// `POST /v1/submissions`'s body and the answer inside it: reading the body and checking its
/// answer against a campaign of each task type never panics, and the check is deterministic.
/// Bytes that are not a submission body are checked as an answer themselves.
pub fn submission(data: &[u8]) {
    let answer_text = match serde_json::from_slice::<SubmissionRequest>(data) {
        Ok(request) => request.answer,
        Err(_) => String::from_utf8_lossy(data).into_owned(),
    };
    let Ok(answer) = serde_json::from_str::<Value>(&answer_text) else {
        return;
    };
    for (spec, item) in answer_campaigns() {
        let first = check_answer(spec, item, &answer).ok();
        assert_eq!(check_answer(spec, item, &answer).ok(), first);
    }
}

/// The chain the fixtures sign in and pay on (in the default configuration).
const CHAIN: u64 = 56;

/// A relay made once per process, with what bodies need to get past authentication.
struct Api {
    runtime: tokio::runtime::Runtime,
    router: Router,
    relay: AppState,
    /// Requester, validator and node at once: signs every signed request.
    owner: SecretKey,
    /// The wallet that signs sign-in messages taken from the input.
    wallet: SecretKey,
    /// A signed-in contributor's bearer token.
    token: String,
    /// That contributor's session key: signs submission receipts.
    session_key: SecretKey,
    /// What receipts are signed for.
    domain: Eip712Domain,
    /// A lease of that contributor (on [`CAMPAIGN`]).
    lease: String,
}

const CAMPAIGN: &str = "fuzz";
const UPLOAD_CAMPAIGN: &str = "fuzz-upload";
/// Only `POST …/status` targets this one, so a body that closes it leaves the others open.
const STATUS_CAMPAIGN: &str = "fuzz-status";

fn key(label: &str) -> SecretKey {
    SecretKey::derive(blake3::hash(label.as_bytes()).as_bytes())
}

/// Where the fuzzed relay keeps its database: in memory-backed `/dev/shm` when there is one
/// (SQLite syncs every commit, which on a disk would bound the executions per second), one folder
/// per process. A process cannot remove it on exit (libFuzzer exits without dropping statics),
/// so each start removes the folders of processes that are gone.
fn data_dir() -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    const PREFIX: &str = "datahub-relay-fuzz-";
    // Without /proc there is no telling which processes are gone: remove nothing.
    let proc = std::path::Path::new("/proc/self").exists();
    if proc && let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let gone = name
                .strip_prefix(PREFIX)
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
            if gone {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(format!("{PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Sends `request` through the router; the status and the body's text.
async fn send(router: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = match router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_else(|e| format!("(the body could not be read: {e})"));
    (status, body)
}

/// A request signed by `key` for `relay`, as requesters, validators and nodes send them.
fn signed(key: &SecretKey, relay: &Address, path: &str, body: Vec<u8>) -> Option<Request<Body>> {
    let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
    let signature = request::sign_request(key, "POST", path, &body, now, relay);
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(request::TIME_HEADER, now.unix_millis().to_string())
        .header(request::SIGNATURE_HEADER, signature.to_hex())
        .body(Body::from(body))
        .ok()
}

fn post(path: &str, token: Option<&str>, body: Vec<u8>) -> Option<Request<Body>> {
    let mut builder = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::from(body)).ok()
}

/// Checks a fixture step's answer: the harness is broken if one fails.
fn expect_ok(what: &str, (status, body): (StatusCode, String)) -> Value {
    assert!(status.is_success(), "fixture {what}: {status} {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("fixture {what}: {e}: {body}"))
}

fn campaign_fixture(id: &str, owner: &SecretKey, upload: bool) -> Value {
    let encryption_key = hex::encode(owner.public_key().to_compressed());
    let items: Vec<Value> = (0..50)
        .map(|i| json!({ "text": format!("item {i}"), "prompt": format!("photo {i}") }))
        .collect();
    let mut spec = json!({
        "id": id,
        "kind": "content_verification",
        "title": "Is the caption true?",
        "instructions": "Answer true, false or unsure.",
        "items": items,
        "reward": "0.01",
        "token": "USDT",
        "budget": "10",
        "overlap": 1,
        "lease_seconds": 3600,
        "encryption_key": encryption_key,
        "chains": [CHAIN],
    });
    if upload && let Some(fields) = spec.as_object_mut() {
        fields.insert("kind".into(), json!("image_upload"));
        fields.insert(
            "upload".into(),
            json!({ "types": ["image/png"], "min_width": 8, "min_height": 8, "max_bytes": 100000 }),
        );
        // A requester may not judge its own uploads: the validator is a key of its own.
        let validator = hex::encode(key("fuzz validator").public_key().to_compressed());
        fields.insert("validators".into(), json!([validator]));
    }
    spec
}

impl Api {
    fn get() -> &'static Self {
        static API: OnceLock<Api> = OnceLock::new();
        API.get_or_init(Self::start)
    }

    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("no runtime: {e}"));
        let owner = key("fuzz owner");
        // The owner is also the operator: it grants itself its campaigns' budgets.
        let mut config = Config {
            data_dir: data_dir(),
            db_readers: 1,
            dev: true,
            chains: Config::dev_chains(),
            operators: vec![owner.public_key().address().to_checksum()],
            ..Config::default()
        };
        // Its validator is nobody's approved one, as in `datahub dev`.
        config.open_validators = true;
        // One address sends every fuzzed request: the per-address limit would answer 429s.
        config.limits.address_per_sec = 1e9;
        config.limits.address_burst = 1e9;
        let relay = Relay::open(config, 8080).unwrap_or_else(|e| panic!("relay: {e}"));
        let router = Relay::router(&relay);
        let wallet = key("fuzz wallet");
        let session_key = key("fuzz session");
        let contract = relay
            .config
            .chain(CHAIN)
            .and_then(|chain| Address::parse(&chain.claim_contract).ok())
            .unwrap_or_else(|| panic!("the development configuration has no chain {CHAIN}"));
        let domain = Eip712Domain {
            name: "DataHub".into(),
            version: "1".into(),
            chain_id: ChainId(CHAIN),
            verifying_contract: contract,
        };
        let (token, lease) = runtime.block_on(async {
            let grant = json!({
                "request_id": "fuzz-fixtures",
                "requester": owner.public_key().address().to_checksum(),
                "chain_id": CHAIN,
                "token": "USDT",
                "amount": "1000",
            });
            let request = signed(
                &owner,
                &relay.address,
                "/v1/treasury/grants",
                grant.to_string().into_bytes(),
            );
            let request = request.unwrap_or_else(|| panic!("fixture grant request"));
            expect_ok("grant", send(&router, request).await);
            for (id, upload) in [
                (CAMPAIGN, false),
                (UPLOAD_CAMPAIGN, true),
                (STATUS_CAMPAIGN, false),
            ] {
                let spec = campaign_fixture(id, &owner, upload)
                    .to_string()
                    .into_bytes();
                let request = signed(&owner, &relay.address, "/v1/campaigns", spec);
                let request = request.unwrap_or_else(|| panic!("fixture campaign request"));
                expect_ok("campaign", send(&router, request).await);
            }
            let token = sign_in(&router, &wallet, &session_key).await;
            let path = format!("/v1/campaigns/{CAMPAIGN}/next");
            let request = post(&path, Some(&token), Vec::new());
            let request = request.unwrap_or_else(|| panic!("fixture next request"));
            let task = expect_ok("next", send(&router, request).await);
            let lease = task
                .get("lease")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("fixture next: no lease in {task}"))
                .to_owned();
            (token, lease)
        });
        Self {
            runtime,
            router,
            relay,
            owner,
            wallet,
            token,
            session_key,
            domain,
            lease,
        }
    }
}

/// Signs `wallet` in with a session key for any campaign; the bearer token.
async fn sign_in(router: &Router, wallet: &SecretKey, session_key: &SecretKey) -> String {
    let request = post("/v1/auth/nonce", None, b"{}".to_vec());
    let nonce = expect_ok(
        "nonce",
        send(router, request.unwrap_or_else(|| panic!("nonce"))).await,
    );
    let nonce = nonce
        .get("nonce")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
    let grant = SessionGrant {
        key: session_key.public_key().address(),
        expires: Timestamp::from_unix_millis(now.unix_millis() + 24 * 3_600_000),
        campaigns: CampaignScope::Any,
        reward_cap: U256::from_u64(1_000_000_000_000),
    };
    let message = grant
        .siwe_message(
            wallet.public_key().address(),
            "127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            ChainId(CHAIN),
            nonce,
            now,
            Some("Sign in to DataHub"),
        )
        .to_string();
    let signature = personal::sign_message(wallet, message.as_bytes());
    let body = json!({ "message": message, "signature": signature.to_hex() });
    let request = post("/v1/auth/session", None, body.to_string().into_bytes());
    let session = expect_ok(
        "sign-in",
        send(router, request.unwrap_or_else(|| panic!("sign-in"))).await,
    );
    session
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("fixture sign-in: no token in {session}"))
        .to_owned()
}

/// A nonce the relay just issued (empty if it issued none: the sign-in then fails as it should).
async fn fresh_nonce(router: &Router) -> String {
    let Some(request) = post("/v1/auth/nonce", None, b"{}".to_vec()) else {
        return String::new();
    };
    let (_, body) = send(router, request).await;
    serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("nonce").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

/// How an endpoint authenticates.
#[derive(Clone, Copy)]
enum Auth {
    None,
    /// A contributor's bearer token.
    Bearer,
    /// Signed by the fixture key.
    Signed,
    /// The body is a sign-in message, sent with the fixture wallet's signature of it; `WALLET`
    /// in it becomes the wallet's address, `NONCE` a nonce the relay just issued and `NOW` the
    /// time (RFC 3339).
    SignIn,
    /// A contributor's bearer token, and the body's receipt signed by its session key (see
    /// [`sign_receipt`]).
    Receipt,
}

/// The relay's `POST` endpoints with a body. `{campaign}`, `{lease}` and `{job}` are filled with
/// a fixture's id, or with bytes from the input.
const ENDPOINTS: [(&str, Auth); 17] = [
    ("/v1/auth/nonce", Auth::None),
    ("/v1/auth/session", Auth::None),
    ("/v1/auth/session", Auth::SignIn),
    ("/v1/campaigns", Auth::Signed),
    ("/v1/campaigns/{status}/status", Auth::Signed),
    ("/v1/campaigns/{campaign}/next", Auth::Bearer),
    ("/v1/leases/{lease}/skip", Auth::Bearer),
    ("/v1/submissions", Auth::Bearer),
    ("/v1/claims", Auth::Bearer),
    ("/v1/validation/jobs/next", Auth::Signed),
    ("/v1/validation/jobs/{job}/verdict", Auth::Signed),
    ("/v1/nodes/register", Auth::Signed),
    ("/v1/nodes/heartbeat", Auth::Signed),
    ("/v1/objects", Auth::Signed),
    ("/v1/objects", Auth::Bearer),
    ("/v1/submissions", Auth::Receipt),
    ("/v1/treasury/grants", Auth::Signed),
];

/// Flag bits of the input's second byte.
const NO_AUTH: u8 = 1;
const ID_FROM_INPUT: u8 = 2;
const UPLOAD: u8 = 4;

/// A path segment's bytes, percent-encoded so any input makes a valid URI.
fn segment(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Any JSON-bodied `POST` of the relay, through the real router on a real (SQLite) database.
/// Whatever the body:
///
/// - the relay never panics and never answers 5xx (a 5xx on a client's bytes is a bug: the
///   client should hear what it did wrong);
/// - a call without its signature or token to an endpoint that needs one never succeeds, and
///   changes nothing in the database (every row of every table is as it was);
/// - the ledger still balances: every account's balance is what its transfers say, the
///   balances sum to zero, and only `escrow` and `operator` accounts are below zero.
///
/// Input: one byte picks the endpoint ([`ENDPOINTS`]), one byte of flags: [`NO_AUTH`] sends it
/// without its signature or token; [`ID_FROM_INPUT`] takes the path's id from the input up to
/// its first newline; [`UPLOAD`] names the image-upload campaign instead of the other. The rest
/// is the body.
pub fn api(data: &[u8]) {
    let _ = api_status(data);
}

/// [`api`], returning the status the relay answered (`None` when the input makes no request), so
/// that a seed can be held to the status it was written to reach.
pub fn api_status(data: &[u8]) -> Option<StatusCode> {
    let [pick, flags, rest @ ..] = data else {
        return None;
    };
    let &(template, auth) = ENDPOINTS.get(usize::from(*pick) % ENDPOINTS.len())?;
    let api = Api::get();
    let (id, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) if flags & ID_FROM_INPUT != 0 => {
            let (id, body) = rest.split_at(at);
            (Some(segment(id)), body.get(1..).unwrap_or_default())
        }
        _ => (None, rest),
    };
    let campaign = if flags & UPLOAD != 0 {
        UPLOAD_CAMPAIGN
    } else {
        CAMPAIGN
    };
    let fill = |fixture: &str| id.clone().unwrap_or_else(|| fixture.to_owned());
    let path = template
        .replace("{campaign}", &fill(campaign))
        .replace("{status}", &fill(STATUS_CAMPAIGN))
        .replace("{lease}", &fill(&api.lease))
        .replace("{job}", &fill("1"));
    let needs_auth = !matches!(auth, Auth::None | Auth::SignIn);
    let unauthenticated = flags & NO_AUTH != 0 && needs_auth;
    let auth = if flags & NO_AUTH != 0 {
        Auth::None
    } else {
        auth
    };
    let request = match auth {
        Auth::None => post(&path, None, body.to_vec()),
        Auth::Bearer => post(&path, Some(&api.token), body.to_vec()),
        Auth::Signed => signed(&api.owner, &api.relay.address, &path, body.to_vec()),
        Auth::SignIn => {
            let mut message = String::from_utf8_lossy(body)
                .replace("WALLET", &api.wallet.public_key().address().to_checksum());
            if message.contains("NONCE") {
                let nonce = api.runtime.block_on(fresh_nonce(&api.router));
                message = message.replace("NONCE", &nonce);
            }
            // A fixed time in a seed would age out of the sign-in window and the seed with it.
            if message.contains("NOW") {
                let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
                message = message.replace("NOW", &now.to_rfc3339());
            }
            let signature = personal::sign_message(&api.wallet, message.as_bytes());
            let body = json!({ "message": message, "signature": signature.to_hex() });
            post(&path, None, body.to_string().into_bytes())
        }
        Auth::Receipt => {
            let body = sign_receipt(api, body).unwrap_or_else(|| body.to_vec());
            post(&path, Some(&api.token), body)
        }
    };
    let request = request?;
    let before = unauthenticated.then(|| database_digest(api));
    let (status, answer) = api.runtime.block_on(send(&api.router, request));
    assert!(
        !status.is_server_error(),
        "POST {path} answered {status}: {answer}"
    );
    if let Some(before) = before {
        assert!(
            !status.is_success(),
            "POST {path} without its signature or token succeeded: {status} {answer}"
        );
        assert!(
            database_digest(api) == before,
            "POST {path} without its signature or token changed the database ({status} {answer})"
        );
    }
    check_ledger(api);
    Some(status)
}

/// A digest of every row of every table of the fuzzed relay's database.
fn database_digest(api: &Api) -> [u8; 32] {
    let db = api.relay.db.clone();
    let digest: Result<[u8; 32], datahub_relay::db::DbError> =
        api.runtime.block_on(db.read(|conn| {
            let mut hasher = blake3::Hasher::new();
            let tables = conn.query(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                &[],
            )?;
            for table in tables {
                let name = table.text(0)?;
                hasher.update(name.as_bytes());
                // Every row, in a fixed order: the first column is each table's key or row order.
                for row in conn.query(&format!("SELECT * FROM \"{name}\" ORDER BY 1"), &[])? {
                    hasher.update(format!("{row:?}").as_bytes());
                }
            }
            Ok(*hasher.finalize().as_bytes())
        }));
    digest.unwrap_or_else(|e| panic!("the fuzzed relay's database cannot be read: {e}"))
}

/// The ledger still balances (see [`api`]); panics naming what does not.
fn check_ledger(api: &Api) {
    let db = api.relay.db.clone();
    let problems: Result<Vec<String>, datahub_relay::db::DbError> = api.runtime.block_on(db.read(|conn| {
        let mut problems = Vec::new();
        let rows = conn.query(
            "SELECT a.id, a.kind, a.balance, \
                 COALESCE((SELECT SUM(amount) FROM transfers WHERE credit = a.id), 0) \
                 - COALESCE((SELECT SUM(amount) FROM transfers WHERE debit = a.id), 0) \
             FROM accounts a",
            &[],
        )?;
        let mut total: i128 = 0;
        for row in rows {
            let (id, kind, balance, moved) = (row.text(0)?, row.text(1)?, row.int(2)?, row.int(3)?);
            total += i128::from(balance);
            if balance != moved {
                // The transfers themselves, so that a failure says which movement disagrees.
                let transfers = conn.query(
                    "SELECT id, debit, credit, amount FROM transfers WHERE debit = $1 OR credit = $1",
                    &[datahub_relay::db::Value::from(id.clone())],
                )?;
                problems.push(format!(
                    "{id} holds {balance} but its transfers say {moved}: {transfers:?}"
                ));
            }
            if balance < 0 && !matches!(kind.as_str(), "escrow" | "operator") {
                problems.push(format!("{id} ({kind}) is below zero: {balance}"));
            }
        }
        if total != 0 {
            problems.push(format!("the balances sum to {total}, not zero"));
        }
        Ok(problems)
    }));
    let problems =
        problems.unwrap_or_else(|e| panic!("the fuzzed relay's ledger cannot be read: {e}"));
    assert!(
        problems.is_empty(),
        "the ledger does not balance: {}",
        problems.join("; ")
    );
}

/// A submission body with its `signature` replaced by the session key's signature of the
/// receipt it describes, so it gets past the signature check; a `task` of `"LEASE"` becomes the
/// fixture lease. `None` when the body does not describe a receipt.
fn sign_receipt(api: &Api, body: &[u8]) -> Option<Vec<u8>> {
    let mut fields: serde_json::Map<String, Value> = serde_json::from_slice(body).ok()?;
    if fields.get("task").and_then(Value::as_str) == Some("LEASE") {
        fields.insert("task".into(), json!(api.lease));
    }
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    let manifest_id = match text("manifest_id") {
        None => [0; 32],
        Some(id) => hex::decode(id.trim_start_matches("0x"))
            .ok()?
            .try_into()
            .ok()?,
    };
    let receipt = SubmissionReceipt {
        campaign: text("campaign")?.to_owned(),
        task: text("task")?.to_owned(),
        answer_hash: keccak256(text("answer")?.as_bytes()),
        manifest_id,
        nonce: U256::parse(text("nonce")?).ok()?,
        deadline: fields.get("deadline")?.as_u64()?,
        licence: String::new(),
        terms_hash: [0; 32],
    };
    let signature = receipt.sign(&api.session_key, &api.domain);
    fields.insert("signature".into(), json!(signature.to_hex()));
    serde_json::to_vec(&fields).ok()
}

/// A storage node made once per process: its router, the relay it obeys and a shard it holds.
struct Node {
    runtime: tokio::runtime::Runtime,
    router: Router,
    store: Arc<datahub_node::store::MemoryStore>,
    address: Address,
    relay: SecretKey,
    shard: Vec<u8>,
}

impl Node {
    fn get() -> &'static Self {
        static NODE: OnceLock<Node> = OnceLock::new();
        NODE.get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("no runtime: {e}"));
            let relay = key("fuzz relay");
            let address = key("fuzz node").public_key().address();
            let store = Arc::new(datahub_node::store::MemoryStore::new());
            // Several chunks, so range proofs have a tree to walk.
            let shard: Vec<u8> = (0..5000_u32).map(|i| (i % 251) as u8).collect();
            store.insert_unchecked(datahub_core::ShardId::of(&shard), shard.clone());
            let state = datahub_node::api::AppState::new(store.clone(), address, "fuzz", 1 << 30);
            let _ = state.set_relay(relay.public_key().address());
            Self {
                router: datahub_node::api::app(state),
                store,
                runtime,
                address,
                relay,
                shard,
            }
        })
    }
}

/// What a node may be asked, by the input's first byte.
const NODE_METHODS: [&str; 6] = ["PUT", "GET", "DELETE", "GET proof", "GET status", "PATCH"];

/// Flag bits of the node input's second byte.
const HELD_SHARD: u8 = 1;
const SIGN: u8 = 2;
const HELD_BYTES: u8 = 4;

/// Any request to a storage node, through its real router: whatever the shard id, `Range`
/// header, proof query, signature headers and body, the node never panics and never answers
/// 5xx; a write (anything but a `GET`) that the relay did not sign never succeeds and changes
/// nothing in the store (the shards it holds, their count and bytes).
///
/// Input: one byte picks the method ([`NODE_METHODS`]), one byte of flags, then up to three
/// newline-separated parts: the shard id (unless [`HELD_SHARD`] names the shard the node holds),
/// a header's value (`Range` for a read, the query for a proof, the signature for a write unless
/// [`SIGN`] has the relay sign it), and the body (or the held shard's bytes, [`HELD_BYTES`]).
/// A `DELETE` is never signed: it would empty the node for the rest of the run.
pub fn node_api(data: &[u8]) {
    let _ = node_api_status(data);
}

/// [`node_api`], returning the status the node answered (`None` when the input makes no
/// request), so that a seed can be held to the status it was written to reach.
pub fn node_api_status(data: &[u8]) -> Option<StatusCode> {
    let [pick, flags, rest @ ..] = data else {
        return None;
    };
    let &what = NODE_METHODS.get(usize::from(*pick) % NODE_METHODS.len())?;
    let node = Node::get();
    let mut parts = rest.splitn(3, |&b| b == b'\n');
    let id = parts.next().unwrap_or_default();
    let value = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let id = if flags & HELD_SHARD != 0 {
        datahub_core::ShardId::of(&node.shard).to_string()
    } else {
        segment(id)
    };
    let body = if flags & HELD_BYTES != 0 {
        node.shard.clone()
    } else {
        body.to_vec()
    };
    let (method, uri) = match what {
        "GET proof" => {
            let query: String = value
                .iter()
                .map(|&b| {
                    if b.is_ascii_alphanumeric() || b"-._~=&".contains(&b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            (Method::GET, format!("/v1/shards/{id}/proof?{query}"))
        }
        "GET status" => (Method::GET, "/v1/status".to_owned()),
        other => (
            Method::from_bytes(other.as_bytes()).ok()?,
            format!("/v1/shards/{id}"),
        ),
    };
    // A client's HTTP library sends the length of what it sends; without it a node answers 411
    // to every write before reading it.
    let mut builder = Request::builder()
        .method(method.clone())
        .uri(&uri)
        .header(header::CONTENT_LENGTH, body.len());
    // An empty part means no such header.
    let header_value = (!value.is_empty())
        .then(|| HeaderValue::from_bytes(value).ok())
        .flatten();
    if method == Method::GET {
        if let Some(range) = header_value {
            builder = builder.header(header::RANGE, range);
        }
    } else if flags & SIGN != 0 && method == Method::PUT {
        let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
        let signature = request::sign_request(
            &node.relay,
            method.as_str(),
            &uri,
            &body,
            now,
            &node.address,
        );
        builder = builder
            .header(request::TIME_HEADER, now.unix_millis().to_string())
            .header(request::SIGNATURE_HEADER, signature.to_hex());
    } else if let Some(signature) = header_value {
        let now = datahub_relay::clock::now_ms();
        builder = builder
            .header(request::TIME_HEADER, now.to_string())
            .header(request::SIGNATURE_HEADER, signature);
    }
    let request = builder.body(Body::from(body)).ok()?;
    let unsigned_write = method != Method::GET && !(method == Method::PUT && flags & SIGN != 0);
    let before = unsigned_write.then(|| store_digest(node));
    let (status, answer) = node.runtime.block_on(send(&node.router, request));
    assert!(
        !status.is_server_error(),
        "{method} {uri} answered {status}: {answer}"
    );
    if let Some(before) = before {
        assert!(
            !status.is_success(),
            "{method} {uri} not signed by the relay succeeded: {status} {answer}"
        );
        assert!(
            store_digest(node) == before,
            "{method} {uri} not signed by the relay changed the store ({status} {answer})"
        );
    }
    Some(status)
}

/// What the fuzzed node holds: its usage, and whether it still has the held shard intact.
fn store_digest(node: &Node) -> (u64, u64, bool) {
    use datahub_node::store::ShardStore;
    let usage = node
        .store
        .usage()
        .unwrap_or_else(|e| panic!("the fuzzed node's store cannot be read: {e}"));
    let held = node
        .store
        .get(&datahub_core::ShardId::of(&node.shard))
        .ok()
        .flatten();
    (
        usage.bytes,
        usage.shards,
        held.as_deref() == Some(node.shard.as_slice()),
    )
}

/// What a JSON-RPC endpoint says about a log or a block (the relay does not trust it): reading
/// it never panics; a log that reads decodes as `Deposited` or `Claimed` or is refused, never
/// panics; a decoded event's amount fits the ledger or is refused.
pub fn chain_log(data: &[u8]) {
    use datahub_relay::chain::abi::{Claimed, Deposited};
    use datahub_relay::chain::rpc::{BlockRef, Log};
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = BlockRef::parse(&value);
    let Ok(log) = Log::parse(&value) else {
        return;
    };
    assert!(log.topics.len() <= 4);
    if let Ok(deposit) = Deposited::decode(&log.topics, &log.data) {
        assert_eq!(log.topics.len(), 4);
        assert_eq!(log.data.len(), 32);
        let _ = datahub_relay::chain::to_ledger_units(&deposit.amount, 18);
        let _ = datahub_relay::chain::to_ledger_units(&deposit.amount, 6);
    }
    if let Ok(claim) = Claimed::decode(&log.topics, &log.data) {
        assert_eq!(log.topics.len(), 4);
        let _ = datahub_relay::chain::to_ledger_units(&claim.amount, 18);
    }
}
