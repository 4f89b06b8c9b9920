//! Pay held until a wallet's record is known (docs/relay.md §4a, "Pay on a known record").
//!
//! In a campaign with golden items, an accepted answer is paid at once only to a wallet whose
//! record is known and good: at least [`KNOWN_AFTER_GOLDEN`] of its golden answers judged, and its
//! trust at least [`PAY_TRUST`]. Otherwise the answer is accepted (it counts towards its item)
//! but its reward is *held*: the slot stays reserved, nothing moves in the ledger. Held rewards
//! are paid, each once (`sub:<submission>`, as any accepted answer), as soon as the record is
//! known and good; they are voided when the wallet is restricted (the submission becomes
//! `rejected`, reason `restricted`, and its slot goes back as an outvoted answer's does).
//!
//! Bots, spammers and colluders were paid for what they did before their restriction; a
//! golden-wise bot (right on golden items, random elsewhere) kept a trust too low to restrict
//! under `min_trust` but never a good one. Holding pay until the record is known and good takes
//! both away, while an honest contributor is paid a few tasks later than before.

use super::record::Record;
use super::shape::Shape;
use crate::db::Conn;
use crate::error::ApiResult;
use crate::params;
use crate::slots::{self, Credit, GiveBack, Rejection, SubmissionStatus};
use crate::spec::{CampaignSpec, Settings};

/// Golden answers judged before a wallet's record counts as known.
pub const KNOWN_AFTER_GOLDEN: i64 = 2;

/// The least trust a wallet is paid at once with.
pub const PAY_TRUST: f64 = 0.9;

/// Golden answers that make a wallet's record known in `campaign`: [`KNOWN_AFTER_GOLDEN`], or
/// fewer when the campaign has fewer golden items; 0 when it deals none (nothing to wait for).
/// `golden` is the campaign's count of golden items when the caller knows it (the campaign
/// cache: golden items never change once a campaign is made), read here otherwise.
fn known_after(
    conn: &mut dyn Conn,
    settings: &Settings,
    campaign: &str,
    golden: Option<i64>,
) -> ApiResult<i64> {
    if settings.golden_share <= 0.0 {
        return Ok(0);
    }
    let golden = match golden {
        Some(golden) => golden,
        None => {
            let rows = conn.query(
                "SELECT COUNT(*) FROM items WHERE campaign = $1 AND golden IS NOT NULL",
                params![campaign],
            )?;
            rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0)
        }
    };
    Ok(golden.min(KNOWN_AFTER_GOLDEN))
}

/// The odds, in natural log, that a wallet's answers are backed like a careful contributor's
/// rather than a random one's before it is paid: 9 to 1. With answers still waiting counted as
/// not backed (see `pays_now`), 19 to 1 left an honest contributor of accuracy 0.78 (31 of 55
/// backed, odds of 11 to 1 at the end) unpaid in the crowd simulation; no golden-wise bot came
/// near either bar.
pub const AGREEMENT_LOG_ODDS: f64 = 2.197_224_577_336_219_6;

/// Decided items a wallet's answers must have before they can vouch for it: early on, while
/// every contributor's matrix is still the default, an answer is backed more easily.
pub const AGREEMENT_AFTER: i64 = 15;

/// What a wallet's pay waits for in a campaign.
#[derive(Debug, Clone, Copy)]
struct Bar {
    /// Golden answers judged that make its record known (0: pay at once).
    needed: i64,
    /// For answers of one class among `k`: chance, `1 / k`. `None` for flag sets, where exact
    /// agreement is rare for everyone and says little, and where one answer decides an item.
    chance: Option<f64>,
}

/// The log odds that answers of which `backed` were backed by everyone else's answers to their
/// items and `unbacked` were not come from a careful contributor rather than a random one. On
/// `k` classes (`chance = 1 / k`) a careful answer is taken to be backed `(1 + chance) / 2` of
/// the time and a random one `chance + 0.05` (a random answer is backed a little more often than
/// chance): 0.67 and 0.38 on three classes.
fn agreement_log_odds(chance: f64, backed: i64, unbacked: i64) -> f64 {
    let careful = (1.0 + chance) / 2.0;
    let random = (chance + 0.05).min(careful - 0.05);
    backed as f64 * (careful / random).ln()
        + unbacked as f64 * ((1.0 - careful) / (1.0 - random)).ln()
}

