//! The requester's views: the quality report and the accepted results, paged.

use axum::Json;
use axum::extract::{Path, Query, State};
use datahub_core::eth::Timestamp;
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::receipts::{self, RECEIPT_COLUMNS, Receipt};
use super::record::{RECORD_COLUMNS, Record};
use crate::auth::{Requester, db_address};
use crate::db::{Conn, Row};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::spec::{CampaignSpec, Settings};
use crate::{AppState, consent, params};

/// The owner of campaign `id`, checked against the signer of `signed`.
fn check_owner(conn: &mut dyn Conn, id: &str, signer: &str) -> ApiResult<Row> {
    let row = conn
        .query_opt(
            "SELECT owner, spec, kind FROM campaigns WHERE id = $1",
            params![id],
        )?
        .ok_or_else(|| ApiError::not_found(ErrorCode::NoCampaign, format!("no campaign {id:?}")))?;
    if row.text(0)? != signer {
        return Err(ApiError::forbidden(
            ErrorCode::NotOwner,
            "only the campaign's requester may see its quality and results",
        ));
    }
    Ok(row)
}

fn ratio(a: i64, b: i64) -> Json_ {
    if a + b == 0 {
        Json_::Null
    } else {
        json!(a as f64 / (a + b) as f64)
    }
}

/// `GET /v1/campaigns/{id}/quality` (signed by the owner): per contributor their answers,
/// golden record, agreement, trust and restriction; per campaign the items accepted and
/// pending and the settings in force.
pub async fn report(
    State(relay): State<AppState>,
    Path(id): Path<String>,
    signed: Requester,
) -> ApiResult<Json<Json_>> {
    let owner = db_address(&signed.signer);
    let body = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let row = check_owner(conn, &id, &owner)?;
            let spec: CampaignSpec = serde_json::from_str(&row.text(1)?).map_err(ApiError::internal)?;
            let settings = Settings::of(&spec);
            let count = |conn: &mut dyn Conn, sql: &str| -> ApiResult<i64> {
                let rows = conn.query(sql, params![id.clone()])?;
                Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0))
            };
            let total = count(conn, "SELECT COUNT(*) FROM items WHERE campaign = $1 AND golden IS NULL")?;
            let accepted = count(conn, "SELECT COUNT(*) FROM items WHERE campaign = $1 AND golden IS NULL AND resolved = 1")?;
            let pending = count(conn, "SELECT COUNT(DISTINCT s.idx) FROM submissions s JOIN items i ON i.campaign = s.campaign AND i.idx = s.idx WHERE s.campaign = $1 AND s.status = 'pending' AND i.resolved = 0")?;
            let golden = count(conn, "SELECT COUNT(*) FROM items WHERE campaign = $1 AND golden IS NOT NULL")?;
            let rows = conn.query(
                &format!("SELECT worker, {RECORD_COLUMNS} FROM contributors WHERE campaign = $1 ORDER BY worker"),
                params![id.clone()],
            )?;
            let mut by_worker: std::collections::HashMap<String, serde_json::Map<String, Json_>> =
                std::collections::HashMap::new();
            for s in conn.query(
                "SELECT worker, status, COUNT(*) FROM submissions WHERE campaign = $1 GROUP BY worker, status",
                params![id.clone()],
            )? {
                by_worker
                    .entry(s.text(0)?)
                    .or_default()
                    .insert(s.text(1)?, json!(s.int(2)?));
            }
            let mut contributors = Vec::with_capacity(rows.len());
            for row in &rows {
                let worker = row.text(0)?;
                let r = Record::from_row(row, 1)?;
                let statuses = by_worker.remove(&worker).unwrap_or_default();
                let answers: i64 = statuses.values().filter_map(Json_::as_i64).sum();
                contributors.push(json!({
                    "address": worker,
                    "tasks": r.tasks,
                    "answers": answers,
                    "accepted": statuses.get("accepted").cloned().unwrap_or(json!(0)),
                    "pending": statuses.get("pending").cloned().unwrap_or(json!(0)),
                    "rejected": statuses.get("rejected").cloned().unwrap_or(json!(0)),
                    "golden_right": r.golden_right,
                    "golden_wrong": r.golden_wrong,
                    "golden_accuracy": ratio(r.golden_right, r.golden_wrong),
                    "agreed": r.agreed,
                    "disagreed": r.disagreed,
                    "agreement": ratio(r.agreed, r.disagreed),
                    "backed": r.backed,
                    "unbacked": r.unbacked,
                    "too_fast": r.too_fast,
                    "trust": r.trust_ppm as f64 / 1e6,
                    "restricted": r.restricted.is_some(),
                    "reason": r.restricted,
                    "restricted_at": r.restricted_ms.map(|ms| Timestamp::from_unix_millis(ms).to_string()),
                    "cooldown_until": (r.cooldown_until_ms > 0).then(|| Timestamp::from_unix_millis(r.cooldown_until_ms).to_string()),
                }));
            }
            Ok(json!({
                "campaign": id,
                "kind": row.text(2)?,
                "method": if spec.kind.is_upload() { "upload" } else { settings.aggregation.as_str() },
                "settings": settings.summary(),
                "items": { "total": total, "accepted": accepted, "pending": pending, "golden": golden },
                "contributors": contributors,
            }))
        })
        .await?;
    Ok(Json(body))
}

