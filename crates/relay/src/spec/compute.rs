//! The relay's checks of a campaign's compute job, beyond the protocol's (`ComputeSpec::check`):
//! the fee is an amount the ledger counts, and only upload campaigns with validators have one.

use datahub_protocol::CampaignSpec;
use serde_json::{Value as Json_, json};

use super::invalid;
use crate::error::ApiResult;
use crate::ledger::parse_amount;

/// Checks `spec.compute` (nothing when unset).
pub fn check_compute(spec: &CampaignSpec) -> ApiResult<()> {
    let Some(compute) = &spec.compute else {
        return Ok(());
    };
    if !spec.kind.is_upload() {
        return Err(invalid(
            "compute: only upload campaigns (image_upload, voice_recording) have compute jobs",
        ));
    }
    // Disagreeing nodes hand the upload to people; without them it could never be decided.
    if spec.validators.is_empty() {
        return Err(invalid(
            "compute: name at least one validator, who decides the uploads the compute nodes disagree on",
        ));
    }
    compute.check().map_err(invalid)?;
    fee_units(compute)?;
    Ok(())
}

/// The fee per node and job in ledger units.
pub fn fee_units(compute: &datahub_protocol::ComputeSpec) -> ApiResult<i64> {
    parse_amount(&compute.fee)
        .filter(|fee| *fee > 0)
        .ok_or_else(|| invalid("compute.fee: a positive token amount with at most 6 decimals"))
}

/// What the campaign's summary shows of its compute job: everything but the golden objects
/// (shown, they would tell nodes which jobs test them).
pub fn compute_summary(spec: &CampaignSpec) -> Json_ {
    match &spec.compute {
        None => Json_::Null,
        Some(c) => json!({
            "kind": c.kind,
            "model": c.model,
            "k": c.k,
            "n": c.n,
            "fee": c.fee,
            "tolerance": c.tolerance,
            "accept": c.accept,
        }),
    }
}
