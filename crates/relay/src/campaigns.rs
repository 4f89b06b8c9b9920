//! Campaigns: created, paused, resumed and closed by their requester (every request signed by
//! the requester's key); listed and shown to everyone, golden answers excepted.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value as Json_;

use crate::auth::{Requester, db_address};
use crate::db::{Conn, Value};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ledger::{self, Transfer, kind};
use crate::{AppState, clock, params};

pub use crate::slots::campaign_account;

// The definition and its rules live in `spec`; these names stay here for the CLI and the fuzz
// targets, which have always imported them from `campaigns`.
pub use crate::spec::{
    CampaignSpec, GoldenItem, Kind, SpecRules, UPLOAD_IMAGE_TYPES, check_answer, check_upload_rules,
};

/// `POST /v1/campaigns` (signed by the requester): creates a campaign and moves its budget from
/// the requester's funds on the campaign's chain into the campaign's account; refused with 402
/// `insufficient_funds` (and nothing created) if the funds are short. Sending the same
/// definition again answers the existing campaign; a different one with the same id is a
/// conflict.
pub async fn create(
    State(relay): State<AppState>,
    signed: Requester,
) -> ApiResult<(StatusCode, Json<Json_>)> {
    let spec: CampaignSpec = signed.json()?;
    let (reward, budget) = spec.validate_for(&relay.config)?;
    let storage = spec.storage_budget_units()?;
    crate::spec::check_validators_of(&spec, &relay.config, &signed.signer)?;
    let chain = spec.paying_chain()?;
    let owner = db_address(&signed.signer);
    let spec_hash = blake3::hash(&serde_json::to_vec(&spec).map_err(ApiError::internal)?)
        .to_hex()
        .to_string();
    let spec_text = serde_json::to_string(&CampaignSpec {
        items: Vec::new(),
        golden: Vec::new(),
        ..spec.clone()
    })
    .map_err(ApiError::internal)?;
    let id = spec.id.clone();
    let now = clock::now_ms();
    let created = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<bool> {
            if let Some(row) = conn.query_opt(
                "SELECT owner, spec_hash FROM campaigns WHERE id = $1",
                params![spec.id.clone()],
            )? {
                if row.text(0)? == owner && row.text(1)? == spec_hash {
                    return Ok(false);
                }
                return Err(ApiError::conflict(
                    ErrorCode::CampaignExists,
                    format!("a different campaign {:?} exists; pick another id", spec.id),
                ));
            }
            let chains = chains_text(&spec.chains);
            let slots = budget / reward;
            conn.execute(
                "INSERT INTO campaigns (id, owner, kind, token, reward, budget, overlap, min_task_ms, lease_ms, chains, spec, spec_hash, status, open_slots, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'active', $13, $14)",
                params![
                    spec.id.clone(), owner.clone(), spec.kind.as_str(), spec.token.clone(), reward, budget,
                    i64::from(spec.overlap), i64::from(spec.min_task_seconds) * 1000,
                    i64::from(spec.lease_seconds) * 1000, chains.clone(), spec_text, spec_hash, slots, now
                ],
            )?;
            let golden = spec.golden.iter().map(|g| (&g.item, Some(&g.answer)));
            let items = spec.items.iter().map(|i| (i, None)).chain(golden);
            // Many rows per statement: a campaign of tens of thousands of items, one round trip
            // each, kept PostgreSQL's writer busy for tens of seconds.
            let mut rows: Vec<Value> = Vec::with_capacity(ITEMS_PER_INSERT * 5);
            for (idx, (item, answer)) in (0_i64..).zip(items) {
                let answer = answer.map(|a| check_answer(&spec, item, a)).transpose()?;
                rows.extend([
                    Value::from(spec.id.clone()),
                    Value::from(idx),
                    Value::from(item.to_string()),
                    Value::from(answer),
                    Value::from(i64::from(spec.overlap)),
                ]);
                if rows.len() == ITEMS_PER_INSERT * 5 {
                    insert_items(conn, &rows)?;
                    rows.clear();
                }
            }
            if !rows.is_empty() {
                insert_items(conn, &rows)?;
            }
            // Leases of this campaign may start at once: plan them knowing its items.
            conn.analyze("items")?;
            if spec.compute.is_some() && !spec.kind.is_upload() {
                crate::compute::jobs::enqueue_items(conn, &spec, now)?;
            }
            let account = campaign_account(&spec.id);
            let funding = ledger::ensure_funding(conn, &owner, chain, &spec.token)?;
            ledger::ensure_account(conn, &account, kind::CAMPAIGN, &spec.id, &spec.token, &chains)?;
            let moved = ledger::transfer(
                conn,
                &format!("fund:{}", spec.id),
                &funding,
                &account,
                budget,
                &spec.token,
                "campaign budget",
                now,
            )?;
            // The Errs below roll back this closure's savepoint: the campaign row and its items
            // go with it.
            match moved {
                Transfer::Applied => {}
                Transfer::Insufficient => {
                    let funds = ledger::balance(conn, &funding)?;
                    return Err(insufficient_funds(budget.saturating_add(storage), funds, &spec.token, chain));
                }
                other => return Err(ApiError::internal(format!("campaign budget transfer: {other:?}"))),
            }
            if storage > 0 {
                let reserve = crate::earnings::storage_account(&spec.id);
                ledger::ensure_account(conn, &reserve, kind::CAMPAIGN, &spec.id, &spec.token, &chains)?;
                let moved = ledger::transfer(
                    conn,
                    &format!("reserve:{}", spec.id),
                    &funding,
                    &reserve,
                    storage,
                    &spec.token,
                    "storage reservation",
                    now,
                )?;
                match moved {
                    Transfer::Applied => {}
                    // The budget alone fitted; budget and storage together do not.
                    Transfer::Insufficient => {
                        let funds = ledger::balance(conn, &funding)?.saturating_add(budget);
                        return Err(insufficient_funds(budget.saturating_add(storage), funds, &spec.token, chain));
                    }
                    other => return Err(ApiError::internal(format!("storage reservation transfer: {other:?}"))),
                }
            }
            Ok(true)
        })
        .await?;
    let summary = summary(&relay, id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(summary)))
}

