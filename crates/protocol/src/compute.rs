//! Compute: what a model said about one object, and when two such sayings agree.
//!
//! A compute node runs a model on an object and signs a [`Prediction`]. The relay never runs
//! models; it only compares predictions from different nodes with [`Prediction::agrees_with`],
//! so the comparison lives here, where both sides can use the same rule.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one model said about one object: a label (the decision) and named scores.
///
/// Scores are floats produced on different CPUs, so two honest nodes may differ in the last
/// bits; agreement compares them within a tolerance, labels exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prediction {
    /// The decision, e.g. `"speech"`, `"silence"`, `"png"`, `"zip"`.
    pub label: String,
    /// Named scores, e.g. `{"speech_ratio": 0.62}`; sorted by name on the wire.
    #[serde(default)]
    pub scores: BTreeMap<String, f64>,
}

impl Prediction {
    /// Whether two predictions agree: the same label and the same score names, each score within
    /// `tolerance` (absolute) of the other's. A non-finite score never agrees.
    pub fn agrees_with(&self, other: &Prediction, tolerance: f64) -> bool {
        self.label == other.label
            && self.scores.len() == other.scores.len()
            && self
                .scores
                .iter()
                .zip(&other.scores)
                .all(|((name_a, a), (name_b, b))| {
                    name_a == name_b && a.is_finite() && b.is_finite() && (a - b).abs() <= tolerance
                })
    }
}

/// What a compute node can run: one entry per model it registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capability {
    /// The job kind the model answers, e.g. `"vad"` or `"filetype"`.
    pub kind: String,
    /// BLAKE3 of the model file, lower-case hex (64 characters).
    pub model: String,
    /// The runtime and its version, e.g. `"tract-onnx 0.21"`.
    pub runtime: String,
}

/// The most nodes a campaign may ask to judge one object.
pub const MAX_COMPUTE_NODES: u32 = 16;
/// The most golden objects a campaign may declare for its compute jobs.
pub const MAX_COMPUTE_GOLDEN: usize = 64;

/// The compute job a campaign declares (`compute` in its definition): each uploaded object is
/// judged by `k` compute nodes running the model named by its hash, and the upload is accepted
/// when `k` of them agree on a prediction that passes `accept`. On disagreement more nodes are
/// asked, up to `n`; then the campaign's validators decide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputeSpec {
    /// The job kind, e.g. `"filetype"` or `"vad"`: 1 to 32 of `a-z 0-9 _ -`.
    pub kind: String,
    /// BLAKE3 of the model (file or rule definition), lower-case hex: only nodes that
    /// registered this exact model get the jobs.
    pub model: String,
    /// How many nodes must agree, 1 to `n`.
    pub k: u32,
    /// The most nodes asked, `k` to [`MAX_COMPUTE_NODES`].
    pub n: u32,
    /// Paid to each node whose result agrees with the decision, in tokens (`"0.001"`); held from
    /// the requester's funds on the campaign's chain when a node leases the job.
    pub fee: String,
    /// How far two nodes' scores may differ and still agree (absolute, 0 to 1).
    #[serde(default)]
    pub tolerance: f64,
    /// Which decided predictions accept the upload (uploads only; a labeling campaign's job
    /// suggests, it accepts nothing). Left out: any prediction accepts.
    #[serde(default)]
    pub accept: AcceptRule,
    /// Objects whose right prediction is known, mixed in unseen to test the nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub golden: Vec<GoldenJob>,
    /// The share of a node's jobs that are golden (0 to 1, default 0.1 with golden objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden_share: Option<f64>,
}

/// An object with a known prediction, for testing compute nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenJob {
    /// The sealed object's id (64 lower-case hex digits).
    pub object: String,
    /// What an honest node running the model says about it.
    pub expected: Prediction,
}

/// Which decided predictions accept an upload: the label among `labels` (any label when
/// empty) and every score within its bounds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRule {
    /// The labels that accept; any when empty.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Bounds on named scores, e.g. `{"name": "speech_ratio", "min": 0.3}`.
    #[serde(default)]
    pub scores: Vec<ScoreBound>,
}

