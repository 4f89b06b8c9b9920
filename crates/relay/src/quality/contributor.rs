//! What a contributor may do in a campaign and what their work teaches: the gate before a lease
//! (restriction, skip cool-down, daily cap), the counts after (leases, skips, too-fast answers,
//! golden answers), trust, and restriction with its consequences.

use axum::http::StatusCode;

use super::record::Record;
use super::shape::Shape;
use crate::db::Conn;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::params;
use crate::slots::{self, GiveBack, LeaseEnd, Rejection, SubmissionStatus};
use crate::spec::{CampaignSpec, Settings};

/// A contributor's record as a lease request read it, once: the checks before the lease
/// ([`check_probation`], `golden_turn`) look at it rather than read it again.
pub struct LeaseRecord(pub(super) Record);

/// Whether the contributor may lease a task now: not restricted, not cooling down after a
/// skip flood; their record, for the other checks of the lease.
pub fn gate(conn: &mut dyn Conn, campaign: &str, worker: &str, now: i64) -> ApiResult<LeaseRecord> {
    let record = Record::load(conn, campaign, worker)?;
    check_restricted(&record)?;
    if record.cooldown_until_ms > now {
        let wait = (record.cooldown_until_ms - now + 999) / 1000;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::SkipCooldown,
            format!("too many tasks skipped; try again in {wait} s"),
        ));
    }
    Ok(LeaseRecord(record))
}

/// Whether the contributor may have one more lease today (`max_tasks_per_day` over the last 24
/// hours). Checked only when a new lease is made: asking again for the one held is fine.
pub fn check_daily_cap(
    conn: &mut dyn Conn,
    settings: &Settings,
    campaign: &str,
    worker: &str,
    now: i64,
) -> ApiResult<()> {
    if let Some(cap) = settings.max_tasks_per_day {
        let rows = conn.query(
            "SELECT COUNT(*) FROM leases WHERE campaign = $1 AND worker = $2 AND created_ms > $3",
            params![campaign, worker, now - 86_400_000],
        )?;
        let count = rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
        if count >= cap {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::DailyCap,
                format!(
                    "you have had {cap} tasks of this campaign in the last 24 hours, its daily cap; come back later"
                ),
            ));
        }
    }
    Ok(())
}

/// Whether a wallet on probation may have one more lease: until one of its answers has been
/// confirmed right (a golden answer, or an answer its item's aggregate agreed with), it may
/// take `probation_tasks` tasks of a campaign that has golden items. Throw-away wallets thus
/// get a few tasks each, not a campaign's worth. Any confirmed answer lifts it, not only a
/// golden one: otherwise the moment the cap lifts would name a golden item.
pub fn check_probation(settings: &Settings, LeaseRecord(record): &LeaseRecord) -> ApiResult<()> {
    if settings.golden_share <= 0.0 {
        return Ok(());
    }
    if record.golden_right + record.agreed == 0 && record.tasks >= settings.probation_tasks {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Probation,
            format!(
                "new contributors may take {} tasks of this campaign until one of their answers is confirmed right; come back once your answers are checked",
                settings.probation_tasks
            ),
        ));
    }
    Ok(())
}

