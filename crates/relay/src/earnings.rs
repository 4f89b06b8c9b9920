//! What storage nodes earn (docs/relay.md §7a): a fee per GiB-month of a campaign's shards held,
//! and a fee per audit passed on them, paid per epoch through the ledger from the campaign's
//! storage reservation (`storage:{campaign}`, made with the campaign from the requester's
//! funds) to the node operator's earnings account, which the operator claims with vouchers like
//! any contributor.
//!
//! Audits are tallied per (node, epoch, campaign) as they happen ([`record_audit`]); once an
//! epoch has ended it is settled once ([`settle`]). A node is paid, for an epoch:
//! - per audit it passed on a campaign's shard, `fee_per_audit`, from that campaign;
//! - if it passed at least one audit and failed none, the storage fee for the bytes of each
//!   campaign's shards it holds at settlement, pro rata for one epoch of a 30-day month.
//!
//! Audits failed earn nothing, and one failed audit forfeits the epoch's storage fee: a node
//! that dropped a shard cannot be paid for holding what it no longer holds. A campaign whose
//! reservation runs dry pays what is left, then nothing. Transfer ids
//! (`audit-fee:{epoch}:{node}:{campaign}`, `storage-fee:{epoch}:{node}:{campaign}`) make each
//! payment once, whatever is run twice.

use std::collections::BTreeMap;

use crate::config::StorageConfig;
use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::ledger::{self, Transfer, Units, kind};
use crate::params;

/// Bytes in a GiB.
const GIB: i128 = 1 << 30;
/// Milliseconds in the month the storage fee is quoted for: 30 days.
const MONTH_MS: i128 = 30 * 24 * 3600 * 1000;
/// Most ended epochs settled in one call (a relay that was down long catches up over calls).
const EPOCHS_PER_CALL: i64 = 64;

/// The account holding a campaign's storage reservation. The one place this id is spelled.
pub fn storage_account(campaign: &str) -> String {
    format!("storage:{campaign}")
}

/// A node's earnings account when paid to `payout` on `chain` in `token` (kind `worker`, owned
/// by `payout`, so `POST /v1/claims` by that wallet turns it into a voucher).
pub fn earnings_account(node: &str, payout: &str, chain: u64, token: &str) -> String {
    format!("earnings:{node}:{payout}:{chain}:{token}")
}

/// The epoch `now_ms` falls in.
pub fn epoch_of(now_ms: i64, epoch_secs: u64) -> i64 {
    let len = i64::try_from(epoch_secs.max(1))
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    now_ms.div_euclid(len)
}

/// The campaign that pays for storing `object`: the one it was submitted to, unless that
/// submission was rejected ('' when none).
fn campaign_of(conn: &mut dyn Conn, object: &str) -> ApiResult<String> {
    Ok(conn
        .query_opt(
            "SELECT MIN(campaign) FROM submissions WHERE manifest = $1 AND status <> 'rejected'",
            params![object],
        )?
        .map(|r| r.opt_text(0))
        .transpose()?
        .flatten()
        .unwrap_or_default())
}

/// Counts one audit of `node` on `shard`, passed or failed, in the epoch of `now_ms`. Runs in the
/// write that records the audit's verdict, so an epoch's tally is final once the epoch is over.
pub fn record_audit(
    conn: &mut dyn Conn,
    epoch_secs: u64,
    node: &str,
    shard: &str,
    passed: bool,
    now_ms: i64,
) -> ApiResult<()> {
    let object = conn
        .query_opt(
            "SELECT object FROM shards WHERE node = $1 AND shard = $2 LIMIT 1",
            params![node, shard],
        )?
        .map(|r| r.text(0))
        .transpose()?;
    let campaign = match object {
        Some(object) => campaign_of(conn, &object)?,
        None => String::new(),
    };
    let (p, f) = if passed { (1_i64, 0_i64) } else { (0, 1) };
    conn.execute(
        "INSERT INTO node_audits (node, epoch, campaign, passed, failed) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node, epoch, campaign) DO UPDATE SET passed = node_audits.passed + $4, failed = node_audits.failed + $5",
        params![node, epoch_of(now_ms, epoch_secs), campaign, p, f],
    )?;
    Ok(())
}

/// What [`settle`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Epochs settled.
    pub epochs: u64,
    /// Units paid to nodes.
    pub paid: Units,
}

