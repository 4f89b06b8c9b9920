//! A campaign as its requester defines it: what `POST /v1/campaigns` takes and the CLI's
//! campaign files hold. The relay checks a definition against its own configuration (its
//! chains, tokens and item limit) in its `spec` module.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;

use crate::Kind;

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
    /// Rules for uploads, shown to contributors and checked by their client and by
    /// validators (see [`UploadRules::parse`](crate::UploadRules::parse)).
    #[serde(default)]
    pub upload: Option<Json_>,
    /// Validators of uploads: secp256k1 public keys (SEC 1 hex, at most 8) that uploads are
    /// sealed to as well and that sign a verdict on each (the relay's `validation`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validators: Vec<String>,
    /// The compute job of the campaign's objects. Uploads: nodes running a model judge every
    /// upload, and their agreed prediction accepts or rejects it. Labeling campaigns whose
    /// items carry an `object`: pre-annotation, the agreed prediction on each item is a
    /// suggestion to contributors and a voter in the aggregation. Left out when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<crate::ComputeSpec>,
    /// Tokens reserved, besides the budget, to pay the storage nodes that hold the campaign's
    /// uploads (the relay's docs, §7a); none when unset. Left out when unset so that older
    /// definitions hash the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_budget: Option<String>,
    // Quality settings, all optional (defaults and meaning: the relay's `spec::Settings`
    // and docs/relay.md §4a). Left out when unset so that older definitions hash the same.
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
    /// Tasks a wallet new to this campaign may lease before one of its answers is confirmed
    /// right (default 20; only with golden items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probation_tasks: Option<u32>,
    // Consent (docs/relay.md §4e). Left out when unset so that older definitions hash the same.
    /// The licence the collected data is released under: an SPDX licence id (`CC-BY-4.0`) or
    /// `other`, which needs `licence_url`. Every receipt signs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    /// Where the licence text is, for `licence: "other"` (an `https://` URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence_url: Option<String>,
    /// The terms a contributor accepts before their first task, shown as written. Every
    /// receipt signs their hash (`SubmissionReceipt::terms_hash` in datahub-core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms: Option<String>,
}

impl CampaignSpec {
    /// The licence as a receipt signs it: `""` when the campaign states none.
    pub fn receipt_licence(&self) -> &str {
        self.licence.as_deref().unwrap_or_default()
    }
}

/// Whether `id` looks like an SPDX licence id (`CC-BY-4.0`, `MIT`, `Apache-2.0`, `CC0-1.0`):
/// 1 to 64 of `A-Z a-z 0-9 . + -`, starting with a letter. The syntax only; the relay does not
/// carry the SPDX list, so a well-formed id that SPDX does not have passes.
pub fn is_spdx_like(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
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

/// How an item's answers are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Each answer weighed by its contributor's confusion matrix (the default).
    DawidSkene,
    /// Each answer counts once; the confidence is the top answer's share.
    Majority,
}

impl Aggregation {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DawidSkene => "dawid_skene",
            Self::Majority => "majority",
        }
    }
}
