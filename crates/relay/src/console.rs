//! What the requester's console (`/console`, docs/console.md) reads and does beyond the
//! campaign routes it shares with the CLI: one stats document a campaign's charts are drawn
//! from, the items worth a second look, and the requester's own answer to one of them.
//!
//! Every route here is the campaign owner's only, asked either with a request signed by the
//! owner's key (the CLI) or with the bearer token of a session the owner's wallet signed in
//! ([`Requester`]).

use axum::Json;
use axum::extract::{Path, Query, State};
use datahub_core::eth::Timestamp;
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use crate::auth::{Requester, db_address};
use crate::db::{Conn, Row};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::spec::{CampaignSpec, Settings, check_answer};
use crate::{AppState, clock, ledger, params};

/// The widest bucket: a week.
const WIDEST_MS: i64 = 7 * 24 * 3_600_000;

/// Bucket widths a time series may use, shortest first: a minute to a week.
const BUCKETS_MS: [i64; 7] = [
    60_000,
    300_000,
    900_000,
    3_600_000,
    6 * 3_600_000,
    24 * 3_600_000,
    WIDEST_MS,
];

/// The most buckets a time series has: enough for a chart, few enough for a phone.
const MAX_BUCKETS: i64 = 120;

/// Bins of the confidence and trust histograms (tenths of 0 to 1).
const BINS: usize = 10;

/// The campaign `id` if `owner` (a database address) owns it: its definition, stored reward
/// and creation time. A stranger learns only that the campaign is not theirs.
fn load_owned(conn: &mut dyn Conn, id: &str, owner: &str) -> ApiResult<Owned> {
    let row = conn
        .query_opt(
            "SELECT owner, spec, reward, created_ms FROM campaigns WHERE id = $1",
            params![id],
        )?
        .ok_or_else(|| ApiError::not_found(ErrorCode::NoCampaign, format!("no campaign {id:?}")))?;
    if row.text(0)? != owner {
        return Err(ApiError::forbidden(
            ErrorCode::NotOwner,
            "only the campaign's requester may see or review it; sign in with the wallet that created it",
        ));
    }
    Ok(Owned {
        spec: serde_json::from_str(&row.text(1)?).map_err(ApiError::internal)?,
        reward: row.int(2)?,
        created_ms: row.int(3)?,
    })
}

/// A campaign as the owner's routes need it.
struct Owned {
    spec: CampaignSpec,
    reward: i64,
    created_ms: i64,
}

/// The narrowest bucket that covers `from..=to` in at most [`MAX_BUCKETS`].
fn bucket_ms(from: i64, to: i64) -> i64 {
    let span = to.saturating_sub(from).max(1);
    BUCKETS_MS
        .iter()
        .copied()
        .find(|b| span / b < MAX_BUCKETS)
        .unwrap_or(WIDEST_MS)
}

/// `(bucket, value)` rows of a `GROUP BY 1` query, as a map.
fn by_bucket(rows: &[Row]) -> ApiResult<std::collections::BTreeMap<i64, i64>> {
    rows.iter()
        .map(|r| Ok((r.int(0)?, r.int(1)?)))
        .collect::<Result<_, crate::db::DbError>>()
        .map_err(ApiError::from)
}

/// Items decided below the campaign's confidence, or over an answer that was outvoted, and not
/// yet reviewed: what the requester may want to look at. `limit` at most.
const REVIEW_WHERE: &str = "i.campaign = $1 AND i.golden IS NULL AND i.resolved = 1 AND COALESCE(i.method, '') <> 'review' AND (COALESCE(i.confidence, 1000000) < $2 OR EXISTS (SELECT 1 FROM submissions s WHERE s.campaign = i.campaign AND s.idx = i.idx AND s.status = 'rejected'))";

