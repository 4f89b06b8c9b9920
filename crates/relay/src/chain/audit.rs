//! Solvency, per chain and token (docs/relay.md §6a, "Audit"): what the escrow holds on chain
//! against what the ledger says it received (deposits − redeemed) and what the ledger owes
//! (requesters' funding, campaign budgets, contributors' balances, outstanding vouchers, all on
//! that chain and in that token).
//!
//! The escrow's balance is read at the block the watcher has applied up to, so it is compared
//! with exactly the logs the ledger has seen. Tokens sent to the escrow without `deposit` (and
//! the dust below one ledger unit of a deposit) are held but owed to no one: a surplus,
//! reported, not a failure — anyone can send tokens to a contract, and an audit that any
//! stranger could turn red for a cent would soon be ignored.

use std::collections::BTreeMap;

use datahub_core::eth::Address;
use serde_json::{Value as Json_, json};

use super::rpc::{Rpc, RpcError};
use super::{Escrow, WatchError, abi, load_cursor, to_ledger_units};
use crate::config::ChainConfig;
use crate::db::{Conn, DbError};
use crate::ledger::{self, Units};
use crate::{AppState, params};

/// What the ledger says about one token of one chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Books {
    /// Deposits credited.
    pub deposits: Units,
    /// Vouchers redeemed on chain.
    pub redeemed: Units,
    /// What the escrow account says the contract holds for the ledger (deposits − redeemed).
    pub escrow_held: Units,
    /// Requesters' funding on this chain.
    pub funding: Units,
    /// Budgets of campaigns paying on this chain.
    pub campaigns: Units,
    /// Contributors' balances claimable on this chain.
    pub workers: Units,
    /// Vouchers issued on this chain's escrow and neither redeemed nor returned.
    pub vouchers: Units,
}

impl Books {
    /// Everything owed.
    pub fn liabilities(&self) -> Units {
        self.funding
            .saturating_add(self.campaigns)
            .saturating_add(self.workers)
            .saturating_add(self.vouchers)
    }
}

/// One token's reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAudit {
    /// Its symbol.
    pub token: String,
    /// Its contract.
    pub address: Address,
    /// The ledger's side.
    pub books: Books,
    /// What the escrow holds, in ledger units (rounded down), if the chain could be asked.
    pub held: Option<Units>,
    /// The same in the token's smallest unit.
    pub held_raw: Option<String>,
}

impl TokenAudit {
    /// held − liabilities.
    pub fn margin(&self) -> Option<Units> {
        self.held
            .map(|h| h.saturating_sub(self.books.liabilities()))
    }

    /// held − (deposits − redeemed): tokens the escrow holds that no deposit brought.
    pub fn surplus(&self) -> Option<Units> {
        self.held.map(|h| h.saturating_sub(self.books.escrow_held))
    }

    /// What is wrong, one line each (empty: solvent and reconciled).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(held) = self.held else {
            out.push("the escrow's balance could not be read".to_owned());
            return out;
        };
        let liabilities = self.books.liabilities();
        if held < liabilities {
            out.push(format!(
                "the escrow holds {} {} less than the ledger owes",
                ledger::format_amount(liabilities.saturating_sub(held)),
                self.token
            ));
        }
        if held < self.books.escrow_held {
            out.push(format!(
                "the escrow holds {} {} less than deposits − redeemed",
                ledger::format_amount(self.books.escrow_held.saturating_sub(held)),
                self.token
            ));
        }
        out
    }

    /// As the API shows it.
    pub fn to_json(&self) -> Json_ {
        let amount = |u: Option<Units>| u.map(ledger::format_amount);
        let b = &self.books;
        json!({
            "token": self.token,
            "address": self.address.to_checksum(),
            "held": amount(self.held),
            "held_raw": self.held_raw,
            "deposits": ledger::format_amount(b.deposits),
            "redeemed": ledger::format_amount(b.redeemed),
            "deposits_minus_redeemed": ledger::format_amount(b.escrow_held),
            "surplus": amount(self.surplus()),
            "liabilities": {
                "funding": ledger::format_amount(b.funding),
                "campaigns": ledger::format_amount(b.campaigns),
                "workers": ledger::format_amount(b.workers),
                "vouchers": ledger::format_amount(b.vouchers),
                "total": ledger::format_amount(b.liabilities()),
            },
            "margin": amount(self.margin()),
            "ok": self.problems().is_empty(),
            "problems": self.problems(),
        })
    }
}

fn on_chain(chains: &str, chain: u64) -> bool {
    chains.split(',').any(|c| c.trim().parse() == Ok(chain))
}

