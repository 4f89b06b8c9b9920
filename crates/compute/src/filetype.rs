//! `filetype`: what an object really is, by magika's model (Apache-2.0), whatever its name says.
//!
//! The preprocessing is magika's own (`magika/magika.py` of the pinned package, feature
//! extraction v2), reproduced exactly so a node gives the label magika would:
//! - an empty object is `empty`; one shorter than `min_file_size_for_dl` (8) bytes is `txt`
//!   when it is UTF-8, else `unknown`, with no model run;
//! - otherwise the first `block_size` (4096) bytes, stripped of leading ASCII whitespace
//!   (Python's `bytes.lstrip()`: space, \t, \n, \r, \x0b, \x0c), give the first `beg_size`
//!   (1024) features, padded at the end with `padding_token` (256); the last 4096 bytes,
//!   stripped of trailing whitespace, give the last `end_size` (1024), padded at the start;
//! - if fewer than 8 meaningful bytes remain after stripping, the few-bytes rule above applies
//!   to the first 4096 bytes;
//! - the model's best label is mapped through `overwrite_map` and kept when its probability
//!   reaches that label's threshold (`thresholds`, else `medium_confidence_threshold`);
//!   otherwise it falls back to `txt` or `unknown` by whether the label is text (magika's
//!   default "high confidence" mode).
//!
//! The prediction is `{label, scores: {"probability": p}}`, `p` being the model's probability
//! of its best label (1 where no model ran).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use datahub_protocol::Prediction;
use serde::Deserialize;
use tract_onnx::prelude::*;

use crate::{Model, ModelError, PinnedFile, pins, read_pinned};

/// The score this model reports.
pub const PROBABILITY: &str = "probability";

/// magika's `config.min.json`: the fields this preprocessing uses.
#[derive(Debug, Deserialize)]
struct Config {
    beg_size: usize,
    mid_size: usize,
    end_size: usize,
    use_inputs_at_offsets: bool,
    medium_confidence_threshold: f32,
    min_file_size_for_dl: usize,
    padding_token: i32,
    block_size: usize,
    target_labels_space: Vec<String>,
    thresholds: BTreeMap<String, f32>,
    overwrite_map: BTreeMap<String, String>,
}

/// One entry of magika's `content_types_kb.min.json`.
#[derive(Debug, Deserialize)]
struct ContentType {
    is_text: bool,
}

/// magika's file-type model, loaded and optimised once.
pub struct FileType {
    plan: Arc<TypedRunnableModel>,
    config: Config,
    text_labels: BTreeSet<String>,
    hash: [u8; 32],
    runtime: String,
}