/// A bound on one named score: `min <= score <= max` (either side may be left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreBound {
    /// The score's name, as the model writes it.
    pub name: String,
    /// The least score that accepts.
    #[serde(default)]
    pub min: Option<f64>,
    /// The greatest score that accepts.
    #[serde(default)]
    pub max: Option<f64>,
}

impl AcceptRule {
    /// Whether `prediction` accepts the upload. A score the prediction lacks, or that is not a
    /// finite number, fails its bound.
    pub fn accepts(&self, prediction: &Prediction) -> bool {
        let label_ok = self.labels.is_empty() || self.labels.contains(&prediction.label);
        label_ok
            && self.scores.iter().all(|bound| {
                prediction.scores.get(&bound.name).is_some_and(|s| {
                    s.is_finite()
                        && bound.min.is_none_or(|min| *s >= min)
                        && bound.max.is_none_or(|max| *s <= max)
                })
            })
    }
}

fn is_word(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn is_hex64(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Prediction {
    /// Checks a prediction someone else made (a node's result, a golden object's expected
    /// output): a label of 1 to 64 characters without control characters, at most 32 scores
    /// named by 1 to 64 of `a-z 0-9 _ -`, each a finite number. The message names the field.
    pub fn check(&self) -> Result<(), String> {
        if self.label.is_empty() || self.label.len() > 64 || self.label.contains(char::is_control) {
            return Err("label: 1 to 64 characters, none of them a control character".into());
        }
        if self.scores.len() > 32 {
            return Err("scores: at most 32".into());
        }
        for (name, score) in &self.scores {
            if !is_word(name, 64) {
                return Err(format!(
                    "scores: name {name:?} must be 1 to 64 of a-z, 0-9, _ and -"
                ));
            }
            if !score.is_finite() {
                return Err(format!("scores.{name}: a finite number"));
            }
        }
        Ok(())
    }
}

impl ComputeSpec {
    /// Checks everything but the fee (a token amount, which the relay's ledger parses). The
    /// message names the field, from `compute.`.
    pub fn check(&self) -> Result<(), String> {
        if !is_word(&self.kind, 32) {
            return Err("compute.kind: 1 to 32 of a-z, 0-9, _ and -".into());
        }
        if !is_hex64(&self.model) {
            return Err("compute.model: the BLAKE3 of the model, 64 lower-case hex digits".into());
        }
        if self.n == 0 || self.n > MAX_COMPUTE_NODES {
            return Err(format!("compute.n: 1 to {MAX_COMPUTE_NODES} nodes"));
        }
        if self.k == 0 || self.k > self.n {
            return Err("compute.k: at least 1 and at most n".into());
        }
        if !(self.tolerance.is_finite() && (0.0..=1.0).contains(&self.tolerance)) {
            return Err("compute.tolerance: a number from 0 to 1".into());
        }
        if self.accept.labels.len() > 64 || self.accept.scores.len() > 32 {
            return Err("compute.accept: at most 64 labels and 32 score bounds".into());
        }
        if self
            .accept
            .labels
            .iter()
            .any(|l| l.is_empty() || l.len() > 64)
        {
            return Err("compute.accept.labels: each 1 to 64 characters".into());
        }
        for (i, bound) in self.accept.scores.iter().enumerate() {
            if !is_word(&bound.name, 64) {
                return Err(format!(
                    "compute.accept.scores[{i}].name: 1 to 64 of a-z, 0-9, _ and -"
                ));
            }
            let finite = |v: Option<f64>| v.is_none_or(f64::is_finite);
            if (bound.min.is_none() && bound.max.is_none())
                || !finite(bound.min)
                || !finite(bound.max)
            {
                return Err(format!(
                    "compute.accept.scores[{i}]: give min, max or both, as finite numbers"
                ));
            }
            if let (Some(min), Some(max)) = (bound.min, bound.max)
                && min > max
            {
                return Err(format!("compute.accept.scores[{i}]: min above max"));
            }
        }
        if self.golden.len() > MAX_COMPUTE_GOLDEN {
            return Err(format!(
                "compute.golden: at most {MAX_COMPUTE_GOLDEN} objects"
            ));
        }
        for (i, golden) in self.golden.iter().enumerate() {
            if !is_hex64(&golden.object) {
                return Err(format!(
                    "compute.golden[{i}].object: a sealed object id, 64 lower-case hex digits"
                ));
            }
            golden
                .expected
                .check()
                .map_err(|e| format!("compute.golden[{i}].expected.{e}"))?;
        }
        if let Some(share) = self.golden_share
            && !(share.is_finite() && (0.0..=1.0).contains(&share))
        {
            return Err("compute.golden_share: a number from 0 to 1".into());
        }
        Ok(())
    }

    /// The share of jobs that are golden: as set, or 0.1 when golden objects are declared.
    pub fn golden_share(&self) -> f64 {
        if self.golden.is_empty() {
            return 0.0;
        }
        self.golden_share.unwrap_or(0.1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::type_complexity)]
mod tests {
    use super::*;

    fn prediction(label: &str, scores: &[(&str, f64)]) -> Prediction {
        Prediction {
            label: label.into(),
            scores: scores
                .iter()
                .map(|(name, score)| (name.to_string(), *score))
                .collect(),
        }
    }

    #[test]
    fn agreement_is_label_and_scores_within_tolerance() {
        let a = prediction("speech", &[("speech_ratio", 0.62)]);
        assert!(a.agrees_with(&prediction("speech", &[("speech_ratio", 0.6205)]), 0.01));
        assert!(!a.agrees_with(&prediction("speech", &[("speech_ratio", 0.70)]), 0.01));
        assert!(!a.agrees_with(&prediction("silence", &[("speech_ratio", 0.62)]), 0.01));
        assert!(!a.agrees_with(&prediction("speech", &[("ratio", 0.62)]), 0.01));
        assert!(!a.agrees_with(&prediction("speech", &[]), 0.01));
        assert!(!a.agrees_with(&prediction("speech", &[("speech_ratio", f64::NAN)]), 1.0));
    }

    fn spec() -> ComputeSpec {
        serde_json::from_value(serde_json::json!({
            "kind": "vad",
            "model": "ab".repeat(32),
            "k": 2,
            "n": 3,
            "fee": "0.001",
            "tolerance": 0.05,
            "accept": { "labels": ["speech"], "scores": [{ "name": "speech_ratio", "min": 0.3 }] },
        }))
        .unwrap()
    }

    #[test]
    fn accept_rule_takes_label_and_score_bounds() {
        let rule = spec().accept;
        assert!(rule.accepts(&prediction("speech", &[("speech_ratio", 0.3)])));
        assert!(!rule.accepts(&prediction("speech", &[("speech_ratio", 0.29)])));
        assert!(!rule.accepts(&prediction("silence", &[("speech_ratio", 0.9)])));
        assert!(!rule.accepts(&prediction("speech", &[])));
        assert!(!rule.accepts(&prediction("speech", &[("speech_ratio", f64::NAN)])));
    }

    #[test]
    fn compute_specs_are_checked_field_by_field() {
        assert_eq!(spec().check(), Ok(()));
        let cases: [(fn(&mut ComputeSpec), &str); 8] = [
            (|s| s.kind = "VAD".into(), "compute.kind"),
            (|s| s.model = "ab".into(), "compute.model"),
            (|s| s.k = 4, "compute.k"),
            (|s| s.n = 17, "compute.n"),
            (|s| s.tolerance = f64::INFINITY, "compute.tolerance"),
            (
                |s| s.accept.scores[0].min = None,
                "compute.accept.scores[0]",
            ),
            (|s| s.golden_share = Some(1.5), "compute.golden_share"),
            (
                |s| {
                    s.golden.push(GoldenJob {
                        object: "cd".repeat(32),
                        expected: prediction("", &[]),
                    })
                },
                "compute.golden[0].expected.label",
            ),
        ];
        for (breaks, field) in cases {
            let mut bad = spec();
            breaks(&mut bad);
            let message = bad.check().unwrap_err();
            assert!(message.starts_with(field), "{message} (wanted {field})");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = r#"{"label":"png","scores":{},"extra":1}"#;
        assert!(serde_json::from_str::<Prediction>(json).is_err());
    }
}
