//! The relay's side of the storage network: the registry of nodes (they register and send
//! heartbeats, signed with their keys), sealed objects (manifest, then shards, each checked
//! against its BLAKE3 id), placement of each shard on a node, and reads.
//!
//! Placement spreads a segment's `k + m` shards over distinct nodes, preferring regions the
//! segment does not use yet and nodes with the most free space, and skipping nodes that are
//! silent or have lost reputation. A shard is assigned to a node in the database before it is
//! sent, so concurrent uploads of one segment never pick the same node; if the node fails, the
//! assignment is dropped and the next candidate is tried.

use std::sync::atomic::Ordering::Relaxed;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use datahub_core::eth::{Address, Timestamp};
use datahub_core::{Manifest, ShardId, request};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json_, json};

use crate::auth::{Contributor, Signed, db_address};
use crate::db::{Conn, Row, Value};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::{AppState, Relay, clock, nodenet, params};

/// Reputation a node starts with, and the least it may have to receive new shards.
pub const START_REPUTATION: i64 = 100;
/// Below this a node receives no new shards.
pub const MIN_REPUTATION: i64 = 50;

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex::decode(text).ok()?.try_into().ok()
}

fn bad_id(what: &str) -> ApiError {
    ApiError::bad_request(
        ErrorCode::BadId,
        format!("{what} must be 64 lower-case hex digits"),
    )
}

/// Whether every shard position of `object` is stored on a node.
pub fn is_complete(conn: &mut dyn Conn, object: &str) -> ApiResult<bool> {
    let row = conn.query_opt(
        "SELECT o.shard_count, (SELECT COUNT(*) FROM shards s WHERE s.object = o.id AND s.stored <> 0) FROM objects o WHERE o.id = $1",
        params![object],
    )?;
    Ok(match row {
        Some(r) => r.int(0)? == r.int(1)?,
        None => false,
    })
}

/// The body of `POST /v1/nodes/register`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    endpoint: String,
    region: String,
    capacity: u64,
    used: u64,
    /// Where the node's earnings go (the operator's wallet); the node's own address if unset.
    #[serde(default)]
    payout: Option<String>,
}

/// The body of `POST /v1/nodes/heartbeat`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Heartbeat {
    used: u64,
    capacity: u64,
    shards: u64,
}

/// A count or length as a column value.
fn count(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Where a node stands with the operator.
pub(crate) enum Admission {
    /// Admitted, in this region (the operator's word, not the node's).
    Admitted(String),
    /// Admission is open (development): the node's own region is taken.
    Open,
    /// Never admitted, or revoked.
    Refused,
}

/// Whether `address` (lower-case, as stored) may act as a node: listed in
/// `storage.admitted_nodes`, admitted with `POST /v1/nodes/admit` (and not revoked since), or
/// admission is open. A revocation overrides the configuration.
pub(crate) fn admission(relay: &Relay, conn: &mut dyn Conn, address: &str) -> ApiResult<Admission> {
    if let Some(row) = conn.query_opt(
        "SELECT region, admitted FROM node_admissions WHERE address = $1",
        params![address],
    )? {
        return Ok(if row.int(1)? == 1 {
            Admission::Admitted(row.text(0)?)
        } else {
            Admission::Refused
        });
    }
    let configured = relay
        .config
        .storage
        .admitted_nodes
        .iter()
        .find(|(node, _)| Address::parse(node).is_ok_and(|a| db_address(&a) == address));
    Ok(match configured {
        Some((_, region)) => Admission::Admitted(region.clone()),
        None if relay.config.storage.open_admission => Admission::Open,
        None => Admission::Refused,
    })
}

pub(crate) fn not_admitted() -> ApiError {
    ApiError::forbidden(
        ErrorCode::NotAdmitted,
        "this node is not admitted to the network; ask the relay's operator to admit its address",
    )
}

/// A node's `payout` (where its earnings go) as stored, lower-case; `None` when unset.
pub(crate) fn parse_payout(payout: Option<&str>) -> ApiResult<Option<String>> {
    payout
        .map(|p| {
            Address::parse(p).map(|a| db_address(&a)).map_err(|_| {
                ApiError::unprocessable(
                    ErrorCode::InvalidPayout,
                    "payout: the address the node's earnings go to, 0x and 40 hex digits",
                )
            })
        })
        .transpose()
}

/// Capacity as placement believes it: what the node claims, at most `storage.max_node_capacity`,
/// so that a node cannot draw shards to itself by claiming an endless disk.
fn believed_capacity(relay: &Relay, claimed: u64) -> i64 {
    to_i64(claimed.min(relay.config.storage.max_node_capacity))
}

/// `POST /v1/nodes/register` (signed by the node's key).
pub async fn register(State(relay): State<AppState>, signed: Signed) -> ApiResult<Json<Json_>> {
    let reg: Registration = signed.json()?;
    let allow_private = relay.config.storage.allow_private_nodes;
    // The endpoint is a URL the relay will fetch: parsed strictly, and refused if it points
    // into the relay's own network (see nodenet).
    let url = nodenet::parse_endpoint(&reg.endpoint, allow_private)
        .map_err(|e| ApiError::unprocessable(ErrorCode::InvalidEndpoint, e))?;
    // Control characters too: PostgreSQL cannot store a NUL in text, and no region has one.
    if reg.region.is_empty() || reg.region.len() > 64 || reg.region.contains(char::is_control) {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidRegion,
            "region: 1 to 64 characters, none of them a control character",
        ));
    }
    let payout = parse_payout(reg.payout.as_deref())?;
    let address = db_address(&signed.signer);
    let admitted = {
        let (relay2, address) = (relay.clone(), address.clone());
        relay
            .db
            .read(move |conn: &mut dyn Conn| admission(&relay2, conn, &address))
            .await?
    };
    let region = match admitted {
        Admission::Admitted(region) => region,
        Admission::Open => reg.region.clone(),
        Admission::Refused => return Err(not_admitted()),
    };
    nodenet::check_resolves_public(&url, allow_private)
        .await
        .map_err(|e| ApiError::unprocessable(ErrorCode::InvalidEndpoint, e))?;
    let now = clock::now_ms();
    let endpoint = url.as_str().trim_end_matches('/').to_owned();
    let capacity = believed_capacity(&relay, reg.capacity);
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
            let updated = conn.execute(
                "UPDATE nodes SET endpoint = $1, region = $2, capacity = $3, used = $4, last_seen_ms = $5, payout = $6 WHERE address = $7",
                params![endpoint.clone(), region.clone(), capacity, to_i64(reg.used), now, payout.clone(), address.clone()],
            )?;
            if updated == 0 {
                conn.execute(
                    "INSERT INTO nodes (address, endpoint, region, capacity, used, shards, reputation, registered_ms, last_seen_ms, payout) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $7, $8)",
                    params![address, endpoint, region, capacity, to_i64(reg.used), START_REPUTATION, now, payout],
                )?;
            }
            Ok(())
        })
        .await?;
    tracing::info!(node = %signed.signer, "storage node registered");
    Ok(Json(
        json!({ "registered": true, "relay_address": relay.address.to_checksum() }),
    ))
}

