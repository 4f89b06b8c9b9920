//! Grants (docs/relay.md §4d, "Opening uploads"): a compute node opens an upload that was not
//! sealed to it with a stanza its campaign's requester made for it after it leased the job
//! (`core::header::Grant`: the object's file key wrapped to the node's key). The requester
//! lists the leases of its campaign still waiting for one ([`waiting`]) and posts each grant
//! ([`grant`]); the node finds it in its job (`POST /v1/compute/jobs/next`).
//!
//! The relay checks who grants (the campaign's owner), what (a live lease, set once) and the
//! grant's form (81 bytes, a curve point first); whether it opens, only the node can tell. A
//! grant that does not open costs the node its lease, which runs out and goes back with its fee.

use axum::Json;
use axum::extract::{Path, State};
use datahub_core::eth::Timestamp;
use datahub_core::header::Grant;
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::jobs::AssignmentState;
use crate::auth::{Signed, db_address};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::{AppState, clock, listing, params};

/// The most leases one listing names (the oldest first); a requester granting them all asks
/// again.
const WAITING_LIMIT: i64 = 100;

/// `GET /v1/campaigns/{id}/grants` (signed by the campaign's owner): the live leases of its
/// compute jobs that have no grant yet, with the key each node registered.
pub async fn waiting(
    State(relay): State<AppState>,
    Path(campaign): Path<String>,
    signed: Signed,
) -> ApiResult<Json<Json_>> {
    let owner = db_address(&signed.signer);
    let now = clock::now_ms();
    let rows = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Vec<crate::db::Row>> {
            if listing::campaign_owner(conn, &campaign)? != owner {
                return Err(ApiError::forbidden(
                    ErrorCode::NotOwner,
                    "only the campaign's requester may grant its compute jobs",
                ));
            }
            Ok(conn.query(
                "SELECT a.id, a.node, n.public_key, j.object, a.lease_expires_ms FROM compute_assignments a JOIN compute_jobs j ON j.id = a.job JOIN compute_nodes n ON n.address = a.node WHERE j.campaign = $1 AND a.state = $2 AND a.grant_stanza IS NULL AND a.lease_expires_ms >= $3 ORDER BY a.created_ms, a.id LIMIT $4",
                params![campaign, AssignmentState::Leased.as_str(), now, WAITING_LIMIT],
            )?)
        })
        .await?;
    let mut waiting = Vec::with_capacity(rows.len());
    for row in &rows {
        waiting.push(json!({
            "job": row.text(0)?,
            "node": row.text(1)?,
            "node_key": row.opt_text(2)?,
            "object": row.text(3)?,
            "lease_expires_at": Timestamp::from_unix_millis(row.int(4)?).to_string(),
        }));
    }
    Ok(Json(json!({ "waiting": waiting })))
}

/// The body of `POST /v1/compute/jobs/{id}/grant`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    /// The grant's 81 bytes, in hex.
    grant: String,
}

/// `POST /v1/compute/jobs/{id}/grant` (signed by the owner of the job's campaign): stores the
/// grant of a live lease, once. The same grant again is answered as a duplicate; another one
/// is refused (the node may have fetched the first already).
pub async fn grant(
    State(relay): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> ApiResult<Json<Json_>> {
    let body: GrantBody = signed.json()?;
    let bytes = hex::decode(body.grant.trim_start_matches("0x")).map_err(|_| malformed())?;
    let grant = Grant::parse(&bytes).map_err(|_| malformed())?;
    let stanza = hex::encode(grant.to_bytes());
    let owner = db_address(&signed.signer);
    let now = clock::now_ms();
    let outcome = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let row = conn
                .query_opt(
                    "SELECT a.state, a.lease_expires_ms, a.grant_stanza, c.owner FROM compute_assignments a JOIN compute_jobs j ON j.id = a.job JOIN campaigns c ON c.id = j.campaign WHERE a.id = $1",
                    params![id.clone()],
                )?
                .ok_or_else(|| {
                    ApiError::not_found(ErrorCode::NoJob, format!("no compute job {id:?}"))
                })?;
            if row.text(3)? != owner {
                return Err(ApiError::forbidden(
                    ErrorCode::NotOwner,
                    "only the requester of the job's campaign may grant it",
                ));
            }
            let stored = row.opt_text(2)?;
            if stored.as_deref() == Some(stanza.as_str()) {
                return Ok(json!({ "job": id, "granted": true, "duplicate": true }));
            }
            let state = AssignmentState::parse(&row.text(0)?)?;
            if state != AssignmentState::Leased || row.int(1)? < now {
                return Err(ApiError::conflict(
                    ErrorCode::LeaseExpired,
                    "this lease is over (answered, ran out or voided); grant the live ones from GET /v1/campaigns/{id}/grants",
                ));
            }
            if stored.is_some() {
                return Err(ApiError::conflict(
                    ErrorCode::AlreadyGranted,
                    "this job has another grant already; a grant is set once",
                ));
            }
            conn.execute(
                "UPDATE compute_assignments SET grant_stanza = $1, granted_ms = $2 WHERE id = $3 AND grant_stanza IS NULL",
                params![stanza, now, id.clone()],
            )?;
            Ok(json!({ "job": id, "granted": true, "duplicate": false }))
        })
        .await?;
    Ok(Json(outcome))
}

fn malformed() -> ApiError {
    ApiError::unprocessable(
        ErrorCode::InvalidGrant,
        "grant: 162 hex digits, the 81 bytes of core::header::Grant (a compressed point first)",
    )
}
