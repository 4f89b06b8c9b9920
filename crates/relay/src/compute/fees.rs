//! Compute fees through the ledger: held from the requester's funds when a node leases a job,
//! then paid to the node's operator or released back. Transfer ids (`compute-hold:`,
//! `compute-fee:`, `compute-release:` and the assignment id) make each movement once.

use crate::db::Conn;
use crate::earnings::earnings_account;
use crate::error::{ApiError, ApiResult};
use crate::ledger::{self, Transfer, Units, kind};

/// The account holding a campaign's fees for leased, undecided compute jobs. The one place this
/// id is spelled.
pub fn compute_account(campaign: &str) -> String {
    format!("compute:{campaign}")
}

/// Who pays a campaign's fees: its owner's funds on its one chain, in its token.
pub(super) struct Payer {
    pub campaign: String,
    pub owner: String,
    pub chain: u64,
    pub token: String,
}

impl Payer {
    /// Holds `fee` for `assignment`; false when the requester's funds are short.
    pub fn hold(
        &self,
        conn: &mut dyn Conn,
        assignment: &str,
        fee: Units,
        now: i64,
    ) -> ApiResult<bool> {
        let funding = ledger::ensure_funding(conn, &self.owner, self.chain, &self.token)?;
        let held = compute_account(&self.campaign);
        ledger::ensure_account(
            conn,
            &held,
            kind::CAMPAIGN,
            &self.campaign,
            &self.token,
            &format!(",{},", self.chain),
        )?;
        match ledger::transfer(
            conn,
            &format!("compute-hold:{assignment}"),
            &funding,
            &held,
            fee,
            &self.token,
            "compute fee held",
            now,
        )? {
            Transfer::Applied | Transfer::AlreadyApplied => Ok(true),
            Transfer::Insufficient => Ok(false),
            Transfer::Overflow => Err(ApiError::internal(format!(
                "compute fee {assignment}: overflow"
            ))),
        }
    }

    /// Pays the fee held for `assignment` to `node`'s operator (`payout`), in the same earnings
    /// account storage fees go to: claimable by `payout` with vouchers.
    pub fn pay(
        &self,
        conn: &mut dyn Conn,
        assignment: &str,
        node: &str,
        payout: &str,
        fee: Units,
        now: i64,
    ) -> ApiResult<()> {
        let account = earnings_account(node, payout, self.chain, &self.token);
        ledger::ensure_account(
            conn,
            &account,
            kind::WORKER,
            payout,
            &self.token,
            &format!(",{},", self.chain),
        )?;
        self.settle(
            conn,
            &format!("compute-fee:{assignment}"),
            &account,
            fee,
            "compute fee",
            now,
        )
    }

    /// Gives the fee held for `assignment` back to the requester.
    pub fn release(
        &self,
        conn: &mut dyn Conn,
        assignment: &str,
        fee: Units,
        now: i64,
    ) -> ApiResult<()> {
        let funding = ledger::ensure_funding(conn, &self.owner, self.chain, &self.token)?;
        self.settle(
            conn,
            &format!("compute-release:{assignment}"),
            &funding,
            fee,
            "compute fee released",
            now,
        )
    }

    fn settle(
        &self,
        conn: &mut dyn Conn,
        id: &str,
        to: &str,
        fee: Units,
        memo: &str,
        now: i64,
    ) -> ApiResult<()> {
        if fee <= 0 {
            return Ok(());
        }
        let held = compute_account(&self.campaign);
        match ledger::transfer(conn, id, &held, to, fee, &self.token, memo, now)? {
            Transfer::Applied | Transfer::AlreadyApplied => Ok(()),
            // Every fee was held before it is settled, so this means the rows and the ledger disagree.
            other => Err(ApiError::internal(format!("{id}: {other:?}"))),
        }
    }
}