/// The ledger's side for `symbol` on `escrow`'s chain. Sums are made here, not in SQL
/// (PostgreSQL's `SUM` of a `BIGINT` is a `NUMERIC`).
pub fn books(conn: &mut dyn Conn, escrow: &Escrow, symbol: &str) -> Result<Books, DbError> {
    let chain = escrow.chain_id;
    let sum = |rows: Vec<crate::db::Row>, col: usize| -> Result<Units, DbError> {
        rows.iter()
            .try_fold(0i64, |acc, r| Ok(acc.saturating_add(r.int(col)?)))
    };
    let mut books = Books {
        escrow_held: ledger::balance(conn, &format!("escrow:{chain}:{symbol}"))?.saturating_neg(),
        ..Books::default()
    };
    books.deposits = sum(
        conn.query(
            "SELECT units FROM chain_deposits WHERE chain_id = $1 AND contract = $2 AND token = $3 AND status = 'credited'",
            params![escrow.chain(), escrow.contract_db(), symbol],
        )?,
        0,
    )?;
    books.redeemed = sum(
        conn.query(
            "SELECT amount_units FROM vouchers WHERE chain_id = $1 AND contract = $2 AND token = $3 AND state = 'redeemed'",
            params![escrow.chain(), escrow.contract_db(), symbol],
        )?,
        0,
    )?;
    books.vouchers = sum(
        conn.query(
            "SELECT amount_units FROM vouchers WHERE chain_id = $1 AND contract = $2 AND token = $3 AND state = 'issued'",
            params![escrow.chain(), escrow.contract_db(), symbol],
        )?,
        0,
    )?;
    // Per-chain funding: `funding:{owner}:{chain}:{TOKEN}`.
    books.funding = sum(
        conn.query(
            "SELECT balance FROM accounts WHERE kind = 'funding' AND token = $1 AND id LIKE $2",
            params![symbol, format!("funding:%:{chain}:{symbol}")],
        )?,
        0,
    )?;
    // A budget or balance claimable on several chains is a liability of each of them: any one
    // escrow may be asked for all of it.
    for (account_kind, slot) in [
        (ledger::kind::CAMPAIGN, &mut books.campaigns),
        (ledger::kind::WORKER, &mut books.workers),
    ] {
        let rows = conn.query(
            "SELECT chains, balance FROM accounts WHERE kind = $1 AND token = $2 AND balance <> 0",
            params![account_kind, symbol],
        )?;
        for row in rows {
            if on_chain(&row.text(0)?, chain) {
                *slot = slot.saturating_add(row.int(1)?);
            }
        }
    }
    Ok(books)
}

/// One chain's reconciliation.
#[derive(Debug, Clone)]
pub struct ChainAudit {
    /// The chain id.
    pub chain_id: u64,
    /// Its name.
    pub name: String,
    /// The escrow.
    pub contract: Address,
    /// The block the watcher has applied up to (and the balances were read at).
    pub block: Option<u64>,
    /// Why the chain is halted, if it is.
    pub halted: Option<String>,
    /// Why the chain could not be asked, if it could not.
    pub error: Option<String>,
    /// Per token.
    pub tokens: Vec<TokenAudit>,
}

impl ChainAudit {
    /// Solvent, reconciled and not halted.
    pub fn ok(&self) -> bool {
        self.halted.is_none() && self.tokens.iter().all(|t| t.problems().is_empty())
    }

    /// As the API shows it.
    pub fn to_json(&self) -> Json_ {
        json!({
            "chain_id": self.chain_id,
            "name": self.name,
            "contract": self.contract.to_checksum(),
            "block": self.block,
            "halted": self.halted,
            "error": self.error,
            "ok": self.ok(),
            "tokens": self.tokens.iter().map(TokenAudit::to_json).collect::<Vec<_>>(),
        })
    }
}