/// 402 `insufficient_funds`: a budget the requester's funds on the chain do not cover.
pub fn insufficient_funds(budget: i64, funds: i64, token: &str, chain: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYMENT_REQUIRED,
        ErrorCode::InsufficientFunds,
        format!(
            "budget {} {token} on chain {chain} exceeds your funds ({}) by {}: deposit to the escrow or ask the operator for a grant",
            ledger::format_amount(budget),
            ledger::format_amount(funds),
            ledger::format_amount(budget.saturating_sub(funds)),
        ),
    )
}

/// Items stored by one statement when a campaign is made (5 parameters each: far under
/// SQLite's and PostgreSQL's limits).
const ITEMS_PER_INSERT: usize = 200;

/// Stores items, 5 values each (campaign, idx, payload, golden answer, wanted), in one statement.
fn insert_items(conn: &mut dyn Conn, values: &[Value]) -> Result<(), crate::db::DbError> {
    conn.execute(
        &format!(
            "INSERT INTO items (campaign, idx, payload, golden, wanted, taken, resolved) VALUES {}",
            crate::db::values_list(values.len() / 5, 5, "0, 0")
        ),
        values,
    )?;
    Ok(())
}

/// What never changes about a campaign once created: what submissions are checked against.
#[derive(Debug)]
pub struct CampaignInfo {
    /// The definition (without items).
    pub spec: CampaignSpec,
    /// Reward per accepted answer, in ledger units.
    pub reward: i64,
    /// The token.
    pub token: String,
    /// Chains, as stored (see [`chains_text`]).
    pub chains: String,
    /// Least time per task, in milliseconds.
    pub min_task_ms: i64,
    /// How many golden items the campaign has (they never change once it is made, so a cached
    /// count is right on every replica).
    pub golden_items: i64,
}

/// Campaigns by id, read once from the database.
#[derive(Default)]
pub struct CampaignCache(
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<CampaignInfo>>>,
);

