//! The node's HTTP API (specified in `docs/storage-node.md`): [`app`] builds the router over an
//! [`AppState`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use datahub_core::eth::Timestamp;
use datahub_core::proof::RangeProof;
use datahub_core::request::{
    DEFAULT_MAX_SKEW_MS, RequestError, SIGNATURE_HEADER, TIME_HEADER, canonical_hashed,
    verify_request_hashed,
};
use datahub_core::{Address, ShardId};
use datahub_protocol::NodeErrorCode;
use serde::{Deserialize, Serialize};

use crate::store::{PutOutcome, ShardStore, StoreError, Usage, parse_shard_id};

/// The largest shard a node takes by default: 16 MiB.
pub const DEFAULT_MAX_SHARD_SIZE: u64 = 16 * 1024 * 1024;
/// The largest body a signed request without a shard (a delete) may carry.
const MAX_SMALL_BODY: usize = 64 * 1024;
/// The longest a request body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What the handlers share: the store, the node's identity and its limits.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    store: Arc<dyn ShardStore>,
    address: Address,
    region: String,
    capacity: u64,
    max_shard_size: u64,
    max_skew_ms: i64,
    relay: OnceLock<Address>,
    clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
    seen: Arc<Mutex<SeenSignatures>>,
}

/// Deletes accepted lately (by what was signed), with their time, so a captured request
/// cannot be played again (a replayed delete would remove a shard the relay since re-placed).
/// A request older than the allowed clock skew is refused as stale anyway, so entries older than
/// that are dropped.
#[derive(Default)]
struct SeenSignatures {
    by_signature: HashMap<String, i64>,
}

impl SeenSignatures {
    /// The most signatures remembered; past that the node refuses signed requests for a moment
    /// rather than forget one that could be replayed.
    const MAX: usize = 1_000_000;

    /// Records `signature` made at `time_ms`; false if it was seen already (or the memory is
    /// full).
    fn first_time(&mut self, signature: &str, time_ms: i64, now_ms: i64, skew_ms: i64) -> bool {
        let horizon = now_ms.saturating_sub(skew_ms.saturating_mul(2));
        if self.by_signature.len() >= Self::MAX / 2 {
            self.by_signature.retain(|_, t| *t >= horizon);
        }
        if self.by_signature.len() >= Self::MAX || self.by_signature.contains_key(signature) {
            return false;
        }
        self.by_signature.insert(signature.to_owned(), time_ms);
        true
    }
}

/// The system clock as a [`Timestamp`].
pub fn system_now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_unix_millis(millis)
}

impl AppState {
    /// A node with address `address` in `region`, holding at most `capacity` bytes in `store`,
    /// taking shards up to [`DEFAULT_MAX_SHARD_SIZE`], using the system clock. Writes are refused
    /// until the relay's address is known ([`AppState::set_relay`]).
    pub fn new(
        store: Arc<dyn ShardStore>,
        address: Address,
        region: impl Into<String>,
        capacity: u64,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                address,
                region: region.into(),
                capacity,
                max_shard_size: DEFAULT_MAX_SHARD_SIZE,
                max_skew_ms: DEFAULT_MAX_SKEW_MS,
                relay: OnceLock::new(),
                clock: Arc::new(system_now),
                seen: Arc::default(),
            }),
        }
    }

    /// The same node, taking shards of at most `bytes`.
    pub fn with_max_shard_size(mut self, bytes: u64) -> Self {
        Arc::make_mut(&mut self.inner).max_shard_size = bytes;
        self
    }

    /// The same node, reading time from `clock` (for tests).
    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.inner).clock = Arc::new(clock);
        self
    }

    /// Accepts writes and deletes signed by `relay` from now on. The relay is set once; whether
    /// this call set it.
    pub fn set_relay(&self, relay: Address) -> bool {
        self.inner.relay.set(relay).is_ok()
    }

    /// The relay's address, once known.
    pub fn relay(&self) -> Option<Address> {
        self.inner.relay.get().copied()
    }

    /// This node's address.
    pub fn address(&self) -> Address {
        self.inner.address
    }

    /// This node's region.
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// This node's capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.inner.capacity
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ShardStore> {
        &self.inner.store
    }

    /// What the store holds, from a blocking thread.
    pub async fn usage(&self) -> Result<Usage, ApiError> {
        let store = self.inner.store.clone();
        blocking(move || store.usage()).await
    }

    /// What the store holds and the bytes this node offers, from a blocking thread.
    pub async fn room(&self) -> Result<(Usage, u64), ApiError> {
        let state = self.clone();
        blocking(move || state.room_now()).await
    }

    /// What the store holds and the bytes this node offers: its capacity, or less when the disk
    /// has less room left than that, so that the relay stops placing shards on a disk that other
    /// data filled.
    fn room_now(&self) -> Result<(Usage, u64), StoreError> {
        let store = self.store();
        let usage = store.usage()?;
        let offered = match store.free_space()? {
            Some(free) => self.capacity().min(usage.bytes.saturating_add(free)),
            None => self.capacity(),
        };
        Ok((usage, offered))
    }
}

