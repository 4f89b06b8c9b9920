//! Campaigns: created, paused, resumed and closed by their requester (every request signed by
//! the requester's key); listed and shown to everyone, golden answers excepted.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use datahub_core::PublicKey;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;

use crate::auth::{Signed, db_address};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::ledger::{self, Transfer, kind, parse_amount};
use crate::{AppState, clock, params};

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
    // Quality settings, all optional (defaults and meaning: `crate::quality::Settings` and
    // docs/relay.md §4a). Left out when unset so that older definitions hash the same.
    /// How answers to one item are combined: `dawid_skene` (default) or `majority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<crate::quality::Aggregation>,
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

const ITEM_FIELDS: [&str; 6] = ["text", "image_url", "object", "claim", "prompt", "id"];

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_campaign", message)
}

impl CampaignSpec {
    /// Checks everything a contributor or the ledger will rely on. Returns (reward, budget).
    pub fn validate(&self, relay: &crate::Relay) -> ApiResult<(i64, i64)> {
        self.validate_for(&relay.config)
    }

    /// [`Self::validate`] against a relay's settings alone (its item limit, its chains and
    /// tokens): what the fuzz targets call, with no database.
    pub fn validate_for(&self, config: &crate::Config) -> ApiResult<(i64, i64)> {
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
            check_item(item).map_err(|e| invalid(format!("items[{i}]: {e}")))?;
        }
        for (i, golden) in self.golden.iter().enumerate() {
            check_item(&golden.item).map_err(|e| invalid(format!("golden[{i}].item: {e}")))?;
            if self.kind.is_upload() {
                return Err(invalid("golden: upload tasks have no golden answers"));
            }
            check_answer(self, &golden.item, &golden.answer)
                .map_err(|e| invalid(format!("golden[{i}].answer: {}", e.message)))?;
        }
        let reward = parse_amount(&self.reward)
            .filter(|r| *r > 0)
            .ok_or_else(|| invalid("reward: a positive token amount with at most 6 decimals"))?;
        let budget = parse_amount(&self.budget)
            .filter(|b| *b >= reward)
            .ok_or_else(|| invalid("budget: a token amount of at least one reward"))?;
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
        crate::quality::Settings::check(self).map_err(invalid)?;
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
        crate::validation::check_spec(self)?;
        Ok((reward, budget))
    }
}

fn check_item(item: &Json_) -> Result<(), String> {
    let object = item.as_object().ok_or("must be a JSON object")?;
    if object.is_empty() {
        return Err("needs text, image_url, object, claim or prompt".into());
    }
    for (key, value) in object {
        if !ITEM_FIELDS.contains(&key.as_str()) {
            return Err(format!("unknown field {key:?} (allowed: {ITEM_FIELDS:?})"));
        }
        let text = value.as_str().ok_or(format!("{key} must be a string"))?;
        if text.len() > 10_000 {
            return Err(format!("{key}: at most 10000 bytes"));
        }
        if key == "image_url" && !is_image_url(text) {
            return Err(
                "image_url must be an http(s) URL or a path on the relay (\"/demo/cat.svg\": one leading /, no . or .. segment, no backslash or control character)".into(),
            );
        }
        if key == "object" && (text.len() != 64 || hex::decode(text).is_err()) {
            return Err("object must be a sealed object id (64 hex digits)".into());
        }
    }
    Ok(())
}

