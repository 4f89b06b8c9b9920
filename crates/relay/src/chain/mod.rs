//! The chain side of the money (docs/relay.md §6a): for each configured chain with an
//! `rpc_url`, a background loop reads the escrow's logs up to the head less `confirmations` and
//! applies them to the ledger, then credits expired vouchers back; [`audit`] reconciles what each
//! escrow holds with what the ledger owes.
//!
//! One batch of blocks is read from the endpoint ([`read_batch`]: logs, and the hash of the last
//! block, which must not change while they are read), then applied in ONE database transaction
//! ([`apply_batch`]): the deposits and claims recorded (keyed by chain, transaction and log
//! index), their ledger transfers made (idempotent by id), and the cursor moved past the batch
//! with the last block's hash. A relay killed at any point either applied the whole batch or
//! nothing of it, and reads it again. Each round first checks that the stored hash is still the
//! chain's: if not, the chain was reorganised deeper than `confirmations` and the relay stops
//! crediting it (`halted`, an error in the log and `datahub_chain_halted` 1) until an operator
//! has looked.

pub mod abi;
pub mod audit;
pub mod dev;
pub mod rpc;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use datahub_core::eth::{Address, U256};

use crate::auth::db_address;
use crate::config::ChainConfig;
use crate::db::{Conn, DbError};
use crate::ledger::{self, Transfer, Units, kind};
use crate::{AppState, clock, params};
use abi::{Claimed, Deposited};
use rpc::{BlockRef, Log, Rpc, RpcError};

/// Most blocks read in one batch (public endpoints refuse much wider `eth_getLogs` ranges).
pub const BATCH_BLOCKS: u64 = 500;
/// How often the watcher refreshes the treasury gauges of `/metrics`.
const METRICS_EVERY: Duration = Duration::from_secs(15);
/// Most vouchers checked for expiry per round.
const EXPIRY_BATCH: i64 = 50;

/// Why a round did not complete.
#[derive(Debug)]
#[non_exhaustive]
pub enum WatchError {
    /// The endpoint failed or lied.
    Rpc(RpcError),
    /// The database failed.
    Db(DbError),
    /// The endpoint serves another chain than the configuration says.
    WrongChain {
        /// The configured id.
        configured: u64,
        /// What the endpoint said.
        actual: u64,
    },
    /// A log of the escrow that does not decode as the escrow's events.
    BadLog(String),
    /// The configuration cannot be watched (bad address).
    Config(String),
}

impl std::fmt::Display for WatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rpc(e) => e.fmt(f),
            Self::Db(e) => e.fmt(f),
            Self::WrongChain { configured, actual } => write!(
                f,
                "the rpc endpoint serves chain {actual}, the configuration says {configured}"
            ),
            Self::BadLog(e) => write!(f, "a log of the escrow does not decode: {e}"),
            Self::Config(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for WatchError {}

impl From<RpcError> for WatchError {
    fn from(e: RpcError) -> Self {
        Self::Rpc(e)
    }
}

impl From<DbError> for WatchError {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

/// A chain's escrow and tokens, parsed from its configuration.
#[derive(Debug, Clone)]
pub struct Escrow {
    /// The chain id.
    pub chain_id: u64,
    /// The escrow contract (`claim_contract`).
    pub contract: Address,
    /// Configured tokens by contract: (symbol, decimals).
    pub tokens: BTreeMap<Address, (String, u32)>,
    /// Blocks a log must be buried under.
    pub confirmations: u64,
    /// Where reading starts.
    pub start_block: u64,
}

impl Escrow {
    /// From a chain's configuration (validated at load, checked again here).
    pub fn from_config(chain: &ChainConfig) -> Result<Self, WatchError> {
        let contract = Address::parse(&chain.claim_contract)
            .map_err(|e| WatchError::Config(format!("chain {}: {e}", chain.id)))?;
        let mut tokens = BTreeMap::new();
        for (symbol, token) in &chain.tokens {
            let address = Address::parse(&token.address)
                .map_err(|e| WatchError::Config(format!("chain {} {symbol}: {e}", chain.id)))?;
            tokens.insert(address, (symbol.clone(), token.decimals));
        }
        Ok(Self {
            chain_id: chain.id,
            contract,
            tokens,
            confirmations: chain.confirmations,
            start_block: chain.start_block,
        })
    }

    fn chain(&self) -> i64 {
        i64::try_from(self.chain_id).unwrap_or(-1)
    }

    fn contract_db(&self) -> String {
        db_address(&self.contract)
    }
}

/// Where reading an escrow has got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The next block to read.
    pub next_block: u64,
    /// The last block read and its hash.
    pub last: Option<(u64, [u8; 32])>,
    /// Why the chain is no longer read, if it is not.
    pub halted: Option<String>,
}

fn hex32(bytes: &[u8; 32]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.strip_prefix("0x")?).ok()?;
    <[u8; 32]>::try_from(bytes).ok()
}