/// An error answered as JSON `{"error": code, "message": text}` with its status. Internal
/// failures are logged and answered as a bare 500 that leaks nothing.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: NodeErrorCode,
    message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, code: NodeErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            NodeErrorCode::Internal,
            "the node could not complete the request; try again later",
        )
    }

    fn full() -> Self {
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            NodeErrorCode::InsufficientStorage,
            "this node is full; place the shard on another node",
        )
    }

    fn bad_id() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            NodeErrorCode::BadShardId,
            "a shard id is 64 lower-case hex digits (the BLAKE3 hash of the shard)",
        )
    }

    fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            NodeErrorCode::NotFound,
            "this node does not hold that shard",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable snake-case code.
    pub fn code(&self) -> NodeErrorCode {
        self.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.as_str(),
            message: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(StoreError::WrongId)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            NodeErrorCode::WrongId,
            "the body does not hash to the shard id in the path",
        )),
        Ok(Err(StoreError::RangeOutOfBounds)) => Err(ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            NodeErrorCode::RangeNotSatisfiable,
            "the range is outside the shard",
        )),
        Ok(Err(StoreError::Full { context })) => {
            tracing::warn!(%context, "the disk is full");
            Err(ApiError::full())
        }
        Ok(Err(e)) => Err(ApiError::internal(e)),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The node's router: `PUT`/`GET`/`DELETE /v1/shards/{id}`, `GET /v1/shards/{id}/proof`,
/// `GET /v1/status` and `GET /healthz`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(
            "/v1/shards/{id}",
            put(put_shard).get(get_shard).delete(delete_shard),
        )
        .route("/v1/shards/{id}/proof", get(get_proof))
        .route("/v1/status", get(status))
        .route("/healthz", get(healthz))
        .fallback(fallback)
        .with_state(state)
}

/// Anything else under `/v1/shards/` has a malformed id (`ab/cd`, `../x`, …); the rest is
/// not an endpoint.
async fn fallback(uri: axum::http::Uri) -> ApiError {
    if uri.path().starts_with("/v1/shards/") {
        return ApiError::bad_id();
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        NodeErrorCode::NoRoute,
        "no such endpoint; see docs/storage-node.md",
    )
}

async fn healthz() -> &'static str {
    "ok"
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
/// The body of `GET /v1/status`.
pub struct Status {
    /// The node's address (EIP-55).
    pub address: String,
    /// The relay whose writes the node accepts, once known (EIP-55).
    pub relay: Option<String>,
    /// The node's region.
    pub region: String,
    /// Bytes the node offers: its capacity, or less when its disk has less room left.
    pub capacity: u64,
    /// Bytes of shards held.
    pub used: u64,
    /// Shards held.
    pub shards: u64,
    /// The node's version.
    pub version: String,
}

