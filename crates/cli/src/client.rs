//! The relay's HTTP API as the CLI uses it (see `docs/cli.md` for the endpoints), and plain
//! shard reads from storage nodes.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use datahub_core::eth::Timestamp;
use datahub_core::request::{SIGNATURE_HEADER, TIME_HEADER, sign_request};
use datahub_core::{Address, ObjectId, SecretKey, ShardId};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

/// An answer that is not a success: the status and the relay's (or node's) `{error, message}`.
#[derive(Debug)]
pub struct ApiFailure {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable error code, or empty when the body was not the JSON error shape.
    pub code: String,
    /// What the server said, for people.
    pub message: String,
    /// How long a 429 asks us to wait.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "the server answered {}", self.status)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for ApiFailure {}

impl ApiFailure {
    /// Whether trying again (freshly signed, after a pause) may succeed.
    pub fn retryable(&self) -> bool {
        self.status.is_server_error()
            || self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status == StatusCode::REQUEST_TIMEOUT
            || self.code == "replayed"
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

/// `{"object", "shards", "stored", "missing"}`: what the relay still needs of an object.
#[derive(Debug, Deserialize)]
pub struct Missing {
    /// Shards in the object.
    pub shards: u64,
    /// Ids of the shards still to upload.
    pub missing: Vec<String>,
}

/// One shard's place, in `GET /v1/objects/{id}/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct ShardPlace {
    /// Its position in the segment (data shards first).
    pub position: usize,
    /// Its id.
    pub shard: String,
    /// Its length in bytes.
    #[serde(default)]
    pub len: u64,
    /// The node holding it, if any.
    pub node: Option<String>,
    /// That node's endpoint.
    pub endpoint: Option<String>,
    /// Whether that node is alive.
    #[serde(default)]
    pub alive: bool,
}

/// One segment, in `GET /v1/objects/{id}/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct SegmentStatus {
    /// Its index.
    pub segment: u32,
    /// Data shards.
    pub k: usize,
    /// Parity shards.
    pub m: usize,
    /// Shards on live nodes.
    pub healthy: usize,
    /// Distinct nodes holding those (fewer than `healthy`: two on one node).
    #[serde(default)]
    pub nodes: Option<usize>,
    /// Node losses the segment survives, the fullest nodes lost first.
    #[serde(default)]
    pub survives: Option<usize>,
    /// `ok`, `reduced` (all shards healthy but two on one node or in one region), `at_risk`
    /// or `unreadable`; absent from relays before it.
    #[serde(default)]
    pub state: Option<String>,
    /// Where each shard is.
    pub shards: Vec<ShardPlace>,
}

/// `GET /v1/objects/{id}/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct ObjectStatus {
    /// Plaintext or sealed size as the relay reports it.
    #[serde(default)]
    pub size: u64,
    /// Whether every shard is stored.
    #[serde(default)]
    pub complete: bool,
    /// Segments not fully safe: fewer than `k + m` healthy shards, or reduced redundancy.
    #[serde(default)]
    pub at_risk: u64,
    /// Of those, segments whose shards are all healthy but two share a node or a region.
    #[serde(default)]
    pub reduced: u64,
    /// Every segment.
    pub segments: Vec<SegmentStatus>,
}

/// One node, in `GET /v1/nodes`.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeInfo {
    /// Its address.
    pub address: String,
    /// Its region.
    #[serde(default)]
    pub region: String,
    /// Whether the relay hears its heartbeats.
    #[serde(default)]
    pub alive: bool,
}

#[derive(Deserialize)]
struct Nodes {
    nodes: Vec<NodeInfo>,
}

#[derive(Deserialize)]
struct Info {
    relay_address: String,
}

/// A client of one relay.
#[derive(Clone)]
pub struct Relay {
    http: reqwest::Client,
    base: Url,
}

impl Relay {
    /// A client of the relay at `url` (`http://host:port`, optionally with a path prefix).
    pub fn new(url: &str) -> Result<Self> {
        let mut base = Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .with_context(|| {
                format!("invalid relay URL {url:?}: expected http://host:port or https://host")
            })?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .context("could not set up the HTTP client")?;
        Ok(Self { http, base })
    }