fn db_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The cursor of `escrow` (a fresh one at `start_block` if it was never read).
pub fn load_cursor(conn: &mut dyn Conn, escrow: &Escrow) -> Result<Cursor, DbError> {
    let row = conn.query_opt(
        "SELECT next_block, last_block, last_hash, halted FROM chain_cursors WHERE chain_id = $1 AND contract = $2",
        params![escrow.chain(), escrow.contract_db()],
    )?;
    let Some(row) = row else {
        return Ok(Cursor {
            next_block: escrow.start_block,
            last: None,
            halted: None,
        });
    };
    let next_block = u64::try_from(row.int(0)?).map_err(|_| DbError::Decode { column: 0 })?;
    let last = match (row.opt_int(1)?, row.opt_text(2)?) {
        (Some(n), Some(h)) => Some((
            u64::try_from(n).map_err(|_| DbError::Decode { column: 1 })?,
            parse_hex32(&h).ok_or(DbError::Decode { column: 2 })?,
        )),
        _ => None,
    };
    Ok(Cursor {
        next_block,
        last,
        halted: row.opt_text(3)?,
    })
}

fn save_cursor(
    conn: &mut dyn Conn,
    escrow: &Escrow,
    cursor: &Cursor,
    now_ms: i64,
) -> Result<(), DbError> {
    let (last_block, last_hash) = match &cursor.last {
        Some((n, h)) => (Some(db_u64(*n)), Some(hex32(h))),
        None => (None, None),
    };
    conn.execute(
        "INSERT INTO chain_cursors (chain_id, contract, next_block, last_block, last_hash, halted, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (chain_id, contract) DO UPDATE SET next_block = excluded.next_block, last_block = excluded.last_block, last_hash = excluded.last_hash, halted = excluded.halted, updated_ms = excluded.updated_ms",
        params![
            escrow.chain(),
            escrow.contract_db(),
            db_u64(cursor.next_block),
            last_block,
            last_hash,
            cursor.halted.clone(),
            now_ms
        ],
    )?;
    Ok(())
}

/// A token amount in its smallest unit as ledger units (millionths of a token), rounded down.
/// `None` if it does not fit the ledger's `i64`.
pub fn to_ledger_units(amount: &U256, decimals: u32) -> Option<Units> {
    if amount.bits() > 128 {
        return None;
    }
    let bytes = amount.to_be_bytes();
    let low = <[u8; 16]>::try_from(bytes.get(16..)?).ok()?;
    let value = u128::from_be_bytes(low);
    let scale = 10u128.checked_pow(decimals.checked_sub(6)?)?;
    i64::try_from(value / scale).ok()
}

/// What one batch read from the endpoint holds.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The first block read (the cursor's `next_block` when it was read).
    pub from: u64,
    /// The last block read.
    pub to: BlockRef,
    /// The escrow's logs in those blocks, in order.
    pub logs: Vec<Log>,
}

/// What a round did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Round {
    /// Blocks read (0: the cursor is at the confirmed head).
    pub blocks: u64,
    /// Deposits credited now.
    pub deposits_credited: u64,
    /// Deposits recorded but not credited (unknown token, too small or too large).
    pub deposits_uncredited: u64,
    /// Vouchers marked redeemed now.
    pub redeemed: u64,
    /// Vouchers credited back now.
    pub returned: u64,
    /// The chain is halted (a reorg deeper than the confirmations).
    pub halted: bool,
}