async fn status(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    let (usage, offered) = state.room().await?;
    Ok(Json(Status {
        address: state.address().to_checksum(),
        relay: state.relay().map(|r| r.to_checksum()),
        region: state.region().to_owned(),
        capacity: offered,
        used: usage.bytes,
        shards: usage.shards,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    }))
}

fn shard_id(text: &str) -> Result<ShardId, ApiError> {
    parse_shard_id(text).ok_or_else(ApiError::bad_id)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    match headers.get(name) {
        None => Ok(""),
        Some(value) => value.to_str().map_err(|_| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                NodeErrorCode::BadSignature,
                format!("the {name} header is not text"),
            )
        }),
    }
}

/// Checks that the relay signed this request, whose body hashes to `body_hash`, and with
/// `once`, that it is not a replay of one already accepted; the error to answer otherwise.
/// Writes need no replay memory: a replayed put stores bytes the relay once sent, which hash
/// to their id; a replayed delete would remove a shard the relay placed again since.
fn check_relay_signature(
    state: &AppState,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body_hash: &[u8; 32],
    once: bool,
) -> Result<(), ApiError> {
    let relay = state.relay().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            NodeErrorCode::RelayUnknown,
            "the node has not learned its relay's address yet; try again shortly",
        )
    })?;
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let now = (state.inner.clock)();
    let (time, signature) = (
        header_str(headers, TIME_HEADER)?,
        header_str(headers, SIGNATURE_HEADER)?,
    );
    let signer = verify_request_hashed(
        method.as_str(),
        path_and_query,
        body_hash,
        time,
        signature,
        &state.address(),
        now,
        state.inner.max_skew_ms,
    )
    .map_err(|e| {
        let code = match e {
            RequestError::MissingHeader { .. } => NodeErrorCode::Unsigned,
            RequestError::Stale { .. } | RequestError::FromFuture { .. } => {
                NodeErrorCode::StaleRequest
            }
            _ => NodeErrorCode::BadSignature,
        };
        ApiError::new(StatusCode::UNAUTHORIZED, code, e.to_string())
    })?;
    if signer != relay {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            NodeErrorCode::Forbidden,
            format!(
                "only the relay {relay} may write to this node; the request was signed by {signer}"
            ),
        ));
    }
    if !once {
        return Ok(());
    }
    // The time parsed, or verify_request_hashed would have refused it.
    let time_ms = time.parse::<i64>().unwrap_or(0);
    // Remembered by what was signed, not by the signature's spelling, so that another encoding
    // of the same signature is the same request.
    let signed = canonical_hashed(
        method.as_str(),
        path_and_query,
        body_hash,
        Timestamp::from_unix_millis(time_ms),
        &state.address(),
    );
    let fresh = state
        .inner
        .seen
        .lock()
        .map_err(|_| ApiError::internal("replay memory poisoned"))?
        .first_time(
            blake3::hash(signed.as_bytes()).to_hex().as_str(),
            time_ms,
            now.unix_millis(),
            state.inner.max_skew_ms,
        );
    if !fresh {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            NodeErrorCode::Replayed,
            "this signed request was already accepted; sign a new one",
        ));
    }
    Ok(())
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        NodeErrorCode::TooLarge,
        format!("this node takes shards of at most {max} bytes"),
    )
}

/// Reads a body of at most `limit` bytes.
async fn read_body(headers: &HeaderMap, body: Body, limit: u64) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large(limit));
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    // A sender trickling its body holds a connection: it gets a bounded time to finish.
    let read = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                NodeErrorCode::Timeout,
                "the request body took too long to arrive",
            )
        })?;
    read.map_err(|e| {
        let over = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over {
            too_large(limit as u64)
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                NodeErrorCode::BadBody,
                "the request body could not be read",
            )
        }
    })
}

