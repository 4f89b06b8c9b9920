//! A campaign as its requester defines it, and every rule about that definition: the task
//! types, the fields and their defaults, items, upload rules, validators, quality settings and
//! the answers a campaign takes. Pure: no database, no clock, no relay state — a definition and
//! the relay's configuration in, a verdict out. Campaigns, tasks, quality and validation all
//! read the definition through here, and the fuzz targets call it directly.

mod answer;
mod compute;
mod item;
mod settings;
mod upload;
mod validators;

use datahub_core::PublicKey;
// The definition's types are the wire's, shared with the CLI and the browser client; the rules
// that need this relay's configuration are here.
pub use datahub_protocol::{Aggregation, CampaignSpec, GoldenItem, Kind};

pub use answer::check_answer;
pub use compute::{check_compute, compute_summary, fee_units};
pub use settings::Settings;
pub use upload::{UPLOAD_IMAGE_TYPES, check_upload_rules};
pub use validators::{MAX_VALIDATORS, check_validators_of, validator_keys};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ledger::parse_amount;

/// A definition refused: 422 `invalid_campaign`, the message naming the field.
pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable(ErrorCode::InvalidCampaign, message)
}

/// The most bytes of terms a contributor is asked to read and sign the hash of.
pub const MAX_TERMS_BYTES: usize = 20_000;

/// The consent fields: a licence an export can name, terms a contributor can read.
fn check_consent(spec: &CampaignSpec) -> ApiResult<()> {
    match (spec.licence.as_deref(), spec.licence_url.as_deref()) {
        (None, Some(_)) => {
            return Err(invalid(
                "licence_url: only with licence \"other\"; name the licence too",
            ));
        }
        (Some("other"), url) => {
            let ok = url.is_some_and(|u| {
                u.starts_with("https://")
                    && (9..=500).contains(&u.len())
                    && !u.contains(char::is_whitespace)
            });
            if !ok {
                return Err(invalid(
                    "licence_url: licence \"other\" needs the licence's https:// URL (at most 500 characters, no spaces)",
                ));
            }
        }
        (Some(id), url) => {
            if !datahub_protocol::is_spdx_like(id) {
                return Err(invalid(
                    "licence: an SPDX licence id such as \"CC-BY-4.0\" or \"CC0-1.0\", or \"other\" with licence_url",
                ));
            }
            if url.is_some() {
                return Err(invalid(
                    "licence_url: only with licence \"other\"; an SPDX id names its own text",
                ));
            }
        }
        (None, None) => {}
    }
    if let Some(terms) = &spec.terms
        && (terms.trim().is_empty() || terms.len() > MAX_TERMS_BYTES)
    {
        return Err(invalid(format!(
            "terms: 1 to {MAX_TERMS_BYTES} bytes of text, or leave terms out"
        )));
    }
    Ok(())
}

/// The rules of a definition that need this relay: its chains, tokens and limits.
pub trait SpecRules {
    /// The one chain a campaign pays on: its budget is held by that chain's escrow, so it comes
    /// from the requester's funds there, and its rewards are claimed there.
    fn paying_chain(&self) -> ApiResult<u64>;

    /// Checks everything a contributor or the ledger will rely on, against a relay's settings
    /// (its item limit, its chains and tokens). Returns (reward, budget) in ledger units. What
    /// `POST /v1/campaigns` runs and the fuzz targets call.
    fn validate_for(&self, config: &crate::config::Config) -> ApiResult<(i64, i64)>;

    /// The storage reservation in ledger units (0 when unset).
    fn storage_budget_units(&self) -> ApiResult<i64>;
}

impl SpecRules for CampaignSpec {
    fn paying_chain(&self) -> ApiResult<u64> {
        match self.chains.as_slice() {
            [chain] => Ok(*chain),
            chains => Err(invalid(format!(
                "chains: a campaign pays on exactly one chain (its budget is held by that chain's escrow), not {}: name one chain id, e.g. [{}]",
                chains.len(),
                chains.first().copied().unwrap_or(56)
            ))),
        }
    }