/// An absolute http(s) URL, or a root-relative path that clients resolve against the relay's
/// own origin and that cannot climb out of it: `/` then no second `/`, no `.` or `..` segment
/// (percent-encoded ones included: URL parsers decode `%2e`), no backslash (which browsers
/// read as `/`), no control character.
fn is_image_url(text: &str) -> bool {
    if text.starts_with("https://") || text.starts_with("http://") {
        return true;
    }
    let Some(path) = text.strip_prefix('/') else {
        return false;
    };
    if path.starts_with('/') || text.contains('\\') || text.chars().any(char::is_control) {
        return false;
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.split('/').all(|segment| {
        let dots = segment.to_ascii_lowercase().replace("%2e", ".");
        dots != "." && dots != ".."
    })
}

/// The image types an `image_upload` campaign may ask for.
pub const UPLOAD_IMAGE_TYPES: [&str; 3] = ["image/png", "image/jpeg", "image/webp"];

/// Checks a campaign's `upload` rules. Every key is optional, unknown keys are refused:
/// - `image_upload`: `types` (a non-empty list of [`UPLOAD_IMAGE_TYPES`], each once),
///   `min_width` and `min_height` (pixels, 1 to 16384), `max_bytes` (1 to 1 GiB);
/// - `voice_recording`: `min_seconds` and `max_seconds` (0 to 3600, `max_seconds` above 0 and
///   at least `min_seconds`); recordings are 16-bit PCM WAV, mono;
/// - the other types take no rules (`null` is accepted as none).
pub fn check_upload_rules(kind: Kind, rules: &Json_) -> Result<(), String> {
    if rules.is_null() {
        return Ok(());
    }
    let allowed: &[&str] = match kind {
        Kind::ImageUpload => &["types", "min_width", "min_height", "max_bytes"],
        Kind::VoiceRecording => &["min_seconds", "max_seconds"],
        _ => {
            return Err(format!(
                "upload: only image_upload and voice_recording campaigns take upload rules, not {}",
                kind.as_str()
            ));
        }
    };
    let object = rules
        .as_object()
        .ok_or("upload: must be an object of rules")?;
    if let Some(key) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "upload.{key}: unknown rule for {} (allowed: {allowed:?})",
            kind.as_str()
        ));
    }
    let integer = |key: &str, max: u64| -> Result<(), String> {
        match object.get(key) {
            None => Ok(()),
            Some(v) if v.as_u64().is_some_and(|n| (1..=max).contains(&n)) => Ok(()),
            Some(_) => Err(format!("upload.{key}: an integer from 1 to {max}")),
        }
    };
    let seconds = |key: &str| -> Result<Option<f64>, String> {
        match object.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|s| (0.0..=3600.0).contains(s))
                .map(Some)
                .ok_or_else(|| format!("upload.{key}: a number of seconds from 0 to 3600")),
        }
    };
    match kind {
        Kind::ImageUpload => {
            if let Some(types) = object.get("types") {
                let list = types
                    .as_array()
                    .filter(|l| !l.is_empty())
                    .ok_or("upload.types: a non-empty list of image types")?;
                let mut seen = Vec::new();
                for t in list {
                    let t = t
                        .as_str()
                        .filter(|t| UPLOAD_IMAGE_TYPES.contains(t))
                        .ok_or(format!("upload.types: each one of {UPLOAD_IMAGE_TYPES:?}"))?;
                    if seen.contains(&t) {
                        return Err(format!("upload.types: {t} twice"));
                    }
                    seen.push(t);
                }
            }
            integer("min_width", 16_384)?;
            integer("min_height", 16_384)?;
            integer("max_bytes", 1 << 30)?;
        }
        _ => {
            let min = seconds("min_seconds")?;
            let max = seconds("max_seconds")?;
            if max == Some(0.0) {
                return Err("upload.max_seconds: more than 0".into());
            }
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                return Err("upload.min_seconds: at most upload.max_seconds".into());
            }
        }
    }
    Ok(())
}