/// Settles every ended epoch not settled yet (at most 64 per call).
pub fn settle(conn: &mut dyn Conn, storage: &StorageConfig, now_ms: i64) -> ApiResult<Settled> {
    let current = epoch_of(now_ms, storage.epoch_secs);
    let epochs = conn.query(
        "SELECT DISTINCT epoch FROM node_audits WHERE epoch < $1 AND epoch NOT IN (SELECT epoch FROM earning_epochs) ORDER BY epoch LIMIT $2",
        params![current, EPOCHS_PER_CALL],
    )?;
    let mut settled = Settled::default();
    for row in epochs {
        let epoch = row.int(0)?;
        let paid = settle_epoch(conn, storage, epoch, now_ms)?;
        conn.execute(
            "INSERT INTO earning_epochs (epoch, settled_ms) VALUES ($1, $2)",
            params![epoch, now_ms],
        )?;
        settled.epochs += 1;
        settled.paid = settled.paid.saturating_add(paid);
    }
    Ok(settled)
}

/// One node's audits in one epoch.
#[derive(Default)]
struct Tally {
    /// Passed, per paying campaign.
    passed: BTreeMap<String, i64>,
    passed_total: i64,
    failed_total: i64,
}

fn settle_epoch(
    conn: &mut dyn Conn,
    storage: &StorageConfig,
    epoch: i64,
    now_ms: i64,
) -> ApiResult<Units> {
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for row in conn.query(
        "SELECT node, campaign, passed, failed FROM node_audits WHERE epoch = $1",
        params![epoch],
    )? {
        let tally = tallies.entry(row.text(0)?).or_default();
        let (campaign, passed, failed) = (row.text(1)?, row.int(2)?, row.int(3)?);
        tally.passed_total = tally.passed_total.saturating_add(passed);
        tally.failed_total = tally.failed_total.saturating_add(failed);
        if !campaign.is_empty() && passed > 0 {
            tally.passed.insert(campaign, passed);
        }
    }
    let per_audit = storage.fee_per_audit_units();
    let epoch_ms = i128::from(storage.epoch_secs.max(1)) * 1000;
    let mut paid: Units = 0;
    for (node, tally) in tallies {
        for (campaign, passed) in &tally.passed {
            let fee = passed.saturating_mul(per_audit);
            let id = format!("audit-fee:{epoch}:{node}:{campaign}");
            let memo = format!("{passed} audits passed in epoch {epoch}");
            paid = paid.saturating_add(pay(conn, &node, campaign, fee, &id, &memo, now_ms)?);
        }
        if tally.failed_total > 0 || tally.passed_total == 0 {
            continue;
        }
        let held = conn.query(
            // Postgres sums BIGINT as NUMERIC: cast back (SQLite takes the cast as a no-op).
        "SELECT c.campaign, CAST(SUM(s.len) AS BIGINT) FROM shards s JOIN (SELECT manifest, MIN(campaign) AS campaign FROM submissions WHERE status <> 'rejected' GROUP BY manifest) c ON c.manifest = s.object WHERE s.node = $1 AND s.stored = 1 GROUP BY c.campaign",
            params![node.clone()],
        )?;
        for row in held {
            let (campaign, bytes) = (row.text(0)?, row.int(1)?);
            let fee = storage_fee(bytes, storage.fee_per_gib_month_units(), epoch_ms);
            let id = format!("storage-fee:{epoch}:{node}:{campaign}");
            let memo = format!("{bytes} bytes held in epoch {epoch}");
            paid = paid.saturating_add(pay(conn, &node, &campaign, fee, &id, &memo, now_ms)?);
        }
    }
    Ok(paid)
}

/// The fee for holding `bytes` for `epoch_ms` at `per_gib_month` units per GiB-month, rounded
/// down to a unit.
pub fn storage_fee(bytes: i64, per_gib_month: Units, epoch_ms: i128) -> Units {
    let fee = i128::from(bytes.max(0))
        .checked_mul(i128::from(per_gib_month.max(0)))
        .and_then(|f| f.checked_mul(epoch_ms.max(0)))
        .map_or(i128::MAX, |f| f / (GIB * MONTH_MS));
    Units::try_from(fee).unwrap_or(Units::MAX)
}