fn check_restricted(record: &Record) -> ApiResult<()> {
    match &record.restricted {
        Some(reason) => Err(ApiError::forbidden(
            ErrorCode::Restricted,
            format!(
                "you may not work on this campaign any more ({reason}): too many of your answers disagreed with known or accepted answers"
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses answers from a contributor restricted in the campaign. Reads the restriction alone:
/// the whole record (its confusion matrices are JSON) is not needed on every submission.
pub fn check_allowed(conn: &mut dyn Conn, campaign: &str, worker: &str) -> ApiResult<()> {
    let restricted = conn
        .query_opt(
            "SELECT restricted FROM contributors WHERE campaign = $1 AND worker = $2",
            params![campaign, worker],
        )?
        .map(|row| row.opt_text(0))
        .transpose()?
        .flatten();
    check_restricted(&Record {
        restricted,
        ..Record::default()
    })
}

/// Counts a lease handed to the contributor: one statement that adds to the stored counts (a
/// new contributor's record starts with this lease), so that it loses nothing another writer
/// stored meanwhile.
pub fn note_lease(
    conn: &mut dyn Conn,
    campaign: &str,
    worker: &str,
    golden: bool,
) -> ApiResult<()> {
    Record::count_lease(conn, campaign, worker, i64::from(golden))
}

/// Counts a skip; past `max_skips` within the window, the contributor cools down for a window.
pub fn note_skip(
    conn: &mut dyn Conn,
    settings: &Settings,
    campaign: &str,
    worker: &str,
    now: i64,
) -> ApiResult<()> {
    let mut record = Record::load(conn, campaign, worker)?;
    if now - record.skip_window_ms > settings.skip_window_ms {
        record.skip_window_ms = now;
        record.skips = 0;
    }
    record.skips += 1;
    if record.skips > settings.max_skips {
        record.cooldown_until_ms = now + settings.skip_window_ms;
        record.skips = 0;
        record.skip_window_ms = now;
    }
    record.save(conn, campaign, worker)
}

/// Counts a lease of item `idx` that ended unanswered (skipped, or run out): a golden one
/// costs its contributor what a wrong answer costs, so that skipping what one suspects is
/// golden gains nothing. Other items cost nothing here (skip floods have their own cool-down).
pub fn note_unanswered(
    conn: &mut dyn Conn,
    campaign: &str,
    idx: i64,
    worker: &str,
    now: i64,
) -> ApiResult<()> {
    let golden = conn
        .query_opt(
            "SELECT golden FROM items WHERE campaign = $1 AND idx = $2",
            params![campaign, idx],
        )?
        .map(|r| r.opt_text(0))
        .transpose()?
        .flatten();
    if golden.is_none() {
        return Ok(());
    }
    let row = conn
        .query_opt(
            "SELECT spec, reward FROM campaigns WHERE id = $1",
            params![campaign],
        )?
        .ok_or_else(|| ApiError::internal("lease of a missing campaign"))?;
    let spec: CampaignSpec = serde_json::from_str(&row.text(0)?).map_err(ApiError::internal)?;
    let shape = Shape::of(&spec);
    let mut record = Record::load(conn, campaign, worker)?;
    record.golden_wrong += 1;
    record.score(0.0, 1.0);
    settle_trust(
        conn,
        &spec,
        &shape,
        row.int(1)?,
        campaign,
        worker,
        &mut record,
        now,
    )
}

/// Counts an answer refused as too fast against the contributor's trust.
pub fn note_too_fast(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    reward: i64,
    campaign: &str,
    worker: &str,
    now: i64,
) -> ApiResult<()> {
    let shape = Shape::of(spec);
    let mut record = Record::load(conn, campaign, worker)?;
    record.too_fast += 1;
    settle_trust(
        conn,
        spec,
        &shape,
        reward,
        campaign,
        worker,
        &mut record,
        now,
    )
}

/// Learns from a golden answer: `truth` is the known key, `answer` the contributor's.
#[allow(clippy::too_many_arguments)]
pub fn note_golden(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    reward: i64,
    campaign: &str,
    worker: &str,
    truth: &str,
    answer: &str,
    now: i64,
) -> ApiResult<()> {
    let shape = Shape::of(spec);
    let mut record = Record::load(conn, campaign, worker)?;
    if truth == answer {
        record.golden_right += 1;
    } else {
        record.golden_wrong += 1;
    }
    if let (Some(t), Some(a)) = (shape.encode(truth), shape.encode(answer)) {
        record.learn(&shape, &t, &a);
        record.score(Shape::agreement(&t, &a), 1.0);
    }
    settle_trust(
        conn,
        spec,
        &shape,
        reward,
        campaign,
        worker,
        &mut record,
        now,
    )
}

/// The restriction reason [`settle_trust`] gives, the one an upheld appeal may lift.
const LOW_TRUST: &str = "low_trust";

/// An upheld appeal: the campaign's requester (or an operator) says a rejected answer was right.
/// Their word counts as a golden answer would: the answer moves from wrong to right in the
/// record (a golden item's from `golden_wrong` to `golden_right`, an outvoted one's from
/// `disagreed` to `agreed`), and up to one whole answer of score moves from wrong to right (no
/// more than the record holds: a rejection never took more). A low-trust restriction the record
/// no longer supports is lifted; held rewards are then paid if the record is now known and good.
/// Called once per appeal: an appeal is upheld once (`appeals::answer`).
#[allow(clippy::too_many_arguments)]
pub fn note_overturned(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    reward: i64,
    campaign: &str,
    worker: &str,
    golden: bool,
    now: i64,
) -> ApiResult<()> {
    let shape = Shape::of(spec);
    let mut record = Record::load(conn, campaign, worker)?;
    if golden {
        record.golden_wrong = (record.golden_wrong - 1).max(0);
        record.golden_right += 1;
    } else {
        record.disagreed = (record.disagreed - 1).max(0);
        record.agreed += 1;
    }
    let moved = record.score_wrong.clamp(0, 1000);
    record.score_wrong -= moved;
    record.score_right += moved;
    let settings = Settings::of(spec);
    if record.restricted.as_deref() == Some(LOW_TRUST) && record.trust(&shape) >= settings.min_trust
    {
        record.restricted = None;
        record.restricted_ms = None;
    }
    settle_trust(
        conn,
        spec,
        &shape,
        reward,
        campaign,
        worker,
        &mut record,
        now,
    )
}

/// Recomputes trust, restricts below the threshold, and saves.
#[allow(clippy::too_many_arguments)]
pub(super) fn settle_trust(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    shape: &Shape,
    reward: i64,
    campaign: &str,
    worker: &str,
    record: &mut Record,
    now: i64,
) -> ApiResult<()> {
    let trust = record.trust(shape);
    record.trust_ppm = (trust * 1e6).round() as i64;
    let settings = Settings::of(spec);
    let restrict = record.restricted.is_none() && trust < settings.min_trust;
    if restrict {
        record.restricted = Some(LOW_TRUST.into());
        record.restricted_ms = Some(now);
    }
    record.save(conn, campaign, worker)?;
    if restrict {
        void_pending(conn, campaign, worker, reward, now)?;
    }
    super::hold::settle_held(conn, spec, campaign, worker, record, now)
}

/// A restricted contributor's pending answers are not paid: each is rejected and its slot given
/// back (`GiveBack::Rejected`: the item wants another answer, the session's commitment is
/// released, the reward returns to the campaign, or to the requester once it is closed). Their
/// active lease is taken back (`GiveBack::Lease`, revoked).
fn void_pending(
    conn: &mut dyn Conn,
    campaign: &str,
    worker: &str,
    reward: i64,
    now: i64,
) -> ApiResult<()> {
    let pending = conn.query(
        "SELECT id, idx, session FROM submissions WHERE campaign = $1 AND worker = $2 AND status = 'pending'",
        params![campaign, worker],
    )?;
    for row in &pending {
        let (id, idx, session) = (row.text(0)?, row.int(1)?, row.text(2)?);
        let why = Some(Rejection::Restricted);
        slots::set_status(conn, campaign, idx, &id, SubmissionStatus::Rejected, why)?;
        let why = GiveBack::Rejected {
            submission: &id,
            session: &session,
            reward,
        };
        slots::give_back(conn, campaign, idx, why, now)?;
    }
    let leases = conn.query(
        "SELECT id, idx FROM leases WHERE campaign = $1 AND worker = $2 AND state = 'active'",
        params![campaign, worker],
    )?;
    for row in &leases {
        let lease = row.text(0)?;
        let why = GiveBack::Lease {
            lease: &lease,
            end: LeaseEnd::Revoked,
        };
        slots::give_back(conn, campaign, row.int(1)?, why, now)?;
    }
    Ok(())
}