/// The query of `GET /v1/campaigns/{id}/results`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsQuery {
    /// Only items with a larger index.
    after: Option<i64>,
    /// At most this many items (1 to 1000; default 100).
    limit: Option<i64>,
}

/// `GET /v1/campaigns/{id}/results?after=&limit=` (signed by the owner): accepted items in
/// index order with their aggregated answer, confidence, method and the contributors whose
/// answers were accepted; upload campaigns give one record per accepted upload (all of an
/// item's in the same page). `next` is the `after` of the next page, `null` at the end.
pub async fn results(
    State(relay): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<ResultsQuery>, axum::extract::rejection::QueryRejection>,
    signed: Requester,
) -> ApiResult<Json<Json_>> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(ErrorCode::InvalidQuery, e.body_text()))?;
    let after = query.after.unwrap_or(-1).max(-1);
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "limit: 1 to 1000",
        ));
    }
    let owner = db_address(&signed.signer);
    let domains = receipts::domains(&relay.config.chains);
    let body = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let row = check_owner(conn, &id, &owner)?;
            let spec: CampaignSpec = serde_json::from_str(&row.text(1)?).map_err(ApiError::internal)?;
            let receipt = |r: &Row, at: usize| Receipt::from_row(r, at, &id, &domains);
            let mut records = Vec::new();
            let more;
            if spec.kind.is_upload() {
                let idxs = conn.query(
                    &format!("SELECT DISTINCT idx FROM submissions s WHERE campaign = $1 AND status = 'accepted' AND idx > $2 AND NOT {} ORDER BY idx LIMIT $3", consent::withdrawn("s.worker", "s.campaign")),
                    params![id.clone(), after, limit + 1],
                )?;
                more = idxs.len() > usize::try_from(limit).unwrap_or(usize::MAX);
                for r in idxs.iter().take(usize::try_from(limit).unwrap_or(0)) {
                    let idx = r.int(0)?;
                    let uploads = conn.query(
                        &format!("SELECT i.payload, s.answer, s.worker, s.manifest, {RECEIPT_COLUMNS} FROM submissions s JOIN items i ON i.campaign = s.campaign AND i.idx = s.idx WHERE s.campaign = $1 AND s.idx = $2 AND s.status = 'accepted' AND NOT {} ORDER BY s.created_ms", consent::withdrawn("s.worker", "s.campaign")),
                        params![id.clone(), idx],
                    )?;
                    for u in &uploads {
                        let receipt = receipt(u, 4)?;
                        let predictions = if spec.compute.is_some() {
                            predictions(conn, JobsOf::Upload(&u.text(4)?))?
                        } else {
                            Vec::new()
                        };
                        records.push(json!({
                            "index": idx,
                            "item": parse(&u.text(0)?)?,
                            "answer": parse(&u.text(1)?)?,
                            "confidence": 1.0,
                            "method": "upload",
                            "contributors": [u.text(2)?],
                            "object": u.text(3)?,
                            "receipts": [{ "contributor": receipt.worker, "receipt": receipt.json }],
                            "predictions": predictions,
                        }));
                    }
                }
            } else {
                let items = conn.query(
                    &format!("SELECT idx, payload, answer, confidence, method FROM items WHERE campaign = $1 AND golden IS NULL AND resolved = 1 AND idx > $2 AND NOT EXISTS (SELECT 1 FROM submissions s WHERE s.campaign = items.campaign AND s.idx = items.idx AND s.status = 'accepted' AND {}) ORDER BY idx LIMIT $3", consent::withdrawn("s.worker", "s.campaign")),
                    params![id.clone(), after, limit + 1],
                )?;
                more = items.len() > usize::try_from(limit).unwrap_or(usize::MAX);
                for r in items.iter().take(usize::try_from(limit).unwrap_or(0)) {
                    let idx = r.int(0)?;
                    let winners = conn.query(
                        &format!("SELECT s.worker, s.answer, {RECEIPT_COLUMNS} FROM submissions s WHERE s.campaign = $1 AND s.idx = $2 AND s.status = 'accepted' ORDER BY s.created_ms"),
                        params![id.clone(), idx],
                    )?;
                    let contributors = winners.iter().map(|w| w.text(0)).collect::<Result<Vec<_>, _>>()?;
                    let signed = winners
                        .iter()
                        .map(|w| receipt(w, 2).map(|r| json!({ "contributor": r.worker, "receipt": r.json })))
                        .collect::<Result<Vec<_>, _>>()?;
                    // Items decided before answers were stored with them: the winners' answer.
                    let answer = match r.opt_text(2)? {
                        Some(text) => parse(&text)?,
                        None => winners.first().map(|w| w.text(1)).transpose()?.map(|t| parse(&t)).transpose()?.unwrap_or(Json_::Null),
                    };
                    records.push(json!({
                        "index": idx,
                        "item": parse(&r.text(1)?)?,
                        "answer": answer,
                        "confidence": r.opt_int(3)?.map_or(1.0, |ppm| ppm as f64 / 1e6),
                        "method": r.opt_text(4)?.unwrap_or_else(|| "majority".into()),
                        "contributors": contributors,
                        "object": Json_::Null,
                        "receipts": signed,
                        "predictions": predictions(conn, JobsOf::Item(&id, idx))?,
                    }));
                }
            }
            // Campaign-wide, on every page: an export resumed mid-way still reports it.
            let withdrawn = if spec.kind.is_upload() {
                conn.query_opt(
                    &format!("SELECT COUNT(*) FROM submissions s WHERE campaign = $1 AND status = 'accepted' AND {}", consent::withdrawn("s.worker", "s.campaign")),
                    params![id.clone()],
                )?
            } else {
                conn.query_opt(
                    &format!("SELECT COUNT(*) FROM items WHERE campaign = $1 AND golden IS NULL AND resolved = 1 AND EXISTS (SELECT 1 FROM submissions s WHERE s.campaign = items.campaign AND s.idx = items.idx AND s.status = 'accepted' AND {})", consent::withdrawn("s.worker", "s.campaign")),
                    params![id.clone()],
                )?
            }
            .map(|r| r.int(0))
            .transpose()?
            .unwrap_or(0);
            let next = if more {
                records.last().and_then(|r| r.get("index")).cloned().unwrap_or(Json_::Null)
            } else {
                Json_::Null
            };
            Ok(json!({
                "campaign": id,
                "kind": spec.kind,
                "labels": spec.labels,
                "records": records,
                "withdrawn": withdrawn,
                "next": next,
            }))
        })
        .await?;
    Ok(Json(body))
}

