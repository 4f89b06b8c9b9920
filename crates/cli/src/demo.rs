//! The demo campaigns `datahub dev` seeds: one of each task type, defined in `crates/cli/demo/`
//! (built into the binary) over the pictures in `www/demo/`, owned by a requester key kept in
//! the network's folder, funded by a grant of the network's operator (`DIR/operator.key`).
//! Seeding again finds them there: the relay answers the same definition with the existing
//! campaign, and the same grant with the grant already made.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use datahub_core::SecretKey;
use datahub_keyfile as keyfile;

use crate::campaign;
use crate::client::Relay;

/// The definitions, by file name. They leave out `encryption_key` and `chains`: seeding fills
/// in the requester key's public key and the one chain where the relay pays the token.
pub const DEFINITIONS: [(&str, &str); 6] = [
    (
        "image-categorization.json",
        include_str!("../demo/image-categorization.json"),
    ),
    (
        "content-verification.json",
        include_str!("../demo/content-verification.json"),
    ),
    (
        "text-labeling.json",
        include_str!("../demo/text-labeling.json"),
    ),
    (
        "content-moderation.json",
        include_str!("../demo/content-moderation.json"),
    ),
    (
        "image-upload.json",
        include_str!("../demo/image-upload.json"),
    ),
    (
        "voice-recording.json",
        include_str!("../demo/voice-recording.json"),
    ),
];

/// What seeding did.
pub struct Seeded {
    /// The requester key file.
    pub key_file: PathBuf,
    /// Campaigns that are there now (made by this run or an earlier one).
    pub campaigns: usize,
    /// Why the others are not, one line each.
    pub failures: Vec<String>,
}

/// The requester key at `DIR/requester.key`, made on first use.
pub fn requester_key(data: &Path) -> Result<(PathBuf, SecretKey)> {
    let path = data.join("requester.key");
    let key = keyfile::load_or_create(&path)
        .with_context(|| format!("cannot read or make the requester key {}", path.display()))?;
    Ok((path, key))
}

/// The network's operator key at `DIR/operator.key`, made on first use: `datahub dev` names
/// it to the relay as its one operator.
pub fn operator_key(data: &Path) -> Result<SecretKey> {
    let path = data.join("operator.key");
    keyfile::load_or_create(&path)
        .with_context(|| format!("cannot read or make the operator key {}", path.display()))
}

/// The demo campaign whose uploads compute nodes judge, when `datahub dev` starts them.
pub const COMPUTE_CAMPAIGN: &str = "demo-voice-recording";
/// What the demo requester is granted besides a compute campaign's budget, for the nodes' fees
/// (without a chain; the deposit covers them with one).
const COMPUTE_FEES: &str = "10";

/// The voice campaign's definition with a compute job for `model` (BLAKE3, hex; `kind` vad):
/// 2 of at most 3 nodes must agree, speech in at least 30% of the recording. `validator`
/// (`DIR/validator.key`) decides what the nodes disagree on.
fn with_compute(text: &str, model: &str, validator: &SecretKey) -> Result<String> {
    let mut definition: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).context("the demo voice definition is not a JSON object")?;
    definition.insert(
        "validators".into(),
        serde_json::json!([hex::encode(validator.public_key().to_compressed())]),
    );
    definition.insert(
        "compute".into(),
        serde_json::json!({
            "kind": "vad",
            "model": model,
            "k": 2,
            "n": 3,
            "fee": "0.01",
            "tolerance": 0.05,
            "accept": { "labels": ["speech"], "scores": [{ "name": "speech_ratio", "min": 0.3 }] },
        }),
    );
    Ok(serde_json::Value::Object(definition).to_string())
}

/// Grants `requester` the budget of `spec` on its chain (and the fees of its compute job), once
/// per definition (the grant's request id is the definition's hash, so seeding again grants
/// nothing new).
async fn fund(
    relay: &Relay,
    operator: &SecretKey,
    audience: &datahub_core::Address,
    requester: &SecretKey,
    spec: &datahub_protocol::CampaignSpec,
) -> Result<()> {
    let chain = spec
        .chains
        .first()
        .copied()
        .context("the definition names no chain")?;
    let definition = serde_json::to_vec(spec).context("cannot encode the definition")?;
    let request_id = format!("demo-{}", &blake3::hash(&definition).to_hex()[..32]);
    let amount = match spec.compute {
        Some(_) => {
            let budget: f64 = spec
                .budget
                .parse()
                .context("the demo budget is not a number")?;
            let fees: f64 = COMPUTE_FEES
                .parse()
                .context("the demo fees are not a number")?;
            format!("{}", budget + fees)
        }
        None => spec.budget.clone(),
    };
    let grant = serde_json::json!({
        "request_id": request_id,
        "requester": requester.public_key().address().to_checksum(),
        "chain_id": chain,
        "token": spec.token,
        "amount": amount,
    });
    relay
        .grant(operator, audience, &grant)
        .await
        .map_err(|e| campaign::refused(e, "the demo requester's grant"))?;
    Ok(())
}