/// The body of `POST /v1/nodes/admit`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Admit {
    /// The node's address (its key).
    address: String,
    /// The node's failure domain, as the operator knows it.
    region: String,
    /// `false` revokes an admission.
    #[serde(default = "yes")]
    admitted: bool,
}

fn yes() -> bool {
    true
}

/// `POST /v1/nodes/admit` (signed by an operator): admits a node, recording its region, or
/// revokes it (`"admitted": false`), which also takes it out of placement at once so its shards
/// are repaired elsewhere.
pub async fn admit(State(relay): State<AppState>, signed: Signed) -> ApiResult<Json<Json_>> {
    if !relay.config.is_operator(&signed.signer) {
        return Err(ApiError::forbidden(
            ErrorCode::NotOperator,
            "only an operator listed in the relay's configuration may admit nodes",
        ));
    }
    let body: Admit = signed.json()?;
    let node = Address::parse(&body.address).map_err(|_| {
        ApiError::unprocessable(
            ErrorCode::InvalidAddress,
            "address must be 0x and 40 hex digits",
        )
    })?;
    if body.region.is_empty() || body.region.len() > 64 || body.region.contains(char::is_control) {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidRegion,
            "region: 1 to 64 characters, none of them a control character",
        ));
    }
    let (address, by, now) = (
        db_address(&node),
        db_address(&signed.signer),
        clock::now_ms(),
    );
    let (region, admitted) = (body.region.clone(), i64::from(body.admitted));
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
            let updated = conn.execute(
                "UPDATE node_admissions SET region = $1, admitted_by = $2, admitted_ms = $3, admitted = $4 WHERE address = $5",
                params![region.clone(), by.clone(), now, admitted, address.clone()],
            )?;
            if updated == 0 {
                conn.execute(
                    "INSERT INTO node_admissions (address, region, admitted_by, admitted_ms, admitted) VALUES ($1, $2, $3, $4, $5)",
                    params![address.clone(), region.clone(), by, now, admitted],
                )?;
            }
            if admitted == 1 {
                conn.execute(
                    "UPDATE nodes SET region = $1 WHERE address = $2",
                    params![region, address],
                )?;
            } else {
                // Out of placement now; repair treats its shards as lost.
                conn.execute(
                    "UPDATE nodes SET reputation = 0 WHERE address = $1",
                    params![address],
                )?;
            }
            Ok(())
        })
        .await?;
    tracing::info!(node = %node, admitted = body.admitted, by = %signed.signer, "node admission changed");
    Ok(Json(
        json!({ "address": node.to_checksum(), "region": body.region, "admitted": body.admitted }),
    ))
}

/// `POST /v1/nodes/heartbeat` (signed by a registered, admitted node).
pub async fn heartbeat(State(relay): State<AppState>, signed: Signed) -> ApiResult<Json<Json_>> {
    let beat: Heartbeat = signed.json()?;
    let address = db_address(&signed.signer);
    let now = clock::now_ms();
    let capacity = believed_capacity(&relay, beat.capacity);
    let relay2 = relay.clone();
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
            // A revoked node stays silent to the relay, so it is judged dead and repaired around.
            if matches!(admission(&relay2, conn, &address)?, Admission::Refused) {
                return Err(not_admitted());
            }
            let updated = conn.execute(
                "UPDATE nodes SET used = $1, capacity = $2, shards = $3, last_seen_ms = $4 WHERE address = $5",
                params![to_i64(beat.used), capacity, to_i64(beat.shards), now, address],
            )?;
            if updated == 0 {
                return Err(ApiError::not_found(ErrorCode::UnknownNode, "register first"));
            }
            Ok(())
        })
        .await?;
    Ok(Json(json!({ "ok": true })))
}

/// A node as the relay knows it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeInfo {
    /// The node's address (its key).
    pub address: String,
    /// Where it is reached.
    pub endpoint: String,
    /// Its region.
    pub region: String,
    /// Bytes offered.
    pub capacity: i64,
    /// Bytes used.
    pub used: i64,
    /// Shards held (as last reported).
    pub shards: i64,
    /// Reputation: falls with failed audits and silence, rises with passed audits.
    pub reputation: i64,
    /// Whether it sent a heartbeat recently.
    pub alive: bool,
    /// Its last heartbeat.
    pub last_seen: String,
}

fn node_timeout_ms(relay: &Relay) -> i64 {
    to_i64(relay.config.node_timeout_secs).saturating_mul(1000)
}

fn node_from_row(row: &Row, now: i64, timeout: i64) -> ApiResult<NodeInfo> {
    let last_seen = row.int(7)?;
    Ok(NodeInfo {
        address: row.text(0)?,
        endpoint: row.text(1)?,
        region: row.text(2)?,
        capacity: row.int(3)?,
        used: row.int(4)?,
        shards: row.int(5)?,
        reputation: row.int(6)?,
        alive: now - last_seen <= timeout,
        last_seen: Timestamp::from_unix_millis(last_seen).to_string(),
    })
}

const NODE_COLUMNS: &str =
    "address, endpoint, region, capacity, used, shards, reputation, last_seen_ms";

