//! Operations: `/v1/info`, `/healthz`, `/metrics`, `/openapi.json`, and the JSON 404.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value as Json_, json};

use crate::db::Conn;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::{AppState, tasks};

/// The OpenAPI document of the whole API (kept in `docs/openapi.json`).
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// `GET /v1/info`: the relay's address, its sign-in domains, and the chains and tokens it pays
/// in, with the EIP-712 domain receipts are signed under on each.
pub async fn info(State(relay): State<AppState>) -> ApiResult<Json<Json_>> {
    let mut chains = Vec::new();
    for chain in &relay.config.chains {
        let domain = tasks::receipt_domain(&relay, chain.id)?;
        let tokens: serde_json::Map<String, Json_> = chain
            .tokens
            .iter()
            .map(|(symbol, t)| {
                (
                    symbol.clone(),
                    json!({ "address": t.address, "decimals": t.decimals }),
                )
            })
            .collect();
        chains.push(json!({
            "id": chain.id,
            "name": chain.name,
            "claim_contract": domain.verifying_contract.to_checksum(),
            // The escrow that takes deposits is the contract that redeems vouchers.
            "escrow_contract": domain.verifying_contract.to_checksum(),
            "rpc_url": chain.public_rpc_url,
            "confirmations": chain.confirmations,
            "watched": chain.rpc_url.is_some(),
            "tokens": tokens,
            "domain": {
                "name": domain.name,
                "version": domain.version,
                "chainId": chain.id,
                "verifyingContract": domain.verifying_contract.to_checksum(),
            },
        }));
    }
    Ok(Json(json!({
        "relay_address": relay.address.to_checksum(),
        "treasury_address": relay.treasury.public_key().address().to_checksum(),
        "version": env!("CARGO_PKG_VERSION"),
        "database": relay.db.backend(),
        "siwe_domains": relay.siwe_domains,
        "approved_validators": relay.config.approved_validators,
        "open_validators": relay.config.open_validators,
        "chains": chains,
    })))
}

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
pub async fn healthz(State(relay): State<AppState>) -> impl IntoResponse {
    let db = relay
        .db
        .read(|conn: &mut dyn Conn| -> ApiResult<()> {
            conn.query("SELECT 1", &[])?;
            Ok(())
        })
        .await;
    match db {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "database unavailable" })),
        ),
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(relay): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        relay
            .metrics
            .render(relay.db.backend(), relay.db.statements()),
    )
}

/// `GET /openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Anything else.
pub async fn not_found() -> ApiError {
    ApiError::not_found(ErrorCode::NotFound, "no such endpoint; see /openapi.json")
}
