//! A contributor's balances and history, and claims: a balance becomes an EIP-712
//! `RewardVoucher` signed by the treasury key, redeemable once by the chain's claim contract.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use datahub_core::eth::{Address, Eip712Domain, RewardVoucher, Timestamp, TypedStruct, U256};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use crate::auth::{Contributor, db_address};
use crate::db::{Conn, Row};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ledger::{self, Transfer, kind};
use crate::slots::Rejection;
use crate::{AppState, clock, params};

fn chain_list(text: &str) -> Vec<u64> {
    text.split(',').filter_map(|c| c.parse().ok()).collect()
}

/// `GET /v1/me/balances`: per token, the total and what can be claimed on each chain, and the
/// rewards held until the contributor's record is known (`quality::hold`), which are in neither.
pub async fn balances(
    State(relay): State<AppState>,
    Contributor(info): Contributor,
) -> ApiResult<Json<Json_>> {
    let wallet = db_address(&info.session.wallet);
    let (rows, held) = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<(Vec<Row>, Vec<Row>)> {
            let rows = conn.query(
                "SELECT token, chains, balance FROM accounts WHERE owner = $1 AND kind = 'worker' ORDER BY token, chains",
                params![wallet.clone()],
            )?;
            let held = conn.query(
                "SELECT c.token, CAST(COALESCE(SUM(s.reward), 0) AS BIGINT) FROM submissions s JOIN campaigns c ON c.id = s.campaign WHERE s.worker = $1 AND s.held = 1 GROUP BY c.token",
                params![wallet],
            )?;
            Ok((rows, held))
        })
        .await?;
    let mut tokens: std::collections::BTreeMap<
        String,
        (i64, std::collections::BTreeMap<u64, i64>),
    > = std::collections::BTreeMap::new();
    // Held rewards are not in any account yet: shown apart, never claimable.
    let mut held_of = std::collections::BTreeMap::new();
    for row in &held {
        let token = row.text(0)?;
        tokens.entry(token.clone()).or_default();
        held_of.insert(token, row.int(1)?);
    }
    for row in &rows {
        let entry = tokens.entry(row.text(0)?).or_default();
        let balance = row.int(2)?;
        let overflow = || ApiError::internal("balance sum overflows");
        entry.0 = entry.0.checked_add(balance).ok_or_else(overflow)?;
        for chain in chain_list(&row.text(1)?) {
            let sum = entry.1.entry(chain).or_default();
            *sum = sum.checked_add(balance).ok_or_else(overflow)?;
        }
    }
    let balances: Vec<Json_> = tokens
        .into_iter()
        .map(|(token, (total, chains))| {
            let per_chain: serde_json::Map<String, Json_> = chains
                .into_iter()
                .map(|(c, a)| (c.to_string(), Json_::String(ledger::format_amount(a))))
                .collect();
            let held = held_of.get(&token).copied().unwrap_or(0);
            json!({
                "token": token,
                "amount": ledger::format_amount(total),
                "claimable_on": per_chain,
                "held": ledger::format_amount(held),
            })
        })
        .collect();
    Ok(Json(json!({
        "wallet": info.session.wallet.to_checksum(),
        "balances": balances,
    })))
}

/// Query of `GET /v1/me/history`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Most entries (default 50, at most 500).
    limit: Option<i64>,
}