/// All registered nodes.
pub fn all_nodes(conn: &mut dyn Conn, now: i64, timeout: i64) -> ApiResult<Vec<NodeInfo>> {
    conn.query(
        &format!("SELECT {NODE_COLUMNS} FROM nodes ORDER BY registered_ms, address"),
        &[],
    )?
    .iter()
    .map(|r| node_from_row(r, now, timeout))
    .collect()
}

/// `GET /v1/nodes`.
pub async fn nodes(State(relay): State<AppState>) -> ApiResult<Json<Json_>> {
    let timeout = node_timeout_ms(&relay);
    let nodes = relay
        .db
        .read(move |conn: &mut dyn Conn| all_nodes(conn, clock::now_ms(), timeout))
        .await?;
    relay
        .metrics
        .nodes_alive
        .store(nodes.iter().filter(|n| n.alive).count() as i64, Relaxed);
    Ok(Json(json!({ "nodes": nodes })))
}

/// Refuses to let `wallet` create an object unless it holds an active lease on an upload
/// campaign (a contributor about to upload) or is a requester: it owns a campaign that is not
/// closed, or has funds. A stranger's key alone could otherwise fill the nodes.
fn check_may_upload(conn: &mut dyn Conn, wallet: &str, now: i64) -> ApiResult<()> {
    let [image, voice] = [
        crate::spec::Kind::ImageUpload,
        crate::spec::Kind::VoiceRecording,
    ]
    .map(crate::spec::Kind::as_str);
    let leased = conn.query_opt(
        "SELECT l.id FROM leases l JOIN campaigns c ON c.id = l.campaign WHERE l.worker = $1 AND l.state = 'active' AND l.expires_ms > $2 AND c.kind IN ($3, $4) LIMIT 1",
        params![wallet, now, image, voice],
    )?;
    if leased.is_some() {
        return Ok(());
    }
    let requester = conn.query_opt(
        "SELECT id FROM campaigns WHERE owner = $1 AND status <> 'closed' LIMIT 1",
        params![wallet],
    )?;
    if requester.is_some() {
        return Ok(());
    }
    let funded = conn.query_opt(
        "SELECT id FROM accounts WHERE kind = $1 AND owner = $2 AND balance > 0 LIMIT 1",
        params![crate::ledger::kind::FUNDING, wallet],
    )?;
    if funded.is_some() {
        return Ok(());
    }
    Err(ApiError::forbidden(
        ErrorCode::UploadNotAllowed,
        "creating an object needs an active upload task (lease one with POST /v1/campaigns/{id}/next) or a requester's key (one with a campaign or funds)",
    ))
}

/// Refuses an object of `size` sealed bytes that would take `wallet` over `quota` bytes.
fn check_quota(
    conn: &mut dyn Conn,
    wallet: &str,
    size: i64,
    shards: i64,
    quota: Quota,
) -> ApiResult<()> {
    // PostgreSQL sums BIGINT as NUMERIC: cast back.
    let used = conn.query_opt(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT), CAST(COALESCE(SUM(shard_count), 0) AS BIGINT) FROM objects WHERE uploader = $1",
        params![wallet],
    )?;
    let (used_bytes, used_shards) = match used {
        Some(row) => (row.int(0)?, row.int(1)?),
        None => (0, 0),
    };
    if used_bytes.saturating_add(size) > quota.bytes {
        return Err(ApiError::forbidden(
            ErrorCode::QuotaExceeded,
            format!(
                "this object ({size} sealed bytes) would take your uploads to {} bytes, over this relay's {} per wallet",
                used_bytes.saturating_add(size),
                quota.bytes
            ),
        ));
    }
    if used_shards.saturating_add(shards) > quota.shards {
        return Err(ApiError::forbidden(
            ErrorCode::QuotaExceeded,
            format!(
                "this object ({shards} shards) would take your uploads to {} shards, over this relay's {} per wallet: seal with longer segments",
                used_shards.saturating_add(shards),
                quota.shards
            ),
        ));
    }
    Ok(())
}

/// What one wallet's objects may hold in all.
#[derive(Clone, Copy)]
struct Quota {
    bytes: i64,
    shards: i64,
}

/// Inserts a manifest's shard rows `(object, segment, position, shard, len)`, unplaced (those
/// already there are left as they are), many per statement: one statement per row held the single writer ~4× longer for a large
/// manifest. Batches are powers of two up to 64 rows, so at most seven statement texts exist
/// (each prepared once and cached).
fn insert_shard_rows(conn: &mut dyn Conn, rows: Vec<[Value; 5]>) -> ApiResult<()> {
    const MOST: usize = 64;
    let mut left = rows.len();
    let mut rows = rows.into_iter();
    while left > 0 {
        let batch = if left >= MOST {
            MOST
        } else {
            1 << left.ilog2()
        };
        let params: Vec<Value> = rows.by_ref().take(batch).flatten().collect();
        conn.execute(
            &format!(
                "INSERT INTO shards (object, segment, position, shard, len, node, stored) VALUES {} ON CONFLICT DO NOTHING",
                crate::db::values_list(batch, 5, "NULL, 0")
            ),
            &params,
        )?;
        left -= batch;
    }
    Ok(())
}

/// `GET /v1/nodes/{address}`: one node, with its audits and earnings (what `datahub node status`
/// shows).
pub async fn node(
    State(relay): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<Json<Json_>> {
    let node = Address::parse(&address).map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidAddress,
            "the node address must be 0x and 40 hex digits",
        )
    })?;
    let address = db_address(&node);
    let timeout = node_timeout_ms(&relay);
    let value = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let row = conn
                .query_opt(
                    &format!("SELECT {NODE_COLUMNS}, payout FROM nodes WHERE address = $1"),
                    params![address.clone()],
                )?
                .ok_or_else(|| {
                    ApiError::not_found(
                        ErrorCode::UnknownNode,
                        "no node with this address has registered",
                    )
                })?;
            let info = node_from_row(&row, clock::now_ms(), timeout)?;
            let payout = row.opt_text(8)?.unwrap_or_else(|| address.clone());
            let earned = crate::earnings::node_earnings(conn, &address)?;
            let earnings: Vec<Json_> = earned
                .earned
                .iter()
                .map(|((token, chain), (total, unclaimed))| {
                    json!({
                        "token": token, "chain_id": chain,
                        "earned": crate::ledger::format_amount(*total),
                        "unclaimed": crate::ledger::format_amount(*unclaimed),
                    })
                })
                .collect();
            let mut value = serde_json::to_value(info).map_err(ApiError::internal)?;
            if let Some(map) = value.as_object_mut() {
                map.insert("payout".into(), json!(payout));
                map.insert(
                    "audits".into(),
                    json!({ "passed": earned.passed, "failed": earned.failed }),
                );
                map.insert("earnings".into(), json!(earnings));
            }
            Ok(value)
        })
        .await?;
    Ok(Json(value))
}

