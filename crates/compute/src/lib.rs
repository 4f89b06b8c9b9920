//! The models a DataHub compute node runs, behind one [`Model`] trait.
//!
//! A model turns one object's plaintext bytes into a [`Prediction`]. The relay never runs
//! models: it hands jobs to compute nodes and compares their signed predictions
//! ([`Prediction::agrees_with`]). A model is named by the BLAKE3 of its file, so a node cannot
//! claim to run a model it does not have, and a requester can name exactly the weights they trust.

pub mod rules;

use std::fmt;

use datahub_protocol::{Capability, Prediction};

/// Why a model could not judge an object. Distinct from a judgement ("this is not speech"):
/// an error means the node has no answer, and the job should go to another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError(pub String);

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModelError {}

/// One model a compute node can run.
pub trait Model: Send + Sync {
    /// The job kind it answers, e.g. `"vad"` or `"filetype"`.
    fn kind(&self) -> &str;
    /// A human name shown next to its suggestions, e.g. `"silero-vad 5.1"`.
    fn name(&self) -> &str;
    /// BLAKE3 of the model file (or of the rule's definition, for a model without weights).
    fn hash(&self) -> [u8; 32];
    /// The runtime and its version, e.g. `"tract-onnx 0.21"`.
    fn runtime(&self) -> &str;
    /// Judges one object (its decrypted bytes).
    fn run(&self, object: &[u8]) -> Result<Prediction, ModelError>;

    /// What the node registers for this model.
    fn capability(&self) -> Capability {
        Capability {
            kind: self.kind().to_owned(),
            model: hex::encode(self.hash()),
            runtime: self.runtime().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Length;

    impl Model for Length {
        fn kind(&self) -> &str {
            "length"
        }
        fn name(&self) -> &str {
            "length"
        }
        fn hash(&self) -> [u8; 32] {
            *blake3::hash(b"length").as_bytes()
        }
        fn runtime(&self) -> &str {
            "rust"
        }
        fn run(&self, object: &[u8]) -> Result<Prediction, ModelError> {
            let label = if object.is_empty() { "empty" } else { "bytes" };
            Ok(Prediction {
                label: label.into(),
                scores: Default::default(),
            })
        }
    }

    #[test]
    fn capability_names_the_model_by_its_hash() {
        let capability = Length.capability();
        assert_eq!(capability.kind, "length");
        assert_eq!(
            capability.model,
            blake3::hash(b"length").to_hex().to_string()
        );
        assert_eq!(Length.run(b"").map(|p| p.label), Ok("empty".to_owned()));
    }
}
