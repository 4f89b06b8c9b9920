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

#[cfg(test)]
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

    #[test]
    fn unknown_fields_are_refused() {
        let json = r#"{"label":"png","scores":{},"extra":1}"#;
        assert!(serde_json::from_str::<Prediction>(json).is_err());
    }
}