/// Who uploads: a signed-in contributor (bearer session) or anyone signing the request.
pub struct Uploader {
    /// The uploader's address.
    pub address: Address,
    /// The body.
    pub body: Bytes,
}

impl FromRequest<AppState> for Uploader {
    type Rejection = Response;

    async fn from_request(request: Request, relay: &AppState) -> Result<Self, Response> {
        if request.headers().contains_key(header::AUTHORIZATION) {
            let (mut parts, body) = request.into_parts();
            let Contributor(info) =
                <Contributor as axum::extract::FromRequestParts<AppState>>::from_request_parts(
                    &mut parts, relay,
                )
                .await?;
            let body = Bytes::from_request(Request::from_parts(parts, body), relay)
                .await
                .map_err(IntoResponse::into_response)?;
            return Ok(Self {
                address: info.session.wallet,
                body,
            });
        }
        let signed = Signed::verify(request, relay).await?;
        Ok(Self {
            address: signed.signer,
            body: signed.body,
        })
    }
}

/// What an upload has and lacks.
#[derive(Serialize)]
pub struct UploadState {
    object: String,
    shards: i64,
    stored: i64,
    missing: Vec<String>,
}

fn upload_state(conn: &mut dyn Conn, object: &str) -> ApiResult<UploadState> {
    let total = conn
        .query_opt(
            "SELECT shard_count FROM objects WHERE id = $1",
            params![object],
        )?
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::NoObject,
                "no such object; POST its manifest first",
            )
        })?
        .int(0)?;
    let missing: Vec<String> = conn
        .query(
            "SELECT DISTINCT shard FROM shards WHERE object = $1 AND stored = 0 ORDER BY shard",
            params![object],
        )?
        .iter()
        .map(|r| r.text(0).map_err(ApiError::from))
        .collect::<ApiResult<_>>()?;
    let stored = conn
        .query(
            "SELECT COUNT(*) FROM shards WHERE object = $1 AND stored <> 0",
            params![object],
        )?
        .first()
        .map(|r| r.int(0))
        .transpose()?
        .unwrap_or(0);
    Ok(UploadState {
        object: object.to_owned(),
        shards: total,
        stored,
        missing,
    })
}

/// `POST /v1/objects`: records a manifest (the body); answers which shards to send.
pub async fn create_object(
    State(relay): State<AppState>,
    uploader: Uploader,
) -> ApiResult<(StatusCode, Json<UploadState>)> {
    let manifest = Manifest::parse(&uploader.body)
        .map_err(|e| ApiError::unprocessable(ErrorCode::InvalidManifest, e.to_string()))?;
    let id = manifest.object_id().to_string();
    // Checked before anything is written: each shard is a row in the writer's transaction.
    let shard_count = manifest.all_shard_ids().len();
    let max_shards = relay.config.storage.max_manifest_shards;
    if u64::try_from(shard_count).unwrap_or(u64::MAX) > max_shards {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooManyShards,
            format!(
                "the manifest lists {shard_count} shards, more than this relay takes in one object ({max_shards}): split the file, or seal it with longer segments"
            ),
        ));
    }
    let quota = Quota {
        bytes: to_i64(relay.config.storage.max_bytes_per_wallet),
        shards: to_i64(relay.config.storage.max_shards_per_wallet),
    };
    let open_uploads = relay.config.storage.open_uploads;
    let hex_manifest = hex::encode(&uploader.body);
    let who = db_address(&uploader.address);
    let now = clock::now_ms();
    let size = to_i64(manifest.sealed_len());
    let mut chunks = shard_rows(&manifest, &id)?;
    // The rows go in chunks, each its own write, so that a large manifest never holds the one
    // writer for long: submissions and sign-ins are written between its chunks (a flood of the
    // largest manifests made them 6× slower). The object row goes with the first chunk, so its
    // quota counts at once. A relay stopped half-way leaves an object short of rows; sending
    // its manifest again writes what is missing.
    let first = chunks.next().unwrap_or_default();
    let write_id = id.clone();
    let outcome = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<Outcome> {
            let id = write_id;
            if conn.query_opt("SELECT id FROM objects WHERE id = $1", params![id.clone()])?.is_some() {
                let rows = conn
                    .query_opt("SELECT COUNT(*) FROM shards WHERE object = $1", params![id])?
                    .map(|r| r.int(0))
                    .transpose()?
                    .unwrap_or(0);
                return Ok(if rows < count(shard_count) { Outcome::Unfinished } else { Outcome::Known });
            }
            if !open_uploads {
                check_may_upload(conn, &who, now)?;
            }
            check_quota(conn, &who, size, count(shard_count), quota)?;
            conn.execute(
                "INSERT INTO objects (id, manifest, uploader, size, shard_count, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                params![id, hex_manifest, who, size, count(shard_count), now],
            )?;
            insert_shard_rows(conn, first)?;
            Ok(Outcome::Created)
        })
        .await?;
    let rest: Vec<Vec<[Value; 5]>> = match outcome {
        Outcome::Known => Vec::new(),
        Outcome::Created => chunks.collect(),
        Outcome::Unfinished => shard_rows(&manifest, &id)?.collect(),
    };
    if !rest.is_empty() {
        // One large manifest at a time: several would queue their chunks ahead of everyone.
        let _turn = relay
            .manifest_rows
            .acquire()
            .await
            .map_err(|_| ApiError::internal("manifest queue closed"))?;
        for chunk in rest {
            relay
                .db
                .write(move |conn: &mut dyn Conn| insert_shard_rows(conn, chunk))
                .await?;
        }
    }
    let state = relay
        .db
        .read(move |conn: &mut dyn Conn| upload_state(conn, &id))
        .await?;
    let status = if matches!(outcome, Outcome::Created) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(state)))
}