    /// The relay's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The HTTP client (shared with node reads).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .with_context(|| format!("cannot build a URL from {} and {path}", self.base))
    }

    fn unreachable(&self, e: reqwest::Error) -> anyhow::Error {
        anyhow::Error::new(e).context(format!(
            "cannot reach the relay at {}: is it running (`datahub dev`)? pass another with --relay",
            self.base
        ))
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>> {
        let response = self
            .http
            .get(self.url(path)?)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        match checked(response).await {
            Ok(body) => Ok(body),
            Err(failure) => match self.not_a_relay(&failure).await {
                Some(diagnosis) => Err(diagnosis),
                None => Err(failure.into()),
            },
        }
    }

    /// When the server answered "no such endpoint" (or something that is not JSON) to a
    /// relay path: says what the URL is instead (a storage node, or a relay under another
    /// path), so that users do not read "no such endpoint" about a URL they typed.
    async fn not_a_relay(&self, failure: &ApiFailure) -> Option<anyhow::Error> {
        let no_endpoint = failure.status == StatusCode::NOT_FOUND
            && (failure.code == "no_route" || failure.code == "not_found");
        if !no_endpoint {
            return None;
        }
        Some(self.what_it_is().await)
    }

    /// What the server at this URL is, as an error for users: a storage node, a relay at
    /// another path, or not a DataHub relay at all.
    async fn what_it_is(&self) -> anyhow::Error {
        let base = &self.base;
        let mut origin = base.clone();
        origin.set_path("/");
        origin.set_query(None);
        let probe = |path: &'static str| {
            let url = origin.join(path);
            let http = self.http.clone();
            async move {
                let response = http
                    .get(url.ok()?)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .ok()?;
                let body = checked(response).await.ok()?;
                serde_json::from_slice::<serde_json::Value>(&body).ok()
            }
        };
        if let Some(status) = probe("v1/status").await
            && status.get("capacity").is_some()
            && status.get("address").is_some()
        {
            return anyhow::anyhow!(
                "{base} is a storage node, not a relay: pass the relay's URL with --relay (`datahub dev` prints it as \"ready: URL\")"
            );
        }
        if base.path() != "/"
            && let Some(info) = probe("v1/info").await
            && info.get("relay_address").is_some()
        {
            let origin = origin.as_str().trim_end_matches('/');
            return anyhow::anyhow!(
                "{base} is not a relay's URL, but {origin} is: pass --relay {origin} (without the path)"
            );
        }
        anyhow::anyhow!(
            "{base} is not a DataHub relay (it has no /v1/info): pass the relay's URL with --relay"
        )
    }

    /// The relay's address, which signed requests name as their audience.
    pub async fn address(&self) -> Result<Address> {
        let body = self.get("v1/info").await?;
        let Ok(info) = serde_json::from_slice::<Info>(&body) else {
            return Err(self.what_it_is().await);
        };
        Address::parse(&info.relay_address)
            .map_err(|e| anyhow::anyhow!("the relay's /v1/info has a bad relay_address: {e}"))
    }

    /// Sends a request signed by `key` for the relay `audience`.
    async fn signed(
        &self,
        key: &SecretKey,
        audience: &Address,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<Vec<u8>, SendError> {
        self.signed_with_status(key, audience, method, path, body)
            .await
            .map(|(_, body)| body)
    }

    /// Sends a request signed by `key` for the relay `audience`; the success status with the
    /// body (`201` and `200` say different things for some endpoints).
    async fn signed_with_status(
        &self,
        key: &SecretKey,
        audience: &Address,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Vec<u8>), SendError> {
        let url = self.url(path).map_err(SendError::Other)?;
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let time = Timestamp::from_unix_millis(now_ms());
        let signature = sign_request(key, method.as_str(), &target, &body, time, audience);
        let response = self
            .http
            .request(method, url)
            .header(TIME_HEADER, time.unix_millis().to_string())
            .header(SIGNATURE_HEADER, signature.to_hex())
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Network(self.unreachable(e)))?;
        let status = response.status();
        match checked(response).await {
            Ok(body) => Ok((status, body)),
            Err(failure) => match self.not_a_relay(&failure).await {
                Some(diagnosis) => Err(SendError::Other(diagnosis)),
                None => Err(SendError::Api(failure)),
            },
        }
    }

    /// A request signed by `key` for the relay `audience`, with a JSON (or empty) body; the
    /// answer's bytes.
    pub async fn send_signed(
        &self,
        key: &SecretKey,
        audience: &Address,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, SendError> {
        let bytes = match body {
            Some(json) => Bytes::from(json.to_string()),
            None => Bytes::new(),
        };
        self.signed(key, audience, method, path, bytes).await
    }

    /// `GET path`, unsigned, as JSON.
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value> {
        let body = self.get(path).await?;
        serde_json::from_slice(&body)
            .with_context(|| format!("the relay's answer to {path} is not JSON"))
    }

    /// `POST /v1/objects` with the manifest: registers the object, answers what is missing.
    pub async fn post_manifest(
        &self,
        key: &SecretKey,
        audience: &Address,
        manifest: &[u8],
    ) -> Result<Missing> {
        let body = self
            .signed(
                key,
                audience,
                Method::POST,
                "v1/objects",
                Bytes::copy_from_slice(manifest),
            )
            .await
            .map_err(SendError::into_anyhow)?;
        serde_json::from_slice(&body).context("the relay's answer to the manifest is not JSON")
    }

    /// `GET /v1/objects/{id}/missing`.
    pub async fn missing(&self, id: &ObjectId) -> Result<Missing> {
        let body = self.get(&format!("v1/objects/{id}/missing")).await?;
        serde_json::from_slice(&body).context("the relay's list of missing shards is not JSON")
    }

    /// `PUT /v1/objects/{id}/shards/{shard}`, once.
    pub async fn put_shard(
        &self,
        key: &SecretKey,
        audience: &Address,
        id: &ObjectId,
        shard: &ShardId,
        bytes: Bytes,
    ) -> Result<(), SendError> {
        self.signed(
            key,
            audience,
            Method::PUT,
            &format!("v1/objects/{id}/shards/{shard}"),
            bytes,
        )
        .await
        .map(drop)
    }

    /// `GET /v1/objects/{id}`: the manifest's bytes (unchecked: the caller checks the id).
    pub async fn manifest(&self, id: &ObjectId) -> Result<Vec<u8>> {
        self.get(&format!("v1/objects/{id}")).await
    }

    /// `GET /v1/objects/{id}/status` as it came.
    pub async fn status_raw(&self, id: &ObjectId) -> Result<Vec<u8>> {
        self.get(&format!("v1/objects/{id}/status")).await
    }

    /// `GET /v1/objects/{id}/status`.
    pub async fn status(&self, id: &ObjectId) -> Result<ObjectStatus> {
        let body = self.status_raw(id).await?;
        serde_json::from_slice(&body).context("the relay's object status is not the expected JSON")
    }

    /// `GET /v1/nodes`.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>> {
        let body = self.get("v1/nodes").await?;
        let nodes: Nodes =
            serde_json::from_slice(&body).context("the relay's node list is not JSON")?;
        Ok(nodes.nodes)
    }

    /// `GET /v1/objects/{id}/shards/{shard}`: a shard fetched (and checked) by the relay.
    pub async fn shard(&self, id: &ObjectId, shard: &ShardId) -> Result<Vec<u8>> {
        self.get(&format!("v1/objects/{id}/shards/{shard}")).await
    }

    /// `GET /v1/info` as JSON.
    pub async fn info(&self) -> Result<serde_json::Value> {
        let body = self.get("v1/info").await?;
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(info) if info.get("relay_address").is_some() => Ok(info),
            _ => Err(self.what_it_is().await),
        }
    }

    /// `POST /v1/campaigns` with a campaign definition (JSON), signed by its requester. The
    /// summary, and whether the campaign is new (`201`) rather than the same definition sent
    /// again (`200`).
    pub async fn create_campaign(
        &self,
        key: &SecretKey,
        audience: &Address,
        spec: Vec<u8>,
    ) -> Result<(serde_json::Value, bool), SendError> {
        let (status, body) = self
            .signed_with_status(key, audience, Method::POST, "v1/campaigns", spec.into())
            .await?;
        let summary = serde_json::from_slice(&body)
            .context("the relay's answer to the campaign is not JSON")
            .map_err(SendError::Other)?;
        Ok((summary, status == StatusCode::CREATED))
    }

    /// `POST /v1/campaigns/{id}/status` (`paused`, `active` or `closed`), signed by the owner:
    /// the campaign's summary after the change.
    pub async fn set_campaign_status(
        &self,
        key: &SecretKey,
        audience: &Address,
        id: &str,
        status: &str,
    ) -> Result<serde_json::Value, SendError> {
        let body = serde_json::json!({ "status": status }).to_string();
        let path = format!("v1/campaigns/{}/status", path_segment(id));
        let body = self
            .signed(key, audience, Method::POST, &path, body.into())
            .await?;
        serde_json::from_slice(&body)
            .context("the relay's answer to the status change is not JSON")
            .map_err(SendError::Other)
    }

    /// `POST /v1/treasury/grants`, signed by an operator: the grant, and whether it is new
    /// (`201`) rather than the same grant sent again (`200`).
    pub async fn grant(
        &self,
        key: &SecretKey,
        audience: &Address,
        grant: &serde_json::Value,
    ) -> Result<(serde_json::Value, bool), SendError> {
        let (status, body) = self
            .signed_with_status(
                key,
                audience,
                Method::POST,
                "v1/treasury/grants",
                grant.to_string().into(),
            )
            .await?;
        let grant = serde_json::from_slice(&body)
            .context("the relay's answer to the grant is not JSON")
            .map_err(SendError::Other)?;
        Ok((grant, status == StatusCode::CREATED))
    }

    /// `GET /v1/funds`, signed by the requester: its funds per chain and token.
    pub async fn funds(
        &self,
        key: &SecretKey,
        audience: &Address,
    ) -> Result<serde_json::Value, SendError> {
        let body = self
            .signed(key, audience, Method::GET, "v1/funds", Bytes::new())
            .await?;
        serde_json::from_slice(&body)
            .context("the relay's list of funds is not JSON")
            .map_err(SendError::Other)
    }

    /// `GET /v1/campaigns?status=all&owner=`: the campaigns' summaries, every status when
    /// `all`, only `owner`'s when given.
    pub async fn campaigns_filtered(
        &self,
        all: bool,
        owner: Option<&Address>,
    ) -> Result<Vec<serde_json::Value>> {
        let mut query = Vec::new();
        if all {
            query.push("status=all".to_owned());
        }
        if let Some(owner) = owner {
            query.push(format!("owner={}", owner.to_checksum()));
        }
        let path = if query.is_empty() {
            "v1/campaigns".to_owned()
        } else {
            format!("v1/campaigns?{}", query.join("&"))
        };
        #[derive(Deserialize)]
        struct List {
            campaigns: Vec<serde_json::Value>,
        }
        let body = self.get(&path).await?;
        let list: List =
            serde_json::from_slice(&body).context("the relay's campaign list is not JSON")?;
        Ok(list.campaigns)
    }

    /// `GET /v1/campaigns/{id}`: one campaign's summary.
    pub async fn campaign(&self, id: &str) -> Result<serde_json::Value> {
        let body = self
            .get(&format!("v1/campaigns/{}", path_segment(id)))
            .await?;
        serde_json::from_slice(&body).context("the relay's campaign summary is not JSON")
    }
}