/// `GET /v1/campaigns/{id}/stats` (the owner's): everything the console's charts draw, from
/// the database as it is now. Time series are in buckets of `bucket_seconds` (a minute to a
/// week, at most 120 of them from the campaign's creation to now).
pub async fn stats(
    State(relay): State<AppState>,
    Path(id): Path<String>,
    requester: Requester,
) -> ApiResult<Json<Json_>> {
    let owner = db_address(&requester.signer);
    let now = clock::now_ms();
    let body = relay
        .db
        .read(move |conn: &mut dyn Conn| stats_document(conn, &id, &owner, now))
        .await?;
    Ok(Json(body))
}

/// The stats of campaign `id` for `owner` (a database address) at `now`: five statements
/// (`Counted` measures it in crates/relay/tests/console.rs), whatever the campaign's size.
pub fn stats_document(conn: &mut dyn Conn, id: &str, owner: &str, now: i64) -> ApiResult<Json_> {
    let id = id.to_owned();
    let campaign = load_owned(conn, &id, owner)?;
    let settings = Settings::of(&campaign.spec);
    let bucket = bucket_ms(campaign.created_ms, now);
    let first = campaign.created_ms / bucket;
    let last = (now / bucket).max(first);

    // Five statements in all (with `load_owned`): one per table, each grouped so
    // that every figure of its table is a sum over its rows (there were twelve).
    let mut answers = std::collections::BTreeMap::<i64, i64>::new();
    let mut answers_by_status = serde_json::Map::new();
    for status in ["accepted", "rejected", "pending"] {
        answers_by_status.insert(status.to_owned(), json!(0));
    }
    for row in conn.query(
                "SELECT created_ms / $2, status, COUNT(*) FROM submissions WHERE campaign = $1 GROUP BY 1, 2",
                params![id.clone(), bucket],
            )? {
                let n = row.int(2)?;
                *answers.entry(row.int(0)?).or_default() += n;
                let status = answers_by_status.entry(row.text(1)?).or_insert(json!(0));
                *status = json!(status.as_i64().unwrap_or(0) + n);
            }
    let account = crate::slots::campaign_account(&id);
    let moves = by_bucket(&conn.query(
                "SELECT created_ms / $2, CAST(SUM(CASE WHEN credit = $1 THEN amount ELSE -amount END) AS BIGINT) FROM transfers WHERE debit = $1 OR credit = $1 GROUP BY 1",
                params![account, bucket],
            )?)?;
    let mut per_bucket = Vec::new();
    let mut budget = Vec::new();
    let mut balance = 0_i64;
    for b in first..=last {
        let at = Timestamp::from_unix_millis(b * bucket).to_string();
        per_bucket.push(json!({ "at": at, "answers": answers.get(&b).copied().unwrap_or(0) }));
        balance = balance.saturating_add(moves.get(&b).copied().unwrap_or(0));
        budget.push(json!({ "at": at, "left": ledger::format_amount(balance) }));
    }

    // The items by (decided, reviewed, confidence tenth, waiting for review, pending):
    // at most 2 × 2 × 11 × 2 × 2 groups, whatever the campaign's size.
    let threshold = (settings.confidence * 1e6) as i64;
    let (mut total, mut decided, mut pending, mut reviewed, mut to_review) = (0, 0, 0, 0, 0);
    let mut confidence = [0_i64; BINS];
    for row in conn.query(
                &format!(
                    "SELECT i.resolved, CASE WHEN i.method = 'review' THEN 1 ELSE 0 END, COALESCE(i.confidence, 1000000) / 100000, \
                     CASE WHEN {REVIEW_WHERE} THEN 1 ELSE 0 END, \
                     CASE WHEN i.resolved = 0 AND EXISTS (SELECT 1 FROM submissions s WHERE s.campaign = i.campaign AND s.idx = i.idx AND s.status = 'pending') THEN 1 ELSE 0 END, \
                     COUNT(*) FROM items i WHERE i.campaign = $1 AND i.golden IS NULL GROUP BY 1, 2, 3, 4, 5"
                ),
                params![id.clone(), threshold],
            )? {
                let n = row.int(5)?;
                total += n;
                if row.int(0)? == 1 {
                    decided += n;
                    let bin = usize::try_from(row.int(2)?.max(0)).unwrap_or(0).min(BINS - 1);
                    if let Some(slot) = confidence.get_mut(bin) {
                        *slot += n;
                    }
                }
                reviewed += row.int(1)? * n;
                to_review += row.int(3)? * n;
                pending += row.int(4)? * n;
            }

    let mut trust = [0_i64; BINS];
    let (mut right, mut wrong, mut contributors, mut restricted) = (0, 0, 0, 0);
    // A pre-annotating model's record (`model:<hash>`, docs/relay.md §4d) is no contributor.
    for row in conn.query(
                "SELECT trust_ppm / 100000, CAST(COALESCE(SUM(golden_right), 0) AS BIGINT), CAST(COALESCE(SUM(golden_wrong), 0) AS BIGINT), COUNT(*), CAST(COALESCE(SUM(CASE WHEN restricted IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) FROM contributors WHERE campaign = $1 AND worker NOT LIKE 'model:%' GROUP BY 1",
                params![id.clone()],
            )? {
                let n = row.int(3)?;
                let bin = usize::try_from(row.int(0)?.max(0)).unwrap_or(0).min(BINS - 1);
                if let Some(slot) = trust.get_mut(bin) {
                    *slot += n;
                }
                right += row.int(1)?;
                wrong += row.int(2)?;
                contributors += n;
                restricted += row.int(4)?;
            }
    Ok(json!({
        "campaign": id,
        "kind": campaign.spec.kind,
        "token": campaign.spec.token,
        "reward": ledger::format_amount(campaign.reward),
        "budget": campaign.spec.budget,
        "confidence_threshold": settings.confidence,
        "bucket_seconds": bucket / 1000,
        "answers_per_bucket": per_bucket,
        "budget_over_time": budget,
        "answers": answers_by_status,
        "items": {
            "total": total,
            "decided": decided,
            "pending": pending,
            "open": (total - decided - pending).max(0),
            "to_review": to_review,
            "reviewed": reviewed,
        },
        "confidence_histogram": confidence,
        "golden": {
            "right": right,
            "wrong": wrong,
            "accuracy": if right + wrong == 0 { Json_::Null } else { json!(right as f64 / (right + wrong) as f64) },
        },
        "contributors": { "total": contributors, "restricted": restricted },
        "trust_histogram": trust,
    }))
}