#[derive(Serialize)]
struct PutAnswer {
    id: String,
    len: u64,
    created: bool,
}

async fn put_shard(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    request: Request,
) -> Result<Response, ApiError> {
    let id = shard_id(&id)?;
    let (parts, body) = request.into_parts();
    let max = state.inner.max_shard_size;
    // Everything is checked before a byte of the body is read: the signature, then the declared
    // length. A shard's id is its BLAKE3 hash, which is the body hash the relay signed, so the
    // signature can be checked against the id; the body is checked against it once read.
    check_relay_signature(&state, &parts.method, &uri, &parts.headers, &id.0, false)?;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::LENGTH_REQUIRED,
                NodeErrorCode::LengthRequired,
                "send the shard with a Content-Length header",
            )
        })?;
    if declared > max {
        return Err(too_large(max));
    }
    let body = read_body(&parts.headers, body, declared).await?;
    let store = state.store().clone();
    let len = body.len() as u64;
    let outcome = blocking(move || {
        if !id.matches(&body) {
            return Err(StoreError::WrongId);
        }
        // Over capacity unless it is already here (a put of a held shard changes nothing).
        if !store.contains(&id)? {
            let (usage, offered) = state.room_now()?;
            if usage.bytes.saturating_add(len) > offered {
                return Ok(None);
            }
        }
        store.put(&id, &body).map(Some)
    })
    .await?;
    let Some(outcome) = outcome else {
        return Err(ApiError::full());
    };
    let created = outcome == PutOutcome::Created;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    tracing::info!(shard = %id, len, created, "stored shard");
    Ok((
        status,
        Json(PutAnswer {
            id: id.to_string(),
            len,
            created,
        }),
    )
        .into_response())
}

#[derive(Serialize)]
struct DeleteAnswer {
    id: String,
    deleted: bool,
}

async fn delete_shard(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    request: Request,
) -> Result<Json<DeleteAnswer>, ApiError> {
    let id = shard_id(&id)?;
    let (parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body, MAX_SMALL_BODY as u64).await?;
    check_relay_signature(
        &state,
        &parts.method,
        &uri,
        &parts.headers,
        blake3::hash(&body).as_bytes(),
        true,
    )?;
    let store = state.store().clone();
    let deleted = blocking(move || store.delete(&id)).await?;
    tracing::info!(shard = %id, deleted, "deleted shard");
    Ok(Json(DeleteAnswer {
        id: id.to_string(),
        deleted,
    }))
}

/// The stored bytes of `id`, checked against the id. A copy that does not hash to its id is
/// dropped from the store (so the node reports it missing and the relay repairs it) and answered
/// as 404 `shard_corrupt`: a node never serves bytes it knows are wrong.
async fn verified_shard(state: &AppState, id: ShardId) -> Result<Vec<u8>, ApiError> {
    let store = state.store().clone();
    let bytes = blocking(move || store.get(&id)).await?;
    let Some(bytes) = bytes else {
        return Err(ApiError::not_found());
    };
    let good = tokio::task::spawn_blocking(move || {
        let good = id.matches(&bytes);
        (good, bytes)
    })
    .await
    .map_err(ApiError::internal)?;
    match good {
        (true, bytes) => Ok(bytes),
        (false, _) => Err(drop_corrupt(state, id).await),
    }
}

async fn drop_corrupt(state: &AppState, id: ShardId) -> ApiError {
    tracing::warn!(shard = %id, "stored shard does not match its id; dropping it");
    let store = state.store().clone();
    // Checked again just before dropping it, so a good copy that a relay put has written in
    // the meantime is kept.
    let dropped = blocking(move || match store.get(&id)? {
        Some(bytes) if !id.matches(&bytes) => store.delete(&id),
        _ => Ok(false),
    });
    if let Err(e) = dropped.await {
        tracing::error!(shard = %id, error = ?e, "could not drop a corrupt shard");
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        NodeErrorCode::ShardCorrupt,
        "this node's copy of the shard was corrupt and has been dropped; read it from another node",
    )
}

