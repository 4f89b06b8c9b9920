//! The paid slots of a campaign: its budget counted in rewards, and the one place a slot is
//! reserved, credited or given back.
//!
//! A campaign with budget `B` and reward `r` opens `B / r` slots (`campaigns.open_slots`). A
//! slot is **reserved** when a contributor leases a task ([`reserve`], then [`lease`] holds the
//! item), **held** by the answer while it waits for other answers or a validator, and ends
//! either **credited** ([`credit`]: the reward moves from the campaign's account to the
//! worker's) or **given back** ([`give_back`], with a [`GiveBack`] saying why, which decides
//! what is undone). While the campaign is open a slot given back is open again; once the
//! campaign is closed its reward goes back to the requester's funding account, because closing
//! returned everything but the reserved slots and nobody can reserve this one again.
//!
//! Three counters move with a slot: `campaigns.open_slots` (slots nobody holds),
//! `items.taken` (leases and live answers an item has, against its `wanted`) and
//! `sessions.committed` (rewards credited or still possible in a session, against the reward
//! cap its wallet granted).

use serde::Serialize;

use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::ledger::{self, Transfer, kind};
use crate::params;

/// Where a lease is (`leases.state`).
///
/// SQL that filters on `state = 'active'` keeps the literal: the partial indexes
/// `leases_expiry` and `leases_worker` are defined on it, and a bound parameter would not use
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Held by its contributor until `expires_ms`: the slot is reserved.
    Active,
    /// Answered: the slot is held by the submission now.
    Submitted,
    /// Ran out unanswered (the sweep).
    Expired,
    /// Given back by its contributor.
    Skipped,
    /// Taken back from a restricted contributor.
    Revoked,
}

impl LeaseState {
    /// The name in the database and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Submitted => "submitted",
            Self::Expired => "expired",
            Self::Skipped => "skipped",
            Self::Revoked => "revoked",
        }
    }

    /// Reads a stored state.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Active,
            Self::Submitted,
            Self::Expired,
            Self::Skipped,
            Self::Revoked,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// Where a submission is (`submissions.status`, and the `status` the API answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionStatus {
    /// Waiting for the item's other answers or a validator's verdict; its reward is committed
    /// in the session and its slot held.
    Pending,
    /// Credited.
    Accepted,
    /// Unpaid; its slot was given back.
    Rejected,
}

impl SubmissionStatus {
    /// The name in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    /// Reads a stored status.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Accepted, Self::Rejected]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// The ledger account of a campaign's budget.
pub fn campaign_account(id: &str) -> String {
    format!("campaign:{id}")
}

/// The worker's ledger account for a campaign's token and chains.
pub fn worker_account(worker: &str, token: &str, chains: &str) -> String {
    format!("worker:{worker}:{token}:{chains}")
}

/// The requester's funding account that a closed campaign's returned slots go back to, opened if
/// missing. The one place this module names it: when funding accounts become per chain
/// (`ledger::funding_account(owner, chain, token)`), only this body changes, taking the
/// campaign's chain from `_chains` (the campaign's chains as stored, `,56,`).
fn requester_funding(
    conn: &mut dyn Conn,
    owner: &str,
    chains: &str,
    token: &str,
) -> ApiResult<String> {
    // A campaign pays on exactly one chain (`campaigns::create`), stored as `,ID,`.
    let chain = chains
        .split(',')
        .find_map(|c| c.parse::<u64>().ok())
        .ok_or_else(|| ApiError::internal(format!("campaign chains {chains:?}")))?;
    Ok(ledger::ensure_funding(conn, owner, chain, token)?)
}

/// Reserves one slot of an active campaign with slots left (`open_slots − 1`); `false` when
/// there is none (spent, paused or closed). The caller's transaction undoes it on error.
pub fn reserve(conn: &mut dyn Conn, campaign: &str) -> ApiResult<bool> {
    let reserved = conn.execute(
        "UPDATE campaigns SET open_slots = open_slots - 1 WHERE id = $1 AND status = 'active' AND open_slots > 0",
        params![campaign],
    )?;
    Ok(reserved > 0)
}

/// A lease about to be made on a reserved slot.
pub struct NewLease<'a> {
    /// Its id (time-ordered).
    pub id: &'a str,
    /// The campaign.
    pub campaign: &'a str,
    /// The item leased.
    pub idx: i64,
    /// The contributor's address.
    pub worker: &'a str,
    /// The session it was leased in.
    pub session: &'a str,
    /// Now, in milliseconds.
    pub created_ms: i64,
    /// When it runs out.
    pub expires_ms: i64,
    /// The client's network (`limits::network_key`), when known.
    pub network: Option<&'a str>,
}

/// Puts a reserved slot on an item: the lease, active, and the item's `taken + 1`.
pub fn lease(conn: &mut dyn Conn, new: &NewLease<'_>) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO leases (id, campaign, idx, worker, session, state, created_ms, expires_ms, network) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        params![
            new.id,
            new.campaign,
            new.idx,
            new.worker,
            new.session,
            LeaseState::Active.as_str(),
            new.created_ms,
            new.expires_ms,
            new.network
        ],
    )?;
    conn.execute(
        "UPDATE items SET taken = taken + 1 WHERE campaign = $1 AND idx = $2",
        params![new.campaign, new.idx],
    )?;
    Ok(())
}