/// The query of `GET /v1/campaigns/{id}/review`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    /// At most this many items (1 to 200; default 50).
    limit: Option<i64>,
}

/// `GET /v1/campaigns/{id}/review?limit=` (the owner's): decided items below the campaign's
/// confidence or with an outvoted answer, least confident first, each with every answer given.
pub async fn review_list(
    State(relay): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<ReviewQuery>, axum::extract::rejection::QueryRejection>,
    requester: Requester,
) -> ApiResult<Json<Json_>> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(ErrorCode::InvalidQuery, e.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "limit: 1 to 200",
        ));
    }
    let owner = db_address(&requester.signer);
    let body = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let campaign = load_owned(conn, &id, &owner)?;
            let threshold = (Settings::of(&campaign.spec).confidence * 1e6) as i64;
            let rows = conn.query(
                &format!("SELECT i.idx, i.payload, i.answer, i.confidence, i.method FROM items i WHERE {REVIEW_WHERE} ORDER BY COALESCE(i.confidence, 1000000), i.idx LIMIT $3"),
                params![id.clone(), threshold, limit],
            )?;
            let mut items = Vec::with_capacity(rows.len());
            for r in &rows {
                let idx = r.int(0)?;
                let mut answers = Vec::new();
                for s in conn.query(
                    "SELECT answer, status FROM submissions WHERE campaign = $1 AND idx = $2 ORDER BY created_ms",
                    params![id.clone(), idx],
                )? {
                    answers.push(json!({ "answer": parse(&s.text(0)?)?, "status": s.text(1)? }));
                }
                items.push(json!({
                    "index": idx,
                    "item": parse(&r.text(1)?)?,
                    "answer": r.opt_text(2)?.map(|t| parse(&t)).transpose()?,
                    "confidence": r.opt_int(3)?.map_or(1.0, |ppm| ppm as f64 / 1e6),
                    "method": r.opt_text(4)?,
                    "answers": answers,
                }));
            }
            Ok(json!({ "campaign": id, "kind": campaign.spec.kind, "labels": campaign.spec.labels, "items": items }))
        })
        .await?;
    Ok(Json(body))
}

