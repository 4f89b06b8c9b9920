//! A campaign as its requester defines it, and every rule about that definition: the task
//! types, the fields and their defaults, items, upload rules, validators, quality settings and
//! the answers a campaign takes. Pure: no database, no clock, no relay state — a definition and
//! the relay's configuration in, a verdict out. Campaigns, tasks, quality and validation all
//! read the definition through here, and the fuzz targets call it directly.

mod answer;
mod item;
mod settings;
mod upload;
mod validators;

use datahub_core::PublicKey;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;

pub use answer::check_answer;
pub use settings::{Aggregation, Settings};
pub use upload::{UPLOAD_IMAGE_TYPES, check_upload_rules};
pub use validators::{MAX_VALIDATORS, validator_keys};

use crate::error::{ApiError, ApiResult};
use crate::ledger::parse_amount;

/// The six task types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An image, one or several labels.
    ImageCategorization,
    /// A claim with its image or text: true, false or unsure.
    ContentVerification,
    /// A text: a label, and spans marked with labels.
    TextLabeling,
    /// An item: any number of flags.
    ContentModeration,
    /// The contributor uploads an image (sealed).
    ImageUpload,
    /// The contributor records their voice reading a prompt (sealed).
    VoiceRecording,
}

impl Kind {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImageCategorization => "image_categorization",
            Self::ContentVerification => "content_verification",
            Self::TextLabeling => "text_labeling",
            Self::ContentModeration => "content_moderation",
            Self::ImageUpload => "image_upload",
            Self::VoiceRecording => "voice_recording",
        }
    }

    /// Parses the API name.
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(Json_::String(text.to_owned())).ok()
    }

    /// Whether answers are sealed uploads (paid when the upload is complete).
    pub fn is_upload(self) -> bool {
        matches!(self, Self::ImageUpload | Self::VoiceRecording)
    }
}

/// A campaign as its requester defines it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    /// Chosen by the requester: 3–64 of `a-z 0-9 -`.
    pub id: String,
    /// The task type.
    pub kind: Kind,
    /// A title for contributors.
    pub title: String,
    /// What to do, for contributors.
    pub instructions: String,
    /// The allowed labels (flags for moderation; unused for uploads and verification).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Whether several labels may be given (image categorization).
    #[serde(default)]
    pub multi_label: bool,
    /// The items: JSON objects with `text`, `image_url`, `object` (a sealed object id),
    /// `claim` or `prompt`.
    pub items: Vec<Json_>,
    /// Items with known answers, mixed in unseen.
    #[serde(default)]
    pub golden: Vec<GoldenItem>,
    /// Paid per accepted answer, in tokens (`"0.05"`).
    pub reward: String,
    /// `USDT` or `OORT`.
    pub token: String,
    /// The most this campaign pays in total, in tokens.
    pub budget: String,
    /// Answers wanted per item.
    #[serde(default = "one")]
    pub overlap: u32,
    /// The least time a contributor must spend on a task, in seconds.
    #[serde(default)]
    pub min_task_seconds: u32,
    /// How long a leased task stays reserved, in seconds.
    #[serde(default = "default_lease")]
    pub lease_seconds: u32,
    /// The requester's secp256k1 public key (SEC 1 hex): uploads are sealed to it.
    pub encryption_key: String,
    /// Chain ids on which rewards from this campaign may be claimed.
    pub chains: Vec<u64>,
    /// Rules for uploads, shown to contributors and checked by their client (see
    /// [`check_upload_rules`]).
    #[serde(default)]
    pub upload: Option<Json_>,
    /// Validators of uploads: secp256k1 public keys (SEC 1 hex, at most 8) that uploads are
    /// sealed to as well and that sign a verdict on each (see `validation`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validators: Vec<String>,
    // Quality settings, all optional (defaults and meaning: [`Settings`] and
    // docs/relay.md §4a). Left out when unset so that older definitions hash the same.
    /// How answers to one item are combined: `dawid_skene` (default) or `majority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<Aggregation>,
    /// The confidence an item's aggregate must reach before it is accepted (default 0.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// The most answers an item may get while its aggregate is not confident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_overlap: Option<u32>,
    /// The share of each contributor's tasks that are golden items (default 0.1 with golden).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden_share: Option<f64>,
    /// Contributors whose trust falls below this are restricted (default 0.05).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_trust: Option<f64>,
    /// Skips allowed within `skip_window_seconds` before a cool-down (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_skips: Option<u32>,
    /// The skip-counting window and the cool-down's length, in seconds (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_window_seconds: Option<u32>,
    /// Tasks one wallet may lease from this campaign in 24 hours (default: no cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tasks_per_day: Option<u32>,
}

/// A golden item and its known answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenItem {
    /// The item, as in `items`.
    pub item: Json_,
    /// Its correct answer, in the campaign's answer format.
    pub answer: Json_,
}

fn one() -> u32 {
    1
}

fn default_lease() -> u32 {
    300
}

/// A definition refused: 422 `invalid_campaign`, the message naming the field.
pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_campaign", message)
}

impl CampaignSpec {
    /// The one chain a campaign pays on: its budget is held by that chain's escrow, so it comes
    /// from the requester's funds there, and its rewards are claimed there.
    pub fn paying_chain(&self) -> ApiResult<u64> {
        match self.chains.as_slice() {
            [chain] => Ok(*chain),
            chains => Err(invalid(format!(
                "chains: a campaign pays on exactly one chain (its budget is held by that chain's escrow), not {}: name one chain id, e.g. [{}]",
                chains.len(),
                chains.first().copied().unwrap_or(56)
            ))),
        }
    }

    /// Checks everything a contributor or the ledger will rely on, against a relay's settings
    /// (its item limit, its chains and tokens). Returns (reward, budget) in ledger units. What
    /// `POST /v1/campaigns` runs (through `CampaignSpec::validate`) and the fuzz targets call.
    pub fn validate_for(&self, config: &crate::config::Config) -> ApiResult<(i64, i64)> {
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
        let needs_labels = matches!(
            self.kind,
            Kind::ImageCategorization | Kind::TextLabeling | Kind::ContentModeration
        );
        if needs_labels && self.labels.is_empty() {
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
        Ok((reward, budget))
    }
}