impl FileType {
    /// Loads the model and its configuration from `dir`, each checked against its pin.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let model = read_pinned(dir, &pins::MAGIKA_MODEL)?;
        let config: Config = parse_json(dir, &pins::MAGIKA_CONFIG)?;
        let kinds: BTreeMap<String, ContentType> = parse_json(dir, &pins::MAGIKA_CONTENT_TYPES)?;
        // The preprocessing below is feature extraction v2 only; a config asking for more
        // is another model and must not be judged with this code.
        if config.mid_size != 0
            || config.use_inputs_at_offsets
            || config.beg_size >= config.block_size
            || config.end_size >= config.block_size
            || config.min_file_size_for_dl == 0
            || config.min_file_size_for_dl > config.beg_size
        {
            return Err(ModelError(
                "magika's config asks for a preprocessing this node does not implement".into(),
            ));
        }
        let width = config.beg_size + config.end_size;
        let labels = config.target_labels_space.len();
        let plan = tract_onnx::onnx()
            .model_for_read(&mut model.as_slice())
            .and_then(|m| m.with_input_fact(0, i32::fact([1, width]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| ModelError(format!("tract could not load magika's model: {e}")))?;
        let text_labels = kinds
            .into_iter()
            .filter(|(_, kind)| kind.is_text)
            .map(|(label, _)| label)
            .collect();
        let this = Self {
            plan,
            config,
            text_labels,
            hash: *blake3::hash(&model).as_bytes(),
            runtime: crate::runtime(),
        };
        // A model whose output is not one probability per label would be misread silently.
        let probe = this.infer(&vec![this.config.padding_token; width])?;
        if probe.len() != labels {
            return Err(ModelError(format!(
                "magika's model gives {} outputs for {labels} labels",
                probe.len()
            )));
        }
        Ok(this)
    }

    /// The model's input for `object`, or `None` when too few meaningful bytes remain (then
    /// the few-bytes rule decides).
    fn features(&self, object: &[u8]) -> Option<Vec<i32>> {
        let c = &self.config;
        let block = object.len().min(c.block_size);
        let beg = strip_start(object.get(..block)?);
        let end = strip_end(object.get(object.len() - block..)?);
        let pad = c.padding_token;
        let mut features = Vec::with_capacity(c.beg_size + c.end_size);
        features.extend(beg.iter().take(c.beg_size).map(|&b| i32::from(b)));
        features.resize(c.beg_size, pad);
        if features.get(c.min_file_size_for_dl - 1) == Some(&pad) {
            return None;
        }
        let tail = end.get(end.len().saturating_sub(c.end_size)..)?;
        features.extend(std::iter::repeat_n(pad, c.end_size - tail.len()));
        features.extend(tail.iter().map(|&b| i32::from(b)));
        Some(features)
    }

    fn infer(&self, features: &[i32]) -> Result<Vec<f32>, ModelError> {
        let failed = |e: TractError| ModelError(format!("magika's model failed: {e}"));
        let input = Tensor::from_shape(&[1, features.len()], features).map_err(failed)?;
        let outputs = self.plan.run(tvec!(input.into())).map_err(failed)?;
        let output = outputs
            .first()
            .ok_or_else(|| ModelError("magika's model gave no output".into()))?;
        let view = output.to_plain_array_view::<f32>().map_err(failed)?;
        Ok(view.iter().copied().collect())
    }

    /// magika's `_get_output_label_from_dl_label_and_score` in its default high-confidence
    /// mode.
    fn output_label(&self, model_label: &str, probability: f32) -> String {
        let c = &self.config;
        let label = c
            .overwrite_map
            .get(model_label)
            .map_or(model_label, String::as_str);
        let threshold = c
            .thresholds
            .get(model_label)
            .copied()
            .unwrap_or(c.medium_confidence_threshold);
        if probability >= threshold {
            label.to_owned()
        } else if self.text_labels.contains(label) {
            "txt".to_owned()
        } else {
            "unknown".to_owned()
        }
    }
}

/// Python's `bytes.lstrip()` / `rstrip()` set: ASCII whitespace including \x0b, which Rust's
/// `is_ascii_whitespace` leaves out.
fn is_python_whitespace(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn strip_start(bytes: &[u8]) -> &[u8] {
    let first = bytes
        .iter()
        .position(|b| !is_python_whitespace(b))
        .unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

fn strip_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !is_python_whitespace(b))
        .map_or(0, |i| i + 1);
    bytes.get(..end).unwrap_or_default()
}

fn few_bytes(bytes: &[u8]) -> Prediction {
    let label = if std::str::from_utf8(bytes).is_ok() {
        "txt"
    } else {
        "unknown"
    };
    prediction(label, 1.0)
}

fn prediction(label: &str, probability: f32) -> Prediction {
    Prediction {
        label: label.to_owned(),
        scores: [(PROBABILITY.to_owned(), f64::from(probability))].into(),
    }
}

fn parse_json<T: for<'de> Deserialize<'de>>(
    dir: &Path,
    file: &PinnedFile,
) -> Result<T, ModelError> {
    let bytes = read_pinned(dir, file)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ModelError(format!("{} is not the JSON magika ships: {e}", file.name)))
}

impl Model for FileType {
    fn kind(&self) -> &str {
        "filetype"
    }

    fn name(&self) -> &str {
        "magika 1.0.3 standard_v3_3"
    }

    fn hash(&self) -> [u8; 32] {
        self.hash
    }

    fn runtime(&self) -> &str {
        &self.runtime
    }

    fn run(&self, object: &[u8]) -> Result<Prediction, ModelError> {
        let c = &self.config;
        if object.is_empty() {
            return Ok(prediction("empty", 1.0));
        }
        if object.len() < c.min_file_size_for_dl {
            return Ok(few_bytes(object));
        }
        let Some(features) = self.features(object) else {
            let head = object.get(..c.block_size).unwrap_or(object);
            return Ok(few_bytes(head));
        };
        let probabilities = self.infer(&features)?;
        let (best, probability) = probabilities
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, p)| p.is_finite())
            .fold(None, |best: Option<(usize, f32)>, (i, p)| match best {
                Some((_, q)) if q >= p => best,
                _ => Some((i, p)),
            })
            .ok_or_else(|| ModelError("magika's model gave no finite probability".into()))?;
        let model_label = c
            .target_labels_space
            .get(best)
            .ok_or_else(|| ModelError("magika's model chose a label it does not have".into()))?;
        Ok(prediction(
            &self.output_label(model_label, probability),
            probability,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_pythons() {
        assert_eq!(strip_start(b" \t\n\r\x0b\x0cab "), b"ab ");
        assert_eq!(strip_end(b" ab \x0b\x0c\r\n\t "), b" ab");
        assert_eq!(strip_start(b"   "), b"");
        assert_eq!(strip_end(b"   "), b"");
        // \x1c..\x1f are whitespace to str.strip() but not to bytes.strip().
        assert_eq!(strip_start(b"\x1cab"), b"\x1cab");
    }
}