/// `GET {endpoint}/v1/shards/{shard}` from a storage node.
pub async fn node_shard(
    http: &reqwest::Client,
    endpoint: &str,
    shard: &ShardId,
) -> Result<Vec<u8>> {
    let url = format!("{}/v1/shards/{shard}", endpoint.trim_end_matches('/'));
    let response = http
        .get(&url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .with_context(|| format!("cannot reach the node at {endpoint}"))?;
    Ok(checked(response).await?)
}

/// Why a signed request failed.
#[derive(Debug)]
pub enum SendError {
    /// The relay could not be reached, or the connection broke.
    Network(anyhow::Error),
    /// The relay answered with an error.
    Api(ApiFailure),
    /// Something on our side.
    Other(anyhow::Error),
}

impl SendError {
    /// Whether trying again may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Network(_) => true,
            Self::Api(e) => e.retryable(),
            Self::Other(_) => false,
        }
    }

    /// As an `anyhow` error.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            Self::Network(e) | Self::Other(e) => e,
            Self::Api(e) => e.into(),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(e) | Self::Other(e) => write!(f, "{e:#}"),
            Self::Api(e) => e.fmt(f),
        }
    }
}

pub(crate) async fn checked(response: reqwest::Response) -> Result<Vec<u8>, ApiFailure> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await.map_err(|e| ApiFailure {
        status,
        code: String::new(),
        message: format!("the connection broke while reading the answer: {e}"),
        retry_after: None,
    })?;
    if status.is_success() {
        return Ok(body.to_vec());
    }
    let (code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(e) => (e.error, e.message),
        Err(_) => (
            String::new(),
            String::from_utf8_lossy(&body).trim().to_owned(),
        ),
    };
    Err(ApiFailure {
        status,
        code,
        message,
        retry_after,
    })
}

/// `text` as one URL path segment: characters other than `A-Z a-z 0-9 - . _ ~` percent-encoded,
/// so an id typed by a user cannot reach another path.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Reads an object id: 64 hex digits.
pub fn parse_object_id(text: &str) -> Result<ObjectId> {
    Ok(ObjectId(parse_hash(text).with_context(|| {
        format!("{text:?} is not an object id: expected 64 hex digits")
    })?))
}

/// Reads a shard id: 64 hex digits.
pub fn parse_shard_id(text: &str) -> Result<ShardId> {
    Ok(ShardId(parse_hash(text).with_context(|| {
        format!("{text:?} is not a shard id: expected 64 hex digits")
    })?))
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}