/// `GET /v1/me/history`: ledger movements of the contributor's accounts and their submissions,
/// newest first.
pub async fn history(
    State(relay): State<AppState>,
    Contributor(info): Contributor,
    Query(query): Query<HistoryQuery>,
) -> ApiResult<Json<Json_>> {
    let wallet = db_address(&info.session.wallet);
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let (entries, submissions) = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<(Vec<Json_>, Vec<Json_>)> {
            let transfers = conn.query(
                "SELECT t.id, t.amount, t.token, t.memo, t.created_ms, CASE WHEN a.id = t.credit THEN 1 ELSE -1 END FROM transfers t JOIN accounts a ON (a.id = t.credit OR a.id = t.debit) WHERE a.owner = $1 AND a.kind = 'worker' ORDER BY t.created_ms DESC, t.id LIMIT $2",
                params![wallet.clone(), limit],
            )?;
            let entries = transfers
                .iter()
                .map(|r| -> ApiResult<Json_> {
                    Ok(json!({
                        "id": r.text(0)?,
                        "amount": ledger::format_amount(r.int(1)? * r.int(5)?),
                        "token": r.text(2)?,
                        "memo": r.text(3)?,
                        "at": Timestamp::from_unix_millis(r.int(4)?).to_string(),
                    }))
                })
                .collect::<ApiResult<_>>()?;
            let subs = conn.query(
                "SELECT s.id, s.campaign, s.status, s.reward, s.created_ms, s.reason, v.body FROM submissions s LEFT JOIN verdicts v ON v.submission = s.id AND v.accept = 0 WHERE s.worker = $1 ORDER BY s.created_ms DESC, s.id LIMIT $2",
                params![wallet, limit],
            )?;
            let submissions = subs
                .iter()
                .map(|r| -> ApiResult<Json_> {
                    let reason = r.opt_text(5)?.as_deref().and_then(Rejection::parse);
                    Ok(json!({
                        "submission": r.text(0)?,
                        "campaign": r.text(1)?,
                        "status": r.text(2)?,
                        "reward": ledger::format_amount(r.int(3)?),
                        "at": Timestamp::from_unix_millis(r.int(4)?).to_string(),
                        "reason": reason.map(Rejection::as_str),
                        "why": reason.map(|reason| why_rejected(reason, r.opt_text(6).ok().flatten())),
                    }))
                })
                .collect::<ApiResult<_>>()?;
            Ok((entries, submissions))
        })
        .await?;
    Ok(Json(
        json!({ "entries": entries, "submissions": submissions }),
    ))
}