/// The body of `POST /v1/campaigns/{id}/items/{index}/answer`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewAnswer {
    answer: Json_,
}

/// `POST /v1/campaigns/{id}/items/{index}/answer` (the owner's): the requester's own answer to
/// a decided item, checked like a contributor's, replaces the aggregate in the results
/// (`method: "review"`, confidence 1). Contributors are neither paid again nor charged back:
/// the review corrects the dataset, not the ledger. Upload campaigns have no answer to set.
pub async fn review_answer(
    State(relay): State<AppState>,
    Path((id, index)): Path<(String, String)>,
    requester: Requester,
) -> ApiResult<Json<Json_>> {
    let index: i64 = index.parse().ok().filter(|i| *i >= 0).ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::BadId,
            "the item index must be a whole number from 0",
        )
    })?;
    let body: ReviewAnswer = requester.json()?;
    let owner = db_address(&requester.signer);
    let body = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let campaign = load_owned(conn, &id, &owner)?;
            if campaign.spec.kind.is_upload() {
                return Err(ApiError::unprocessable(
                    ErrorCode::InvalidAnswer,
                    "upload campaigns have no answer to review; their uploads are judged by validators",
                ));
            }
            let row = conn
                .query_opt(
                    "SELECT payload, resolved FROM items WHERE campaign = $1 AND idx = $2 AND golden IS NULL",
                    params![id.clone(), index],
                )?
                .ok_or_else(|| {
                    ApiError::not_found(ErrorCode::NotFound, format!("campaign {id:?} has no item {index}"))
                })?;
            if row.int(1)? != 1 {
                return Err(ApiError::conflict(
                    ErrorCode::ItemUndecided,
                    "this item is still collecting answers; review it once it is decided",
                ));
            }
            let item = parse(&row.text(0)?)?;
            // Checked as a contributor's would be; stored as the deciding step stores an
            // aggregate, the answer's JSON.
            check_answer(&campaign.spec, &item, &body.answer)?;
            let answer = body.answer.to_string();
            conn.execute(
                "UPDATE items SET answer = $1, confidence = 1000000, method = 'review' WHERE campaign = $2 AND idx = $3",
                params![answer.clone(), id.clone(), index],
            )?;
            Ok(json!({ "campaign": id, "index": index, "answer": parse(&answer)?, "method": "review" }))
        })
        .await?;
    Ok(Json(body))
}

fn parse(text: &str) -> ApiResult<Json_> {
    serde_json::from_str(text).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_grow_with_the_campaign_and_stay_few() {
        assert_eq!(bucket_ms(0, 0), 60_000);
        assert_eq!(bucket_ms(0, 119 * 60_000), 60_000);
        assert_eq!(bucket_ms(0, 120 * 60_000), 300_000);
        assert_eq!(bucket_ms(0, 3 * 24 * 3_600_000), 3_600_000);
        // Older than the widest buckets allow: the widest, however many.
        assert_eq!(bucket_ms(0, i64::MAX), 7 * 24 * 3_600_000);
        // A clock behind the campaign's creation is not a negative span.
        assert_eq!(bucket_ms(1_000_000, 0), 60_000);
    }
}
