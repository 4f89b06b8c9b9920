//! An upload submission stored `pending`, waiting for a judgement: queued for the campaign's
//! validators (people, `validation`) and settled when decided, by them or by compute nodes
//! (`compute`). Both of those use this module and never each other's settling, so people's
//! decision can settle the compute job it escalated from (`compute::jobs::settle_escalated`)
//! without a circle.

use serde_json::Value as Json_;

use crate::auth::db_address;
use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::slots::{self, Credit, GiveBack, Rejection, SubmissionStatus};
use crate::spec::{CampaignSpec, validator_keys};
use crate::{clock, params};

/// The validators' addresses as stored (`0x`, lower case), in the spec's order.
pub fn validator_addresses(spec: &CampaignSpec) -> ApiResult<Vec<String>> {
    Ok(validator_keys(spec)?.iter().map(db_address).collect())
}

/// Records the validation job of an upload submission that was just stored as `pending`. Runs in
/// the submission's transaction.
pub fn enqueue(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    submission: &str,
    idx: i64,
    object: &str,
    now: i64,
) -> ApiResult<()> {
    let validators = format!(",{},", validator_addresses(spec)?.join(","));
    conn.execute(
        "INSERT INTO validation_jobs (id, submission, campaign, idx, object, validators, state, validator, lease_expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, 'open', NULL, 0, $7)",
        params![
            clock::time_ordered_id(now),
            submission,
            spec.id.clone(),
            idx,
            object,
            validators,
            now
        ],
    )?;
    Ok(())
}

/// Settles a pending upload submission: accepted is credited as every accepted answer is;
/// rejected is unpaid and gives its slot (and the item) back (`slots::GiveBack::Rejected`).
/// Compute jobs settle their uploads with it too.
pub fn settle(
    conn: &mut dyn Conn,
    campaign: &str,
    idx: i64,
    submission: &str,
    accept: bool,
    now: i64,
) -> ApiResult<()> {
    let row = conn
        .query_opt(
            "SELECT s.worker, s.session, s.reward, s.status, c.token, c.chains, c.spec, s.answer_key, s.answer, i.payload FROM submissions s JOIN campaigns c ON c.id = s.campaign JOIN items i ON i.campaign = s.campaign AND i.idx = s.idx WHERE s.campaign = $1 AND s.idx = $2 AND s.id = $3",
            params![campaign, idx, submission],
        )?
        .ok_or_else(|| ApiError::internal("a validation job of a missing submission"))?;
    if row.text(3)? != "pending" {
        return Ok(());
    }
    let (worker, session, reward) = (row.text(0)?, row.text(1)?, row.int(2)?);
    let (status, reason) = if accept {
        (SubmissionStatus::Accepted, None)
    } else {
        (SubmissionStatus::Rejected, Some(Rejection::Validator))
    };
    slots::set_status(conn, campaign, idx, submission, status, reason)?;
    if accept {
        let (token, chains) = (row.text(4)?, row.text(5)?);
        let credit = Credit {
            campaign,
            submission,
            worker: &worker,
            token: &token,
            chains: &chains,
            reward,
        };
        slots::credit(conn, &credit, now)?;
        // Recorded as the quality side records every upload accepted at once.
        let spec: CampaignSpec = serde_json::from_str(&row.text(6)?).map_err(ApiError::internal)?;
        let item: Json_ = serde_json::from_str(&row.text(9)?).map_err(ApiError::internal)?;
        let vote = crate::quality::Vote {
            worker,
            key: row.text(7)?,
            answer: row.text(8)?,
        };
        return crate::quality::accepted_at_once(conn, &spec, campaign, idx, &item, &vote);
    }
    let why = GiveBack::Rejected {
        submission,
        session: &session,
        reward,
    };
    slots::give_back(conn, campaign, idx, why, now)
}