/// What the first write of `POST /v1/objects` found.
enum Outcome {
    /// A new object: its row and first chunk of shard rows are written.
    Created,
    /// Known, with every shard row.
    Known,
    /// Known, short of shard rows (a relay stopped while writing them).
    Unfinished,
}

/// Shard rows written per write of `POST /v1/objects`: a few milliseconds of the writer.
const CHUNK_ROWS: usize = 1024;

/// A manifest's shard rows `(object, segment, position, shard, len)`, in chunks of
/// [`CHUNK_ROWS`].
fn shard_rows(manifest: &Manifest, id: &str) -> ApiResult<std::vec::IntoIter<Vec<[Value; 5]>>> {
    let per_segment = manifest.params().total_shards();
    let mut rows = Vec::with_capacity(manifest.all_shard_ids().len());
    for segment in 0..manifest.segment_count() {
        let layout = manifest
            .segment(segment)
            .ok_or_else(|| ApiError::internal("segment"))?;
        for (position, shard) in manifest
            .shard_ids(segment)
            .iter()
            .enumerate()
            .take(per_segment)
        {
            rows.push([
                Value::from(id.to_owned()),
                Value::from(i64::from(segment)),
                Value::from(count(position)),
                Value::from(shard.to_string()),
                Value::from(count(layout.shard_len)),
            ]);
        }
    }
    let mut chunks = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        chunks.push(rows.by_ref().take(CHUNK_ROWS).collect());
    }
    Ok(chunks.into_iter())
}

/// `GET /v1/objects/{id}/missing`.
pub async fn missing(
    State(relay): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<UploadState>> {
    parse_hex32(&id).ok_or_else(|| bad_id("object id"))?;
    Ok(Json(
        relay
            .db
            .read(move |conn: &mut dyn Conn| upload_state(conn, &id))
            .await?,
    ))
}

/// `GET /v1/objects/{id}`: the manifest bytes.
pub async fn manifest(
    State(relay): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    parse_hex32(&id).ok_or_else(|| bad_id("object id"))?;
    let hex_manifest = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<String> {
            conn.query_opt("SELECT manifest FROM objects WHERE id = $1", params![id])?
                .ok_or_else(|| ApiError::not_found(ErrorCode::NoObject, "no such object"))?
                .text(0)
                .map_err(ApiError::from)
        })
        .await?;
    let bytes = hex::decode(hex_manifest).map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// A placement decision: the position and the node (address, endpoint).
struct Assignment {
    segment: i64,
    position: i64,
    node: String,
    endpoint: String,
}

/// Picks a node for one unplaced position of `shard` in `object` and records the assignment.
fn assign(
    conn: &mut dyn Conn,
    object: &str,
    shard: &str,
    now: i64,
    timeout: i64,
    avoid: &[String],
) -> ApiResult<Option<Assignment>> {
    let Some(slot) = conn.query_opt(
        "SELECT segment, position, len FROM shards WHERE object = $1 AND shard = $2 AND node IS NULL ORDER BY segment, position LIMIT 1",
        params![object, shard],
    )?
    else {
        return Ok(None);
    };
    let (segment, position, len) = (slot.int(0)?, slot.int(1)?, slot.int(2)?);
    let taken = conn.query(
        "SELECT s.node, n.region FROM shards s JOIN nodes n ON n.address = s.node WHERE s.object = $1 AND s.segment = $2",
        params![object, segment],
    )?;
    let mut used_nodes = Vec::new();
    let mut used_regions = Vec::new();
    for row in &taken {
        used_nodes.push(row.text(0)?);
        used_regions.push(row.text(1)?);
    }
    let candidates = all_nodes(conn, now, timeout)?;
    // Distinct nodes first, then the most trusted, then distinct regions, then the most free
    // space. With fewer live
    // nodes than shards in a segment, a node takes a second shard rather than the upload failing.
    let best = candidates
        .into_iter()
        .filter(|n| n.alive && n.reputation >= MIN_REPUTATION && n.capacity - n.used >= len)
        .filter(|n| !avoid.contains(&n.address))
        .min_by_key(|n| {
            let shares = used_nodes.iter().filter(|a| **a == n.address).count();
            (
                shares,
                used_regions.contains(&n.region),
                std::cmp::Reverse(n.capacity - n.used),
                n.address.clone(),
            )
        });
    let Some(node) = best else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::NoNodes,
            "no live storage node can take this shard now; try again later",
        ));
    };
    conn.execute(
        "UPDATE shards SET node = $1, stored = 0, assigned_ms = $2 WHERE object = $3 AND segment = $4 AND position = $5",
        params![node.address.clone(), now, object, segment, position],
    )?;
    conn.execute(
        "UPDATE nodes SET used = used + $1 WHERE address = $2",
        params![len, node.address.clone()],
    )?;
    Ok(Some(Assignment {
        segment,
        position,
        node: node.address,
        endpoint: node.endpoint,
    }))
}

/// Why a node did not take a shard.
pub enum NotStored {
    /// The node answered 507: its disk (or its capacity) is full. It is not at fault.
    Full,
    /// Anything else: unreachable, an error, a refusal.
    Failed(String),
}

impl std::fmt::Display for NotStored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full => f.write_str("the node is full"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}

