//! Appeals (docs/relay.md §4e): a contributor who thinks a rejected answer was right asks the
//! campaign's requester (or an operator of the relay) to look again.
//!
//! - `POST /v1/appeals` (the contributor's session): one appeal per submission, ever, of a
//!   rejected submission of the caller's own, with a short reason.
//! - An upload rejected by the only validator its campaign names is appealed by the relay itself
//!   ([`crate::appeal_rows::open_dispute`], origin `validator`): one rejection does not decide alone, so the
//!   submission stays `pending` until the queue answers.
//! - `GET /v1/campaigns/{id}/appeals` (signed by the campaign's requester or an operator): the
//!   queue, with each appealed answer.
//! - `POST /v1/appeals/{id}` (signed likewise): the answer. Upheld, the submission is accepted
//!   and paid as any accepted answer is (`slots::credit`, transfer `sub:{submission}`, so once
//!   ever); the reward comes from the campaign's open budget, or from the requester's funding
//!   account when the campaign has none left or is closed (transfer `appeal:{appeal id}`); the
//!   rejection's weight on the contributor's trust is turned round, which lifts a low-trust
//!   restriction it caused (`quality::note_overturned`). Refused, a rejected submission stays
//!   rejected and a disputed upload is rejected as the validator said.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use datahub_core::eth::Timestamp;
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use crate::appeal_rows::{AppealState, MAX_REASON_CHARS, Origin, insert};
use crate::auth::{Contributor, Requester, db_address};
use crate::db::{Conn, Row};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ledger::{self, Transfer};
use crate::slots::{self, Credit, SubmissionStatus};
use crate::spec::CampaignSpec;
use crate::{AppState, clock, listing, params, quality};

/// The most open appeals one wallet may have at once: enough for honest use, few enough that a
/// wallet cannot bury a requester's queue.
pub const MAX_OPEN_PER_WALLET: i64 = 20;

/// A reason or note as people wrote it: trimmed, 1 to [`MAX_REASON_CHARS`] characters, no
/// control characters other than line breaks (they would garble the queue people read).
fn check_text(field: &str, text: &str, required: bool) -> ApiResult<String> {
    let text = text.trim();
    let bad = |m: String| ApiError::unprocessable(ErrorCode::InvalidAppeal, m);
    if text.is_empty() && required {
        return Err(bad(format!(
            "{field}: say in a few words why the answer was right (1 to {MAX_REASON_CHARS} characters)"
        )));
    }
    if text.chars().count() > MAX_REASON_CHARS {
        return Err(bad(format!(
            "{field}: at most {MAX_REASON_CHARS} characters; shorten it"
        )));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(bad(format!(
            "{field}: control characters are not allowed; send plain text"
        )));
    }
    Ok(text.to_owned())
}

/// A submission id as stored (`0x` and 64 lower-case hex digits), or an error.
fn check_submission_id(id: &str) -> ApiResult<String> {
    let digits = id.strip_prefix("0x").unwrap_or("");
    if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidAppeal,
            "submission: the submission's id, 0x and 64 hex digits (GET /v1/me/history lists them)",
        ));
    }
    Ok(format!("0x{}", digits.to_ascii_lowercase()))
}

/// The body of `POST /v1/appeals`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAppeal {
    /// The rejected submission's id.
    pub submission: String,
    /// Why its answer was right.
    pub reason: String,
}

/// `POST /v1/appeals`: appeals a rejected submission of the caller's. 201 with the appeal.
pub async fn open(
    State(relay): State<AppState>,
    Contributor(info): Contributor,
    body: Result<Json<NewAppeal>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<Json_>)> {
    let Json(body) = body.map_err(|e| crate::error::from_rejection(e.status(), e.body_text()))?;
    let submission = check_submission_id(&body.submission)?;
    let reason = check_text("reason", &body.reason, true)?;
    let worker = db_address(&info.session.wallet);
    let appeal = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let now = clock::now_ms();
            let row = conn
                .query_opt(
                    "SELECT campaign, worker, status FROM submissions WHERE id = $1",
                    params![submission.clone()],
                )?
                .filter(|r| r.text(1).is_ok_and(|w| w == worker))
                .ok_or_else(|| {
                    ApiError::not_found(
                        ErrorCode::NoSubmission,
                        "no such submission of yours; GET /v1/me/history lists them",
                    )
                })?;
            if let Some(before) = conn.query_opt(
                "SELECT id, state FROM appeals WHERE submission = $1",
                params![submission.clone()],
            )? {
                return Err(ApiError::conflict(
                    ErrorCode::AppealExists,
                    format!(
                        "this submission was appealed before (appeal {}, {}); each submission is appealed once",
                        before.text(0)?,
                        before.text(1)?
                    ),
                ));
            }
            let status = row.text(2)?;
            if SubmissionStatus::parse(&status) != Some(SubmissionStatus::Rejected) {
                return Err(ApiError::conflict(
                    ErrorCode::NotAppealable,
                    format!("only a rejected answer can be appealed; this one is {status}"),
                ));
            }
            let open = conn.query(
                "SELECT COUNT(*) FROM appeals WHERE worker = $1 AND state = 'open'",
                params![worker.clone()],
            )?;
            let open = open.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
            if open >= MAX_OPEN_PER_WALLET {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::TooManyAppeals,
                    format!(
                        "you have {MAX_OPEN_PER_WALLET} appeals waiting for an answer, the most one wallet may; appeal again once some are answered"
                    ),
                ));
            }
            let id = insert(conn, &submission, &row.text(0)?, &worker, Origin::Contributor, &reason, now)?;
            load_view(conn, &id)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(appeal)))
}