/// Reads the next batch of confirmed blocks, or `None` when the cursor is at the confirmed head
/// (or the chain is halted, which the caller learns from the cursor). Checks first that the
/// block the cursor stopped at is still the chain's; if not, halts the chain.
pub async fn read_batch(
    relay: &AppState,
    escrow: &Escrow,
    rpc: &Rpc,
) -> Result<Option<Batch>, WatchError> {
    let cursor = {
        let escrow = escrow.clone();
        relay
            .db
            .read(move |conn: &mut dyn Conn| load_cursor(conn, &escrow))
            .await?
    };
    if cursor.halted.is_some() {
        return Ok(None);
    }
    let head = rpc.block_number().await?;
    let Some(safe) = head.checked_sub(escrow.confirmations) else {
        return Ok(None);
    };
    if let Some((number, hash)) = cursor.last
        && !still_canonical(relay, escrow, rpc, number, hash).await?
    {
        return Ok(None);
    }
    let from = cursor.next_block;
    if from > safe {
        return Ok(None);
    }
    let to = safe.min(from.saturating_add(BATCH_BLOCKS - 1));
    let missing = || RpcError::Invalid(format!("the endpoint has no block {to}"));
    let before = rpc.block(to).await?.ok_or_else(missing)?;
    let events = [abi::deposited_topic(), abi::claimed_topic()];
    let logs = rpc.logs(&escrow.contract, &events, from, to).await?;
    let after = rpc.block(to).await?.ok_or_else(missing)?;
    if before.hash != after.hash {
        // A reorg while reading: read again next round.
        return Err(WatchError::Rpc(RpcError::Invalid(format!(
            "block {to} changed while its logs were read"
        ))));
    }
    if let Some(log) = logs
        .iter()
        .find(|l| l.block_number == to && l.block_hash != after.hash)
    {
        return Err(WatchError::Rpc(RpcError::Invalid(format!(
            "log {} of block {to} names another block hash",
            log.log_index
        ))));
    }
    if let Some((number, hash)) = cursor.last
        && !still_canonical(relay, escrow, rpc, number, hash).await?
    {
        // The blocks already applied must still be under the ones just read.
        return Ok(None);
    }
    Ok(Some(Batch {
        from,
        to: after,
        logs,
    }))
}

/// Whether block `number` still has `hash`; if not, halts the chain.
async fn still_canonical(
    relay: &AppState,
    escrow: &Escrow,
    rpc: &Rpc,
    number: u64,
    hash: [u8; 32],
) -> Result<bool, WatchError> {
    let now = rpc.block(number).await?;
    if now.is_some_and(|b| b.hash == hash) {
        return Ok(true);
    }
    let reason = format!(
        "block {number} was {} when its logs were applied and is now {}: a reorg deeper than {} confirmations; deposits on this chain are no longer credited until an operator has reconciled it (docs/relay.md §6a)",
        hex32(&hash),
        now.map_or_else(|| "missing".to_owned(), |b| hex32(&b.hash)),
        escrow.confirmations
    );
    tracing::error!(chain = escrow.chain_id, %reason, "chain halted");
    let escrow = escrow.clone();
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> Result<(), DbError> {
            let mut cursor = load_cursor(conn, &escrow)?;
            if cursor.halted.is_none() {
                cursor.halted = Some(reason);
                save_cursor(conn, &escrow, &cursor, clock::now_ms())?;
            }
            Ok(())
        })
        .await?;
    relay.metrics.deep_reorgs.fetch_add(1, Relaxed);
    Ok(false)
}

/// One decoded log of the escrow.
enum Event {
    Deposit(Deposited),
    Claim(Claimed),
}

fn decode(log: &Log) -> Result<Event, WatchError> {
    let bad = |e: abi::AbiError| {
        WatchError::BadLog(format!(
            "{} log {}: {e}",
            hex32(&log.tx_hash),
            log.log_index
        ))
    };
    match log.topics.first() {
        Some(t) if *t == abi::deposited_topic() => Deposited::decode(&log.topics, &log.data)
            .map(Event::Deposit)
            .map_err(bad),
        Some(t) if *t == abi::claimed_topic() => Claimed::decode(&log.topics, &log.data)
            .map(Event::Claim)
            .map_err(bad),
        _ => Err(bad(abi::AbiError::WrongEvent)),
    }
}