/// Sends a shard to a node with a request signed by the relay.
pub async fn put_to_node(
    relay: &Relay,
    node: &str,
    endpoint: &str,
    shard: &str,
    bytes: &Bytes,
) -> Result<(), NotStored> {
    let audience = Address::parse(node).map_err(|e| NotStored::Failed(e.to_string()))?;
    let url = nodenet::shard_url(
        endpoint,
        shard,
        None,
        &[],
        relay.config.storage.allow_private_nodes,
    )
    .map_err(NotStored::Failed)?;
    let now = clock::now();
    let signature = request::sign_request(&relay.key, "PUT", url.path(), bytes, now, &audience);
    let response = relay
        .http
        .put(url)
        .header(request::TIME_HEADER, now.unix_millis().to_string())
        .header(request::SIGNATURE_HEADER, signature.to_hex())
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .map_err(|e| NotStored::Failed(format!("{endpoint}: {e}")))?;
    match response.status() {
        status if status.is_success() => Ok(()),
        StatusCode::INSUFFICIENT_STORAGE => Err(NotStored::Full),
        status => Err(NotStored::Failed(format!("{endpoint}: {status}"))),
    }
}

/// Asks a node to delete its copy of a shard, with a request signed by the relay (the node
/// refuses a replayed one).
pub async fn delete_from_node(
    relay: &Relay,
    node: &str,
    endpoint: &str,
    shard: &str,
) -> Result<(), String> {
    let audience = Address::parse(node).map_err(|e| e.to_string())?;
    let url = nodenet::shard_url(
        endpoint,
        shard,
        None,
        &[],
        relay.config.storage.allow_private_nodes,
    )?;
    let now = clock::now();
    let signature = request::sign_request(&relay.key, "DELETE", url.path(), b"", now, &audience);
    let response = relay
        .http
        .delete(url)
        .header(request::TIME_HEADER, now.unix_millis().to_string())
        .header(request::SIGNATURE_HEADER, signature.to_hex())
        // Nodes take no request without its length (an empty body says so too).
        .header(header::CONTENT_LENGTH, "0")
        .send()
        .await
        .map_err(|e| format!("{endpoint}: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{endpoint}: {}", response.status()))
    }
}

/// `PUT /v1/objects/{id}/shards/{shard}`: checks the bytes against the shard id and places them
/// at every position of the object that has this id.
pub async fn put_shard(
    State(relay): State<AppState>,
    Path((object, shard)): Path<(String, String)>,
    uploader: Uploader,
) -> ApiResult<(StatusCode, Json<Json_>)> {
    parse_hex32(&object).ok_or_else(|| bad_id("object id"))?;
    let id = parse_hex32(&shard).ok_or_else(|| bad_id("shard id"))?;
    if !ShardId(id).matches(&uploader.body) {
        return Err(ApiError::bad_request(
            ErrorCode::WrongShardId,
            "the bytes do not hash to this shard id",
        ));
    }
    let known = {
        let (object, shard) = (object.clone(), shard.clone());
        relay
            .db
            .read(move |conn: &mut dyn Conn| -> ApiResult<bool> {
                Ok(conn
                    .query_opt(
                        "SELECT len FROM shards WHERE object = $1 AND shard = $2 LIMIT 1",
                        params![object, shard],
                    )?
                    .is_some())
            })
            .await?
    };
    if !known {
        return Err(ApiError::not_found(
            ErrorCode::NoShard,
            "the object has no such shard (or does not exist)",
        ));
    }
    let placed = place(&relay, &object, &shard, &uploader.body).await?;
    let state = {
        let object = object.clone();
        relay
            .db
            .read(move |conn: &mut dyn Conn| upload_state(conn, &object))
            .await?
    };
    Ok((
        if placed.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        Json(
            json!({ "shard": shard, "nodes": placed, "stored": state.stored, "missing": state.missing.len() }),
        ),
    ))
}

/// Forgets placements whose node had not yet answered: a relay that stopped (a crash, a kill)
/// between recording a placement and hearing back from the node left them behind, and since
/// [`place`] only fills positions with no node, the shard could never be placed again and the
/// upload never finish. Run at start, when no placement is in flight; how many were forgotten.
pub async fn forget_unfinished_placements(relay: &AppState) -> ApiResult<u64> {
    relay
        .db
        .write(|conn: &mut dyn Conn| -> ApiResult<u64> {
            Ok(conn.execute(
                "UPDATE shards SET node = NULL WHERE stored = 0 AND node IS NOT NULL",
                &[],
            )?)
        })
        .await
}

/// Forgets placements still unfinished long after they were made, while the relay runs: a
/// request cut short (the relay's request timeout, a client that hung up) drops the upload
/// between recording a placement and hearing back from the node, and the position would stay
/// `stored = 0` with a node forever, so the shard could never be sent again. Nothing in flight
/// is older than the request timeout (the handler is cancelled by then) plus one node request.
/// How many were forgotten.
pub async fn forget_stuck_placements(relay: &AppState, now: i64) -> ApiResult<u64> {
    let limits = &relay.config;
    let older_than = now.saturating_sub(
        to_i64(
            limits
                .limits
                .request_timeout_secs
                .saturating_add(limits.storage.node_request_secs),
        )
        .saturating_mul(1000),
    );
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<u64> {
            Ok(conn.execute(
                "UPDATE shards SET node = NULL WHERE stored = 0 AND node IS NOT NULL AND assigned_ms < $1",
                params![older_than],
            )?)
        })
        .await
}

/// Places every unplaced position of `shard` in `object`; returns the nodes it went to.
pub async fn place(
    relay: &AppState,
    object: &str,
    shard: &str,
    bytes: &Bytes,
) -> ApiResult<Vec<String>> {
    let timeout = node_timeout_ms(relay);
    let mut placed = Vec::new();
    let mut avoid: Vec<String> = Vec::new();
    loop {
        let (o, s, a) = (object.to_owned(), shard.to_owned(), avoid.clone());
        let assignment = relay
            .db
            .write(move |conn: &mut dyn Conn| assign(conn, &o, &s, clock::now_ms(), timeout, &a))
            .await?;
        let Some(a) = assignment else {
            return Ok(placed);
        };
        let sent = put_to_node(relay, &a.node, &a.endpoint, shard, bytes).await;
        let o = object.to_owned();
        let (ok, full) = (sent.is_ok(), matches!(sent, Err(NotStored::Full)));
        let node = a.node.clone();
        relay
            .db
            .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
                if ok {
                    conn.execute(
                        "UPDATE shards SET stored = 1 WHERE object = $1 AND segment = $2 AND position = $3 AND node = $4",
                        params![o, a.segment, a.position, node],
                    )?;
                } else {
                    conn.execute(
                        "UPDATE shards SET node = NULL, stored = 0 WHERE object = $1 AND segment = $2 AND position = $3 AND node = $4",
                        params![o, a.segment, a.position, node.clone()],
                    )?;
                    if full {
                        // Not a fault: no new shards for it until a heartbeat shows room again.
                        conn.execute(
                            "UPDATE nodes SET used = capacity WHERE address = $1",
                            params![node],
                        )?;
                    } else {
                        conn.execute(
                            "UPDATE nodes SET reputation = reputation - 10 WHERE address = $1",
                            params![node],
                        )?;
                    }
                }
                Ok(())
            })
            .await?;
        match sent {
            Ok(()) => placed.push(a.node),
            Err(e) => {
                tracing::warn!(error = %e, node = %a.node, "shard upload to node failed; trying another");
                avoid.push(a.node);
            }
        }
    }
}

