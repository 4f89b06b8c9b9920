//! The registry of compute nodes: registration with capabilities, heartbeats, and the public
//! list. Admission is the storage nodes' (`storage::admission`): the same operator allowlist
//! (`storage.admitted_nodes`, `POST /v1/nodes/admit`) or open admission in development.

use axum::Json;
use axum::extract::State;
use datahub_protocol::Capability;
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::trust::{MIN_NODE_TRUST, node_trust};
use crate::auth::{Signed, db_address};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::storage::{self, Admission};
use crate::{AppState, Relay, clock, params};

/// The most models one node may register.
pub const MAX_CAPABILITIES: usize = 16;

/// The body of `POST /v1/compute/register`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    capabilities: Vec<Capability>,
    /// Where the node's fees go (the operator's wallet); the node's own address if unset.
    #[serde(default)]
    payout: Option<String>,
    /// The node's compressed public key (66 hex digits), which requesters wrap file keys to
    /// (grants); without it the node opens only objects sealed to it.
    #[serde(default)]
    key: Option<String>,
}

/// The node's public key as registered: compressed, lower-case hex, and the signer's own.
fn check_key(key: &str, signer: &datahub_core::Address) -> ApiResult<String> {
    let bad = || {
        ApiError::unprocessable(
            ErrorCode::InvalidNodeKey,
            "key: the node's own compressed secp256k1 public key, 66 hex digits (02 or 03 first)",
        )
    };
    let bytes = hex::decode(key.trim_start_matches("0x")).map_err(|_| bad())?;
    if bytes.len() != 33 {
        return Err(bad());
    }
    let public = datahub_core::PublicKey::from_sec1_bytes(&bytes).map_err(|_| bad())?;
    if public.address() != *signer {
        return Err(bad());
    }
    Ok(hex::encode(public.to_compressed()))
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable(ErrorCode::InvalidCapabilities, message)
}

/// Checks what a node claims to run: 1 to [`MAX_CAPABILITIES`] models, each named by kind,
/// BLAKE3 and runtime, each model once.
fn check_capabilities(capabilities: &[Capability]) -> ApiResult<()> {
    if capabilities.is_empty() || capabilities.len() > MAX_CAPABILITIES {
        return Err(bad(format!(
            "capabilities: 1 to {MAX_CAPABILITIES} models, each {{kind, model, runtime}}"
        )));
    }
    let word = |t: &str| {
        (1..=32).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    let mut seen = std::collections::HashSet::new();
    for (i, c) in capabilities.iter().enumerate() {
        if !word(&c.kind) {
            return Err(bad(format!(
                "capabilities[{i}].kind: 1 to 32 of a-z, 0-9, _ and -"
            )));
        }
        if c.model.len() != 64
            || !c
                .model
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(bad(format!(
                "capabilities[{i}].model: the BLAKE3 of the model, 64 lower-case hex digits"
            )));
        }
        if c.runtime.is_empty() || c.runtime.len() > 64 || c.runtime.contains(char::is_control) {
            return Err(bad(format!(
                "capabilities[{i}].runtime: 1 to 64 characters, none of them a control character"
            )));
        }
        if !seen.insert(c.model.as_str()) {
            return Err(bad(format!("capabilities[{i}].model: each model once")));
        }
    }
    Ok(())
}

/// Refuses a key the operator has not admitted (or has revoked).
pub(super) fn check_admitted(relay: &Relay, conn: &mut dyn Conn, address: &str) -> ApiResult<()> {
    match storage::admission(relay, conn, address)? {
        Admission::Refused => Err(storage::not_admitted()),
        Admission::Admitted(_) | Admission::Open => Ok(()),
    }
}

/// `POST /v1/compute/register` (signed by the node's key): records what it runs and where its
/// fees go. Registering again replaces both.
pub async fn register(State(relay): State<AppState>, signed: Signed) -> ApiResult<Json<Json_>> {
    let reg: Registration = signed.json()?;
    check_capabilities(&reg.capabilities)?;
    let payout = storage::parse_payout(reg.payout.as_deref())?;
    let public_key = reg
        .key
        .as_deref()
        .map(|k| check_key(k, &signed.signer))
        .transpose()?;
    let address = db_address(&signed.signer);
    let payout = payout.unwrap_or_else(|| address.clone());
    let capabilities = serde_json::to_string(&reg.capabilities).map_err(ApiError::internal)?;
    let now = clock::now_ms();
    let relay2 = relay.clone();
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
            check_admitted(&relay2, conn, &address)?;
            let updated = conn.execute(
                "UPDATE compute_nodes SET capabilities = $1, payout = $2, last_seen_ms = $3, public_key = $4 WHERE address = $5",
                params![capabilities.clone(), payout.clone(), now, public_key.clone(), address.clone()],
            )?;
            if updated == 0 {
                conn.execute(
                    "INSERT INTO compute_nodes (address, capabilities, payout, registered_ms, last_seen_ms, public_key) VALUES ($1, $2, $3, $4, $4, $5)",
                    params![address, capabilities, payout, now, public_key],
                )?;
            }
            Ok(())
        })
        .await?;
    tracing::info!(node = %signed.signer, "compute node registered");
    Ok(Json(
        json!({ "registered": true, "relay_address": relay.address.to_checksum() }),
    ))
}

/// `POST /v1/compute/heartbeat` (signed by a registered, admitted compute node; empty body).
pub async fn heartbeat(State(relay): State<AppState>, signed: Signed) -> ApiResult<Json<Json_>> {
    let address = db_address(&signed.signer);
    let now = clock::now_ms();
    let relay2 = relay.clone();
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
            check_admitted(&relay2, conn, &address)?;
            let updated = conn.execute(
                "UPDATE compute_nodes SET last_seen_ms = $1 WHERE address = $2",
                params![now, address],
            )?;
            if updated == 0 {
                return Err(ApiError::not_found(
                    ErrorCode::UnknownNode,
                    "register first with POST /v1/compute/register",
                ));
            }
            Ok(())
        })
        .await?;
    Ok(Json(json!({ "ok": true })))
}

/// `GET /v1/compute/nodes`: every compute node with what it runs, its record and its trust.
pub async fn list(State(relay): State<AppState>) -> ApiResult<Json<Json_>> {
    let rows = relay
        .db
        .read(|conn: &mut dyn Conn| -> ApiResult<Vec<crate::db::Row>> {
            Ok(conn.query(
                "SELECT address, capabilities, payout, last_seen_ms, golden_right, golden_wrong, agreed, disagreed, restricted FROM compute_nodes ORDER BY address LIMIT 1000",
                &[],
            )?)
        })
        .await?;
    let mut nodes = Vec::with_capacity(rows.len());
    for row in &rows {
        let capabilities: Json_ =
            serde_json::from_str(&row.text(1)?).map_err(ApiError::internal)?;
        let (right, wrong, agreed, disagreed) =
            (row.int(4)?, row.int(5)?, row.int(6)?, row.int(7)?);
        nodes.push(json!({
            "address": row.text(0)?,
            "capabilities": capabilities,
            "payout": row.text(2)?,
            "last_seen": datahub_core::eth::Timestamp::from_unix_millis(row.int(3)?).to_string(),
            "golden_right": right,
            "golden_wrong": wrong,
            "agreed": agreed,
            "disagreed": disagreed,
            "trust": node_trust(right, wrong, agreed, disagreed),
            "restricted": row.int(8)? != 0,
        }));
    }
    Ok(Json(json!({ "nodes": nodes, "min_trust": MIN_NODE_TRUST })))
}