/// Counts a reward in the session's `committed` (against its reward cap): when an answer is
/// accepted or left pending. [`GiveBack::Outvoted`] and [`GiveBack::Rejected`] undo it.
pub fn commit(conn: &mut dyn Conn, session: &str, reward: i64) -> ApiResult<()> {
    conn.execute(
        "UPDATE sessions SET committed = committed + $1 WHERE id = $2",
        params![reward, session],
    )?;
    Ok(())
}

/// An accepted answer to pay.
pub struct Credit<'a> {
    /// The campaign whose budget pays.
    pub campaign: &'a str,
    /// The submission (the transfer is `sub:<submission>`, so it is paid once).
    pub submission: &'a str,
    /// The contributor.
    pub worker: &'a str,
    /// The campaign's token.
    pub token: &'a str,
    /// The campaign's chains, as stored.
    pub chains: &'a str,
    /// The reward, in ledger units.
    pub reward: i64,
}

/// Pays a held slot: the reward from the campaign's account to the worker's account for the
/// campaign's token and chains (opened if missing), once per submission. Whether at once, by
/// the item's vote or by a validator's verdict, every accepted answer is paid here.
pub fn credit(conn: &mut dyn Conn, credit: &Credit<'_>, now: i64) -> ApiResult<()> {
    let Credit {
        campaign,
        submission,
        worker,
        token,
        chains,
        reward,
    } = *credit;
    let account = worker_account(worker, token, chains);
    ledger::ensure_account(conn, &account, kind::WORKER, worker, token, chains)?;
    let applied = ledger::transfer(
        conn,
        &format!("sub:{submission}"),
        &campaign_account(campaign),
        &account,
        reward,
        token,
        &format!("task {campaign}"),
        now,
    )?;
    match applied {
        Transfer::Applied | Transfer::AlreadyApplied => Ok(()),
        // Leases reserve budget, so this means the ledger and the slots disagree.
        Transfer::Insufficient | Transfer::Overflow => Err(ApiError::internal(format!(
            "campaign {campaign} reward not credited: {applied:?}"
        ))),
    }
}

/// Why a submission was rejected (`submissions.reason`), shown to its contributor. A golden
/// answer judged wrong is [`Self::Disagreed`], like an outvoted one: the reason must not tell
/// golden items apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The answer differed from the one accepted for its item (its aggregate or known answer).
    Disagreed,
    /// Voided when its contributor was restricted in the campaign.
    Restricted,
    /// A validator rejected the upload (its reasons are in the verdict).
    Validator,
    /// Held until its contributor's record was known, and the campaign closed with that record
    /// looking more like chance than care (`quality::settle_at_close`).
    Unproven,
}

impl Rejection {
    /// The name in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disagreed => "disagreed",
            Self::Restricted => "restricted",
            Self::Validator => "validator",
            Self::Unproven => "unproven",
        }
    }

    /// Reads a stored reason.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Disagreed,
            Self::Restricted,
            Self::Validator,
            Self::Unproven,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }

    /// What the contributor is told.
    pub fn message(self) -> &'static str {
        match self {
            Self::Disagreed => {
                "your answer differed from the answer accepted for this item; read the instructions again"
            }
            Self::Restricted => {
                "voided: too many of your answers in this campaign disagreed with known or accepted answers, so you were restricted in it"
            }
            Self::Validator => "a validator of the campaign rejected the upload",
            Self::Unproven => {
                "not paid: the campaign closed while this reward was held, and your answers in it agreed with the others' no more often than chance would"
            }
        }
    }
}

/// Sets a submission's status, with why when it is rejected.
pub fn set_status(
    conn: &mut dyn Conn,
    campaign: &str,
    idx: i64,
    submission: &str,
    status: SubmissionStatus,
    reason: Option<Rejection>,
) -> ApiResult<()> {
    conn.execute(
        "UPDATE submissions SET status = $1, reason = $2 WHERE campaign = $3 AND idx = $4 AND id = $5",
        params![
            status.as_str(),
            reason.map(Rejection::as_str),
            campaign,
            idx,
            submission
        ],
    )?;
    Ok(())
}

/// How a lease ends without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseEnd {
    /// It ran out (the sweep).
    Expired,
    /// Its contributor gave it back.
    Skipped,
    /// Its contributor was restricted.
    Revoked,
}

impl LeaseEnd {
    /// The state the lease is left in.
    pub fn state(self) -> LeaseState {
        match self {
            Self::Expired => LeaseState::Expired,
            Self::Skipped => LeaseState::Skipped,
            Self::Revoked => LeaseState::Revoked,
        }
    }
}