/// Whether `record` is paid at once. Golden answers alone do not vouch for a wallet: a bot
/// that knows the golden set is right on every one of them and random elsewhere. So where an
/// item takes one class, its answers must also be backed by everyone else's answers to the same
/// items (leave-one-out, so that an answer the relay over-trusts cannot back itself: Dawid–Skene
/// learns a golden-wise bot's matrix from golden items alone and follows it), over at least
/// [`AGREEMENT_AFTER`] decided items, the way a careful contributor's are, at
/// [`AGREEMENT_LOG_ODDS`] (a sequential test).
///
/// `waiting`, the wallet's answers to ordinary items not decided yet, count as not backed. Items
/// the answers agree on are decided first (at their overlap, confident); one a random answer
/// disagrees with waits for more answers. Counted on decided items alone, a golden-wise bot's
/// early record was backed 11 times in 15 while 20 more of its answers waited, and it was paid.
fn pays_now(bar: Bar, record: &Record, waiting: i64) -> bool {
    bar.needed == 0
        || (record.restricted.is_none()
            && record.golden_right + record.golden_wrong >= bar.needed
            && record.trust_ppm as f64 >= PAY_TRUST * 1e6
            && bar.chance.is_none_or(|chance| {
                let unbacked = record.unbacked + waiting;
                record.backed + unbacked >= AGREEMENT_AFTER
                    && agreement_log_odds(chance, record.backed, unbacked) >= AGREEMENT_LOG_ODDS
            }))
}

/// The wallet's answers to ordinary items of `campaign` still waiting for their item's decision,
/// when the bar looks at agreement (none needed otherwise).
fn waiting(conn: &mut dyn Conn, bar: Bar, campaign: &str, worker: &str) -> ApiResult<i64> {
    if bar.needed == 0 || bar.chance.is_none() {
        return Ok(0);
    }
    let rows = conn.query(
        "SELECT COUNT(*) FROM submissions s JOIN items i ON i.campaign = s.campaign AND i.idx = s.idx WHERE s.campaign = $1 AND s.worker = $2 AND s.status = 'pending' AND i.golden IS NULL",
        params![campaign, worker],
    )?;
    Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0))
}

/// The bar of `spec`'s campaign (`golden`: its golden items, if known; see [`known_after`]).
fn bar(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    campaign: &str,
    golden: Option<i64>,
) -> ApiResult<Bar> {
    let shape = Shape::of(spec);
    let settings = Settings::of(spec);
    // Items decided by one answer teach nothing about agreement: golden items alone decide.
    let agreement = matches!(shape, Shape::Categorical(_)) && settings.max_overlap > 1;
    Ok(Bar {
        needed: known_after(conn, &settings, campaign, golden)?,
        chance: agreement.then(|| shape.chance()),
    })
}

/// Pays an accepted answer now, or holds its reward until its author's record is known and good;
/// whether it was held. `golden`: the campaign's golden items, if known (see `known_after`).
pub fn credit_or_hold(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    credit: &Credit<'_>,
    golden: Option<i64>,
    now: i64,
) -> ApiResult<bool> {
    let b = bar(conn, spec, credit.campaign, golden)?;
    // With no bar the record does not matter: it is not read (the hot path of most campaigns).
    let pays = b.needed == 0 || {
        let record = Record::load(conn, credit.campaign, credit.worker)?;
        let waiting = waiting(conn, b, credit.campaign, credit.worker)?;
        pays_now(b, &record, waiting)
    };
    if pays {
        slots::credit(conn, credit, now)?;
        return Ok(false);
    }
    conn.execute(
        "UPDATE submissions SET held = 1 WHERE campaign = $1 AND id = $2",
        params![credit.campaign, credit.submission],
    )?;
    Ok(true)
}

/// Whether a submission's reward is held.
pub fn is_held(conn: &mut dyn Conn, submission: &str) -> ApiResult<bool> {
    Ok(conn
        .query_opt(
            "SELECT held FROM submissions WHERE id = $1",
            params![submission],
        )?
        .map(|r| r.int(0))
        .transpose()?
        .unwrap_or(0)
        != 0)
}

/// After a wallet's record changed (saved): pays what it had held once the record is known and
/// good, or voids it once the wallet is restricted.
pub(super) fn settle_held(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    campaign: &str,
    worker: &str,
    record: &Record,
    now: i64,
) -> ApiResult<()> {
    let restricted = record.restricted.is_some();
    let b = bar(conn, spec, campaign, None)?;
    if !restricted && !pays_now(b, record, waiting(conn, b, campaign, worker)?) {
        return Ok(());
    }
    let void = restricted.then_some(Rejection::Restricted);
    release(conn, campaign, worker, void, now)
}

