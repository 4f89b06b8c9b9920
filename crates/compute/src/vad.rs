//! `vad`: whether a WAV recording holds speech, and how much, by Silero VAD (MIT).
//!
//! The recording is decoded to 16 kHz mono ([`crate::wav`]) and cut into frames of 512 samples
//! (32 ms), the last one padded with zeros. Each frame goes to the model with the 64 samples
//! before it (zeros before the first), as silero's own `sequence_vad.py` does; the model's LSTM
//! state is carried from one block of up to [`MAX_FRAMES`] frames to the next. The model gives
//! each frame a speech probability; a frame is speech when it reaches [`THRESHOLD`] (silero's
//! default 0.5).
//!
//! The prediction: `scores: {"speech_ratio": speech frames / frames}`; `label` is `speech` when
//! the speech frames add up to at least [`MIN_SPEECH_MS`] (silero's default shortest speech,
//! 250 ms), else `no_speech`. An acceptance rule such as `speech_ratio >= 0.3` is the
//! campaign's; the label only says whether there is any speech at all.

use std::path::Path;
use std::sync::Arc;

use datahub_protocol::Prediction;
use tract_onnx::prelude::*;

use crate::{Model, ModelError, pins, read_pinned, wav};

/// Samples in one frame at 16 kHz (32 ms).
pub const FRAME: usize = 512;
/// Samples of the previous frame given with each frame.
pub const CONTEXT: usize = 64;
/// Frames judged in one run of the model (about 16 s of audio), as silero's default.
pub const MAX_FRAMES: usize = 512;
/// A frame whose speech probability reaches this is speech.
pub const THRESHOLD: f32 = 0.5;
/// The least total speech for the label `speech`, in milliseconds.
pub const MIN_SPEECH_MS: usize = 250;
/// The score this model reports.
pub const SPEECH_RATIO: &str = "speech_ratio";

const STATE: usize = 128;
const FRAME_MS: usize = FRAME * 1000 / wav::TARGET_RATE as usize;

/// Silero VAD, loaded and optimised once.
pub struct Vad {
    plan: Arc<TypedRunnableModel>,
    hash: [u8; 32],
    runtime: String,
}

impl Vad {
    /// Loads the model from `dir`, checked against its pin.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let bytes = read_pinned(dir, &pins::SILERO_VAD)?;
        let failed = |e: TractError| ModelError(format!("tract could not load silero-vad: {e}"));
        let model = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .map_err(failed)?;
        // The number of frames in a block is the one free dimension.
        let frames = model.symbols.sym("frames");
        let plan = model
            .with_input_fact(
                0,
                f32::fact(&[TDim::from(frames), TDim::from(CONTEXT + FRAME)]).into(),
            )
            .and_then(|m| m.with_input_fact(1, f32::fact([1, 1, STATE]).into()))
            .and_then(|m| m.with_input_fact(2, f32::fact([1, 1, STATE]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(failed)?;
        Ok(Self {
            plan,
            hash: *blake3::hash(&bytes).as_bytes(),
            runtime: crate::runtime(),
        })
    }

    /// The speech probability of each 32 ms frame of 16 kHz mono `audio`.
    pub fn probabilities(&self, audio: &[f32]) -> Result<Vec<f32>, ModelError> {
        let failed = |e: TractError| ModelError(format!("silero-vad failed: {e}"));
        let frame_count = audio.len().div_ceil(FRAME);
        let mut probabilities = Vec::with_capacity(frame_count);
        let zeros = || Tensor::zero::<f32>(&[1, 1, STATE]);
        let (mut h, mut c) = (zeros().map_err(failed)?, zeros().map_err(failed)?);
        let mut context = [0.0f32; CONTEXT];
        let mut frames = audio.chunks(FRAME).peekable();
        while frames.peek().is_some() {
            let mut block = Vec::with_capacity(MAX_FRAMES * (CONTEXT + FRAME));
            let mut rows = 0;
            for frame in frames.by_ref().take(MAX_FRAMES) {
                let mut padded = [0.0f32; FRAME];
                for (to, from) in padded.iter_mut().zip(frame) {
                    *to = *from;
                }
                block.extend_from_slice(&context);
                block.extend_from_slice(&padded);
                if let Some(tail) = padded.get(FRAME - CONTEXT..) {
                    context.copy_from_slice(tail);
                }
                rows += 1;
            }
            let input = Tensor::from_shape(&[rows, CONTEXT + FRAME], &block).map_err(failed)?;
            let mut outputs = self
                .plan
                .run(tvec!(input.into(), h.into(), c.into()))
                .map_err(failed)?;
            if outputs.len() != 3 {
                return Err(ModelError("silero-vad gave an unexpected output".into()));
            }
            let (Some(new_c), Some(new_h), Some(probs)) =
                (outputs.pop(), outputs.pop(), outputs.pop())
            else {
                return Err(ModelError("silero-vad gave an unexpected output".into()));
            };
            let probs = probs.to_plain_array_view::<f32>().map_err(failed)?;
            if probs.len() != rows {
                return Err(ModelError(format!(
                    "silero-vad gave {} probabilities for {rows} frames",
                    probs.len()
                )));
            }
            probabilities.extend(probs.iter().copied());
            h = new_h.into_tensor();
            c = new_c.into_tensor();
        }
        Ok(probabilities)
    }
}

/// The prediction for per-frame speech probabilities.
fn judge(probabilities: &[f32]) -> Prediction {
    let speech = probabilities.iter().filter(|&&p| p >= THRESHOLD).count();
    let ratio = if probabilities.is_empty() {
        0.0
    } else {
        speech as f64 / probabilities.len() as f64
    };
    let label = if speech * FRAME_MS >= MIN_SPEECH_MS {
        "speech"
    } else {
        "no_speech"
    };
    Prediction {
        label: label.to_owned(),
        scores: [(SPEECH_RATIO.to_owned(), ratio)].into(),
    }
}

impl Model for Vad {
    fn kind(&self) -> &str {
        "vad"
    }

    fn name(&self) -> &str {
        "silero-vad 6.2.3"
    }

    fn hash(&self) -> [u8; 32] {
        self.hash
    }

    fn runtime(&self) -> &str {
        &self.runtime
    }

    fn run(&self, object: &[u8]) -> Result<Prediction, ModelError> {
        let audio = wav::decode_16k_mono(object)?;
        Ok(judge(&self.probabilities(&audio)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_needs_250_ms_of_speech_and_the_ratio_counts_frames() {
        let p = |label: &str, ratio: f64| Prediction {
            label: label.into(),
            scores: [(SPEECH_RATIO.to_owned(), ratio)].into(),
        };
        assert_eq!(judge(&[]), p("no_speech", 0.0));
        // 7 frames of 32 ms are 224 ms: not enough; 8 are 256 ms.
        assert_eq!(judge(&[0.9; 7]), p("no_speech", 1.0));
        let mut eight = vec![0.9; 8];
        eight.extend([0.1; 8]);
        assert_eq!(judge(&eight), p("speech", 0.5));
        assert_eq!(judge(&[0.5, 0.49]), p("no_speech", 0.5));
    }
}