const VIEW_COLUMNS: &str = "a.id, a.submission, a.campaign, a.origin, a.reason, a.state, a.note, a.created_ms, a.decided_ms, s.idx, s.answer, s.status, s.reason, a.worker";

/// An appeal as the API shows it.
fn view(row: &Row) -> ApiResult<Json_> {
    let at = |ms: Option<i64>| ms.map(|ms| Timestamp::from_unix_millis(ms).to_string());
    let answer: Json_ = serde_json::from_str(&row.text(10)?).unwrap_or(Json_::Null);
    Ok(json!({
        "id": row.text(0)?,
        "submission": row.text(1)?,
        "campaign": row.text(2)?,
        "origin": row.text(3)?,
        "reason": row.text(4)?,
        "state": row.text(5)?,
        "note": row.opt_text(6)?,
        "created_at": at(Some(row.int(7)?)),
        "decided_at": at(row.opt_int(8)?),
        "index": row.int(9)?,
        "answer": answer,
        "submission_status": row.text(11)?,
        "rejected_because": row.opt_text(12)?,
        "contributor": row.text(13)?,
    }))
}

fn load_view(conn: &mut dyn Conn, id: &str) -> ApiResult<Json_> {
    let row = conn
        .query_opt(
            &format!("SELECT {VIEW_COLUMNS} FROM appeals a JOIN submissions s ON s.id = a.submission WHERE a.id = $1"),
            params![id],
        )?
        .ok_or_else(|| ApiError::internal("an appeal missing in its own transaction"))?;
    view(&row)
}

/// The appeals of a wallet, newest first (for its standing).
pub fn of_worker(conn: &mut dyn Conn, worker: &str, limit: i64) -> ApiResult<Vec<Json_>> {
    let rows = conn.query(
        &format!("SELECT {VIEW_COLUMNS} FROM appeals a JOIN submissions s ON s.id = a.submission WHERE a.worker = $1 ORDER BY a.id DESC LIMIT $2"),
        params![worker, limit],
    )?;
    rows.iter().map(view).collect()
}

/// Refuses anyone but the campaign's requester and the relay's operators: the queue holds other
/// people's answers, and its answers move money.
fn check_judge(
    relay: &AppState,
    conn: &mut dyn Conn,
    campaign: &str,
    signer: &datahub_core::eth::Address,
) -> ApiResult<()> {
    let owner = listing::campaign_owner(conn, campaign)?;
    if owner == db_address(signer) || relay.config.is_operator(signer) {
        return Ok(());
    }
    Err(ApiError::forbidden(
        ErrorCode::NotOwner,
        "only the campaign's requester or an operator of this relay may see and answer its appeals",
    ))
}

/// The query of `GET /v1/campaigns/{id}/appeals`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// Only appeals in this state (`open`, `upheld`, `refused`); all when omitted.
    #[serde(default)]
    state: Option<String>,
    /// Only appeals after this id (the previous page's `next`).
    #[serde(default)]
    after: Option<String>,
    /// At most this many (1 to 500, default 100).
    #[serde(default)]
    limit: Option<i64>,
}