/// `GET /v1/objects/{id}/status`: where each shard lives and whether its node is alive.
pub async fn status(
    State(relay): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Json_>> {
    parse_hex32(&id).ok_or_else(|| bad_id("object id"))?;
    let timeout = node_timeout_ms(&relay);
    let value = relay
        .db
        .read(move |conn: &mut dyn Conn| object_status(conn, &id, clock::now_ms(), timeout))
        .await?;
    Ok(Json(value))
}

/// How a segment's healthy shards lie over nodes and failure domains (regions): the same rule
/// for `object status` (what it calls reduced redundancy) and for repair (what it spreads again).
#[derive(Debug, PartialEq, Eq)]
pub struct Spread {
    /// Distinct nodes holding the shards.
    pub nodes: usize,
    /// Distinct regions holding them.
    pub regions: usize,
    /// Node losses the segment survives in the worst case (the fullest nodes lost first): how
    /// many of its nodes may go while `k` shards stay; 0 when it has fewer than `k` already.
    pub survives: usize,
    /// Indices (into the holders given) of shards that share a node with an earlier one, then
    /// of those that share only a region: the ones repair moves when a better place exists.
    pub crowded_on_node: Vec<usize>,
    /// Indices of shards on a node of their own but in a region an earlier shard uses.
    pub crowded_in_region: Vec<usize>,
}

/// The spread of the healthy shards of one segment, given as `(node, region)` in position order.
pub fn spread(holders: &[(&str, &str)], k: usize) -> Spread {
    let mut nodes: Vec<(&str, usize)> = Vec::new();
    let mut regions: Vec<&str> = Vec::new();
    let (mut crowded_on_node, mut crowded_in_region) = (Vec::new(), Vec::new());
    for (i, (node, region)) in holders.iter().enumerate() {
        if let Some(entry) = nodes.iter_mut().find(|(n, _)| n == node) {
            entry.1 += 1;
            crowded_on_node.push(i);
            continue;
        }
        nodes.push((node, 1));
        if regions.contains(region) {
            crowded_in_region.push(i);
        } else {
            regions.push(region);
        }
    }
    let mut counts: Vec<usize> = nodes.iter().map(|(_, c)| *c).collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let mut left = holders.len();
    let mut survives = 0;
    for count in counts {
        if left < k || left - count < k {
            break;
        }
        left -= count;
        survives += 1;
    }
    Spread {
        nodes: nodes.len(),
        regions: regions.len(),
        survives,
        crowded_on_node,
        crowded_in_region,
    }
}

impl Spread {
    /// Reduced redundancy: two healthy shards on one node, or two in one region while the
    /// network has a live region the segment does not use. (A network of fewer regions than
    /// shards cannot do better, and is not reported for what it cannot change.)
    pub fn reduced(&self, healthy: usize, live_regions: usize) -> bool {
        self.nodes < healthy || self.regions < healthy.min(live_regions)
    }
}

/// The live nodes trusted with new shards (alive, reputation at least [`MIN_REPUTATION`]):
/// how many, and in how many regions.
pub fn live_spread(conn: &mut dyn Conn, now: i64, timeout: i64) -> ApiResult<(usize, usize)> {
    let live: Vec<NodeInfo> = all_nodes(conn, now, timeout)?
        .into_iter()
        .filter(|n| n.alive && n.reputation >= MIN_REPUTATION)
        .collect();
    let mut regions: Vec<&str> = live.iter().map(|n| n.region.as_str()).collect();
    regions.sort_unstable();
    regions.dedup();
    Ok((live.len(), regions.len()))
}

fn object_status(conn: &mut dyn Conn, id: &str, now: i64, timeout: i64) -> ApiResult<Json_> {
    let object = conn
        .query_opt(
            "SELECT manifest, size FROM objects WHERE id = $1",
            params![id],
        )?
        .ok_or_else(|| ApiError::not_found(ErrorCode::NoObject, "no such object"))?;
    let manifest = Manifest::parse(&hex::decode(object.text(0)?).map_err(ApiError::internal)?)
        .map_err(ApiError::internal)?;
    let params = manifest.params();
    let (_, live_regions) = live_spread(conn, now, timeout)?;
    let rows = conn.query(
        "SELECT s.segment, s.position, s.shard, s.len, s.node, s.stored, n.endpoint, n.last_seen_ms, n.region FROM shards s LEFT JOIN nodes n ON n.address = s.node WHERE s.object = $1 ORDER BY s.segment, s.position",
        params![id],
    )?;
    let (k, total) = (
        usize::from(params.data_shards),
        usize::from(params.data_shards) + usize::from(params.parity_shards),
    );
    /// One segment as it is gathered: index, shard entries, healthy `(node, region)`.
    type Gathered = (i64, Vec<Json_>, Vec<(String, String)>);
    let mut segments: Vec<Json_> = Vec::new();
    let mut current: Option<Gathered> = None;
    let (mut at_risk, mut reduced) = (0, 0);
    let mut complete = true;
    let mut flush = |segment: Option<Gathered>, segments: &mut Vec<Json_>| {
        let Some((index, shards, healthy)) = segment else {
            return;
        };
        let holders: Vec<(&str, &str)> = healthy
            .iter()
            .map(|(n, r)| (n.as_str(), r.as_str()))
            .collect();
        let spread = spread(&holders, k);
        let state = if healthy.len() < k {
            "unreadable"
        } else if healthy.len() < total {
            "at_risk"
        } else if spread.reduced(healthy.len(), live_regions) {
            "reduced"
        } else {
            "ok"
        };
        if state != "ok" {
            at_risk += 1;
        }
        if state == "reduced" {
            reduced += 1;
        }
        segments.push(json!({
            "segment": index, "k": params.data_shards, "m": params.parity_shards,
            "healthy": healthy.len(), "nodes": spread.nodes, "regions": spread.regions,
            "survives": spread.survives, "state": state, "shards": shards,
        }));
    };
    for row in &rows {
        let segment = row.int(0)?;
        if current.as_ref().is_some_and(|c| c.0 != segment) {
            flush(current.take(), &mut segments);
        }
        let entry = current.get_or_insert((segment, Vec::new(), Vec::new()));
        let stored = row.int(5)? == 1;
        let alive = stored && row.opt_int(7)?.is_some_and(|t| now - t <= timeout);
        let node = if stored { row.opt_text(4)? } else { None };
        if let (true, Some(node)) = (alive, &node) {
            entry
                .2
                .push((node.clone(), row.opt_text(8)?.unwrap_or_default()));
        }
        complete &= stored;
        entry.1.push(json!({
            "position": row.int(1)?,
            "shard": row.text(2)?,
            "len": row.int(3)?,
            "node": node,
            "endpoint": if stored { row.opt_text(6)? } else { None },
            "alive": alive,
        }));
    }
    flush(current.take(), &mut segments);
    Ok(json!({
        "object": id,
        "size": object.int(1)?,
        "complete": complete,
        "at_risk": at_risk,
        "reduced": reduced,
        "segments": segments,
    }))
}

/// Fetches a shard from whichever node holds it, checking its hash; `None` if none could.
pub async fn fetch_shard(relay: &AppState, shard: &str) -> ApiResult<Option<Bytes>> {
    let id = ShardId(parse_hex32(shard).ok_or_else(|| bad_id("shard id"))?);
    let timeout = node_timeout_ms(relay);
    let holders = {
        let shard = shard.to_owned();
        relay
            .db
            .read(move |conn: &mut dyn Conn| -> ApiResult<Vec<(String, String, bool, i64)>> {
                let now = clock::now_ms();
                conn.query(
                    "SELECT DISTINCT n.address, n.endpoint, n.last_seen_ms, s.len FROM shards s JOIN nodes n ON n.address = s.node WHERE s.shard = $1 AND s.stored = 1",
                    params![shard],
                )?
                .iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?, now - r.int(2)? <= timeout, r.int(3)?)))
                .collect()
            })
            .await?
    };
    // Live nodes first; a silent one may still answer.
    let mut holders = holders;
    holders.sort_by_key(|h| !h.2);
    for (address, endpoint, _, len) in holders {
        match get_from_node(relay, &endpoint, shard, len).await {
            Ok(bytes) if id.matches(&bytes) => return Ok(Some(bytes)),
            Ok(_) => tracing::warn!(node = %address, %shard, "node returned wrong bytes"),
            Err(e) => {
                tracing::debug!(node = %address, %shard, error = %e, "node did not serve the shard")
            }
        }
    }
    Ok(None)
}