/// Checks an answer against the campaign and returns its comparison key: answers with the same
/// key agree (labels and flags sorted; spans ignored for agreement).
pub fn check_answer(spec: &CampaignSpec, item: &Json_, answer: &Json_) -> ApiResult<String> {
    let bad = |m: &str| ApiError::unprocessable("invalid_answer", m.to_owned());
    let object = answer
        .as_object()
        .ok_or_else(|| bad("the answer must be a JSON object"))?;
    let allowed: &[&str] = match spec.kind {
        Kind::ImageCategorization => &["labels"],
        Kind::ContentVerification => &["verdict"],
        Kind::TextLabeling => &["label", "spans"],
        Kind::ContentModeration => &["flags"],
        Kind::ImageUpload | Kind::VoiceRecording => &["object"],
    };
    if let Some(key) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(&format!(
            "unexpected field {key:?}; a {} answer has {allowed:?}",
            spec.kind.as_str()
        )));
    }
    let labels_of = |field: &str| -> ApiResult<Vec<String>> {
        let list = object
            .get(field)
            .and_then(Json_::as_array)
            .ok_or_else(|| bad(&format!("{field} must be a list of labels")))?;
        let mut out = Vec::with_capacity(list.len());
        for label in list {
            let label = label
                .as_str()
                .filter(|l| spec.labels.iter().any(|x| x == l))
                .ok_or_else(|| bad(&format!("{field}: each must be one of {:?}", spec.labels)))?;
            if out.iter().any(|l| l == label) {
                return Err(bad(&format!("{field}: each label once")));
            }
            out.push(label.to_owned());
        }
        out.sort();
        Ok(out)
    };
    match spec.kind {
        Kind::ImageCategorization => {
            let labels = labels_of("labels")?;
            if labels.is_empty() || (!spec.multi_label && labels.len() != 1) {
                return Err(bad(if spec.multi_label {
                    "labels: at least one"
                } else {
                    "labels: exactly one"
                }));
            }
            Ok(labels.join("\u{1f}"))
        }
        Kind::ContentModeration => Ok(labels_of("flags")?.join("\u{1f}")),
        Kind::ContentVerification => {
            let verdict = object
                .get("verdict")
                .and_then(Json_::as_str)
                .filter(|v| ["true", "false", "unsure"].contains(v))
                .ok_or_else(|| bad("verdict must be \"true\", \"false\" or \"unsure\""))?;
            Ok(verdict.to_owned())
        }
        Kind::TextLabeling => {
            let label = object
                .get("label")
                .and_then(Json_::as_str)
                .filter(|l| spec.labels.iter().any(|x| x == l))
                .ok_or_else(|| bad(&format!("label must be one of {:?}", spec.labels)))?;
            let text_len = item
                .get("text")
                .and_then(Json_::as_str)
                .map_or(0, |t| t.chars().count());
            if let Some(spans) = object.get("spans") {
                let spans = spans
                    .as_array()
                    .ok_or_else(|| bad("spans must be a list"))?;
                if spans.len() > 256 {
                    return Err(bad("spans: at most 256"));
                }
                for span in spans {
                    let start = span.get("start").and_then(Json_::as_u64);
                    let end = span.get("end").and_then(Json_::as_u64);
                    let ok_label = span
                        .get("label")
                        .and_then(Json_::as_str)
                        .is_some_and(|l| spec.labels.iter().any(|x| x == l));
                    let fields_ok = span.as_object().is_some_and(|o| o.len() == 3);
                    match (start, end) {
                        (Some(s), Some(e))
                            if s < e && e <= text_len as u64 && ok_label && fields_ok => {}
                        _ => {
                            return Err(bad(
                                "each span is {start, end, label}: character offsets with start < end ≤ the text's length, and a campaign label",
                            ));
                        }
                    }
                }
            }
            Ok(label.to_owned())
        }
        Kind::ImageUpload | Kind::VoiceRecording => {
            let id = object
                .get("object")
                .and_then(Json_::as_str)
                .filter(|t| {
                    t.len() == 64
                        && t.bytes()
                            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                })
                .ok_or_else(|| {
                    bad("object must be the uploaded object's id (64 lower-case hex digits)")
                })?;
            Ok(id.to_owned())
        }
    }
}

/// The one chain a campaign pays on: its budget is held by that chain's escrow, so it comes
/// from the requester's funds there, and its rewards are claimed there.
fn paying_chain(spec: &CampaignSpec) -> ApiResult<u64> {
    match spec.chains.as_slice() {
        [chain] => Ok(*chain),
        chains => Err(invalid(format!(
            "chains: a campaign pays on exactly one chain (its budget is held by that chain's escrow), not {}: name one chain id, e.g. [{}]",
            chains.len(),
            chains.first().copied().unwrap_or(56)
        ))),
    }
}

