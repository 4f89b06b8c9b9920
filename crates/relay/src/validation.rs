//! Validators of uploads. A campaign may name validator keys (`validators` in its spec): the
//! contributor's client seals each upload to them as well as to the requester, every upload
//! submission stays `pending`, and a job waits here until one of those validators takes it
//! (`POST /v1/validation/jobs/next`, a lease that expires so a crashed validator's job comes
//! back), opens the object, checks it and signs a verdict
//! (`POST /v1/validation/jobs/{id}/verdict`). Accepted: the submission is credited exactly as
//! any accepted answer (`slots::credit`). Rejected: it is not paid and its slot goes
//! back to the campaign's budget. Verdicts are kept as signed, for the requester
//! (`GET /v1/campaigns/{id}/verdicts`) and anyone they show them to.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use crate::auth::{Signed, SignedAsSent, db_address};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::{AppState, clock, job_lease, listing, params};

/// `POST /v1/validation/jobs/next` (signed by a validator's key): the oldest waiting job of a
/// campaign that names this key, leased to it; the same job again while its lease runs.
pub async fn next_job(State(relay): State<AppState>, signed: Signed) -> ApiResult<Json<Json_>> {
    let lease_ms = job_lease::requested_ms(&signed)?;
    let validator = db_address(&signed.signer);
    let now = clock::now_ms();
    let job = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<Option<(crate::db::Row, i64)>> {
            let columns = "j.id, j.submission, j.campaign, j.idx, j.object, i.payload, j.lease_expires_ms";
            let join = "FROM validation_jobs j JOIN items i ON i.campaign = j.campaign AND i.idx = j.idx";
            if let Some(held) = conn.query_opt(
                &format!("SELECT {columns} {join} WHERE j.state = 'open' AND j.validator = $1 AND j.lease_expires_ms >= $2 ORDER BY j.created_ms, j.id LIMIT 1"),
                params![validator.clone(), now],
            )? {
                let expires = held.int(6)?;
                return Ok(Some((held, expires)));
            }
            let Some(row) = conn.query_opt(
                &format!("SELECT {columns} {join} WHERE j.state = 'open' AND j.lease_expires_ms < $1 AND j.validators LIKE $2 AND (j.first_reject IS NULL OR j.first_reject <> $3) ORDER BY j.created_ms, j.id LIMIT 1"),
                params![now, format!("%,{validator},%"), validator.clone()],
            )? else {
                return Ok(None);
            };
            let expires = now + lease_ms;
            conn.execute(
                "UPDATE validation_jobs SET validator = $1, lease_expires_ms = $2 WHERE id = $3 AND state = 'open'",
                params![validator, expires, row.text(0)?],
            )?;
            Ok(Some((row, expires)))
        })
        .await?;
    let Some((row, expires)) = job else {
        return Err(ApiError::not_found(
            ErrorCode::NoJob,
            "no upload is waiting for this validator; ask again later",
        ));
    };
    let campaign = row.text(2)?;
    let info = relay
        .campaigns
        .get(&relay, &campaign)
        .await?
        .ok_or_else(|| ApiError::internal("a validation job of a missing campaign"))?;
    let item: Json_ = serde_json::from_str(&row.text(5)?).map_err(ApiError::internal)?;
    Ok(Json(json!({
        "job": row.text(0)?,
        "submission": row.text(1)?,
        "campaign": campaign,
        "kind": info.spec.kind,
        "index": row.int(3)?,
        "item": item,
        "object": row.text(4)?,
        "upload": info.spec.upload,
        "lease_expires_at": datahub_core::eth::Timestamp::from_unix_millis(expires).to_string(),
    })))
}

/// The body of `POST /v1/validation/jobs/{id}/verdict`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerdictBody {
    /// The object judged (must be the job's: the signature binds the verdict to the content).
    object: String,
    /// Whether the upload passes.
    accept: bool,
    /// Why not (or notes), for people.
    #[serde(default)]
    reasons: Vec<String>,
    /// What was measured (free-form JSON object: sizes, durations, hashes).
    #[serde(default)]
    checks: Option<Json_>,
}

