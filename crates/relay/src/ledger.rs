//! The rewards ledger: double entry over accounts in the database.
//!
//! Every movement is one `transfers` row (debit account → credit account, positive amount, a
//! unique id) and the two balance updates, in the same transaction. The transfer id is the
//! idempotency key: a transfer already recorded is not applied again. Balances never go below
//! zero (a CHECK in the schema, and the debit is conditional) except a requester's funding
//! account, which stands for money from outside. So the sum of all balances is always zero.
//!
//! Amounts are counted in millionths of a token (`Units`), which every supported token can
//! express exactly (decimals ≥ 6); a voucher converts them to the token's smallest unit.

use datahub_core::eth::U256;

use crate::db::{Conn, DbError};
use crate::params;

/// An amount in the ledger unit: one millionth of a token.
pub type Units = i64;

/// Ledger units per token.
pub const UNITS_PER_TOKEN: i64 = 1_000_000;

/// Parses a decimal token amount (`"0.05"`, `"100"`) into ledger units. At most 6 decimals,
/// positive, and below 10^12 tokens.
pub fn parse_amount(text: &str) -> Option<Units> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 12 || fraction.len() > 6 || !digits(whole) {
        return None;
    }
    if text.contains('.') && fraction.is_empty() || !digits(fraction) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let mut frac: i64 = 0;
    for i in 0..6 {
        let digit = fraction
            .as_bytes()
            .get(i)
            .map_or(0, |b| i64::from(b - b'0'));
        frac = frac * 10 + digit;
    }
    whole.checked_mul(UNITS_PER_TOKEN)?.checked_add(frac)
}

/// Ledger units as a decimal token amount, trailing zeros trimmed (`50000` → `"0.05"`).
pub fn format_amount(units: Units) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let units = units.unsigned_abs();
    let whole = units / 1_000_000;
    let frac = units % 1_000_000;
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        let frac = format!("{frac:06}");
        format!("{sign}{whole}.{}", frac.trim_end_matches('0'))
    }
}

/// Ledger units in a token's smallest unit (`decimals` ≥ 6).
pub fn to_token_units(units: Units, decimals: u32) -> Option<U256> {
    let units = u128::try_from(units).ok()?;
    let scale = 10u128.checked_pow(decimals.checked_sub(6)?)?;
    Some(U256::from_u128(units.checked_mul(scale)?))
}

/// The kinds of account.
pub mod kind {
    /// A requester's money from outside; may go negative.
    pub const FUNDING: &str = "funding";
    /// A campaign's budget.
    pub const CAMPAIGN: &str = "campaign";
    /// A contributor's earnings, claimable on the chains in the account's `chains`.
    pub const WORKER: &str = "worker";
    /// What has left the ledger as vouchers, per chain and token.
    pub const PAYOUT: &str = "payout";
    /// An escrow contract as the ledger sees it (`escrow:{chain}:{TOKEN}`): deposits are debited
    /// from it, redeemed vouchers credited; it may go negative by what the contract holds.
    pub const ESCROW: &str = "escrow";
}

/// Opens `id` if it does not exist yet.
pub fn ensure_account(
    conn: &mut dyn Conn,
    id: &str,
    kind: &str,
    owner: &str,
    token: &str,
    chains: &str,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO accounts (id, kind, owner, token, chains, balance) VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (id) DO NOTHING",
        params![id, kind, owner, token, chains],
    )?;
    Ok(())
}

/// What a transfer did.
#[derive(Debug, PartialEq, Eq)]
pub enum Transfer {
    /// Applied now.
    Applied,
    /// A transfer with this id was applied before; nothing changed.
    AlreadyApplied,
    /// The debit account has less than the amount; nothing changed.
    Insufficient,
}

/// Moves `amount` from `debit` to `credit` (both must exist) once per `id`.
#[allow(clippy::too_many_arguments)]
pub fn transfer(
    conn: &mut dyn Conn,
    id: &str,
    debit: &str,
    credit: &str,
    amount: Units,
    token: &str,
    memo: &str,
    now_ms: i64,
) -> Result<Transfer, DbError> {
    if amount <= 0 {
        return Err(DbError::Backend(format!("transfer {id}: amount {amount}")));
    }
    let inserted = conn.execute(
        "INSERT INTO transfers (id, debit, credit, amount, token, memo, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        params![id, debit, credit, amount, token, memo, now_ms],
    )?;
    if inserted == 0 {
        return Ok(Transfer::AlreadyApplied);
    }
    let debited = conn.execute(
        "UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND (kind IN ('funding', 'escrow', 'operator') OR balance >= $1)",
        params![amount, debit],
    )?;
    if debited == 0 {
        conn.execute("DELETE FROM transfers WHERE id = $1", params![id])?;
        return Ok(Transfer::Insufficient);
    }
    let credited = conn.execute(
        "UPDATE accounts SET balance = balance + $1 WHERE id = $2",
        params![amount, credit],
    )?;
    if credited != 1 {
        return Err(DbError::Backend(format!(
            "transfer {id}: no account {credit}"
        )));
    }
    Ok(Transfer::Applied)
}

/// A balance, or zero if the account does not exist.
pub fn balance(conn: &mut dyn Conn, id: &str) -> Result<Units, DbError> {
    Ok(conn
        .query_opt("SELECT balance FROM accounts WHERE id = $1", params![id])?
        .map(|row| row.int(0))
        .transpose()?
        .unwrap_or(0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_and_format() {
        assert_eq!(parse_amount("0.05"), Some(50_000));
        assert_eq!(parse_amount("100"), Some(100_000_000));
        assert_eq!(parse_amount("1.000001"), Some(1_000_001));
        for bad in [
            "",
            ".5",
            "1.",
            "-1",
            "1e3",
            "0.0000001",
            "1,5",
            "9999999999999",
            " 1",
        ] {
            assert_eq!(parse_amount(bad), None, "{bad:?}");
        }
        assert_eq!(format_amount(50_000), "0.05");
        assert_eq!(format_amount(100_000_000), "100");
        assert_eq!(format_amount(-1), "-0.000001");
        assert_eq!(
            to_token_units(50_000, 18).unwrap().to_string(),
            "50000000000000000"
        );
        assert_eq!(to_token_units(50_000, 6).unwrap().to_string(), "50000");
    }
}