/// `POST /v1/campaigns` (signed by the requester): creates a campaign and moves its budget from
/// the requester's funds on the campaign's chain into the campaign's account; refused with 402
/// `insufficient_funds` (and nothing created) if the funds are short. Sending the same
/// definition again answers the existing campaign; a different one with the same id is a
/// conflict.
pub async fn create(
    State(relay): State<AppState>,
    signed: Signed,
) -> ApiResult<(StatusCode, Json<Json_>)> {
    let spec: CampaignSpec = signed.json()?;
    let (reward, budget) = spec.validate(&relay)?;
    let chain = paying_chain(&spec)?;
    let owner = db_address(&signed.signer);
    let spec_hash = blake3::hash(&serde_json::to_vec(&spec).map_err(ApiError::internal)?)
        .to_hex()
        .to_string();
    let spec_text = serde_json::to_string(&CampaignSpec {
        items: Vec::new(),
        golden: Vec::new(),
        ..spec.clone()
    })
    .map_err(ApiError::internal)?;
    let id = spec.id.clone();
    let now = clock::now_ms();
    let created = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<bool> {
            if let Some(row) = conn.query_opt(
                "SELECT owner, spec_hash FROM campaigns WHERE id = $1",
                params![spec.id.clone()],
            )? {
                if row.text(0)? == owner && row.text(1)? == spec_hash {
                    return Ok(false);
                }
                return Err(ApiError::conflict(
                    "campaign_exists",
                    format!("a different campaign {:?} exists; pick another id", spec.id),
                ));
            }
            let chains = chains_text(&spec.chains);
            let slots = budget / reward;
            conn.execute(
                "INSERT INTO campaigns (id, owner, kind, token, reward, budget, overlap, min_task_ms, lease_ms, chains, spec, spec_hash, status, open_slots, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'active', $13, $14)",
                params![
                    spec.id.clone(), owner.clone(), spec.kind.as_str(), spec.token.clone(), reward, budget,
                    i64::from(spec.overlap), i64::from(spec.min_task_seconds) * 1000,
                    i64::from(spec.lease_seconds) * 1000, chains.clone(), spec_text, spec_hash, slots, now
                ],
            )?;
            let golden = spec.golden.iter().map(|g| (&g.item, Some(&g.answer)));
            let items = spec.items.iter().map(|i| (i, None)).chain(golden);
            for (idx, (item, answer)) in (0_i64..).zip(items) {
                let answer = answer.map(|a| check_answer(&spec, item, a)).transpose()?;
                conn.execute(
                    "INSERT INTO items (campaign, idx, payload, golden, wanted, taken, resolved) VALUES ($1, $2, $3, $4, $5, 0, 0)",
                    params![spec.id.clone(), idx, item.to_string(), answer, i64::from(spec.overlap)],
                )?;
            }
            let account = campaign_account(&spec.id);
            let funding = ledger::ensure_funding(conn, &owner, chain, &spec.token)?;
            ledger::ensure_account(conn, &account, kind::CAMPAIGN, &spec.id, &spec.token, &chains)?;
            let moved = ledger::transfer(
                conn,
                &format!("fund:{}", spec.id),
                &funding,
                &account,
                budget,
                &spec.token,
                "campaign budget",
                now,
            )?;
            match moved {
                Transfer::Applied => Ok(true),
                // The Err rolls back this closure's savepoint: the campaign row and its items
                // go with it.
                Transfer::Insufficient => {
                    let funds = ledger::balance(conn, &funding)?;
                    Err(insufficient_funds(budget, funds, &spec.token, chain))
                }
                other => Err(ApiError::internal(format!("campaign budget transfer: {other:?}"))),
            }
        })
        .await?;
    let summary = summary(&relay, id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(summary)))
}

/// 402 `insufficient_funds`: a budget the requester's funds on the chain do not cover.
pub fn insufficient_funds(budget: i64, funds: i64, token: &str, chain: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_funds",
        format!(
            "budget {} {token} on chain {chain} exceeds your funds ({}) by {}: deposit to the escrow or ask the operator for a grant",
            ledger::format_amount(budget),
            ledger::format_amount(funds),
            ledger::format_amount(budget.saturating_sub(funds)),
        ),
    )
}

/// What never changes about a campaign once created: what submissions are checked against.
#[derive(Debug)]
pub struct CampaignInfo {
    /// The definition (without items).
    pub spec: CampaignSpec,
    /// Reward per accepted answer, in ledger units.
    pub reward: i64,
    /// The token.
    pub token: String,
    /// Chains, as stored (see [`chains_text`]).
    pub chains: String,
    /// Least time per task, in milliseconds.
    pub min_task_ms: i64,
}