/// When the campaign closes, nothing it holds may wait any longer: no more answers will come
/// for a record to clear on, and a reward held for good would keep both the contributor's pay
/// and the requester's money. So each wallet's held rewards are paid if its record, as it
/// stands, is more likely a careful contributor's than a random one's (not restricted, and
/// where agreement is looked at, log odds of its backing ≥ 0 with no minimum count), and given
/// back to the campaign (whose unspent budget the close returns) otherwise. A golden-wise bot,
/// right on golden items and at chance elsewhere, falls on the second side.
pub fn settle_at_close(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    campaign: &str,
    now: i64,
) -> ApiResult<()> {
    let workers = conn.query(
        "SELECT DISTINCT worker FROM submissions WHERE campaign = $1 AND held = 1 ORDER BY worker",
        params![campaign],
    )?;
    let b = bar(conn, spec, campaign, None)?;
    for row in &workers {
        let worker = row.text(0)?;
        let record = Record::load(conn, campaign, &worker)?;
        let careful = record.restricted.is_none()
            && b.chance.is_none_or(|chance| {
                agreement_log_odds(chance, record.backed, record.unbacked) >= 0.0
            });
        let void = if record.restricted.is_some() {
            Some(Rejection::Restricted)
        } else if careful {
            None
        } else {
            Some(Rejection::Unproven)
        };
        release(conn, campaign, &worker, void, now)?;
    }
    Ok(())
}

/// Ends the hold on `worker`'s held rewards in `campaign`: each is credited, or, with a reason,
/// rejected and its reward given back to the campaign (the item stays decided on it).
fn release(
    conn: &mut dyn Conn,
    campaign: &str,
    worker: &str,
    void: Option<Rejection>,
    now: i64,
) -> ApiResult<()> {
    let held = conn.query(
        "SELECT s.id, s.idx, s.session, s.reward, c.token, c.chains FROM submissions s JOIN campaigns c ON c.id = s.campaign WHERE s.campaign = $1 AND s.worker = $2 AND s.held = 1 ORDER BY s.created_ms",
        params![campaign, worker],
    )?;
    for row in &held {
        let (id, idx, session, reward) = (row.text(0)?, row.int(1)?, row.text(2)?, row.int(3)?);
        let cleared = conn.execute(
            "UPDATE submissions SET held = 0 WHERE id = $1 AND held = 1",
            params![id.clone()],
        )?;
        if cleared == 0 {
            continue;
        }
        if let Some(why) = void {
            slots::set_status(
                conn,
                campaign,
                idx,
                &id,
                SubmissionStatus::Rejected,
                Some(why),
            )?;
            let back = GiveBack::Outvoted {
                submission: &id,
                session: &session,
                reward,
            };
            slots::give_back(conn, campaign, idx, back, now)?;
        } else {
            let (token, chains) = (row.text(4)?, row.text(5)?);
            let credit = Credit {
                campaign,
                submission: &id,
                worker,
                token: &token,
                chains: &chains,
                reward,
            };
            slots::credit(conn, &credit, now)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pay_waits_for_a_known_good_record_where_there_are_golden_items() {
        let bar = |needed| Bar {
            needed,
            chance: Some(1.0 / 3.0),
        };
        let fresh = Record {
            trust_ppm: 900_000,
            ..Record::default()
        };
        assert!(!pays_now(bar(2), &fresh, 0));
        assert!(pays_now(bar(0), &fresh, 0));
        // Known from golden items, and agreeing as a careful contributor does.
        let known = Record {
            golden_right: 1,
            golden_wrong: 1,
            backed: 14,
            unbacked: 2,
            ..fresh.clone()
        };
        assert!(pays_now(bar(2), &known, 0));
        // The same record with answers still waiting for their items: not yet.
        assert!(!pays_now(bar(2), &known, 8));
        assert!(!pays_now(bar(3), &known, 0));
        let low = Record {
            trust_ppm: 899_999,
            ..known.clone()
        };
        assert!(!pays_now(bar(2), &low, 0));
        // Right on golden items, at chance elsewhere: a golden-wise bot.
        let golden_wise = Record {
            golden_right: 13,
            backed: 23,
            unbacked: 32,
            ..known.clone()
        };
        assert!(!pays_now(bar(2), &golden_wise, 0));
        let flags = Bar {
            chance: None,
            ..bar(2)
        };
        assert!(pays_now(flags, &golden_wise, 9));
        let restricted = Record {
            restricted: Some("low_trust".into()),
            ..known
        };
        assert!(!pays_now(bar(2), &restricted, 0));
    }

    #[test]
    fn agreement_odds_separate_careful_from_random_answers() {
        let third = 1.0 / 3.0;
        // Three classes: 0.7 backed over 20 items passes; a third over 60 never does.
        assert!(agreement_log_odds(third, 14, 6) >= AGREEMENT_LOG_ODDS);
        assert!(agreement_log_odds(third, 20, 40) < 0.0);
        // Two classes: the bar moves with chance.
        assert!(agreement_log_odds(0.5, 30, 10) >= AGREEMENT_LOG_ODDS);
        assert!(agreement_log_odds(0.5, 20, 20) < 0.0);
    }
}