/// `GET /v1/campaigns/{id}/appeals` (signed by the requester or an operator, or the requester's
/// wallet session, as the console sends it): the campaign's appeals, oldest first.
pub async fn queue(
    State(relay): State<AppState>,
    Path(campaign): Path<String>,
    Query(query): Query<QueueQuery>,
    signed: Requester,
) -> ApiResult<Json<Json_>> {
    let limit = listing::limit(query.limit, 100, 500)?;
    let state = match query.state.as_deref() {
        None => None,
        Some(s) => Some(AppealState::parse(s).ok_or_else(|| {
            ApiError::unprocessable(ErrorCode::InvalidQuery, "state: open, upheld or refused")
        })?),
    };
    let after = query.after.unwrap_or_default();
    let id = campaign.clone();
    let state_filter = state.map(AppealState::as_str).unwrap_or("");
    let judge = relay.clone();
    let appeals = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Vec<Json_>> {
            check_judge(&judge, conn, &id, &signed.signer)?;
            let rows = conn.query(
                &format!("SELECT {VIEW_COLUMNS} FROM appeals a JOIN submissions s ON s.id = a.submission WHERE a.campaign = $1 AND a.id > $2 AND ($3 = '' OR a.state = $3) ORDER BY a.id LIMIT $4"),
                params![id, after, state_filter, limit],
            )?;
            rows.iter().map(view).collect()
        })
        .await?;
    let last = appeals
        .last()
        .and_then(|a| a["id"].as_str().map(str::to_owned));
    let next = listing::next_after(appeals.len(), limit, last);
    Ok(Json(
        json!({ "campaign": campaign, "appeals": appeals, "next": next }),
    ))
}

/// The body of `POST /v1/appeals/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    /// `true`: the answer was right, pay it; `false`: the rejection stands.
    uphold: bool,
    /// A word for the contributor (optional).
    #[serde(default)]
    note: Option<String>,
}

/// `POST /v1/appeals/{id}` (signed by the campaign's requester or an operator): answers an
/// appeal. The same answer again returns the stored outcome (`duplicate: true`); the other
/// answer is refused (409 `appeal_decided`).
pub async fn answer(
    State(relay): State<AppState>,
    Path(id): Path<String>,
    signed: Requester,
) -> ApiResult<Json<Json_>> {
    let body: Answer = signed.json()?;
    let note = match &body.note {
        Some(note) => Some(check_text("note", note, false)?).filter(|n| !n.is_empty()),
        None => None,
    };
    let judge = relay.clone();
    let signer = signed.signer;
    let outcome = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let now = clock::now_ms();
            let row = conn
                .query_opt(
                    "SELECT submission, campaign, state FROM appeals WHERE id = $1",
                    params![id.clone()],
                )?
                .ok_or_else(|| ApiError::not_found(ErrorCode::NoAppeal, format!("no appeal {id:?}")))?;
            let (submission, campaign) = (row.text(0)?, row.text(1)?);
            check_judge(&judge, conn, &campaign, &signer)?;
            let state = row.text(2)?;
            let wanted = if body.uphold { AppealState::Upheld } else { AppealState::Refused };
            match AppealState::parse(&state) {
                Some(AppealState::Open) => {}
                Some(done) if done == wanted => {
                    return with_duplicate(load_view(conn, &id)?, true);
                }
                _ => {
                    return Err(ApiError::conflict(
                        ErrorCode::AppealDecided,
                        format!("this appeal was answered before: {state}"),
                    ));
                }
            }
            if body.uphold {
                uphold(conn, &id, &submission, &campaign, now)?;
            } else {
                refuse(conn, &submission, now)?;
            }
            conn.execute(
                "UPDATE appeals SET state = $1, note = $2, decided_by = $3, decided_ms = $4 WHERE id = $5 AND state = 'open'",
                params![wanted.as_str(), note, db_address(&signer), now, id.clone()],
            )?;
            with_duplicate(load_view(conn, &id)?, false)
        })
        .await?;
    Ok(Json(outcome))
}

/// An appeal's view with whether this answer had been sent before.
fn with_duplicate(mut view: Json_, duplicate: bool) -> ApiResult<Json_> {
    if let Some(fields) = view.as_object_mut() {
        fields.insert("duplicate".into(), json!(duplicate));
    }
    Ok(view)
}