/// `POST /v1/validation/jobs/{id}/verdict` (signed by a validator named by the job's campaign):
/// settles the upload submission. The same validator sending the same decision again gets the
/// stored outcome.
pub async fn verdict(
    State(relay): State<AppState>,
    Path(job): Path<String>,
    sent: SignedAsSent,
) -> ApiResult<Json<Json_>> {
    decide(relay, job, sent).await
}

async fn decide(
    relay: AppState,
    job: String,
    SignedAsSent {
        signed,
        path,
        time_ms,
        signature,
    }: SignedAsSent,
) -> ApiResult<Json<Json_>> {
    let body: VerdictBody = signed.json()?;
    let bad = |m: &str| ApiError::unprocessable(ErrorCode::InvalidVerdict, m.to_owned());
    if body.reasons.len() > 32 || body.reasons.iter().any(|r| r.len() > 1000) {
        return Err(bad("reasons: at most 32, each at most 1000 bytes"));
    }
    if body.checks.as_ref().is_some_and(|c| !c.is_object()) {
        return Err(bad("checks must be a JSON object"));
    }
    let body_text =
        String::from_utf8(signed.body.to_vec()).map_err(|_| bad("the body must be UTF-8 JSON"))?;
    let validator = db_address(&signed.signer);
    let now = clock::now_ms();
    let accept = body.accept;
    let outcome = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let row = conn
                .query_opt(
                    "SELECT submission, campaign, idx, object, validators, state, validator, lease_expires_ms, first_reject FROM validation_jobs WHERE id = $1",
                    params![job.clone()],
                )?
                .ok_or_else(|| ApiError::not_found(ErrorCode::NoJob, format!("no validation job {job:?}")))?;
            let (submission, campaign, idx, object) =
                (row.text(0)?, row.text(1)?, row.int(2)?, row.text(3)?);
            if !row.text(4)?.contains(&format!(",{validator},")) {
                return Err(ApiError::forbidden(
                    ErrorCode::NotAValidator,
                    "this key is not a validator of the job's campaign",
                ));
            }
            if row.text(5)? == "done" {
                let stored = conn
                    .query_opt(
                        "SELECT validator, accept FROM verdicts WHERE job = $1",
                        params![job.clone()],
                    )?
                    .ok_or_else(|| ApiError::internal("a done job without a verdict"))?;
                if stored.text(0)? == validator && (stored.int(1)? != 0) == accept {
                    return outcome(conn, &job, &campaign, idx, &submission, true);
                }
                return Err(ApiError::conflict(
                    ErrorCode::JobDone,
                    "this upload already has a verdict",
                ));
            }
            let holder = row.opt_text(6)?;
            if holder.as_deref().is_some_and(|h| h != validator) && row.int(7)? >= now {
                return Err(ApiError::conflict(
                    ErrorCode::JobLeased,
                    "another validator holds this job; take jobs with POST /v1/validation/jobs/next",
                ));
            }
            if body.object != object {
                return Err(ApiError::unprocessable(
                    ErrorCode::WrongObject,
                    format!("this job is about object {object}"),
                ));
            }
            let first_reject = row.opt_text(8)?;
            if first_reject.as_deref() == Some(validator.as_str()) {
                if !accept {
                    return outcome(conn, &job, &campaign, idx, &submission, true);
                }
                return Err(ApiError::conflict(
                    ErrorCode::SecondOpinion,
                    "you rejected this upload; another validator of the campaign decides it now",
                ));
            }
            // A rejection needs a second validator to agree, where the campaign names one: a
            // single validator cannot leave an upload unpaid alone. The first rejection is kept
            // as signed, and the job goes back for another validator.
            let validators = row.text(4)?.split(',').filter(|v| !v.is_empty()).count();
            if !accept && first_reject.is_none() && validators >= 2 {
                let signed_verdict = json!({
                    "path": path, "body": body_text, "time_ms": time_ms, "signature": signature,
                });
                conn.execute(
                    "UPDATE validation_jobs SET first_reject = $1, first_reject_verdict = $2, validator = NULL, lease_expires_ms = 0 WHERE id = $3",
                    params![validator, signed_verdict.to_string(), job.clone()],
                )?;
                let mut answer = outcome(conn, &job, &campaign, idx, &submission, false)?;
                if let Some(fields) = answer.as_object_mut() {
                    fields.insert("second_opinion".into(), json!(true));
                }
                return Ok(answer);
            }
            // With one validator, its rejection does not decide alone either: the upload stays
            // pending and the relay appeals it to the requester's and operators' queue
            // (`appeals`), which decides it (`decide_dispute`).
            if !accept && validators == 1 {
                let signed_verdict = json!({
                    "path": path, "body": body_text, "time_ms": time_ms, "signature": signature,
                });
                conn.execute(
                    "UPDATE validation_jobs SET state = 'disputed', first_reject = $1, first_reject_verdict = $2 WHERE id = $3",
                    params![validator, signed_verdict.to_string(), job.clone()],
                )?;
                crate::appeal_rows::open_dispute(conn, &submission, &campaign, &body.reasons, now)?;
                let mut answer = outcome(conn, &job, &campaign, idx, &submission, false)?;
                if let Some(fields) = answer.as_object_mut() {
                    fields.insert("second_opinion".into(), json!(true));
                    fields.insert("appealed".into(), json!(true));
                }
                return Ok(answer);
            }
            conn.execute(
                "INSERT INTO verdicts (job, submission, campaign, object, validator, accept, path, body, time_ms, signature, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                params![
                    job.clone(), submission.clone(), campaign.clone(), object, validator.clone(),
                    i64::from(accept), path, body_text, time_ms, signature, now
                ],
            )?;
            conn.execute(
                "UPDATE validation_jobs SET state = 'done', validator = $1 WHERE id = $2",
                params![validator, job.clone()],
            )?;
            settle_by_people(conn, &campaign, idx, &submission, accept, now)?;
            outcome(conn, &job, &campaign, idx, &submission, false)
        })
        .await?;
    // A first rejection waiting for a second opinion is not a verdict yet.
    if outcome.get("duplicate") == Some(&json!(false)) && outcome.get("second_opinion").is_none() {
        let counter = if accept {
            &relay.metrics.accepted
        } else {
            &relay.metrics.rejected
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(Json(outcome))
}

/// What a verdict came to: the job and the submission's status.
fn outcome(
    conn: &mut dyn Conn,
    job: &str,
    campaign: &str,
    idx: i64,
    submission: &str,
    duplicate: bool,
) -> ApiResult<Json_> {
    let status = conn
        .query_opt(
            "SELECT status FROM submissions WHERE campaign = $1 AND idx = $2 AND id = $3",
            params![campaign, idx, submission],
        )?
        .map(|r| r.text(0))
        .transpose()?
        .unwrap_or_default();
    Ok(json!({
        "job": job,
        "submission": submission,
        "status": status,
        "duplicate": duplicate,
    }))
}

/// Decides an upload that the only validator of its campaign rejected (a job `disputed`), as
/// the appeal queue answered: upheld, it is accepted and paid; refused, the validator's
/// rejection stands and is kept as it signed it, like any verdict. Nothing when the
/// submission has no disputed job.
pub fn decide_dispute(
    conn: &mut dyn Conn,
    submission: &str,
    accept: bool,
    now: i64,
) -> ApiResult<()> {
    let Some(job) = conn.query_opt(
        "SELECT id, campaign, idx, object, first_reject, first_reject_verdict FROM validation_jobs WHERE submission = $1 AND state = 'disputed'",
        params![submission],
    )?
    else {
        return Ok(());
    };
    let (id, campaign, idx) = (job.text(0)?, job.text(1)?, job.int(2)?);
    if !accept {
        let signed: Json_ = serde_json::from_str(&job.opt_text(5)?.unwrap_or_default())
            .map_err(ApiError::internal)?;
        let field = |name: &str| {
            signed
                .get(name)
                .and_then(Json_::as_str)
                .unwrap_or("")
                .to_owned()
        };
        conn.execute(
            "INSERT INTO verdicts (job, submission, campaign, object, validator, accept, path, body, time_ms, signature, created_ms) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10)",
            params![
                id.clone(), submission, campaign.clone(), job.text(3)?, job.opt_text(4)?.unwrap_or_default(),
                field("path"), field("body"), signed.get("time_ms").and_then(Json_::as_i64).unwrap_or(0),
                field("signature"), now
            ],
        )?;
    }
    conn.execute(
        "UPDATE validation_jobs SET state = 'done' WHERE id = $1",
        params![id],
    )?;
    settle_by_people(conn, &campaign, idx, submission, accept, now)
}

/// Settles a pending upload as people decided it (a validator's verdict, the appeal queue),
/// and with it the fees of its compute job if the nodes could not agree and handed it over:
/// the nodes that judged as people did are paid (`compute::jobs::settle_escalated`).
fn settle_by_people(
    conn: &mut dyn Conn,
    campaign: &str,
    idx: i64,
    submission: &str,
    accept: bool,
    now: i64,
) -> ApiResult<()> {
    crate::pending_uploads::settle(conn, campaign, idx, submission, accept, now)?;
    crate::compute::jobs::settle_escalated(conn, submission, accept, now)
}

/// The query of `GET /v1/campaigns/{id}/verdicts`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Only verdicts after this job id (the previous page's `next`).
    #[serde(default)]
    after: Option<String>,
    /// At most this many (1 to 1000, default 1000).
    #[serde(default)]
    limit: Option<i64>,
}

