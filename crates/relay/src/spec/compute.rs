//! The relay's checks of a campaign's compute job, beyond the protocol's (`ComputeSpec::check`):
//! the fee is an amount the ledger counts; an upload campaign's job needs validators, a
//! labeling campaign's (pre-annotation) items with objects.

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
    if spec.kind.is_upload() {
        // Disagreeing nodes hand the upload to people; without them it could never be decided.
        if spec.validators.is_empty() {
            return Err(invalid(
                "compute: name at least one validator, who decides the uploads the compute nodes disagree on",
            ));
        }
    } else if !has_objects(spec) {
        // Pre-annotation: the model runs on each item's object, so there must be one.
        return Err(invalid(
            "compute: a labeling campaign's compute job runs on its items' objects; give items an object (a sealed object id)",
        ));
    }
    compute.check().map_err(invalid)?;
    fee_units(compute)?;
    Ok(())
}

/// Whether an item or golden item of a labeling campaign names an object for a model to run on.
fn has_objects(spec: &CampaignSpec) -> bool {
    let items = spec.items.iter().chain(spec.golden.iter().map(|g| &g.item));
    items
        .into_iter()
        .any(|i| i.get("object").is_some_and(Json_::is_string))
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
