//! `GET /v1/me/standing`: where a contributor stands in each campaign they worked on (trust,
//! answers accepted and rejected, rewards held until their record is known, probation,
//! restriction and why) and their appeals.
//!
//! Nothing here may name a golden item. Golden answers are therefore not counted apart (their
//! count would rise when a golden item settles, or at once when one is skipped), the counts come
//! from the contributor's own submissions (what `GET /v1/me/history` already shows), and trust is
//! shown in steps of [`TRUST_STEP`] rather than to the last digit.

use axum::Json;
use axum::extract::State;
use datahub_core::eth::Timestamp;
use serde_json::{Value as Json_, json};

use crate::auth::{Contributor, db_address};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::spec::{CampaignSpec, Settings};
use crate::{AppState, appeals, clock, ledger, params};

/// The step trust is shown in.
pub const TRUST_STEP: f64 = 0.05;

/// The most campaigns (and appeals) one answer lists, newest work first.
const LIMIT: i64 = 200;

/// Trust as shown: rounded down to a step.
fn shown_trust(trust_ppm: i64) -> f64 {
    // In whole millionths, so that a trust of exactly a step is not shown a step lower.
    let step_ppm = (TRUST_STEP * 1e6).round() as i64;
    let steps = trust_ppm.max(0) / step_ppm;
    (steps * step_ppm) as f64 / 1e6
}

/// `GET /v1/me/standing` (the contributor's session).
pub async fn standing(
    State(relay): State<AppState>,
    Contributor(info): Contributor,
) -> ApiResult<Json<Json_>> {
    let worker = db_address(&info.session.wallet);
    let wallet = info.session.wallet.to_checksum();
    let (campaigns, appeals) = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<(Vec<Json_>, Vec<Json_>)> {
            let now = clock::now_ms();
            let rows = conn.query(
                "SELECT k.campaign, k.tasks, k.golden_right, k.agreed, k.trust_ppm, k.restricted, k.restricted_ms, k.cooldown_until_ms, c.spec, \
                 (SELECT COUNT(*) FROM submissions s WHERE s.campaign = k.campaign AND s.worker = k.worker AND s.status = 'accepted'), \
                 (SELECT COUNT(*) FROM submissions s WHERE s.campaign = k.campaign AND s.worker = k.worker AND s.status = 'rejected'), \
                 (SELECT COUNT(*) FROM submissions s WHERE s.campaign = k.campaign AND s.worker = k.worker AND s.status = 'pending'), \
                 (SELECT COUNT(*) FROM submissions s WHERE s.campaign = k.campaign AND s.worker = k.worker AND s.held = 1), \
                 (SELECT CAST(COALESCE(SUM(s.reward), 0) AS BIGINT) FROM submissions s WHERE s.campaign = k.campaign AND s.worker = k.worker AND s.held = 1), c.token \
                 FROM contributors k JOIN campaigns c ON c.id = k.campaign WHERE k.worker = $1 ORDER BY k.campaign LIMIT $2",
                params![worker.clone(), LIMIT],
            )?;
            let mut campaigns = Vec::with_capacity(rows.len());
            for r in &rows {
                let spec: CampaignSpec =
                    serde_json::from_str(&r.text(8)?).map_err(ApiError::internal)?;
                let settings = Settings::of(&spec);
                let tasks = r.int(1)?;
                let confirmed = r.int(2)? + r.int(3)?;
                // As `quality::check_probation` decides it.
                let probation = settings.golden_share > 0.0 && confirmed == 0;
                let restricted = r.opt_text(5)?;
                let cooldown = r.int(7)?;
                campaigns.push(json!({
                    "campaign": r.text(0)?,
                    "title": spec.title,
                    "trust": shown_trust(r.int(4)?),
                    "min_trust": settings.min_trust,
                    "tasks": tasks,
                    "accepted": r.int(9)?,
                    "rejected": r.int(10)?,
                    "pending": r.int(11)?,
                    "held": r.int(12)?,
                    "held_amount": ledger::format_amount(r.int(13)?),
                    "token": r.text(14)?,
                    "probation": probation,
                    "probation_tasks_left": probation.then(|| (settings.probation_tasks - tasks).max(0)),
                    "restricted": restricted.is_some(),
                    "why": restricted.as_ref().map(|reason| format!(
                        "restricted ({reason}): too many of your answers disagreed with known or accepted answers, so your trust fell under the campaign's minimum of {}; appeal a rejected answer you are sure of",
                        settings.min_trust
                    )),
                    "restricted_at": r.opt_int(6)?.map(|ms| Timestamp::from_unix_millis(ms).to_string()),
                    "cooling_down_until": (cooldown > now).then(|| Timestamp::from_unix_millis(cooldown).to_string()),
                }));
            }
            let appeals = appeals::of_worker(conn, &worker, LIMIT)?;
            Ok((campaigns, appeals))
        })
        .await?;
    Ok(Json(json!({
        "wallet": wallet,
        "campaigns": campaigns,
        "appeals": appeals,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_is_shown_in_steps_rounded_down() {
        assert_eq!(shown_trust(1_000_000), 1.0);
        assert_eq!(shown_trust(949_999), 0.9);
        assert_eq!(shown_trust(950_000), 0.95);
        assert_eq!(shown_trust(612_345), 0.6);
        assert_eq!(shown_trust(0), 0.0);
    }
}