/// Whose compute jobs a record's `predictions` list.
enum JobsOf<'a> {
    /// An upload's (by its submission id).
    Upload(&'a str),
    /// A labeling item's: its pre-annotation job (campaign, index).
    Item(&'a str, i64),
}

/// The compute jobs of an upload or an item: the model (by its hash), the prediction its nodes
/// agreed on and each node's result as signed (path, body, time and signature: anyone can
/// recompute the request digest and recover the node, docs/relay.md §4d).
fn predictions(conn: &mut dyn Conn, of: JobsOf<'_>) -> ApiResult<Vec<Json_>> {
    let jobs = match of {
        JobsOf::Upload(submission) => conn.query(
            "SELECT id, kind, model, state, decision, accepted FROM compute_jobs WHERE submission = $1 ORDER BY created_ms",
            params![submission],
        )?,
        JobsOf::Item(campaign, idx) => conn.query(
            "SELECT id, kind, model, state, decision, accepted FROM compute_jobs WHERE campaign = $1 AND idx = $2 AND submission IS NULL AND golden IS NULL ORDER BY created_ms",
            params![campaign, idx],
        )?,
    };
    let mut out = Vec::with_capacity(jobs.len());
    for job in &jobs {
        let results = conn.query(
            "SELECT node, prediction, path, body, time_ms, signature FROM compute_assignments WHERE job = $1 AND signature IS NOT NULL ORDER BY created_ms",
            params![job.text(0)?],
        )?;
        let mut signed = Vec::with_capacity(results.len());
        for r in &results {
            signed.push(json!({
                "node": r.text(0)?,
                "prediction": r.opt_text(1)?.map(|t| parse(&t)).transpose()?,
                "path": r.opt_text(2)?,
                "body": r.opt_text(3)?,
                "time_ms": r.opt_int(4)?,
                "signature": r.opt_text(5)?,
            }));
        }
        out.push(json!({
            "kind": job.text(1)?,
            "model": job.text(2)?,
            "state": job.text(3)?,
            "prediction": job.opt_text(4)?.map(|t| parse(&t)).transpose()?,
            "accepted": job.opt_int(5)?.map(|a| a != 0),
            "results": signed,
        }));
    }
    Ok(out)
}

fn parse(text: &str) -> ApiResult<Json_> {
    serde_json::from_str(text).map_err(ApiError::internal)
}
