//! A contributor's consent for future releases: `POST /v1/me/consent/withdraw` records that
//! the signed-in wallet withdraws it for one campaign or for all, and the requester's results
//! (`GET /v1/campaigns/{id}/results`, the export's source) leave out what it contributed.
//! Releases already exported cannot be called back; the next one leaves the items out and says
//! how many.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use crate::auth::{Contributor, db_address};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::{AppState, clock, params};

/// What `consent_withdrawals.campaign` holds for "every campaign".
pub const EVERY_CAMPAIGN: &str = "*";

/// The SQL condition "the contributor `worker_column` withdrew consent for `campaign_column`".
pub fn withdrawn(worker_column: &str, campaign_column: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM consent_withdrawals w WHERE w.worker = {worker_column} AND w.campaign IN ({campaign_column}, '{EVERY_CAMPAIGN}'))"
    )
}

/// The body of `POST /v1/me/consent/withdraw`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {
    /// The campaign; absent or null: every campaign, the ones to come included.
    #[serde(default)]
    campaign: Option<String>,
}

/// `POST /v1/me/consent/withdraw`.
pub async fn withdraw(
    State(relay): State<AppState>,
    Contributor(info): Contributor,
    body: Result<Json<WithdrawRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<Json_>> {
    let Json(body) = body.map_err(|e| crate::error::from_rejection(e.status(), e.body_text()))?;
    let campaign = match body.campaign {
        Some(id) => {
            // Only a campaign that exists: a typo must not look like a withdrawal that worked.
            if relay.campaigns.get(&relay, &id).await?.is_none() {
                return Err(ApiError::not_found(
                    ErrorCode::NoCampaign,
                    format!(
                        "no campaign {id:?}: name a campaign you contributed to, or none for every campaign"
                    ),
                ));
            }
            id
        }
        None => EVERY_CAMPAIGN.to_owned(),
    };
    let worker = db_address(&info.session.wallet);
    let now = clock::now_ms();
    let key = campaign.clone();
    let (since, already) = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<(i64, bool)> {
            let added = conn.execute(
                "INSERT INTO consent_withdrawals (worker, campaign, withdrawn_ms) VALUES ($1, $2, $3) ON CONFLICT (worker, campaign) DO NOTHING",
                params![worker.clone(), key.clone(), now],
            )?;
            let row = conn
                .query_opt(
                    "SELECT withdrawn_ms FROM consent_withdrawals WHERE worker = $1 AND campaign = $2",
                    params![worker, key],
                )?
                .ok_or_else(|| ApiError::internal("a withdrawal just written is not there"))?;
            Ok((row.int(0)?, added == 0))
        })
        .await?;
    Ok(Json(json!({
        "campaign": (campaign != EVERY_CAMPAIGN).then_some(campaign),
        "withdrawn_ms": since,
        "already": already,
    })))
}