/// What a contributor is told about a rejected submission; a validator's own reasons (from the
/// verdict it signed) follow its rejection.
fn why_rejected(reason: Rejection, verdict_body: Option<String>) -> String {
    let reasons: Vec<String> = verdict_body
        .and_then(|body| serde_json::from_str::<Json_>(&body).ok())
        .and_then(|body| {
            body.get("reasons").and_then(Json_::as_array).map(|list| {
                list.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default();
    match (reason, reasons.is_empty()) {
        (Rejection::Validator, false) => format!("{}: {}", reason.message(), reasons.join("; ")),
        _ => reason.message().to_owned(),
    }
}

/// The body of `POST /v1/claims`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The chain to claim on.
    pub chain_id: u64,
    /// The token (`USDT`, `OORT`).
    pub token: String,
    /// The client's id for this claim (1–64 of `A-Za-z0-9_-`): sending it again returns the
    /// same voucher instead of debiting twice.
    pub request_id: String,
}

/// `POST /v1/claims`: the whole balance of `token` claimable on `chain_id` becomes a voucher.
pub async fn claim(
    State(relay): State<AppState>,
    Contributor(info): Contributor,
    body: Result<Json<ClaimRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<Json_>)> {
    let Json(body) = body.map_err(|e| crate::error::from_rejection(e.status(), e.body_text()))?;
    if !crate::treasury::is_request_id(&body.request_id) {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidRequestId,
            "request_id: 1 to 64 of A-Z a-z 0-9 - _",
        ));
    }
    let chain = relay.config.chain(body.chain_id).ok_or_else(|| {
        ApiError::unprocessable(
            ErrorCode::UnsupportedChain,
            format!("this relay pays on no chain {}", body.chain_id),
        )
    })?;
    let token = chain.tokens.get(&body.token).ok_or_else(|| {
        ApiError::unprocessable(
            ErrorCode::UnsupportedToken,
            format!("{} is not paid on chain {}", body.token, body.chain_id),
        )
    })?;
    let token_address = Address::parse(&token.address).map_err(ApiError::internal)?;
    let contract = Address::parse(&chain.claim_contract).map_err(ApiError::internal)?;
    let domain = Eip712Domain {
        name: "DataHub".into(),
        version: "1".into(),
        chain_id: datahub_core::ChainId(body.chain_id),
        verifying_contract: contract,
    };
    let decimals = token.decimals;
    let wallet = info.session.wallet;
    let recipient = db_address(&wallet);
    let treasury = relay.treasury.clone();
    let ttl = i64::try_from(relay.config.voucher_ttl_secs).unwrap_or(0);
    // Run again after a conflict: two claims of one recipient written at once (by two writers
    // or two relays) take the same next nonce, and the unique `vouchers_seq` refuses the second;
    // its second run takes the next one. A run that committed is found by its request id.
    let (created, id) = relay
        .db
        .write_retrying(move |conn: &mut dyn Conn| -> ApiResult<(bool, String)> {
            if let Some(row) = conn.query_opt(
                "SELECT id, chain_id, token FROM vouchers WHERE recipient = $1 AND request = $2",
                params![recipient.clone(), body.request_id.clone()],
            )? {
                let same = row.int(1)? == i64::try_from(body.chain_id).unwrap_or(-1) && row.text(2)? == body.token;
                if !same {
                    return Err(ApiError::conflict(ErrorCode::RequestIdUsed, "this request_id was used for another claim"));
                }
                return Ok((false, row.text(0)?));
            }
            let accounts = conn.query(
                "SELECT id, chains, balance FROM accounts WHERE owner = $1 AND token = $2 AND kind = 'worker' AND balance > 0",
                params![recipient.clone(), body.token.clone()],
            )?;
            let id = clock::random_id();
            let payout = format!("payout:{}:{}", body.chain_id, body.token);
            ledger::ensure_account(conn, &payout, kind::PAYOUT, "relay", &body.token, "")?;
            let now = clock::now_ms();
            let mut total = 0_i64;
            for row in &accounts {
                if !chain_list(&row.text(1)?).contains(&body.chain_id) {
                    continue;
                }
                let (account, amount) = (row.text(0)?, row.int(2)?);
                let moved = ledger::transfer(
                    conn, &format!("claim:{id}:{account}"), &account, &payout, amount, &body.token,
                    &format!("voucher {id} on chain {}", body.chain_id), now,
                )?;
                if moved != Transfer::Applied {
                    return Err(ApiError::internal("claim transfer not applied"));
                }
                total = total
                    .checked_add(amount)
                    .ok_or_else(|| ApiError::internal("claim total overflows"))?;
            }
            if total == 0 {
                return Err(ApiError::conflict(
                    ErrorCode::NothingToClaim,
                    format!("no {} balance claimable on chain {}", body.token, body.chain_id),
                ));
            }
            let amount = ledger::to_token_units(total, decimals)
                .ok_or_else(|| ApiError::internal("voucher amount overflow"))?;
            let seq = next_nonce(conn, &recipient, body.chain_id, &db_address(&contract))?;
            let nonce = U256::from_u64(seq.unsigned_abs());
            let deadline = u64::try_from(now / 1000 + ttl).unwrap_or(u64::MAX);
            let voucher = RewardVoucher { recipient: wallet, token: token_address, amount, nonce, deadline };
            let signature = voucher.sign(&treasury, &domain);
            conn.execute(
                "INSERT INTO vouchers (id, recipient, request, chain_id, token, token_address, contract, amount_units, amount, nonce, deadline, signature, created_ms, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                params![
                    id.clone(), recipient.clone(), body.request_id.clone(), i64::try_from(body.chain_id).unwrap_or(-1), body.token.clone(),
                    db_address(&token_address), db_address(&contract), total, voucher.amount.to_string(),
                    voucher.nonce.to_string(), i64::try_from(deadline).unwrap_or(i64::MAX), signature.to_hex(), now, seq
                ],
            )?;
            Ok((true, id))
        })
        .await?;
    if created {
        relay
            .metrics
            .vouchers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let voucher = load_voucher(&relay, id, info.session.wallet).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(voucher),
    ))
}

