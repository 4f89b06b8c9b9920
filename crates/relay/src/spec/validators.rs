//! A campaign's validators: the keys uploads are sealed to and that sign a verdict on each (the
//! jobs and verdicts themselves are `validation`).

use datahub_core::PublicKey;
use datahub_core::eth::Address;

use super::{CampaignSpec, invalid};
use crate::error::ApiResult;

/// The most validators a campaign may name.
pub const MAX_VALIDATORS: usize = 8;

/// Checks a campaign's `validators` (the upload rules they enforce are checked with the rest
/// of the campaign, [`super::check_upload_rules`]).
pub(super) fn check(spec: &CampaignSpec) -> ApiResult<()> {
    if spec.validators.is_empty() {
        return Ok(());
    }
    if !spec.kind.is_upload() {
        return Err(invalid(
            "validators: only upload campaigns (image_upload, voice_recording) have validators",
        ));
    }
    if spec.validators.len() > MAX_VALIDATORS {
        return Err(invalid(format!(
            "validators: at most {MAX_VALIDATORS} keys"
        )));
    }
    let addresses = validator_keys(spec)?;
    let mut seen = std::collections::HashSet::new();
    // Compared as addresses: the same key compressed and uncompressed is one validator.
    if !addresses.iter().all(|a| seen.insert(*a)) {
        return Err(invalid("validators: each key once"));
    }
    Ok(())
}

/// Checks who a campaign names as validators: never its own requester (who would reject every
/// upload unpaid and still decrypt it: free data), and only validators this relay's operator
/// approved (`approved_validators`), so that nobody floods a stranger's key with jobs.
pub fn check_validators_of(
    spec: &CampaignSpec,
    config: &crate::config::Config,
    owner: &Address,
) -> ApiResult<()> {
    // An upload nobody checks would be paid for whatever bytes arrive: the campaign must name
    // who checks (a development relay may leave its demo unchecked, `unchecked_uploads`).
    if spec.kind.is_upload() && spec.validators.is_empty() && !config.unchecked_uploads {
        return Err(invalid(
            "validators: an upload campaign must name who checks its uploads: at least one validator approved by this relay's operator (GET /v1/info lists them)",
        ));
    }
    for (i, address) in validator_keys(spec)?.iter().enumerate() {
        if address == owner {
            return Err(invalid(format!(
                "validators[{i}]: a requester may not validate its own campaign; name validators approved by this relay's operator"
            )));
        }
        if !config.is_approved_validator(address) {
            return Err(invalid(format!(
                "validators[{i}]: {} is not a validator approved by this relay's operator (GET /v1/info lists them); name an approved one",
                address.to_checksum()
            )));
        }
    }
    Ok(())
}

/// The validators' addresses, in the spec's order.
pub fn validator_keys(spec: &CampaignSpec) -> ApiResult<Vec<Address>> {
    spec.validators
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let bytes = hex::decode(text.trim_start_matches("0x")).map_err(|_| {
                invalid(format!(
                    "validators[{i}]: a secp256k1 public key in SEC 1 hex"
                ))
            })?;
            let key = PublicKey::from_sec1_bytes(&bytes)
                .map_err(|_| invalid(format!("validators[{i}]: not a secp256k1 public key")))?;
            Ok(key.address())
        })
        .collect()
}