/// A single `bytes=` range of a `len`-byte shard, as `start..end`.
fn parse_range(value: &str, len: u64) -> Result<(u64, u64), ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            NodeErrorCode::BadRange,
            "expected one range: Range: bytes=first-last, bytes=first- or bytes=-suffix",
        )
    };
    let unsatisfiable = || {
        ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            NodeErrorCode::RangeNotSatisfiable,
            format!("the shard has {len} bytes"),
        )
    };
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (first, last) = spec.split_once('-').ok_or_else(bad)?;
    let number = |s: &str| -> Result<Option<u64>, ApiError> {
        let s = s.trim();
        if s.is_empty() {
            Ok(None)
        } else if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().map(Some).map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    match (number(first)?, number(last)?) {
        (Some(first), last) => {
            if first >= len {
                return Err(unsatisfiable());
            }
            let end = match last {
                Some(last) if last < first => return Err(bad()),
                Some(last) => last.saturating_add(1).min(len),
                None => len,
            };
            Ok((first, end))
        }
        (None, Some(suffix)) => {
            if suffix == 0 || len == 0 {
                return Err(unsatisfiable());
            }
            Ok((len.saturating_sub(suffix), len))
        }
        (None, None) => Err(bad()),
    }
}

fn octets(status: StatusCode, bytes: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        bytes,
    )
        .into_response()
}

async fn get_shard(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = shard_id(&id)?;
    let range = match headers.get(header::RANGE) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                NodeErrorCode::BadRange,
                "the Range header is not text",
            )
        })?),
    };
    let bytes = verified_shard(&state, id).await?;
    let Some(range) = range else {
        let mut response = octets(StatusCode::OK, bytes);
        response
            .headers_mut()
            .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        return Ok(response);
    };
    let total = bytes.len() as u64;
    let (start, end) = parse_range(range, total)?;
    let part = usize::try_from(start)
        .ok()
        .zip(usize::try_from(end).ok())
        .and_then(|(s, e)| bytes.get(s..e))
        .ok_or_else(|| ApiError::internal("range outside a checked shard"))?
        .to_vec();
    let mut response = octets(StatusCode::PARTIAL_CONTENT, part);
    let content_range = format!("bytes {start}-{}/{total}", end.saturating_sub(1));
    if let Ok(value) = HeaderValue::from_str(&content_range) {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    Ok(response)
}

/// The query of `GET /v1/shards/{id}/proof`.
#[derive(Deserialize)]
pub struct ProofQuery {
    /// First byte of the range.
    pub offset: u64,
    /// Bytes in the range.
    pub len: u64,
}

async fn get_proof(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<ProofQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = shard_id(&id)?;
    let Query(query) = query.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            NodeErrorCode::BadQuery,
            "expected ?offset=<u64>&len=<u64>",
        )
    })?;
    let store = state.store().clone();
    let bytes = blocking(move || store.get(&id)).await?;
    let Some(bytes) = bytes else {
        return Err(ApiError::not_found());
    };
    let built = tokio::task::spawn_blocking(move || {
        let proof = RangeProof::build(&bytes, query.offset, query.len)?;
        // Building hashed the whole shard; checking the result against the id costs only the
        // covered chunks and catches a copy that rotted on disk.
        let good = proof.verify(&id).is_ok();
        Ok::<_, datahub_core::proof::ProofError>((good, proof))
    })
    .await
    .map_err(ApiError::internal)?;
    match built {
        Ok((true, proof)) => Ok(octets(StatusCode::OK, proof.to_bytes())),
        Ok((false, _)) => Err(drop_corrupt(&state, id).await),
        Err(e) => Err(ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            NodeErrorCode::RangeNotSatisfiable,
            e.to_string(),
        )),
    }
}