impl CampaignCache {
    /// The campaign `id`, or `None` if there is none.
    pub async fn get(
        &self,
        relay: &crate::Relay,
        id: &str,
    ) -> ApiResult<Option<std::sync::Arc<CampaignInfo>>> {
        let lock = || {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(info) = lock().get(id) {
            return Ok(Some(info.clone()));
        }
        let key = id.to_owned();
        let row = relay
            .db
            .read(move |conn: &mut dyn Conn| -> ApiResult<_> {
                Ok(conn.query_opt(
                    "SELECT spec, reward, token, chains, min_task_ms, (SELECT COUNT(*) FROM items WHERE items.campaign = campaigns.id AND items.golden IS NOT NULL) FROM campaigns WHERE id = $1",
                    params![key],
                )?)
            })
            .await?;
        let Some(row) = row else { return Ok(None) };
        let info = std::sync::Arc::new(CampaignInfo {
            spec: serde_json::from_str(&row.text(0)?).map_err(ApiError::internal)?,
            reward: row.int(1)?,
            token: row.text(2)?,
            chains: row.text(3)?,
            min_task_ms: row.int(4)?,
            golden_items: row.int(5)?,
        });
        let mut map = lock();
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(id.to_owned(), info.clone());
        Ok(Some(info))
    }
}

/// Chain ids as stored: sorted, comma-separated, with commas around (`,1,56,`) so that
/// `LIKE '%,56,%'` is exact.
pub fn chains_text(chains: &[u64]) -> String {
    let mut chains = chains.to_vec();
    chains.sort_unstable();
    chains.dedup();
    let list: Vec<String> = chains.iter().map(u64::to_string).collect();
    format!(",{},", list.join(","))
}

/// A campaign's public face: its definition without items or golden answers, and its progress.
async fn summary(relay: &AppState, id: String) -> ApiResult<Json_> {
    relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let row = conn
                .query_opt(
                    "SELECT c.spec, c.status, c.open_slots, c.owner, a.balance, c.reward FROM campaigns c JOIN accounts a ON a.id = $2 WHERE c.id = $1",
                    params![id.clone(), campaign_account(&id)],
                )?
                .ok_or_else(|| ApiError::not_found(ErrorCode::NoCampaign, format!("no campaign {id:?}")))?;
            let spec: CampaignSpec =
                serde_json::from_str(&row.text(0)?).map_err(ApiError::internal)?;
            let items = conn.query(
                "SELECT COUNT(*) FROM items WHERE campaign = $1 AND golden IS NULL",
                params![id.clone()],
            )?;
            let item_count = items.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
            let reward = row.int(5)?;
            let balance = row.int(4)?;
            let progress = progress(conn, &id, item_count, reward, balance)?;
            Ok(serde_json::json!({
                "id": spec.id,
                "kind": spec.kind,
                "title": spec.title,
                "instructions": spec.instructions,
                "labels": spec.labels,
                "multi_label": spec.multi_label,
                "reward": spec.reward,
                "token": spec.token,
                "budget": spec.budget,
                "overlap": spec.overlap,
                "min_task_seconds": spec.min_task_seconds,
                "lease_seconds": spec.lease_seconds,
                "encryption_key": spec.encryption_key,
                "chains": spec.chains,
                "upload": spec.upload,
                "validators": spec.validators,
                "compute": crate::spec::compute_summary(&spec),
                "licence": spec.licence,
                "licence_url": spec.licence_url,
                "terms": spec.terms,
                // What a receipt must sign (`terms_hash`): clients hash the terms they show
                // themselves, this is for checking.
                "terms_hash": format!("0x{}", hex::encode(datahub_core::eth::SubmissionReceipt::terms_hash(spec.terms.as_deref()))),
                "quality": crate::spec::Settings::of(&spec).summary(),
                "owner": row.text(3)?,
                "status": row.text(1)?,
                "items": item_count,
                "open_tasks": row.int(2)?,
                "budget_left": ledger::format_amount(balance),
                "progress": progress,
            }))
        })
        .await
}