/// Pays `node` up to `fee` from `campaign`'s storage reservation as transfer `id`; what was
/// paid (less than the fee when the reservation is running dry; nothing when it is empty).
fn pay(
    conn: &mut dyn Conn,
    node: &str,
    campaign: &str,
    fee: Units,
    id: &str,
    memo: &str,
    now_ms: i64,
) -> ApiResult<Units> {
    if fee <= 0 {
        return Ok(0);
    }
    let reserve = storage_account(campaign);
    let available = ledger::balance(conn, &reserve)?;
    let amount = fee.min(available);
    if amount <= 0 {
        return Ok(0);
    }
    let Some(row) = conn.query_opt(
        "SELECT token, chains FROM campaigns WHERE id = $1",
        params![campaign],
    )?
    else {
        return Ok(0);
    };
    let (token, chains) = (row.text(0)?, row.text(1)?);
    // A campaign pays on exactly one chain: its budget and its reservation are held there.
    let chain: u64 = chains
        .split(',')
        .find(|c| !c.is_empty())
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| ApiError::internal(format!("campaign {campaign} chains {chains:?}")))?;
    let payout = conn
        .query_opt("SELECT payout FROM nodes WHERE address = $1", params![node])?
        .map(|r| r.opt_text(0))
        .transpose()?
        .flatten()
        .unwrap_or_else(|| node.to_owned());
    let account = earnings_account(node, &payout, chain, &token);
    ledger::ensure_account(
        conn,
        &account,
        kind::WORKER,
        &payout,
        &token,
        &format!(",{chain},"),
    )?;
    match ledger::transfer(conn, id, &reserve, &account, amount, &token, memo, now_ms)? {
        Transfer::Applied => Ok(amount),
        Transfer::AlreadyApplied => Ok(0),
        other => Err(ApiError::internal(format!("node earnings {id}: {other:?}"))),
    }
}

/// A node's audits and earnings, for `GET /v1/nodes/{address}`.
pub struct NodeEarnings {
    /// Audits passed, all epochs.
    pub passed: i64,
    /// Audits failed, all epochs.
    pub failed: i64,
    /// Per (token, chain): (earned ever, not yet claimed).
    pub earned: BTreeMap<(String, u64), (Units, Units)>,
}

/// What `node` has passed, failed and earned.
pub fn node_earnings(conn: &mut dyn Conn, node: &str) -> ApiResult<NodeEarnings> {
    let audits = conn.query_opt(
        "SELECT CAST(COALESCE(SUM(passed), 0) AS BIGINT), CAST(COALESCE(SUM(failed), 0) AS BIGINT) FROM node_audits WHERE node = $1",
        params![node],
    )?;
    let (passed, failed) = match audits {
        Some(row) => (row.int(0)?, row.int(1)?),
        None => (0, 0),
    };
    let mut earned: BTreeMap<(String, u64), (Units, Units)> = BTreeMap::new();
    // Node addresses are hex: no LIKE wildcard in them.
    let prefix = format!("earnings:{node}:%");
    for row in conn.query(
        "SELECT a.id, a.token, a.chains, a.balance, CAST(COALESCE((SELECT SUM(t.amount) FROM transfers t WHERE t.credit = a.id), 0) AS BIGINT) FROM accounts a WHERE a.id LIKE $1 ORDER BY a.id",
        params![prefix],
    )? {
        let chain = row
            .text(2)?
            .split(',')
            .find(|c| !c.is_empty())
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let entry = earned.entry((row.text(1)?, chain)).or_default();
        entry.0 = entry.0.saturating_add(row.int(4)?);
        entry.1 = entry.1.saturating_add(row.int(3)?);
    }
    Ok(NodeEarnings {
        passed,
        failed,
        earned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_and_fees() {
        assert_eq!(epoch_of(0, 3600), 0);
        assert_eq!(epoch_of(3_599_999, 3600), 0);
        assert_eq!(epoch_of(3_600_000, 3600), 1);
        // One GiB for a whole 30-day month earns the monthly fee, exactly.
        assert_eq!(storage_fee(1 << 30, 2_000, MONTH_MS), 2_000);
        // Half a GiB for a day: 1/60 of it, rounded down.
        assert_eq!(storage_fee(1 << 29, 2_000, MONTH_MS / 30), 33);
        assert_eq!(storage_fee(0, 2_000, MONTH_MS), 0);
        assert_eq!(storage_fee(-5, 2_000, MONTH_MS), 0);
        assert_eq!(storage_fee(i64::MAX, i64::MAX, MONTH_MS), Units::MAX);
    }
}
