//! Models without weights: rules written in Rust, so compute works before (and without) any
//! ONNX model. Each is named, like a model file, by the BLAKE3 of its definition — a string
//! that states the rule exactly — so changing a rule changes its hash, and nodes running
//! different versions of a rule never count as agreeing.
//!
//! - [`FileType`] (`kind` `"format"`): what a file really is, by its leading bytes (a "PNG" that
//!   is a ZIP says `zip`).
//! - [`SpeechLevel`] (`kind` `"vad"`): the share of 20 ms frames of a 16-bit PCM WAV recording
//!   louder than −40 dBFS, as `speech_ratio`; `speech` from 0.1, `silence` below. A level
//!   rule, not a voice detector: noise counts as speech. Silero VAD does better.

use datahub_protocol::Prediction;

use crate::{Model, ModelError};

/// The definition [`FileType`]'s hash is taken of.
pub const FILE_TYPE_RULE: &str = "datahub rule filetype v1: label by leading bytes: \
89 50 4E 47 0D 0A 1A 0A png; FF D8 FF jpeg; 'RIFF' ???? 'WEBP' webp; 'RIFF' ???? 'WAVE' wav; \
'GIF87a' or 'GIF89a' gif; 'PK' 03 04 zip; '%PDF-' pdf; empty empty; else unknown; no scores";

/// The definition [`SpeechLevel`]'s hash is taken of.
pub const SPEECH_LEVEL_RULE: &str = "datahub rule vad-level v1: 16-bit PCM WAV, channels \
averaged; 20 ms frames; a frame is loud when its RMS is above -40 dBFS; speech_ratio = loud \
frames / frames rounded to 3 decimals; label speech when speech_ratio >= 0.1, else silence; \
not a 16-bit PCM WAV: label not_wav, no scores";

fn hash_of(rule: &str) -> [u8; 32] {
    *blake3::hash(rule.as_bytes()).as_bytes()
}

fn labelled(label: &str) -> Prediction {
    Prediction {
        label: label.to_owned(),
        scores: Default::default(),
    }
}

/// What a file is, by its leading bytes ([`FILE_TYPE_RULE`]).
pub struct FileType;

impl FileType {
    fn label(bytes: &[u8]) -> &'static str {
        let riff = |tag: &[u8]| bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(tag);
        if bytes.is_empty() {
            "empty"
        } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]) {
            "png"
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            "jpeg"
        } else if riff(b"WEBP") {
            "webp"
        } else if riff(b"WAVE") {
            "wav"
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            "gif"
        } else if bytes.starts_with(b"PK\x03\x04") {
            "zip"
        } else if bytes.starts_with(b"%PDF-") {
            "pdf"
        } else {
            "unknown"
        }
    }
}

impl Model for FileType {
    fn kind(&self) -> &str {
        "format"
    }
    fn name(&self) -> &str {
        "datahub filetype rule v1"
    }
    fn hash(&self) -> [u8; 32] {
        hash_of(FILE_TYPE_RULE)
    }
    fn runtime(&self) -> &str {
        "rust"
    }
    fn run(&self, object: &[u8]) -> Result<Prediction, ModelError> {
        Ok(labelled(Self::label(object)))
    }
}

/// The share of loud frames in a recording ([`SPEECH_LEVEL_RULE`]).
pub struct SpeechLevel;

/// A 16-bit PCM WAV's samples (channels averaged) and rate; `None` for anything else.
fn pcm16(bytes: &[u8]) -> Option<(Vec<f64>, u32)> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    if !bytes.starts_with(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return None;
    }
    let (mut at, mut format, mut data) = (12usize, None, None);
    while let (Some(id), Some(len)) = (bytes.get(at..at + 4), u32_at(at + 4)) {
        let body = at.checked_add(8)?;
        let len = usize::try_from(len).ok()?;
        match id {
            b"fmt " => {
                format = Some((
                    u16_at(body)?,
                    u16_at(body + 2)?,
                    u32_at(body + 4)?,
                    u16_at(body + 14)?,
                ))
            }
            b"data" => data = Some(bytes.get(body..body.checked_add(len)?.min(bytes.len()))?),
            _ => {}
        }
        // Chunks are padded to an even length.
        at = body.checked_add(len)?.checked_add(len % 2)?;
    }
    let (tag, channels, rate, bits) = format?;
    if tag != 1 || bits != 16 || channels == 0 || rate == 0 {
        return None;
    }
    let channels = usize::from(channels);
    let samples = data?
        .chunks_exact(2 * channels)
        .map(|frame| {
            let sum: f64 = frame
                .chunks_exact(2)
                .map(|s| <[u8; 2]>::try_from(s).map_or(0.0, |b| f64::from(i16::from_le_bytes(b))))
                .sum();
            #[allow(clippy::cast_precision_loss)] // at most 65535 channels
            let n = channels as f64;
            sum / n / 32768.0
        })
        .collect();
    Some((samples, rate))
}