/// What a campaign has done so far, counted from the database rather than estimated from its
/// budget: items decided and waiting, answers by outcome, and its money (spent on contributors,
/// reserved for leased and pending tasks and held rewards, of which held, left for new tasks, returned to the requester: at
/// closing, `refund:`, and for each task under way then that came to nothing, `returned:`).
fn progress(
    conn: &mut dyn Conn,
    id: &str,
    items: i64,
    reward: i64,
    balance: i64,
) -> ApiResult<Json_> {
    let count = |conn: &mut dyn Conn, sql: &str| -> ApiResult<i64> {
        let rows = conn.query(sql, params![id.to_owned()])?;
        Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0))
    };
    let decided = count(
        conn,
        "SELECT COUNT(*) FROM items WHERE campaign = $1 AND golden IS NULL AND resolved = 1",
    )?;
    let pending_items = count(
        conn,
        "SELECT COUNT(DISTINCT s.idx) FROM submissions s JOIN items i ON i.campaign = s.campaign AND i.idx = s.idx WHERE s.campaign = $1 AND s.status = 'pending' AND i.resolved = 0 AND i.golden IS NULL",
    )?;
    let mut answers = serde_json::Map::new();
    for status in ["accepted", "rejected", "pending"] {
        answers.insert(status.to_owned(), Json_::from(0));
    }
    for row in conn.query(
        "SELECT status, COUNT(*) FROM submissions WHERE campaign = $1 GROUP BY status",
        params![id.to_owned()],
    )? {
        answers.insert(row.text(0)?, Json_::from(row.int(1)?));
    }
    let account = campaign_account(id);
    let out_of = |conn: &mut dyn Conn, refunds: bool| -> ApiResult<i64> {
        let sql = if refunds {
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM transfers WHERE debit = $1 AND (id LIKE 'refund:%' OR id LIKE 'returned:%')"
        } else {
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM transfers WHERE debit = $1 AND id NOT LIKE 'refund:%' AND id NOT LIKE 'returned:%'"
        };
        let rows = conn.query(sql, params![account.clone()])?;
        Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0))
    };
    let spent = out_of(conn, false)?;
    let refunded = out_of(conn, true)?;
    let reserved = owed_tasks(conn, id)?
        .saturating_mul(reward)
        .min(balance.max(0));
    // Part of `reserved`: accepted answers whose reward waits for its author's record.
    let held = count(
        conn,
        "SELECT CAST(COALESCE(SUM(reward), 0) AS BIGINT) FROM submissions WHERE campaign = $1 AND held = 1",
    )?
    .min(reserved);
    Ok(serde_json::json!({
        "items_decided": decided,
        "items_pending": pending_items,
        "items_open": (items - decided - pending_items).max(0),
        "answers": answers,
        "spent": ledger::format_amount(spent),
        "reserved": ledger::format_amount(reserved),
        "held": ledger::format_amount(held),
        "left": ledger::format_amount(balance.saturating_sub(reserved).max(0)),
        "refunded": ledger::format_amount(refunded),
    }))
}

/// The query of `GET /v1/campaigns`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `active` (the default), `paused`, `closed` or `all`.
    status: Option<String>,
    /// Only the campaigns of this requester (0x and 40 hex digits).
    owner: Option<String>,
}

/// `GET /v1/campaigns?status=&owner=`: campaigns, newest first; by default the active ones,
/// which are the ones contributors can work on.
pub async fn list(
    State(relay): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Json_>> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(ErrorCode::InvalidQuery, e.body_text()))?;
    let status = query.status.unwrap_or_else(|| "active".to_owned());
    if !["active", "paused", "closed", "all"].contains(&status.as_str()) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "status must be \"active\", \"paused\", \"closed\" or \"all\"",
        ));
    }
    let owner = match query.owner {
        None => None,
        Some(text) => Some(db_address(&datahub_core::Address::parse(&text).map_err(
            |_| {
                ApiError::bad_request(
                    ErrorCode::InvalidQuery,
                    "owner must be an address: 0x and 40 hex digits",
                )
            },
        )?)),
    };
    let ids = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Vec<String>> {
            // Empty strings stand for "any": one statement serves every filter.
            let status = if status == "all" { String::new() } else { status };
            conn.query(
                "SELECT id FROM campaigns WHERE ($1 = '' OR status = $1) AND ($2 = '' OR owner = $2) ORDER BY created_ms DESC, id LIMIT 200",
                params![status, owner.unwrap_or_default()],
            )?
            .iter()
            .map(|r| r.text(0).map_err(ApiError::from))
            .collect()
        })
        .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(summary(&relay, id).await?);
    }
    Ok(Json(serde_json::json!({ "campaigns": out })))
}

/// `GET /v1/campaigns/{id}`.
pub async fn show(State(relay): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    Ok(Json(summary(&relay, id).await?))
}

/// The body of `POST /v1/campaigns/{id}/status`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: String,
}