/// `GET /v1/campaigns/{id}/verdicts` (signed by the campaign's owner): every verdict, oldest
/// first, each with what its validator signed.
pub async fn list(
    State(relay): State<AppState>,
    Path(campaign): Path<String>,
    Query(page): Query<Page>,
    signed: Signed,
) -> ApiResult<Json<Json_>> {
    let limit = listing::limit(page.limit, 1000, 1000)?;
    let owner = db_address(&signed.signer);
    let after = page.after.unwrap_or_default();
    let id = campaign.clone();
    let rows = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Vec<crate::db::Row>> {
            if listing::campaign_owner(conn, &id)? != owner {
                return Err(ApiError::forbidden(
                    ErrorCode::NotOwner,
                    "only the campaign's requester may read its verdicts",
                ));
            }
            Ok(conn.query(
                "SELECT job, submission, object, validator, accept, path, body, time_ms, signature FROM verdicts WHERE campaign = $1 AND job > $2 ORDER BY job LIMIT $3",
                params![id, after, limit],
            )?)
        })
        .await?;
    let mut verdicts = Vec::with_capacity(rows.len());
    for row in &rows {
        let body: Json_ = serde_json::from_str(&row.text(6)?).map_err(ApiError::internal)?;
        verdicts.push(json!({
            "job": row.text(0)?,
            "submission": row.text(1)?,
            "object": row.text(2)?,
            "validator": row.text(3)?,
            "accept": row.int(4)? != 0,
            "reasons": body.get("reasons").cloned().unwrap_or(json!([])),
            "checks": body.get("checks").cloned().unwrap_or(Json_::Null),
            "signed": {
                "method": "POST",
                "path": row.text(5)?,
                "body": row.text(6)?,
                "time_ms": row.int(7)?,
                "signature": row.text(8)?,
                "audience": db_address(&relay.address),
            },
        }));
    }
    let last = rows.last().map(|r| r.text(0)).transpose()?;
    let next = listing::next_after(rows.len(), limit, last);
    Ok(Json(json!({
        "campaign": campaign,
        "verdicts": verdicts,
        "next": next,
    })))
}