/// Applies a batch in one transaction: records and credits its deposits, marks the vouchers its
/// claims redeemed, and moves the cursor past it. A batch that does not start at the cursor (read
/// before another round applied it) changes nothing.
pub async fn apply_batch(
    relay: &AppState,
    escrow: &Escrow,
    batch: Batch,
) -> Result<Round, WatchError> {
    let events = batch
        .logs
        .iter()
        .map(|log| decode(log).map(|event| (log.clone(), event)))
        .collect::<Result<Vec<_>, _>>()?;
    let escrow = escrow.clone();
    let round = relay
        .db
        .write(move |conn: &mut dyn Conn| -> Result<Round, WatchError> {
            let mut cursor = load_cursor(conn, &escrow)?;
            let mut round = Round::default();
            if cursor.halted.is_some() || cursor.next_block != batch.from {
                round.halted = cursor.halted.is_some();
                return Ok(round);
            }
            let now = clock::now_ms();
            for (log, event) in &events {
                match event {
                    Event::Deposit(d) => {
                        if record_deposit(conn, &escrow, log, d, now)? {
                            round.deposits_credited += 1;
                        } else {
                            round.deposits_uncredited += 1;
                        }
                    }
                    Event::Claim(c) => {
                        if record_claim(conn, &escrow, log, c, now)? {
                            round.redeemed += 1;
                        }
                    }
                }
            }
            round.blocks = batch.to.number + 1 - batch.from;
            cursor.next_block = batch.to.number + 1;
            cursor.last = Some((batch.to.number, batch.to.hash));
            save_cursor(conn, &escrow, &cursor, now)?;
            Ok(round)
        })
        .await?;
    Ok(round)
}