/// Campaigns by id, read once from the database.
#[derive(Default)]
pub struct CampaignCache(
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<CampaignInfo>>>,
);

impl CampaignCache {
    /// The campaign `id`, or `None` if there is none.
    pub async fn get(
        &self,
        relay: &crate::Relay,
        id: &str,
    ) -> ApiResult<Option<std::sync::Arc<CampaignInfo>>> {
        let lock = || {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(info) = lock().get(id) {
            return Ok(Some(info.clone()));
        }
        let key = id.to_owned();
        let row = relay
            .db
            .read(move |conn: &mut dyn Conn| -> ApiResult<_> {
                Ok(conn.query_opt(
                    "SELECT spec, reward, token, chains, min_task_ms FROM campaigns WHERE id = $1",
                    params![key],
                )?)
            })
            .await?;
        let Some(row) = row else { return Ok(None) };
        let info = std::sync::Arc::new(CampaignInfo {
            spec: serde_json::from_str(&row.text(0)?).map_err(ApiError::internal)?,
            reward: row.int(1)?,
            token: row.text(2)?,
            chains: row.text(3)?,
            min_task_ms: row.int(4)?,
        });
        let mut map = lock();
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(id.to_owned(), info.clone());
        Ok(Some(info))
    }
}

/// The ledger account of a campaign's budget.
pub fn campaign_account(id: &str) -> String {
    format!("campaign:{id}")
}

/// Chain ids as stored: sorted, comma-separated, with commas around (`,1,56,`) so that
/// `LIKE '%,56,%'` is exact.
pub fn chains_text(chains: &[u64]) -> String {
    let mut chains = chains.to_vec();
    chains.sort_unstable();
    chains.dedup();
    let list: Vec<String> = chains.iter().map(u64::to_string).collect();
    format!(",{},", list.join(","))
}

/// A campaign's public face: its definition without items or golden answers, and its progress.
async fn summary(relay: &AppState, id: String) -> ApiResult<Json_> {
    relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let row = conn
                .query_opt(
                    "SELECT c.spec, c.status, c.open_slots, c.owner, a.balance FROM campaigns c JOIN accounts a ON a.id = $2 WHERE c.id = $1",
                    params![id.clone(), campaign_account(&id)],
                )?
                .ok_or_else(|| ApiError::not_found("no_campaign", format!("no campaign {id:?}")))?;
            let spec: CampaignSpec =
                serde_json::from_str(&row.text(0)?).map_err(ApiError::internal)?;
            let items = conn.query(
                "SELECT COUNT(*) FROM items WHERE campaign = $1 AND golden IS NULL",
                params![id.clone()],
            )?;
            let item_count = items.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
            Ok(serde_json::json!({
                "id": spec.id,
                "kind": spec.kind,
                "title": spec.title,
                "instructions": spec.instructions,
                "labels": spec.labels,
                "multi_label": spec.multi_label,
                "reward": spec.reward,
                "token": spec.token,
                "budget": spec.budget,
                "overlap": spec.overlap,
                "min_task_seconds": spec.min_task_seconds,
                "lease_seconds": spec.lease_seconds,
                "encryption_key": spec.encryption_key,
                "chains": spec.chains,
                "upload": spec.upload,
                "validators": spec.validators,
                "quality": crate::quality::Settings::of(&spec).summary(),
                "owner": row.text(3)?,
                "status": row.text(1)?,
                "items": item_count,
                "open_tasks": row.int(2)?,
                "budget_left": ledger::format_amount(row.int(4)?),
            }))
        })
        .await
}

/// `GET /v1/campaigns`: active campaigns, newest first.
pub async fn list(State(relay): State<AppState>) -> ApiResult<Json<Json_>> {
    let ids = relay
        .db
        .read(|conn: &mut dyn Conn| -> ApiResult<Vec<String>> {
            conn.query(
                "SELECT id FROM campaigns WHERE status = 'active' ORDER BY created_ms DESC, id LIMIT 200",
                &[],
            )?
            .iter()
            .map(|r| r.text(0).map_err(ApiError::from))
            .collect()
        })
        .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(summary(&relay, id).await?);
    }
    Ok(Json(serde_json::json!({ "campaigns": out })))
}