/// Accepts and pays the appealed submission, as if it had been accepted: a disputed upload
/// through the validators' own settlement; a rejected answer with a slot of the campaign's open
/// budget, or the requester's funds when it has none.
fn uphold(
    conn: &mut dyn Conn,
    appeal: &str,
    submission: &str,
    campaign: &str,
    now: i64,
) -> ApiResult<()> {
    let row = conn
        .query_opt(
            "SELECT s.worker, s.status, s.reward, s.idx, c.token, c.chains, c.owner, c.spec, \
             (SELECT COUNT(*) FROM items i WHERE i.campaign = s.campaign AND i.idx = s.idx AND i.golden IS NOT NULL) \
             FROM submissions s JOIN campaigns c ON c.id = s.campaign WHERE s.id = $1",
            params![submission],
        )?
        .ok_or_else(|| ApiError::internal("an appeal of a missing submission"))?;
    let status = row.text(1)?;
    match SubmissionStatus::parse(&status) {
        Some(SubmissionStatus::Pending) => {
            return crate::validation::decide_dispute(conn, submission, true, now);
        }
        Some(SubmissionStatus::Rejected) => {}
        // Accepted some other way meanwhile: paid already, nothing to do.
        _ => return Ok(()),
    }
    let (worker, reward, idx) = (row.text(0)?, row.int(2)?, row.int(3)?);
    let (token, chains, owner) = (row.text(4)?, row.text(5)?, row.text(6)?);
    // The rejection gave its slot back; take one again while the campaign has one open.
    let reserved = conn.execute(
        "UPDATE campaigns SET open_slots = open_slots - 1 WHERE id = $1 AND status <> 'closed' AND open_slots > 0",
        params![campaign],
    )?;
    if reserved == 0 {
        let chain = chains
            .split(',')
            .find_map(|c| c.parse::<u64>().ok())
            .ok_or_else(|| ApiError::internal(format!("campaign chains {chains:?}")))?;
        let funding = ledger::ensure_funding(conn, &owner, chain, &token)?;
        let moved = ledger::transfer(
            conn,
            &format!("appeal:{appeal}"),
            &funding,
            &slots::campaign_account(campaign),
            reward,
            &token,
            "appeal upheld: the reward from the requester's funds",
            now,
        )?;
        match moved {
            Transfer::Applied | Transfer::AlreadyApplied => {}
            Transfer::Insufficient => {
                return Err(ApiError::new(
                    StatusCode::PAYMENT_REQUIRED,
                    ErrorCode::InsufficientFunds,
                    format!(
                        "the campaign has no budget left and the requester's {token} funds on chain {chain} do not cover this reward; add funds, then answer again"
                    ),
                ));
            }
            Transfer::Overflow => return Err(ApiError::internal("appeal transfer overflow")),
        }
    }
    slots::set_status(
        conn,
        campaign,
        idx,
        submission,
        SubmissionStatus::Accepted,
        None,
    )?;
    slots::credit(
        conn,
        &Credit {
            campaign,
            submission,
            worker: &worker,
            token: &token,
            chains: &chains,
            reward,
        },
        now,
    )?;
    // The rejection counted against the contributor's trust, and may have restricted them.
    let spec: CampaignSpec = serde_json::from_str(&row.text(7)?).map_err(ApiError::internal)?;
    let golden = row.int(8)? > 0;
    quality::note_overturned(conn, &spec, reward, campaign, &worker, golden, now)
}

/// Lets the rejection stand: a disputed upload is rejected as its validator said; a rejected
/// answer stays as it is.
fn refuse(conn: &mut dyn Conn, submission: &str, now: i64) -> ApiResult<()> {
    let status = conn
        .query_opt(
            "SELECT status FROM submissions WHERE id = $1",
            params![submission],
        )?
        .ok_or_else(|| ApiError::internal("an appeal of a missing submission"))?
        .text(0)?;
    if SubmissionStatus::parse(&status) == Some(SubmissionStatus::Pending) {
        return crate::validation::decide_dispute(conn, submission, false, now);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_short_plain_text() {
        assert_eq!(
            check_text("reason", "  it is a cat \n", true).unwrap(),
            "it is a cat"
        );
        assert!(check_text("reason", "   ", true).is_err());
        assert_eq!(check_text("note", "", false).unwrap(), "");
        assert!(check_text("reason", &"é".repeat(MAX_REASON_CHARS + 1), true).is_err());
        assert!(check_text("reason", &"é".repeat(MAX_REASON_CHARS), true).is_ok());
        assert!(check_text("reason", "bell \u{7}", true).is_err());
        assert!(check_text("reason", "two\nlines", true).is_ok());
    }

    #[test]
    fn submission_ids_are_0x_and_64_hex_digits() {
        let id = format!("0x{}", "AB".repeat(32));
        assert_eq!(check_submission_id(&id).unwrap(), id.to_ascii_lowercase());
        assert!(check_submission_id(&"ab".repeat(32)).is_err());
        assert!(check_submission_id("0x12").is_err());
        assert!(check_submission_id(&format!("0x{}", "zz".repeat(32))).is_err());
        for s in [AppealState::Open, AppealState::Upheld, AppealState::Refused] {
            assert_eq!(AppealState::parse(s.as_str()), Some(s));
        }
    }
}