    fn storage_budget_units(&self) -> ApiResult<i64> {
        match &self.storage_budget {
            None => Ok(0),
            Some(text) => parse_amount(text).ok_or_else(|| {
                invalid("storage_budget: a token amount with at most 6 decimals, below 10^12")
            }),
        }
    }

    fn validate_for(&self, config: &crate::config::Config) -> ApiResult<(i64, i64)> {
        let id_ok = (3..=64).contains(&self.id.len())
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(invalid("id: 3 to 64 characters of a-z, 0-9 and -"));
        }
        if self.title.trim().is_empty() || self.title.len() > 200 {
            return Err(invalid("title: 1 to 200 characters"));
        }
        if self.instructions.len() > 20_000 {
            return Err(invalid("instructions: at most 20000 characters"));
        }
        check_consent(self)?;
        if self.kind.needs_labels() && self.labels.is_empty() {
            return Err(invalid("labels: this task type needs at least one label"));
        }
        if self.labels.len() > 64
            || self
                .labels
                .iter()
                .any(|l| l.trim().is_empty() || l.len() > 64)
        {
            return Err(invalid("labels: at most 64, each 1 to 64 characters"));
        }
        let mut seen = std::collections::HashSet::new();
        if !self.labels.iter().all(|l| seen.insert(l)) {
            return Err(invalid("labels: each label once"));
        }
        let max_items = config.limits.max_items;
        if self.items.is_empty() || self.items.len() + self.golden.len() > max_items {
            return Err(invalid(format!(
                "items: 1 to {max_items} (golden included)"
            )));
        }
        if let Some(rules) = &self.upload {
            check_upload_rules(self.kind, rules).map_err(invalid)?;
        }
        for (i, item) in self.items.iter().enumerate() {
            item::check_item(item).map_err(|e| invalid(format!("items[{i}]: {e}")))?;
        }
        for (i, golden) in self.golden.iter().enumerate() {
            item::check_item(&golden.item)
                .map_err(|e| invalid(format!("golden[{i}].item: {e}")))?;
            if self.kind.is_upload() {
                return Err(invalid("golden: upload tasks have no golden answers"));
            }
            check_answer(self, &golden.item, &golden.answer)
                .map_err(|e| invalid(format!("golden[{i}].answer: {}", e.message)))?;
        }
        let reward = parse_amount(&self.reward)
            .filter(|r| *r > 0)
            .ok_or_else(|| invalid("reward: a positive token amount with at most 6 decimals"))?;
        // Two rules, two messages: a budget with 7 decimals is not "less than one reward".
        let budget = parse_amount(&self.budget).ok_or_else(|| {
            invalid("budget: a token amount with at most 6 decimals (\"2\", \"0.5\")")
        })?;
        if budget < reward {
            return Err(invalid(format!(
                "budget: at least one reward ({})",
                self.reward
            )));
        }
        if !(1..=100).contains(&self.overlap) {
            return Err(invalid("overlap: 1 to 100"));
        }
        if self.min_task_seconds > 3600 || !(10..=86_400).contains(&self.lease_seconds) {
            return Err(invalid(
                "min_task_seconds: at most 3600; lease_seconds: 10 to 86400",
            ));
        }
        if self.min_task_seconds >= self.lease_seconds {
            return Err(invalid("min_task_seconds must be less than lease_seconds"));
        }
        let key = hex::decode(self.encryption_key.trim_start_matches("0x"))
            .map_err(|_| invalid("encryption_key: SEC 1 public key in hex"))?;
        PublicKey::from_sec1_bytes(&key)
            .map_err(|_| invalid("encryption_key: not a secp256k1 public key"))?;
        Settings::check(self).map_err(invalid)?;
        if self.chains.is_empty() {
            return Err(invalid("chains: at least one chain id"));
        }
        for chain in &self.chains {
            let known = config.chain(*chain).ok_or_else(|| {
                invalid(format!("chains: this relay does not pay on chain {chain}"))
            })?;
            if !known.tokens.contains_key(&self.token) {
                return Err(invalid(format!(
                    "token: {} is not payable on chain {chain}",
                    self.token
                )));
            }
        }
        validators::check(self)?;
        check_compute(self)?;
        self.storage_budget_units()?;
        Ok((reward, budget))
    }
}