impl Model for SpeechLevel {
    fn kind(&self) -> &str {
        "vad"
    }
    fn name(&self) -> &str {
        "datahub speech level rule v1"
    }
    fn hash(&self) -> [u8; 32] {
        hash_of(SPEECH_LEVEL_RULE)
    }
    fn runtime(&self) -> &str {
        "rust"
    }
    fn run(&self, object: &[u8]) -> Result<Prediction, ModelError> {
        let Some((samples, rate)) = pcm16(object) else {
            return Ok(labelled("not_wav"));
        };
        let frame = usize::try_from(rate / 50).unwrap_or(1).max(1);
        let threshold = 10f64.powf(-40.0 / 20.0);
        let (mut frames, mut loud) = (0u32, 0u32);
        for chunk in samples.chunks(frame) {
            #[allow(clippy::cast_precision_loss)] // a frame is at most a few thousand samples
            let mean = chunk.iter().map(|s| s * s).sum::<f64>() / chunk.len() as f64;
            frames += 1;
            if mean.sqrt() > threshold {
                loud += 1;
            }
        }
        let ratio = if frames == 0 {
            0.0
        } else {
            (f64::from(loud) / f64::from(frames) * 1000.0).round() / 1000.0
        };
        let label = if ratio >= 0.1 { "speech" } else { "silence" };
        Ok(Prediction {
            label: label.to_owned(),
            scores: [("speech_ratio".to_owned(), ratio)].into_iter().collect(),
        })
    }
}

/// Every rule model, for a node to run next to the models it loads.
pub fn rule_models() -> Vec<Box<dyn Model>> {
    vec![Box::new(FileType), Box::new(SpeechLevel)]
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
mod tests {
    use super::*;

    /// A mono 16-bit WAV: `loud` seconds of a 440 Hz tone at half scale, then `quiet` of silence.
    fn wav(rate: u32, loud: f64, quiet: f64) -> Vec<u8> {
        let mut samples = Vec::new();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (n_loud, n_quiet) = (
            (loud * f64::from(rate)) as u32,
            (quiet * f64::from(rate)) as u32,
        );
        for i in 0..n_loud {
            let t = f64::from(i) / f64::from(rate);
            #[allow(clippy::cast_possible_truncation)]
            samples.push(((t * 440.0 * std::f64::consts::TAU).sin() * 16000.0) as i16);
        }
        samples.extend(std::iter::repeat_n(0i16, n_quiet as usize));
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn file_types_are_told_by_their_bytes_not_their_names() {
        let label = |bytes: &[u8]| FileType.run(bytes).unwrap().label;
        assert_eq!(label(b"\x89PNG\r\n\x1a\n rest"), "png");
        assert_eq!(label(b"PK\x03\x04 a zip named photo.png"), "zip");
        assert_eq!(label(&[0xff, 0xd8, 0xff, 0xe0]), "jpeg");
        assert_eq!(label(&wav(8000, 0.1, 0.0)), "wav");
        assert_eq!(label(b""), "empty");
        assert_eq!(label(b"hello"), "unknown");
        assert_eq!(
            FileType.capability().model,
            blake3::hash(FILE_TYPE_RULE.as_bytes()).to_hex().to_string()
        );
    }

    #[test]
    fn speech_ratio_is_the_share_of_loud_frames() {
        let p = SpeechLevel.run(&wav(8000, 0.6, 0.4)).unwrap();
        assert_eq!(p.label, "speech");
        assert!((p.scores["speech_ratio"] - 0.6).abs() < 0.03, "{p:?}");
        let quiet = SpeechLevel.run(&wav(8000, 0.0, 1.0)).unwrap();
        assert_eq!(
            (quiet.label.as_str(), quiet.scores["speech_ratio"]),
            ("silence", 0.0)
        );
        assert_eq!(SpeechLevel.run(b"\x89PNG").unwrap().label, "not_wav");
        // Every prefix of a recording is judged without a panic.
        let bytes = wav(8000, 0.05, 0.05);
        for len in 0..bytes.len() {
            SpeechLevel.run(&bytes[..len]).unwrap();
        }
        // Two nodes running the rule on one file agree exactly.
        let (a, b) = (
            SpeechLevel.run(&bytes).unwrap(),
            SpeechLevel.run(&bytes).unwrap(),
        );
        assert!(a.agrees_with(&b, 0.0));
    }
}
