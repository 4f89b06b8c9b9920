//! Requesters' funds: what they may spend on campaign budgets, per chain and token, and the
//! operator's grants of funding for requesters who pay off chain.
//!
//! A grant is a signed admin command (`POST /v1/treasury/grants`, signed by one of the
//! configured `operators`) that moves an amount from `operator:{chain}:{TOKEN}` to the
//! requester's `funding:{owner}:{chain}:{TOKEN}` as transfer `grant:{request_id}`. The request
//! id makes it idempotent: the same grant again changes nothing, another grant under the same
//! id is refused.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use datahub_core::eth::Address;
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use crate::auth::{Requester, Signed, db_address};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ledger::{self, Transfer, kind};
use crate::{AppState, clock, params};

/// The body of `POST /v1/treasury/grants`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// The operator's id for this grant (1–64 of `A-Za-z0-9_-`): the transfer is
    /// `grant:{request_id}`, made once.
    pub request_id: String,
    /// Who receives the funds (`0x` address).
    pub requester: String,
    /// The chain whose campaigns the funds pay for.
    pub chain_id: u64,
    /// The token (`USDT`, `OORT`).
    pub token: String,
    /// How much, in tokens (`"100"`, `"0.5"`).
    pub amount: String,
}

/// Whether `id` is a client-chosen request id: 1 to 64 of `A-Za-z0-9_-`.
pub fn is_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks that `token` is paid on `chain` by this relay.
pub fn check_chain_token(config: &crate::Config, chain: u64, token: &str) -> ApiResult<()> {
    let known = config.chain(chain).ok_or_else(|| {
        ApiError::unprocessable(
            ErrorCode::UnsupportedChain,
            format!("this relay pays on no chain {chain}"),
        )
    })?;
    if !known.tokens.contains_key(token) {
        return Err(ApiError::unprocessable(
            ErrorCode::UnsupportedToken,
            format!("{token} is not paid on chain {chain}"),
        ));
    }
    Ok(())
}

/// `POST /v1/treasury/grants` (signed by an operator): funds a requester. 201 with the grant;
/// 200 with the same grant when it was made before; 409 if the request id was used for
/// another grant.
pub async fn grant(
    State(relay): State<AppState>,
    signed: Signed,
) -> ApiResult<(StatusCode, Json<Json_>)> {
    if !relay.config.is_operator(&signed.signer) {
        return Err(ApiError::forbidden(
            ErrorCode::NotOperator,
            format!(
                "{} is not an operator of this relay: admin commands must be signed by a key listed in its `operators`",
                signed.signer.to_checksum()
            ),
        ));
    }
    let body: GrantRequest = signed.json()?;
    if !is_request_id(&body.request_id) {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidRequestId,
            "request_id: 1 to 64 of A-Z a-z 0-9 - _",
        ));
    }
    let requester = Address::parse(&body.requester).map_err(|_| {
        ApiError::unprocessable(
            ErrorCode::InvalidRequester,
            "requester: an address, 0x and 40 hex digits",
        )
    })?;
    check_chain_token(&relay.config, body.chain_id, &body.token)?;
    let amount = ledger::parse_amount(&body.amount)
        .filter(|a| *a > 0)
        .ok_or_else(|| {
            ApiError::unprocessable(
                ErrorCode::InvalidAmount,
                "amount: a positive token amount with at most 6 decimals, below 10^12",
            )
        })?;
    let owner = db_address(&requester);
    let operator = db_address(&signed.signer);
    let (chain, token, request_id) = (body.chain_id, body.token.clone(), body.request_id.clone());
    let now = clock::now_ms();
    let (created, balance) = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<(bool, i64)> {
            let id = format!("grant:{request_id}");
            let source = ledger::operator_account(chain, &token);
            let funding = ledger::ensure_funding(conn, &owner, chain, &token)?;
            if let Some(row) = conn.query_opt(
                "SELECT debit, credit, amount FROM transfers WHERE id = $1",
                params![id.clone()],
            )? {
                let same =
                    row.text(0)? == source && row.text(1)? == funding && row.int(2)? == amount;
                if !same {
                    return Err(ApiError::conflict(
                        ErrorCode::RequestIdUsed,
                        format!(
                            "request_id {request_id:?} was used for another grant; pick a new one"
                        ),
                    ));
                }
                return Ok((false, ledger::balance(conn, &funding)?));
            }
            ledger::ensure_account(
                conn,
                &source,
                kind::OPERATOR,
                "operator",
                &token,
                &format!(",{chain},"),
            )?;
            let memo = format!("grant by operator {operator}");
            match ledger::transfer(conn, &id, &source, &funding, amount, &token, &memo, now)? {
                Transfer::Applied => Ok((true, ledger::balance(conn, &funding)?)),
                Transfer::Overflow => Err(ApiError::unprocessable(
                    ErrorCode::AmountTooLarge,
                    "this grant would take a balance beyond what the ledger can count; grant less",
                )),
                other => Err(ApiError::internal(format!("grant {id}: {other:?}"))),
            }
        })
        .await?;
    if created {
        tracing::info!(
            operator = %signed.signer, requester = %requester, chain, token = %body.token,
            amount = %body.amount, request_id = %body.request_id, "funding granted"
        );
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "id": format!("grant:{}", body.request_id),
            "request_id": body.request_id,
            "requester": requester.to_checksum(),
            "chain_id": body.chain_id,
            "token": body.token,
            "amount": ledger::format_amount(amount),
            "funds": ledger::format_amount(balance),
        })),
    ))
}

/// `GET /v1/funds` (signed by the requester, empty body): the signer's funds per chain and
/// token, what campaign budgets can be drawn from.
pub async fn funds(State(relay): State<AppState>, signed: Requester) -> ApiResult<Json<Json_>> {
    let owner = db_address(&signed.signer);
    let rows = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<_> {
            Ok(conn.query(
                "SELECT chains, token, balance FROM accounts WHERE owner = $1 AND kind = $2 ORDER BY chains, token",
                params![owner, kind::FUNDING],
            )?)
        })
        .await?;
    let mut funds = Vec::with_capacity(rows.len());
    for row in &rows {
        let chain: u64 = row
            .text(0)?
            .trim_matches(',')
            .parse()
            .map_err(ApiError::internal)?;
        funds.push(json!({
            "chain_id": chain,
            "token": row.text(1)?,
            "amount": ledger::format_amount(row.int(2)?),
        }));
    }
    Ok(Json(json!({
        "requester": signed.signer.to_checksum(),
        "funds": funds,
    })))
}