/// Asks the node at `endpoint` for `shard` of `len` bytes; reads no more than that. The bytes
/// are not checked here: the caller matches them against the id.
pub async fn get_from_node(
    relay: &Relay,
    endpoint: &str,
    shard: &str,
    len: i64,
) -> Result<Bytes, String> {
    let url = nodenet::shard_url(
        endpoint,
        shard,
        None,
        &[],
        relay.config.storage.allow_private_nodes,
    )?;
    let response = relay
        .http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("unreachable: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    nodenet::read_bounded(response, usize::try_from(len).unwrap_or(0))
        .await
        .map_err(|e| e.to_string())
}

/// `GET /v1/objects/{id}/shards/{shard}`: the shard, from a node, verified.
pub async fn get_shard(
    State(relay): State<AppState>,
    Path((object, shard)): Path<(String, String)>,
) -> ApiResult<Response> {
    parse_hex32(&object).ok_or_else(|| bad_id("object id"))?;
    parse_hex32(&shard).ok_or_else(|| bad_id("shard id"))?;
    match fetch_shard(&relay, &shard).await? {
        Some(bytes) => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
        }
        None => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            ErrorCode::ShardUnavailable,
            "no node holding this shard answered with it; other shards of its segment may do",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_counts_what_one_node_or_region_loss_would_take() {
        let apart = [
            ("a", "r1"),
            ("b", "r2"),
            ("c", "r3"),
            ("d", "r1"),
            ("e", "r2"),
            ("f", "r3"),
        ];
        let s = spread(&apart, 4);
        assert_eq!((s.nodes, s.regions, s.survives), (6, 3, 2));
        assert_eq!(s.crowded_on_node, Vec::<usize>::new());
        assert_eq!(s.crowded_in_region, vec![3, 4, 5]);
        // Three regions for six shards cannot do better: not reduced; six regions could.
        assert!(!s.reduced(6, 3));
        assert!(s.reduced(6, 6));

        let bunched = [
            ("a", "r1"),
            ("b", "r2"),
            ("a", "r1"),
            ("c", "r3"),
            ("d", "r4"),
            ("e", "r5"),
        ];
        let s = spread(&bunched, 4);
        assert_eq!((s.nodes, s.regions, s.survives), (5, 5, 1));
        assert_eq!(s.crowded_on_node, vec![2]);
        assert!(s.reduced(6, 5));

        // Fewer than k healthy: no loss survivable.
        let s = spread(&[("a", "r1"), ("b", "r2"), ("c", "r3")], 4);
        assert_eq!(s.survives, 0);
        // Exactly k on distinct nodes: none either.
        let s = spread(&[("a", "r1"), ("b", "r2"), ("c", "r3"), ("d", "r4")], 4);
        assert_eq!(s.survives, 0);
    }
}
