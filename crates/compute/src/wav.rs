//! Reading a WAV recording into 16 kHz mono samples, the only input Silero VAD's 16 kHz model
//! takes.
//!
//! The bytes come from a contributor, so every length is checked against what is there: a
//! truncated or lying header is an error, never a panic or a huge allocation. One leniency:
//! a `data` chunk whose declared size runs past the end of the file is read to the end, because
//! programs that stream WAV to a pipe (`espeak-ng --stdout`, `sox ... -t wav -`) cannot know the
//! length when they write the header and put a placeholder there.

use crate::ModelError;

/// The sample rate the VAD model takes.
pub const TARGET_RATE: u32 = 16_000;

/// The longest recording judged, in seconds. A job is one object; a longer one would hold a
/// node for minutes (and its samples in memory), so it is refused rather than cut.
pub const MAX_SECONDS: u32 = 600;

/// Sample rates accepted: telephone 8 kHz up to studio 192 kHz.
const MIN_RATE: u32 = 8_000;
const MAX_RATE: u32 = 192_000;
/// Channels are mixed down to mono; WAV allows up to 65535, recordings use far fewer.
const MAX_CHANNELS: u16 = 32;

const FORMAT_PCM: u16 = 1;
const FORMAT_FLOAT: u16 = 3;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// How the samples are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// Integer PCM: 8-bit unsigned, 16/24/32-bit signed little-endian.
    Int(u16),
    /// IEEE float, 32-bit little-endian.
    Float32,
}

#[derive(Debug, Clone, Copy)]
struct Format {
    encoding: Encoding,
    channels: u16,
    rate: u32,
}

/// Whether `bytes` start like a WAV file (a RIFF container of type WAVE).
pub fn is_wav(bytes: &[u8]) -> bool {
    bytes.get(0..4) == Some(b"RIFF") && bytes.get(8..12) == Some(b"WAVE")
}

/// Decodes a WAV file to mono samples in [-1, 1] at [`TARGET_RATE`].
pub fn decode_16k_mono(bytes: &[u8]) -> Result<Vec<f32>, ModelError> {
    let (format, data) = parse(bytes)?;
    let kernel = Kernel::new(format.rate, TARGET_RATE)?;
    let mono = mix_down(format, data)?;
    Ok(resample(&mono, &kernel))
}

fn error(message: impl Into<String>) -> ModelError {
    ModelError(message.into())
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*b.first()?, *b.get(1)?]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([
        *b.first()?,
        *b.get(1)?,
        *b.get(2)?,
        *b.get(3)?,
    ]))
}

/// Finds the `fmt ` and `data` chunks; returns the format and the data's bytes.
fn parse(bytes: &[u8]) -> Result<(Format, &[u8]), ModelError> {
    if !is_wav(bytes) {
        return Err(error(
            "not a WAV file (no RIFF/WAVE header): send the recording as WAV",
        ));
    }
    let mut at = 12usize;
    let mut format = None;
    while let (Some(id), Some(size)) = (bytes.get(at..at + 4), u32_at(bytes, at + 4)) {
        let body = at + 8;
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        match id {
            b"fmt " => {
                let chunk = bytes
                    .get(body..body.saturating_add(size))
                    .ok_or_else(|| error("the WAV fmt chunk is cut short"))?;
                format = Some(parse_format(chunk)?);
            }
            b"data" => {
                let format =
                    format.ok_or_else(|| error("the WAV data chunk comes before its fmt chunk"))?;
                let end = body.saturating_add(size).min(bytes.len());
                let data = bytes.get(body..end).unwrap_or_default();
                return Ok((format, data));
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at = body
            .saturating_add(size)
            .saturating_add(size & 1)
            .min(bytes.len());
    }
    Err(error("the WAV file has no data chunk"))
}

fn parse_format(chunk: &[u8]) -> Result<Format, ModelError> {
    let short = || error("the WAV fmt chunk is shorter than 16 bytes");
    let mut tag = u16_at(chunk, 0).ok_or_else(short)?;
    let channels = u16_at(chunk, 2).ok_or_else(short)?;
    let rate = u32_at(chunk, 4).ok_or_else(short)?;
    let bits = u16_at(chunk, 14).ok_or_else(short)?;
    if tag == FORMAT_EXTENSIBLE {
        // The real format is the first two bytes of the sub-format GUID at offset 24.
        tag = u16_at(chunk, 24)
            .ok_or_else(|| error("the WAV fmt chunk is extensible but has no sub-format"))?;
    }
    let encoding = match (tag, bits) {
        (FORMAT_PCM, 8 | 16 | 24 | 32) => Encoding::Int(bits),
        (FORMAT_FLOAT, 32) => Encoding::Float32,
        _ => {
            return Err(error(format!(
                "unsupported WAV encoding (format {tag}, {bits} bits): use 8/16/24/32-bit PCM \
                 or 32-bit float"
            )));
        }
    };
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(error(format!(
            "a WAV file with {channels} channels: 1 to {MAX_CHANNELS} are accepted"
        )));
    }
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(error(format!(
            "a WAV sample rate of {rate} Hz: {MIN_RATE} to {MAX_RATE} Hz are accepted"
        )));
    }
    Ok(Format {
        encoding,
        channels,
        rate,
    })
}