/// Why a reserved slot comes back, which decides what is undone. Every variant returns the
/// slot itself (see [`give_back`]); they differ in the item's count and the session's.
#[derive(Debug, Clone, Copy)]
pub enum GiveBack<'a> {
    /// A lease ended unanswered (expired, skipped, revoked). The lease is ended if it is still
    /// active (a lease ends once: otherwise nothing happens) and its item wants another lease
    /// (`taken − 1`). A lease commits nothing to the session, so the session is untouched.
    Lease {
        /// The lease.
        lease: &'a str,
        /// How it ended.
        end: LeaseEnd,
    },
    /// A golden item answered wrong at submission: unpaid, and the item goes back to the pool
    /// (`taken − 1`). Nothing was committed to the session for it.
    GoldenMissed {
        /// The submission.
        submission: &'a str,
    },
    /// A pending answer outvoted when its item was decided. The session's committed reward is
    /// released; the item keeps its count, since it is decided and wants no more answers.
    Outvoted {
        /// The submission.
        submission: &'a str,
        /// Its session.
        session: &'a str,
        /// Its reward.
        reward: i64,
    },
    /// A pending answer rejected while its item is still open: its contributor was restricted
    /// (the answer voided) or a validator rejected the upload. The session's committed reward
    /// is released and the item wants another answer (`taken − 1`).
    Rejected {
        /// The submission.
        submission: &'a str,
        /// Its session.
        session: &'a str,
        /// Its reward.
        reward: i64,
    },
}

/// Gives back a slot reserved on item `idx` of `campaign` (see [`GiveBack`] for what each
/// reason undoes). An open, active or paused, campaign gets the slot back (`open_slots + 1`);
/// a closed one returns its reward to the requester's funding account, once per lease or
/// submission (transfer `returned:<id>`).
pub fn give_back(
    conn: &mut dyn Conn,
    campaign: &str,
    idx: i64,
    why: GiveBack<'_>,
    now: i64,
) -> ApiResult<()> {
    let (id, session, item_reopens) = match why {
        GiveBack::Lease { lease, end } => {
            let ended = conn.execute(
                "UPDATE leases SET state = $1 WHERE id = $2 AND state = 'active'",
                params![end.state().as_str(), lease],
            )?;
            if ended == 0 {
                return Ok(());
            }
            (lease, None, true)
        }
        GiveBack::GoldenMissed { submission } => (submission, None, true),
        GiveBack::Outvoted {
            submission,
            session,
            reward,
        } => (submission, Some((session, reward)), false),
        GiveBack::Rejected {
            submission,
            session,
            reward,
        } => (submission, Some((session, reward)), true),
    };
    if let Some((session, reward)) = session {
        conn.execute(
            "UPDATE sessions SET committed = committed - $1 WHERE id = $2",
            params![reward, session],
        )?;
    }
    if item_reopens {
        conn.execute(
            "UPDATE items SET taken = taken - 1 WHERE campaign = $1 AND idx = $2 AND taken > 0",
            params![campaign, idx],
        )?;
    }
    let reopened = conn.execute(
        "UPDATE campaigns SET open_slots = open_slots + 1 WHERE id = $1 AND status <> 'closed'",
        params![campaign],
    )?;
    if reopened > 0 {
        return Ok(());
    }
    refund_closed(conn, campaign, id, now)
}

/// A closed campaign's returned slot: its reward goes from the campaign's account to the
/// requester's funding account. Closing refunded the budget minus the reserved slots, so
/// without this the reward would stay in the closed campaign's account for good.
fn refund_closed(conn: &mut dyn Conn, campaign: &str, id: &str, now: i64) -> ApiResult<()> {
    let Some(row) = conn.query_opt(
        "SELECT owner, token, reward, chains FROM campaigns WHERE id = $1 AND status = 'closed'",
        params![campaign],
    )?
    else {
        return Ok(());
    };
    let (owner, token, reward) = (row.text(0)?, row.text(1)?, row.int(2)?);
    let funding = requester_funding(conn, &owner, &row.text(3)?, &token)?;
    let applied = ledger::transfer(
        conn,
        &format!("returned:{id}"),
        &campaign_account(campaign),
        &funding,
        reward,
        &token,
        "campaign closed: a returned slot's reward back to the requester",
        now,
    )?;
    if matches!(applied, Transfer::Insufficient | Transfer::Overflow) {
        // The ledger and the slots disagree. Failing here would fail every request that sweeps
        // expired leases, for every campaign; the slot is given back anyway and the ledger audit
        // shows the gap.
        tracing::error!(
            campaign,
            slot = id,
            "closed campaign holds less than a returned reward"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_statuses_read_back_what_they_write() {
        for state in [
            LeaseState::Active,
            LeaseState::Submitted,
            LeaseState::Expired,
            LeaseState::Skipped,
            LeaseState::Revoked,
        ] {
            assert_eq!(LeaseState::parse(state.as_str()), Some(state));
        }
        for status in [
            SubmissionStatus::Pending,
            SubmissionStatus::Accepted,
            SubmissionStatus::Rejected,
        ] {
            assert_eq!(SubmissionStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(LeaseState::parse("Active"), None);
        assert_eq!(SubmissionStatus::parse(""), None);
        assert_eq!(LeaseEnd::Skipped.state(), LeaseState::Skipped);
    }
}