/// Reconciles one chain. A chain without `rpc_url` (or whose endpoint fails) gets the ledger's
/// side only, and counts as not reconciled.
pub async fn audit_chain(relay: &AppState, chain: &ChainConfig) -> Result<ChainAudit, WatchError> {
    let escrow = Escrow::from_config(chain)?;
    let symbols: Vec<(String, Address)> = escrow
        .tokens
        .iter()
        .map(|(address, (symbol, _))| (symbol.clone(), *address))
        .collect();
    // The ledger and the cursor read together, again if the watcher moved in between.
    let mut attempt = 0;
    let (cursor, all_books) = loop {
        let (e, s) = (escrow.clone(), symbols.clone());
        let read = relay
            .db
            .read(move |conn: &mut dyn Conn| -> Result<_, DbError> {
                let before = load_cursor(conn, &e)?;
                let mut all = BTreeMap::new();
                for (symbol, _) in &s {
                    all.insert(symbol.clone(), books(conn, &e, symbol)?);
                }
                let after = load_cursor(conn, &e)?;
                Ok((before == after).then_some((after, all)))
            })
            .await?;
        attempt += 1;
        match read {
            Some(pair) => break pair,
            None if attempt < 5 => continue,
            None => {
                return Err(WatchError::Db(DbError::Backend(
                    "the watcher kept moving during the audit".into(),
                )));
            }
        }
    };
    let mut audit = ChainAudit {
        chain_id: chain.id,
        name: chain.name.clone(),
        contract: escrow.contract,
        block: cursor.last.map(|(n, _)| n),
        halted: cursor.halted.clone(),
        error: None,
        tokens: Vec::new(),
    };
    let rpc = match chain.rpc_url.as_deref() {
        Some(url) => Some(Rpc::new(url)?),
        None => {
            audit.error = Some("no rpc_url configured for this chain".into());
            None
        }
    };
    for (symbol, address) in symbols {
        let books = all_books.get(&symbol).cloned().unwrap_or_default();
        let held = match (&rpc, cursor.last) {
            (Some(rpc), Some((block, _))) => match held_at(rpc, &escrow, &address, block).await {
                Ok(raw) => Some(raw),
                Err(e) => {
                    audit.error = Some(e.to_string());
                    None
                }
            },
            (Some(_), None) => {
                audit.error = Some("the watcher has not read this chain yet".into());
                None
            }
            (None, _) => None,
        };
        let decimals = escrow.tokens.get(&address).map_or(18, |(_, d)| *d);
        audit.tokens.push(TokenAudit {
            token: symbol,
            address,
            books,
            held: held.as_ref().and_then(|raw| to_ledger_units(raw, decimals)),
            held_raw: held.map(|raw| raw.to_string()),
        });
    }
    Ok(audit)
}

async fn held_at(
    rpc: &Rpc,
    escrow: &Escrow,
    token: &Address,
    block: u64,
) -> Result<datahub_core::eth::U256, RpcError> {
    let output = rpc
        .call(token, &abi::balance_of_call(&escrow.contract), block)
        .await?;
    abi::decode_uint(&output).map_err(|e| RpcError::Invalid(format!("balanceOf: {e}")))
}

/// Every configured chain.
pub async fn audit_all(relay: &AppState) -> Vec<Result<ChainAudit, (u64, WatchError)>> {
    let mut out = Vec::new();
    for chain in &relay.config.chains {
        out.push(audit_chain(relay, chain).await.map_err(|e| (chain.id, e)));
    }
    out
}

/// Reconciles `chain` and puts its margins in the metrics.
pub async fn refresh_metrics(relay: &AppState, chain: &ChainConfig) -> Result<(), WatchError> {
    let audit = audit_chain(relay, chain).await?;
    relay.metrics.set_chain(&audit);
    Ok(())
}

/// How long an answer of `GET /v1/treasury/audit` is served again: each one costs an
/// `eth_call` per chain and token, and the endpoint is public.
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// The last answer of `GET /v1/treasury/audit` and when it was made. The lock is held while a
/// new one is made, so concurrent requests cost one audit.
#[derive(Default)]
pub struct Cache(tokio::sync::Mutex<Option<(std::time::Instant, Json_)>>);

/// `GET /v1/treasury/audit`: the reconciliation of every chain (public: solvency is everyone's
/// business).
pub async fn handler(
    axum::extract::State(relay): axum::extract::State<AppState>,
) -> crate::error::ApiResult<axum::Json<Json_>> {
    let mut cached = relay.audit_cache.0.lock().await;
    if let Some((at, answer)) = cached.as_ref()
        && at.elapsed() < CACHE_TTL
    {
        return Ok(axum::Json(answer.clone()));
    }
    let mut chains = Vec::new();
    let mut ok = true;
    for result in audit_all(&relay).await {
        match result {
            Ok(audit) => {
                relay.metrics.set_chain(&audit);
                ok &= audit.ok();
                chains.push(audit.to_json());
            }
            Err((chain_id, e)) => {
                ok = false;
                tracing::warn!(chain = chain_id, error = %e, "audit failed");
                chains.push(json!({ "chain_id": chain_id, "ok": false, "error": "the audit of this chain failed; see the relay's log", "tokens": [] }));
            }
        }
    }
    let answer = json!({ "ok": ok, "chains": chains });
    *cached = Some((std::time::Instant::now(), answer.clone()));
    Ok(axum::Json(answer))
}
