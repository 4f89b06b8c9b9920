//! What an answer is, for aggregation: the shape of a campaign's answers, and answers' keys as
//! a class per dimension.

use crate::spec::{CampaignSpec, Kind};

/// What an answer is, for aggregation.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// One class out of these (a verdict, a label).
    Categorical(Vec<String>),
    /// Any subset of these flags (moderation flags, several image labels).
    Flags(Vec<String>),
    /// Sealed uploads: not aggregated.
    Upload,
}

impl Shape {
    /// The shape of `spec`'s answers.
    pub fn of(spec: &CampaignSpec) -> Self {
        match spec.kind {
            Kind::ContentVerification => {
                Self::Categorical(["true", "false", "unsure"].map(str::to_owned).to_vec())
            }
            Kind::ImageCategorization if spec.multi_label => Self::Flags(spec.labels.clone()),
            Kind::ImageCategorization | Kind::TextLabeling => {
                Self::Categorical(spec.labels.clone())
            }
            Kind::ContentModeration => Self::Flags(spec.labels.clone()),
            Kind::ImageUpload | Kind::VoiceRecording => Self::Upload,
        }
    }

    /// Classes per dimension: one dimension of `k` classes, or one yes/no per flag.
    pub(super) fn dimensions(&self) -> Vec<usize> {
        match self {
            Self::Categorical(classes) => vec![classes.len()],
            Self::Flags(flags) => vec![2; flags.len()],
            Self::Upload => Vec::new(),
        }
    }

    /// An answer's agreement key (as `check_answer` makes it) as a class per dimension.
    pub(super) fn encode(&self, key: &str) -> Option<Vec<usize>> {
        match self {
            Self::Categorical(classes) => classes.iter().position(|c| c == key).map(|i| vec![i]),
            Self::Flags(flags) => {
                let set: Vec<&str> = key.split('\u{1f}').filter(|s| !s.is_empty()).collect();
                Some(
                    flags
                        .iter()
                        .map(|f| usize::from(set.contains(&f.as_str())))
                        .collect(),
                )
            }
            Self::Upload => None,
        }
    }

    /// The agreement key of a class per dimension.
    pub(super) fn key(&self, classes: &[usize]) -> String {
        match self {
            Self::Categorical(names) => classes
                .first()
                .and_then(|c| names.get(*c))
                .cloned()
                .unwrap_or_default(),
            Self::Flags(flags) => {
                let mut set: Vec<&str> = flags
                    .iter()
                    .zip(classes)
                    .filter(|(_, c)| **c == 1)
                    .map(|(f, _)| f.as_str())
                    .collect();
                set.sort_unstable();
                set.join("\u{1f}")
            }
            Self::Upload => String::new(),
        }
    }

    /// How often a contributor answering at random is right on one dimension.
    pub(super) fn chance(&self) -> f64 {
        match self {
            Self::Categorical(classes) => 1.0 / classes.len().max(1) as f64,
            Self::Flags(_) | Self::Upload => 0.5,
        }
    }

    /// The share of dimensions on which two encoded answers agree.
    pub(super) fn agreement(a: &[usize], b: &[usize]) -> f64 {
        if a.is_empty() {
            return 0.0;
        }
        let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
        same as f64 / a.len() as f64
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(kind: &str, labels: &[&str], multi: bool, overlap: u32) -> CampaignSpec {
        serde_json::from_value(json!({
            "id": "t-1", "kind": kind, "title": "t", "instructions": "", "labels": labels,
            "multi_label": multi, "items": [{ "text": "x" }], "reward": "1", "token": "USDT",
            "budget": "1", "overlap": overlap, "encryption_key": "", "chains": [56],
        }))
        .unwrap()
    }

    #[test]
    fn answers_encode_per_dimension_and_back() {
        let verdicts = Shape::of(&spec("content_verification", &[], false, 3));
        assert_eq!(verdicts.dimensions(), vec![3]);
        assert_eq!(verdicts.encode("false"), Some(vec![1]));
        assert_eq!(verdicts.encode("maybe"), None);
        assert_eq!(verdicts.key(&[2]), "unsure");
        let flags = Shape::of(&spec(
            "content_moderation",
            &["spam", "adult", "gore"],
            false,
            3,
        ));
        assert_eq!(flags.dimensions(), vec![2, 2, 2]);
        let key = "adult\u{1f}spam";
        assert_eq!(flags.encode(key), Some(vec![1, 1, 0]));
        assert_eq!(flags.key(&[1, 1, 0]), key);
        assert_eq!(flags.encode(""), Some(vec![0, 0, 0]));
        assert_eq!(Shape::agreement(&[1, 1, 0], &[1, 0, 0]), 2.0 / 3.0);
        let multi = Shape::of(&spec("image_categorization", &["cat", "dog"], true, 3));
        assert!(matches!(multi, Shape::Flags(_)));
        let single = Shape::of(&spec("image_categorization", &["cat", "dog"], false, 3));
        assert_eq!(single.encode("dog"), Some(vec![1]));
    }
}