/// The next voucher nonce of `recipient` on this chain and contract: 0, 1, 2… The escrow marks
/// used nonces in a bitmap of 256 per storage word, so sequential nonces cost a new word only
/// every 256 claims. Two writers racing for the same nonce (on PostgreSQL, writers run in
/// parallel) are told apart by the unique index `vouchers_seq`, and the loser is run again.
fn next_nonce(conn: &mut dyn Conn, recipient: &str, chain: u64, contract: &str) -> ApiResult<i64> {
    let chain = i64::try_from(chain).map_err(ApiError::internal)?;
    let last = conn
        .query_opt(
            "SELECT MAX(seq) FROM vouchers WHERE recipient = $1 AND chain_id = $2 AND contract = $3",
            params![recipient, chain, contract],
        )?
        .map(|row| row.opt_int(0))
        .transpose()?
        .flatten();
    match last {
        None => Ok(0),
        Some(last) => last
            .checked_add(1)
            .ok_or_else(|| ApiError::internal("voucher nonces exhausted")),
    }
}

async fn load_voucher(relay: &AppState, id: String, wallet: Address) -> ApiResult<Json_> {
    let recipient = db_address(&wallet);
    let row = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Option<Row>> {
            Ok(conn.query_opt(
                "SELECT id, chain_id, token, token_address, contract, amount_units, amount, nonce, deadline, signature, created_ms FROM vouchers WHERE id = $1 AND recipient = $2",
                params![id, recipient],
            )?)
        })
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::NoVoucher, "no such voucher of yours"))?;
    voucher_json(&row, &wallet)
}

fn voucher_json(row: &Row, wallet: &Address) -> ApiResult<Json_> {
    let address = |text: String| Address::parse(&text).map_err(ApiError::internal);
    let (token_address, contract) = (address(row.text(3)?)?, address(row.text(4)?)?);
    let chain_id = row.int(1)?;
    let amount = row.text(6)?;
    let nonce = row.text(7)?;
    let deadline = row.int(8)?;
    Ok(json!({
        "id": row.text(0)?,
        "chain_id": chain_id,
        "token": row.text(2)?,
        "amount_tokens": ledger::format_amount(row.int(5)?),
        "signature": row.text(9)?,
        "issued_at": Timestamp::from_unix_millis(row.int(10)?).to_string(),
        // Exactly what `eth_signTypedData_v4`, ethers' `verifyTypedData` and the claim
        // contract take.
        "typed_data": {
            "types": {
                "EIP712Domain": [
                    { "name": "name", "type": "string" },
                    { "name": "version", "type": "string" },
                    { "name": "chainId", "type": "uint256" },
                    { "name": "verifyingContract", "type": "address" },
                ],
                "RewardVoucher": [
                    { "name": "recipient", "type": "address" },
                    { "name": "token", "type": "address" },
                    { "name": "amount", "type": "uint256" },
                    { "name": "nonce", "type": "uint256" },
                    { "name": "deadline", "type": "uint256" },
                ],
            },
            "primaryType": "RewardVoucher",
            "domain": {
                "name": "DataHub",
                "version": "1",
                "chainId": chain_id,
                "verifyingContract": contract.to_checksum(),
            },
            "message": {
                "recipient": wallet.to_checksum(),
                "token": token_address.to_checksum(),
                "amount": amount,
                "nonce": nonce,
                "deadline": deadline.to_string(),
            },
        },
    }))
}

/// `GET /v1/claims`: the contributor's vouchers, newest first.
pub async fn vouchers(
    State(relay): State<AppState>,
    Contributor(info): Contributor,
) -> ApiResult<Json<Json_>> {
    let wallet = info.session.wallet;
    let recipient = db_address(&wallet);
    let rows = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Vec<Row>> {
            Ok(conn.query(
                "SELECT id, chain_id, token, token_address, contract, amount_units, amount, nonce, deadline, signature, created_ms FROM vouchers WHERE recipient = $1 ORDER BY created_ms DESC, id LIMIT 500",
                params![recipient],
            )?)
        })
        .await?;
    let list = rows
        .iter()
        .map(|r| voucher_json(r, &wallet))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(json!({ "vouchers": list })))
}

/// `GET /v1/claims/{id}`: one voucher, again.
pub async fn voucher(
    State(relay): State<AppState>,
    Path(id): Path<String>,
    Contributor(info): Contributor,
) -> ApiResult<Json<Json_>> {
    Ok(Json(load_voucher(&relay, id, info.session.wallet).await?))
}