/// `POST /v1/campaigns/{id}/status` (signed by the owner): `{"status": "paused" | "active" |
/// "closed"}`. Closing returns the budget not yet owed (for leased or pending tasks) to the
/// requester; a closed campaign stays closed.
pub async fn set_status(
    State(relay): State<AppState>,
    Path(id): Path<String>,
    signed: Requester,
) -> ApiResult<Json<Json_>> {
    let change: StatusChange = signed.json()?;
    let target = change.status;
    if !["paused", "active", "closed"].contains(&target.as_str()) {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidStatus,
            "status must be \"paused\", \"active\" or \"closed\"",
        ));
    }
    let owner = db_address(&signed.signer);
    let now = clock::now_ms();
    let campaign = id.clone();
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
            let row = conn
                .query_opt(
                    "SELECT owner, status, token, reward, chains, spec FROM campaigns WHERE id = $1",
                    params![campaign.clone()],
                )?
                .ok_or_else(|| {
                    ApiError::not_found(ErrorCode::NoCampaign, format!("no campaign {campaign:?}"))
                })?;
            if row.text(0)? != owner {
                return Err(ApiError::forbidden(
                    ErrorCode::NotOwner,
                    "only the campaign's requester may change it",
                ));
            }
            let status = row.text(1)?;
            if status == "closed" && target != "closed" {
                return Err(ApiError::conflict(
                    ErrorCode::Closed,
                    "the campaign is closed",
                ));
            }
            if status == target {
                return Ok(());
            }
            if target != "closed" {
                conn.execute(
                    "UPDATE campaigns SET status = $1 WHERE id = $2",
                    params![target, campaign],
                )?;
                return Ok(());
            }
            let (token, reward) = (row.text(2)?, row.int(3)?);
            let chain = single_chain(&row.text(4)?)?;
            // Held rewards are paid or given back now, before the refund is counted.
            let spec: CampaignSpec = serde_json::from_str(&row.text(5)?).map_err(ApiError::internal)?;
            crate::quality::settle_at_close(conn, &spec, &campaign, now)?;
            let owed = owed_tasks(conn, &campaign)?
                .checked_mul(reward)
                .ok_or_else(|| ApiError::internal("owed budget overflows"))?;
            let account = campaign_account(&campaign);
            let refund = ledger::balance(conn, &account)? - owed;
            conn.execute(
                "UPDATE campaigns SET status = 'closed', open_slots = 0 WHERE id = $1",
                params![campaign.clone()],
            )?;
            if refund > 0 {
                let funding = ledger::ensure_funding(conn, &owner, chain, &token)?;
                let moved = ledger::transfer(
                    conn,
                    &format!("refund:{campaign}"),
                    &account,
                    &funding,
                    refund,
                    &token,
                    "campaign closed: unspent budget returned",
                    now,
                )?;
                if moved != Transfer::Applied {
                    return Err(ApiError::internal(format!(
                        "refund of {campaign}: {moved:?}"
                    )));
                }
            }
            Ok(())
        })
        .await?;
    Ok(Json(summary(&relay, id).await?))
}

/// The chain of a campaign as stored (`,56,`). Campaigns made before the one-chain rule may name
/// several; their budget came from no chain's funds, and the first chain gets what is returned.
fn single_chain(chains: &str) -> ApiResult<u64> {
    chains
        .split(',')
        .find(|c| !c.is_empty())
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| ApiError::internal(format!("campaign chains {chains:?}")))
}

/// Tasks the campaign may still have to pay for: active leases, pending answers and held rewards.
fn owed_tasks(conn: &mut dyn Conn, campaign: &str) -> ApiResult<i64> {
    let leases = conn.query(
        "SELECT COUNT(*) FROM leases WHERE campaign = $1 AND state = 'active'",
        params![campaign],
    )?;
    // Held rewards (`quality::hold`) are owed too: paid once their author's record clears, or
    // given back when it is restricted. Closing must not refund them.
    let pending = conn.query(
        "SELECT COUNT(*) FROM submissions WHERE campaign = $1 AND (status = 'pending' OR held = 1)",
        params![campaign],
    )?;
    let count = |rows: Vec<crate::db::Row>| -> ApiResult<i64> {
        Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0))
    };
    Ok(count(leases)? + count(pending)?)
}