/// `GET /v1/campaigns/{id}`.
pub async fn show(State(relay): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    Ok(Json(summary(&relay, id).await?))
}

/// The body of `POST /v1/campaigns/{id}/status`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: String,
}

/// `POST /v1/campaigns/{id}/status` (signed by the owner): `{"status": "paused" | "active" |
/// "closed"}`. Closing returns the budget not yet owed (for leased or pending tasks) to the
/// requester; a closed campaign stays closed.
pub async fn set_status(
    State(relay): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> ApiResult<Json<Json_>> {
    let change: StatusChange = signed.json()?;
    let target = change.status;
    if !["paused", "active", "closed"].contains(&target.as_str()) {
        return Err(ApiError::unprocessable(
            "invalid_status",
            "status must be \"paused\", \"active\" or \"closed\"",
        ));
    }
    let owner = db_address(&signed.signer);
    let now = clock::now_ms();
    let campaign = id.clone();
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
            let row = conn
                .query_opt(
                    "SELECT owner, status, token, reward, chains FROM campaigns WHERE id = $1",
                    params![campaign.clone()],
                )?
                .ok_or_else(|| {
                    ApiError::not_found("no_campaign", format!("no campaign {campaign:?}"))
                })?;
            if row.text(0)? != owner {
                return Err(ApiError::forbidden(
                    "not_owner",
                    "only the campaign's requester may change it",
                ));
            }
            let status = row.text(1)?;
            if status == "closed" && target != "closed" {
                return Err(ApiError::conflict("closed", "the campaign is closed"));
            }
            if status == target {
                return Ok(());
            }
            if target != "closed" {
                conn.execute(
                    "UPDATE campaigns SET status = $1 WHERE id = $2",
                    params![target, campaign],
                )?;
                return Ok(());
            }
            let (token, reward) = (row.text(2)?, row.int(3)?);
            let chain = single_chain(&row.text(4)?)?;
            let owed = owed_tasks(conn, &campaign)?
                .checked_mul(reward)
                .ok_or_else(|| ApiError::internal("owed budget overflows"))?;
            let account = campaign_account(&campaign);
            let refund = ledger::balance(conn, &account)? - owed;
            conn.execute(
                "UPDATE campaigns SET status = 'closed', open_slots = 0 WHERE id = $1",
                params![campaign.clone()],
            )?;
            if refund > 0 {
                let funding = ledger::ensure_funding(conn, &owner, chain, &token)?;
                let moved = ledger::transfer(
                    conn,
                    &format!("refund:{campaign}"),
                    &account,
                    &funding,
                    refund,
                    &token,
                    "campaign closed: unspent budget returned",
                    now,
                )?;
                if moved != Transfer::Applied {
                    return Err(ApiError::internal(format!(
                        "refund of {campaign}: {moved:?}"
                    )));
                }
            }
            Ok(())
        })
        .await?;
    Ok(Json(summary(&relay, id).await?))
}

/// The chain of a campaign as stored (`,56,`). Campaigns made before the one-chain rule may name
/// several; their budget came from no chain's funds, and the first chain gets what is returned.
fn single_chain(chains: &str) -> ApiResult<u64> {
    chains
        .split(',')
        .find(|c| !c.is_empty())
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| ApiError::internal(format!("campaign chains {chains:?}")))
}

/// Tasks the campaign may still have to pay for: active leases and pending answers.
fn owed_tasks(conn: &mut dyn Conn, campaign: &str) -> ApiResult<i64> {
    let leases = conn.query(
        "SELECT COUNT(*) FROM leases WHERE campaign = $1 AND state = 'active'",
        params![campaign],
    )?;
    let pending = conn.query(
        "SELECT COUNT(*) FROM submissions WHERE campaign = $1 AND status = 'pending'",
        params![campaign],
    )?;
    let count = |rows: Vec<crate::db::Row>| -> ApiResult<i64> {
        Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0))
    };
    Ok(count(leases)? + count(pending)?)
}
