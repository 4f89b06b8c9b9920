//! The appeals table (migration 0014): its states, origins and new rows. A leaf, so that both
//! the appeal handlers (`appeals`) and the validators' verdicts (`validation`, which appeals a
//! lone validator's rejection) write appeals without depending on each other.

use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::{clock, params};

/// The longest reason (or answer note), in characters: a few sentences, not an essay.
pub const MAX_REASON_CHARS: usize = 500;

/// Where an appeal is (`appeals.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppealState {
    /// Waiting for the requester or an operator.
    Open,
    /// Answered yes: the submission was accepted and paid.
    Upheld,
    /// Answered no: the submission stays (or is) rejected.
    Refused,
}

impl AppealState {
    /// The name in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Upheld => "upheld",
            Self::Refused => "refused",
        }
    }

    /// Reads a stored state.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Upheld, Self::Refused]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Who opened an appeal (`appeals.origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The contributor, about a rejected submission.
    Contributor,
    /// The relay, about an upload the campaign's only validator rejected (still pending).
    Validator,
}

impl Origin {
    /// The name in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contributor => "contributor",
            Self::Validator => "validator",
        }
    }
}

/// Records a new open appeal; its id.
pub fn insert(
    conn: &mut dyn Conn,
    submission: &str,
    campaign: &str,
    worker: &str,
    origin: Origin,
    reason: &str,
    now: i64,
) -> ApiResult<String> {
    let id = clock::time_ordered_id(now);
    conn.execute(
        "INSERT INTO appeals (id, submission, campaign, worker, origin, reason, state, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![
            id.clone(),
            submission,
            campaign,
            worker,
            origin.as_str(),
            reason,
            AppealState::Open.as_str(),
            now
        ],
    )?;
    Ok(id)
}

/// Opens the relay's own appeal of an upload that the only validator of its campaign rejected
/// (in the verdict's transaction): the submission stays pending until the queue answers. Once
/// per submission.
pub fn open_dispute(
    conn: &mut dyn Conn,
    submission: &str,
    campaign: &str,
    reasons: &[String],
    now: i64,
) -> ApiResult<()> {
    if conn
        .query_opt(
            "SELECT id FROM appeals WHERE submission = $1",
            params![submission],
        )?
        .is_some()
    {
        return Ok(());
    }
    let worker = conn
        .query_opt(
            "SELECT worker FROM submissions WHERE id = $1",
            params![submission],
        )?
        .ok_or_else(|| ApiError::internal("a disputed upload without its submission"))?
        .text(0)?;
    let mut reason = String::from("the campaign's only validator rejected this upload");
    if !reasons.is_empty() {
        reason.push_str(": ");
        reason.push_str(&reasons.join("; "));
    }
    let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
    insert(
        conn,
        submission,
        campaign,
        &worker,
        Origin::Validator,
        &reason,
        now,
    )?;
    Ok(())
}