/// Creates the demo campaigns on `relay` (unless they are there), owned by `DIR/requester.key`.
/// Fails only when nothing can be tried; a campaign the relay refuses is a line in `failures`.
/// With `grant`, the network's operator grants each budget first (a network without a chain);
/// otherwise the requester's deposit pays for them. With `compute_model`, the voice campaign
/// has a compute job for that model (`datahub dev` starts the compute nodes).
pub async fn seed(
    relay: &Relay,
    data: &Path,
    grant: bool,
    compute_model: Option<&str>,
) -> Result<Seeded> {
    let (key_file, key) = requester_key(data)?;
    let operator = operator_key(data)?;
    let info = relay.info().await?;
    let audience = relay.address().await?;
    let mut seeded = Seeded {
        key_file,
        campaigns: 0,
        failures: Vec::new(),
    };
    for (name, text) in DEFINITIONS {
        let outcome = async {
            let text = match compute_model {
                Some(model) if name == "voice-recording.json" => {
                    // A requester may not validate its own campaign.
                    let path = data.join("validator.key");
                    let validator = keyfile::load_or_create(&path).with_context(|| {
                        format!("cannot read or make the validator key {}", path.display())
                    })?;
                    with_compute(text, model, &validator)?
                }
                _ => text.to_owned(),
            };
            let spec = campaign::parse_definition(Path::new(name), &text, &key, &info)?;
            if grant {
                fund(relay, &operator, &audience, &key, &spec).await?;
            }
            campaign::submit(relay, &key, &audience, &spec).await
        }
        .await;
        match outcome {
            Ok(_) => seeded.campaigns += 1,
            Err(e) => seeded.failures.push(format!("{name}: {e:#}")),
        }
    }
    Ok(seeded)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use datahub_protocol::Kind;

    /// The voice campaign with `datahub dev`'s compute job is one the relay's rules take: a
    /// vad job for the model, 2 of 3 nodes, a validator that is not the requester.
    #[test]
    fn the_voice_campaign_with_a_compute_job_parses() {
        let key = SecretKey::derive(&[1; 32]);
        let validator = SecretKey::derive(&[2; 32]);
        let info = serde_json::json!({"chains": [{"id": 56, "tokens": {"USDT": {}}}]});
        let model = "ab".repeat(32);
        let (name, text) = DEFINITIONS[5];
        let text = with_compute(text, &model, &validator).unwrap();
        let spec = campaign::parse_definition(Path::new(name), &text, &key, &info).unwrap();
        assert_eq!(spec.id, COMPUTE_CAMPAIGN);
        let compute = spec.compute.unwrap();
        assert_eq!(
            (compute.kind.as_str(), compute.model.as_str()),
            ("vad", model.as_str())
        );
        assert_eq!((compute.k, compute.n), (2, 3));
        assert_eq!(
            spec.validators,
            vec![hex::encode(validator.public_key().to_compressed())]
        );
    }

    /// Every definition parses, one per task type, and only names pictures that are shipped.
    #[test]
    fn the_definitions_cover_every_task_type_with_shipped_pictures() {
        let key = SecretKey::derive(&[1; 32]);
        let info = serde_json::json!({"chains": [{"id": 56, "tokens": {"USDT": {}}}]});
        let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www");
        let mut kinds = Vec::new();
        for (name, text) in DEFINITIONS {
            let spec = campaign::parse_definition(Path::new(name), text, &key, &info).unwrap();
            assert_eq!(spec.id, format!("demo-{}", name.trim_end_matches(".json")));
            assert_eq!(spec.chains, vec![56]);
            kinds.push(spec.kind);
            let items = spec.items.iter().chain(spec.golden.iter().map(|g| &g.item));
            for url in items.filter_map(|i| i.get("image_url")?.as_str()) {
                let file = www.join(url.trim_start_matches('/'));
                assert!(file.is_file(), "{name}: {url} is not in www/");
            }
        }
        for kind in [
            Kind::ImageCategorization,
            Kind::ContentVerification,
            Kind::TextLabeling,
            Kind::ContentModeration,
            Kind::ImageUpload,
            Kind::VoiceRecording,
        ] {
            assert_eq!(kinds.iter().filter(|k| **k == kind).count(), 1, "{kind:?}");
        }
    }
}