/// Decodes the samples and averages the channels of each frame. A trailing partial frame is
/// dropped.
fn mix_down(format: Format, data: &[u8]) -> Result<Vec<f32>, ModelError> {
    let width = match format.encoding {
        Encoding::Int(bits) => usize::from(bits / 8),
        Encoding::Float32 => 4,
    };
    let channels = usize::from(format.channels);
    let frame = width * channels;
    let frames = data.len() / frame;
    let max_frames =
        usize::try_from(u64::from(format.rate) * u64::from(MAX_SECONDS)).unwrap_or(usize::MAX);
    if frames > max_frames {
        return Err(error(format!(
            "the recording is longer than {MAX_SECONDS} s: split it into shorter ones"
        )));
    }
    let sample = |b: &[u8]| -> f32 {
        match (format.encoding, b) {
            (Encoding::Int(8), [x]) => (f32::from(*x) - 128.0) / 128.0,
            (Encoding::Int(16), [a, b]) => f32::from(i16::from_le_bytes([*a, *b])) / 32_768.0,
            (Encoding::Int(24), [a, b, c]) => {
                // Sign-extend through the top byte of an i32.
                (i32::from_le_bytes([0, *a, *b, *c]) >> 8) as f32 / 8_388_608.0
            }
            (Encoding::Int(32), [a, b, c, d]) => {
                i32::from_le_bytes([*a, *b, *c, *d]) as f32 / 2_147_483_648.0
            }
            (Encoding::Float32, [a, b, c, d]) => {
                let x = f32::from_le_bytes([*a, *b, *c, *d]);
                // A float file may hold anything; the model is trained on [-1, 1].
                if x.is_finite() {
                    x.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            }
            _ => 0.0,
        }
    };
    let scale = 1.0 / channels as f32;
    Ok(data
        .chunks_exact(frame)
        .map(|f| f.chunks_exact(width).map(sample).sum::<f32>() * scale)
        .collect())
}

/// Band-limited resampling with a Hann-windowed sinc. Below the input rate the cut-off
/// follows the output's Nyquist frequency, so nothing above 8 kHz folds into speech bands.
///
/// Output sample `n` sits at input position `n * from / to`. Its fractional part takes only
/// `to / gcd(from, to)` values (320 from 22.05 kHz, 1 from 48 kHz), so the filter weights are
/// computed once per phase rather than once per sample: the sines and cosines were 90% of a
/// job's time on a 22.05 kHz recording.
fn resample(input: &[f32], kernel: &Kernel) -> Vec<f32> {
    if kernel.from == kernel.to || input.is_empty() {
        return input.to_vec();
    }
    let (from, to) = (u64::from(kernel.from), u64::from(kernel.to));
    let out_len = (input.len() as u64 * to / from) as usize;
    let last = input.len() as i64 - 1;
    (0..out_len as u64)
        .map(|n| {
            let position = n * from;
            let base = (position / to) as i64;
            let weights = kernel.phase(position % to);
            let first = base - kernel.reach + 1;
            let mut sum = 0.0f64;
            let mut total = 0.0f64;
            for (j, w) in weights.iter().enumerate() {
                let k = first + j as i64;
                if k < 0 || k > last {
                    continue;
                }
                let s = usize::try_from(k)
                    .ok()
                    .and_then(|k| input.get(k))
                    .copied()
                    .unwrap_or(0.0);
                sum += w * f64::from(s);
                total += w;
            }
            // Normalising by the weights used keeps a constant signal constant at the edges.
            if total.abs() > f64::EPSILON {
                (sum / total) as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// The windowed-sinc weights for each phase of a `from` → `to` conversion.
struct Kernel {
    /// Input samples on each side of the output position that may carry weight.
    reach: i64,
    /// `2 * reach` weights per phase; phase `p` is at fraction `p * step / to`.
    weights: Vec<f64>,
    step: u64,
    from: u32,
    to: u32,
}

/// The most weights a kernel may hold (8 MB). Every common rate needs far fewer (44.1 kHz:
/// 160 phases of 92); an odd rate such as 191999 Hz would need 16000 phases.
const MAX_WEIGHTS: u64 = 1 << 20;

impl Kernel {
    fn new(from: u32, to: u32) -> Result<Self, ModelError> {
        // Zero crossings of the sinc kept on each side, at the narrower of the two rates.
        const HALF_TAPS: f64 = 16.0;
        let cutoff = (f64::from(to) / f64::from(from)).min(1.0);
        let half_width = HALF_TAPS / cutoff;
        let reach = half_width.ceil() as i64 + 1;
        let step = u64::from(gcd(from, to));
        let phases = u64::from(to) / step;
        let taps = 2 * reach as usize;
        if from == to {
            return Ok(Self {
                reach,
                weights: Vec::new(),
                step,
                from,
                to,
            });
        }
        if phases * taps as u64 > MAX_WEIGHTS {
            return Err(error(format!(
                "a sample rate of {from} Hz is too unusual to resample: use a common rate such \
                 as 16000, 44100 or 48000 Hz"
            )));
        }
        let mut weights = Vec::with_capacity(phases as usize * taps);
        for p in 0..phases {
            let fraction = (p * step) as f64 / f64::from(to);
            for j in 0..taps {
                // Tap j is input sample base - reach + 1 + j, at distance x from the position.
                let x = fraction + (reach - 1 - j as i64) as f64;
                let w = if x.abs() < half_width {
                    let window = 0.5 + 0.5 * (std::f64::consts::PI * x / half_width).cos();
                    cutoff * sinc(cutoff * x) * window
                } else {
                    0.0
                };
                weights.push(w);
            }
        }
        Ok(Self {
            reach,
            weights,
            step,
            from,
            to,
        })
    }

    /// The weights for an output whose input position has remainder `remainder` (of `to`).
    fn phase(&self, remainder: u64) -> &[f64] {
        let taps = 2 * self.reach as usize;
        let start = (remainder / self.step) as usize * taps;
        self.weights.get(start..start + taps).unwrap_or_default()
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAV header and data as `sox`/`espeak-ng` write them.
    pub(crate) fn wav(rate: u32, channels: u16, bits: u16, tag: u16, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        let block = channels * bits / 8;
        out.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        out.extend_from_slice(&block.to_le_bytes());
        out.extend_from_slice(&bits.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    fn sine(rate: u32, hz: f64, seconds: f64) -> Vec<u8> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .flat_map(|i| {
                let x = (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin();
                ((x * 16_000.0) as i16).to_le_bytes()
            })
            .collect()
    }

    #[test]
    fn sixteen_bit_mono_at_16k_is_read_as_is() {
        let data: Vec<u8> = [0i16, 16_384, -32_768, 32_767]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let samples = decode_16k_mono(&wav(16_000, 1, 16, FORMAT_PCM, &data));
        assert_eq!(samples, Ok(vec![0.0, 0.5, -1.0, 32_767.0 / 32_768.0]));
    }

    #[test]
    fn stereo_is_averaged_and_8_bit_is_unsigned() {
        let samples = decode_16k_mono(&wav(16_000, 2, 8, FORMAT_PCM, &[128, 192, 0, 0]));
        assert_eq!(samples, Ok(vec![0.25, -1.0]));
    }

    #[test]
    fn resampling_keeps_the_length_in_seconds_and_a_tone_below_nyquist() {
        for rate in [8_000, 22_050, 44_100, 48_000] {
            let bytes = wav(rate, 1, 16, FORMAT_PCM, &sine(rate, 440.0, 1.0));
            let samples = decode_16k_mono(&bytes).unwrap_or_default();
            assert!(
                samples.len().abs_diff(16_000) <= 1,
                "{rate}: {}",
                samples.len()
            );
            // A 440 Hz tone of amplitude ~0.49 keeps its energy (RMS ~0.35) away from the edges.
            let middle = samples.get(2_000..14_000).unwrap_or_default();
            let rms = (middle.iter().map(|x| x * x).sum::<f32>() / middle.len() as f32).sqrt();
            assert!((rms - 0.345).abs() < 0.01, "{rate}: rms {rms}");
        }
    }

    #[test]
    fn odd_rates_within_the_kernel_budget_are_resampled() {
        for rate in [8_001, 11_025, 44_056, 96_000] {
            let bytes = wav(rate, 1, 16, FORMAT_PCM, &sine(rate, 440.0, 0.5));
            let samples = decode_16k_mono(&bytes).unwrap_or_default();
            assert!(
                samples.len().abs_diff(8_000) <= 1,
                "{rate}: {}",
                samples.len()
            );
        }
    }

    #[test]
    fn a_tone_above_8k_is_filtered_out_when_downsampling() {
        let bytes = wav(48_000, 1, 16, FORMAT_PCM, &sine(48_000, 12_000.0, 0.5));
        let samples = decode_16k_mono(&bytes).unwrap_or_default();
        let middle = samples.get(1_000..7_000).unwrap_or_default();
        let rms = (middle.iter().map(|x| x * x).sum::<f32>() / middle.len() as f32).sqrt();
        assert!(rms < 0.01, "aliased energy {rms}");
    }

    #[test]
    fn a_streamed_header_with_a_placeholder_length_reads_to_the_end() {
        let mut bytes = wav(16_000, 1, 16, FORMAT_PCM, &[1, 0, 2, 0]);
        let data_size = bytes.len() - 8;
        bytes.splice(data_size..data_size + 4, 0xFFFF_FFFFu32.to_le_bytes());
        assert_eq!(decode_16k_mono(&bytes).map(|s| s.len()), Ok(2));
    }

    #[test]
    fn hostile_headers_are_errors_not_panics() {
        let good = wav(16_000, 1, 16, FORMAT_PCM, &sine(16_000, 200.0, 0.01));
        // Every truncation and every single-byte corruption of the header either decodes or
        // is an error.
        for cut in 0..good.len() {
            let _ = decode_16k_mono(good.get(..cut).unwrap_or_default());
        }
        for at in 0..44 {
            for value in [0u8, 1, 0x7F, 0xFF] {
                let mut bad = good.clone();
                if let Some(b) = bad.get_mut(at) {
                    *b = value;
                }
                let _ = decode_16k_mono(&bad);
            }
        }
        let message = |bytes: &[u8]| decode_16k_mono(bytes).err().map(|e| e.0);
        assert_eq!(
            message(b"not a wav"),
            Some("not a WAV file (no RIFF/WAVE header): send the recording as WAV".into())
        );
        assert!(
            message(&wav(16_000, 0, 16, FORMAT_PCM, &[])).is_some_and(|m| m.contains("channels"))
        );
        assert!(message(&wav(1_000_000, 1, 16, FORMAT_PCM, &[])).is_some_and(|m| m.contains("Hz")));
        assert!(
            message(&wav(16_000, 1, 12, FORMAT_PCM, &[])).is_some_and(|m| m.contains("encoding"))
        );
        assert!(
            message(&wav(191_999, 1, 16, FORMAT_PCM, &[])).is_some_and(|m| m.contains("unusual"))
        );
    }

    #[test]
    fn a_recording_over_the_limit_is_refused() {
        let seconds = MAX_SECONDS as usize + 1;
        let data = vec![0u8; 8_000 * seconds];
        let message = decode_16k_mono(&wav(8_000, 1, 8, FORMAT_PCM, &data)).err();
        assert!(message.is_some_and(|m| m.0.contains("longer than")));
    }
}