/// Records a deposit (once) and credits it if its token is configured and its amount fits the
/// ledger. Returns whether it was credited now.
fn record_deposit(
    conn: &mut dyn Conn,
    escrow: &Escrow,
    log: &Log,
    deposit: &Deposited,
    now: i64,
) -> Result<bool, DbError> {
    let tx = hex32(&log.tx_hash);
    let token = escrow.tokens.get(&deposit.token);
    let units = token.and_then(|(_, decimals)| to_ledger_units(&deposit.amount, *decimals));
    let status = match (token, units) {
        (None, _) => "unknown_token",
        (Some(_), None) => "too_large",
        (Some(_), Some(0)) => "too_small",
        (Some(_), Some(_)) => "credited",
    };
    let inserted = conn.execute(
        "INSERT INTO chain_deposits (chain_id, tx_hash, log_index, contract, block_number, block_hash, requester, token_address, sender, amount, token, units, status, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (chain_id, tx_hash, log_index) DO NOTHING",
        params![
            escrow.chain(),
            tx.clone(),
            db_u64(log.log_index),
            escrow.contract_db(),
            db_u64(log.block_number),
            hex32(&log.block_hash),
            db_address(&deposit.requester),
            db_address(&deposit.token),
            db_address(&deposit.from),
            deposit.amount.to_string(),
            token.map(|(symbol, _)| symbol.clone()),
            units.filter(|u| *u > 0 && status == "credited"),
            status,
            now
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    let (Some((symbol, _)), Some(units), "credited") = (token, units, status) else {
        tracing::warn!(
            chain = escrow.chain_id,
            %tx,
            log = log.log_index,
            token = %deposit.token,
            amount = %deposit.amount,
            status,
            "deposit recorded, not credited"
        );
        return Ok(false);
    };
    let chain = escrow.chain_id;
    let requester = db_address(&deposit.requester);
    let escrow_account = format!("escrow:{chain}:{symbol}");
    let funding = format!("funding:{requester}:{chain}:{symbol}");
    let chains = chain.to_string();
    ledger::ensure_account(
        conn,
        &escrow_account,
        kind::ESCROW,
        "relay",
        symbol,
        &chains,
    )?;
    ledger::ensure_account(conn, &funding, kind::FUNDING, &requester, symbol, &chains)?;
    let applied = ledger::transfer(
        conn,
        &format!("deposit:{chain}:{tx}:{}", log.log_index),
        &escrow_account,
        &funding,
        units,
        symbol,
        &format!("deposit on chain {chain} in {tx}"),
        now,
    )?;
    Ok(applied == Transfer::Applied)
}

/// Records a claim (once) and marks the voucher it redeemed. Returns whether a voucher was
/// marked redeemed now.
fn record_claim(
    conn: &mut dyn Conn,
    escrow: &Escrow,
    log: &Log,
    claim: &Claimed,
    now: i64,
) -> Result<bool, DbError> {
    let tx = hex32(&log.tx_hash);
    let recipient = db_address(&claim.recipient);
    let nonce = claim.nonce.to_string();
    let voucher = conn.query_opt(
        "SELECT id, state, token_address, amount, amount_units, token FROM vouchers WHERE chain_id = $1 AND contract = $2 AND recipient = $3 AND nonce = $4",
        params![escrow.chain(), escrow.contract_db(), recipient.clone(), nonce.clone()],
    )?;
    let voucher_id = voucher.as_ref().map(|r| r.text(0)).transpose()?;
    let inserted = conn.execute(
        "INSERT INTO chain_claims (chain_id, tx_hash, log_index, contract, block_number, recipient, token_address, nonce, amount, voucher, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (chain_id, tx_hash, log_index) DO NOTHING",
        params![
            escrow.chain(),
            tx.clone(),
            db_u64(log.log_index),
            escrow.contract_db(),
            db_u64(log.block_number),
            recipient.clone(),
            db_address(&claim.token),
            nonce.clone(),
            claim.amount.to_string(),
            voucher_id.clone(),
            now
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    let Some(row) = voucher else {
        tracing::warn!(chain = escrow.chain_id, %tx, %recipient, %nonce, "a claim of no voucher of this relay");
        return Ok(false);
    };
    let (id, state) = (row.text(0)?, row.text(1)?);
    if row.text(2)? != db_address(&claim.token) || row.text(3)? != claim.amount.to_string() {
        // The contract pays what the treasury signed; a mismatch means two vouchers share a
        // nonce, which the relay never signs.
        tracing::error!(chain = escrow.chain_id, %tx, voucher = %id, "a claim whose token or amount differs from its voucher");
    }
    match state.as_str() {
        "issued" => {}
        "returned" => {
            // Credited back and paid on chain: only possible after a reorg deeper than the
            // confirmations or a clock far off. The money is gone twice; say so loudly.
            tracing::error!(chain = escrow.chain_id, %tx, voucher = %id, "a voucher credited back as expired was redeemed on chain");
            return Ok(false);
        }
        _ => return Ok(false),
    }
    conn.execute(
        "UPDATE vouchers SET state = 'redeemed', settled_tx = $1, settled_ms = $2 WHERE id = $3 AND state = 'issued'",
        params![tx.clone(), now, id.clone()],
    )?;
    let (units, symbol) = (row.int(4)?, row.text(5)?);
    let chain = escrow.chain_id;
    let payout = format!("payout:{chain}:{symbol}");
    let escrow_account = format!("escrow:{chain}:{symbol}");
    ledger::ensure_account(conn, &payout, kind::PAYOUT, "relay", &symbol, "")?;
    ledger::ensure_account(
        conn,
        &escrow_account,
        kind::ESCROW,
        "relay",
        &symbol,
        &chain.to_string(),
    )?;
    let moved = ledger::transfer(
        conn,
        &format!("redeemed:{id}"),
        &payout,
        &escrow_account,
        units,
        &symbol,
        &format!("voucher {id} redeemed on chain {chain} in {tx}"),
        now,
    )?;
    if moved == Transfer::Insufficient {
        return Err(DbError::Backend(format!(
            "voucher {id}: the payout account holds less than the voucher"
        )));
    }
    Ok(true)
}

/// Credits back, once each, vouchers whose deadline passed more than `margin_secs` ago and
/// before the confirmed block `safe`, and which the escrow says are unused at that block: no
/// later block can redeem them (`claim` requires `block.timestamp <= deadline`).
pub async fn return_expired(
    relay: &AppState,
    escrow: &Escrow,
    rpc: &Rpc,
    safe: &BlockRef,
) -> Result<u64, WatchError> {
    let margin = i64::try_from(relay.config.voucher_return_margin_secs).unwrap_or(i64::MAX);
    let by_clock = (clock::now_ms() / 1000).saturating_sub(margin);
    let by_chain = db_u64(safe.timestamp);
    let before = by_clock.min(by_chain);
    let candidates = {
        let escrow = escrow.clone();
        relay
            .db
            .read(move |conn: &mut dyn Conn| -> Result<Vec<(String, String, String)>, DbError> {
                let rows = conn.query(
                    "SELECT id, recipient, nonce FROM vouchers WHERE chain_id = $1 AND contract = $2 AND state = 'issued' AND deadline < $3 ORDER BY deadline, id LIMIT $4",
                    params![escrow.chain(), escrow.contract_db(), before, EXPIRY_BATCH],
                )?;
                rows.iter()
                    .map(|r| Ok((r.text(0)?, r.text(1)?, r.text(2)?)))
                    .collect()
            })
            .await?
    };
    let mut returned = 0;
    for (id, recipient, nonce) in candidates {
        let (Ok(recipient), Ok(nonce)) = (Address::parse(&recipient), U256::parse(&nonce)) else {
            tracing::error!(voucher = %id, "a voucher with an unreadable recipient or nonce");
            continue;
        };
        let output = rpc
            .call(
                &escrow.contract,
                &abi::is_used_call(&recipient, &nonce),
                safe.number,
            )
            .await?;
        let used = abi::decode_bool(&output)
            .map_err(|e| WatchError::Rpc(RpcError::Invalid(format!("isUsed: {e}"))))?;
        if used {
            // Its Claimed log is on its way (the cursor has not reached it yet).
            continue;
        }
        let voucher = id.clone();
        let done = relay
            .db
            .write(move |conn: &mut dyn Conn| credit_back(conn, &voucher, clock::now_ms()))
            .await?;
        if done {
            returned += 1;
            tracing::info!(voucher = %id, "expired voucher credited back");
        }
    }
    Ok(returned)
}

/// Marks `voucher` returned and credits what it drew back to the accounts it drew from.
fn credit_back(conn: &mut dyn Conn, voucher: &str, now: i64) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE vouchers SET state = 'returned', settled_ms = $1 WHERE id = $2 AND state = 'issued'",
        params![now, voucher],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    // The claim moved each source account's balance to the payout account under
    // `claim:{voucher}:{account}`; the ids between `claim:{voucher}:` and `claim:{voucher};`
    // are exactly those.
    let sources = conn.query(
        "SELECT debit, credit, amount, token FROM transfers WHERE id > $1 AND id < $2 ORDER BY id",
        params![format!("claim:{voucher}:"), format!("claim:{voucher};")],
    )?;
    if sources.is_empty() {
        return Err(DbError::Backend(format!(
            "voucher {voucher}: no claim transfers to credit back"
        )));
    }
    for (i, row) in sources.iter().enumerate() {
        let (account, payout, amount, token) =
            (row.text(0)?, row.text(1)?, row.int(2)?, row.text(3)?);
        let id = if i == 0 {
            format!("expired:{voucher}")
        } else {
            format!("expired:{voucher}:{i}")
        };
        let moved = ledger::transfer(
            conn,
            &id,
            &payout,
            &account,
            amount,
            &token,
            &format!("voucher {voucher} expired unredeemed"),
            now,
        )?;
        if moved == Transfer::Insufficient {
            return Err(DbError::Backend(format!(
                "voucher {voucher}: the payout account holds less than the voucher"
            )));
        }
    }
    Ok(true)
}

/// One round on one chain: batches up to the confirmed head, then expiry. Returns what it did.
pub async fn round(relay: &AppState, escrow: &Escrow, rpc: &Rpc) -> Result<Round, WatchError> {
    let mut total = Round::default();
    // A few batches per round, so a relay far behind catches up without starving the rest.
    for _ in 0..20 {
        let Some(batch) = read_batch(relay, escrow, rpc).await? else {
            break;
        };
        let done = apply_batch(relay, escrow, batch).await?;
        relay
            .metrics
            .deposits_credited
            .fetch_add(done.deposits_credited, Relaxed);
        relay
            .metrics
            .vouchers_redeemed
            .fetch_add(done.redeemed, Relaxed);
        total.blocks += done.blocks;
        total.deposits_credited += done.deposits_credited;
        total.deposits_uncredited += done.deposits_uncredited;
        total.redeemed += done.redeemed;
        if done.blocks == 0 {
            break;
        }
    }
    let cursor = {
        let escrow = escrow.clone();
        relay
            .db
            .read(move |conn: &mut dyn Conn| load_cursor(conn, &escrow))
            .await?
    };
    if cursor.halted.is_some() {
        total.halted = true;
        return Ok(total);
    }
    let head = rpc.block_number().await?;
    if let Some(safe) = head.checked_sub(escrow.confirmations)
        && let Some(safe) = rpc.block(safe).await?
    {
        total.returned = return_expired(relay, escrow, rpc, &safe).await?;
        relay
            .metrics
            .vouchers_returned
            .fetch_add(total.returned, Relaxed);
    }
    Ok(total)
}

/// Watches every chain that has an `rpc_url`, until the task is dropped (which stops them all).
pub async fn run(relay: AppState) {
    let mut watchers = tokio::task::JoinSet::new();
    for chain in relay.config.chains.iter().filter(|c| c.rpc_url.is_some()) {
        watchers.spawn(watch(relay.clone(), chain.clone()));
    }
    while watchers.join_next().await.is_some() {}
}

/// The loop of one chain.
async fn watch(relay: AppState, chain: ChainConfig) {
    let (escrow, rpc) = match (
        Escrow::from_config(&chain),
        Rpc::new(chain.rpc_url.as_deref().unwrap_or_default()),
    ) {
        (Ok(e), Ok(r)) => (e, r),
        (Err(e), _) => {
            tracing::error!(chain = chain.id, error = %e, "chain not watched");
            return;
        }
        (_, Err(e)) => {
            tracing::error!(chain = chain.id, error = %e, "chain not watched");
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_millis(chain.poll_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checked_id = false;
    let mut last_audit = None;
    loop {
        tick.tick().await;
        if !checked_id {
            match rpc.chain_id().await {
                Ok(id) if id == chain.id => checked_id = true,
                Ok(actual) => {
                    let e = WatchError::WrongChain {
                        configured: chain.id,
                        actual,
                    };
                    tracing::error!(chain = chain.id, error = %e, "chain not watched");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(chain = chain.id, error = %e, "chain watcher");
                    continue;
                }
            }
        }
        match round(&relay, &escrow, &rpc).await {
            Ok(done) => {
                if done != Round::default() {
                    tracing::info!(chain = chain.id, ?done, "chain round");
                }
            }
            Err(e) => tracing::warn!(chain = chain.id, error = %e, "chain round failed"),
        }
        // The audit sums the chain's deposits and vouchers: not at every poll.
        if last_audit.is_none_or(|at: std::time::Instant| at.elapsed() >= METRICS_EVERY) {
            last_audit = Some(std::time::Instant::now());
            if let Err(e) = audit::refresh_metrics(&relay, &chain).await {
                tracing::debug!(chain = chain.id, error = %e, "treasury margin not refreshed");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ledger_units_round_down_and_refuse_what_does_not_fit() {
        let t = |s: &str| U256::parse(s).unwrap();
        assert_eq!(
            to_ledger_units(&t("1000000000000000000"), 18),
            Some(1_000_000)
        );
        assert_eq!(to_ledger_units(&t("1999999999999"), 18), Some(1));
        assert_eq!(to_ledger_units(&t("999999999999"), 18), Some(0));
        assert_eq!(to_ledger_units(&t("5"), 6), Some(5));
        assert_eq!(to_ledger_units(&U256::MAX, 18), None);
        // 2^127 fits u128 but not the ledger's i64.
        assert_eq!(
            to_ledger_units(&t("170141183460469231731687303715884105728"), 18),
            None
        );
        assert_eq!(to_ledger_units(&t("1"), 5), None);
    }
}
