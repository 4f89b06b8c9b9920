//! What a validator checks in an opened upload, without I/O: bytes and the campaign's rules in,
//! a verdict out. Every input here came from a stranger, so nothing trusts it: images are
//! decoded under limits, WAV files are parsed by hand with checked offsets, and nothing panics.
//!
//! - Images (`image_upload`): PNG, JPEG or WebP, recognised by their magic bytes; `types`,
//!   `max_bytes`, `min_width`, `min_height` (the campaign's, or the defaults
//!   [`UploadRules::parse`] fills in: the relay, the browser client and validators read a
//!   campaign's rules with that one parser); a full decode (a truncated or corrupt file is
//!   rejected); a 64-bit difference hash (dHash) compared with the images this campaign
//!   accepted before: within [`DUPLICATE_DISTANCE`] bits is a near-duplicate.
//! - Recordings (`voice_recording`): 16-bit PCM mono WAV; `min_seconds`, `max_seconds`
//!   (with their defaults), and the RMS level at least [`MIN_RMS_DBFS`]: silence is rejected.

use std::io::Cursor;

use datahub_protocol::{ImageType, UploadRules};

use serde_json::{Map, Value, json};

/// Hashes within this many differing bits (of 64) are near-duplicates. Re-encoding, resizing
/// and light edits stay well under it; unrelated photos differ in about half the bits.
pub const DUPLICATE_DISTANCE: u32 = 10;
/// The least RMS level of a recording, in dBFS (a tone at full scale is about -3; a quiet
/// room through a phone's microphone about -60).
pub const MIN_RMS_DBFS: f64 = -50.0;
/// The largest width or height decoded.
pub const MAX_DIMENSION: u32 = 16_384;
/// The most memory one decode may allocate.
pub const MAX_DECODE_ALLOC: u64 = 512 * 1024 * 1024;

/// The kinds of file a validator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// WebP.
    Webp,
    /// RIFF WAVE.
    Wav,
}

impl Media {
    /// By its magic bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        let head = |n: usize| bytes.get(..n);
        if head(8) == Some(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if head(3) == Some(b"\xff\xd8\xff") {
            Some(Self::Jpeg)
        } else if head(4) == Some(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
            Some(Self::Webp)
        } else if head(4) == Some(b"RIFF") && bytes.get(8..12) == Some(b"WAVE") {
            Some(Self::Wav)
        } else {
            None
        }
    }

    /// The image type a campaign's `types` names it by; `None` for a recording.
    pub fn image_type(self) -> Option<ImageType> {
        match self {
            Self::Png => Some(ImageType::Png),
            Self::Jpeg => Some(ImageType::Jpeg),
            Self::Webp => Some(ImageType::Webp),
            Self::Wav => None,
        }
    }

    /// Its MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Wav => "audio/wav",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
            Self::Wav => "wav",
        }
    }

    fn image_format(self) -> Option<image::ImageFormat> {
        match self {
            Self::Png => Some(image::ImageFormat::Png),
            Self::Jpeg => Some(image::ImageFormat::Jpeg),
            Self::Webp => Some(image::ImageFormat::WebP),
            Self::Wav => None,
        }
    }
}

/// A verdict in the making: what failed, and what was measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Why the upload fails; empty means it passes.
    pub reasons: Vec<String>,
    /// What was measured, for the requester.
    pub checks: Map<String, Value>,
    /// The image's perceptual hash, to remember if the upload is accepted.
    pub dhash: Option<u64>,
}

impl Report {
    /// Whether the upload passes.
    pub fn accept(&self) -> bool {
        self.reasons.is_empty()
    }

    fn fail(mut self, reason: impl Into<String>) -> Self {
        self.reasons.push(reason.into());
        self
    }
}

fn common(
    bytes: &[u8],
    rules: &UploadRules,
    expect: &[Media],
    what: &str,
) -> Result<(Report, Media), Report> {
    let mut report = Report::default();
    report.checks.insert("bytes".into(), json!(bytes.len()));
    let Some(media) = Media::sniff(bytes).filter(|m| expect.contains(m)) else {
        let names: Vec<&str> = expect.iter().map(|m| m.mime()).collect();
        return Err(report.fail(format!("not {what} ({})", names.join(", "))));
    };
    report.checks.insert("type".into(), json!(media.mime()));
    // `types` and `max_bytes` are image rules; a recording's size follows from its length.
    if let Some(image) = media.image_type() {
        if !rules.allows(image) {
            report = report.fail(format!(
                "{} is not among the campaign's types",
                media.mime()
            ));
        }
        let max = rules.max_bytes;
        if bytes.len() as u64 > max {
            report = report.fail(format!("{} bytes, over the campaign's {max}", bytes.len()));
        }
    }
    Ok((report, media))
}

/// Checks an image against the rules and the hashes of images this campaign accepted before.
pub fn check_image(bytes: &[u8], rules: &UploadRules, seen: &[u64]) -> Report {
    let (mut report, media) = match common(
        bytes,
        rules,
        &[Media::Png, Media::Jpeg, Media::Webp],
        "an image",
    ) {
        Ok(ok) => ok,
        Err(report) => return report,
    };
    let Some(format) = media.image_format() else {
        return report.fail("not an image");
    };
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let reader = || {
        let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
        reader.limits(limits.clone());
        reader
    };
    let (width, height) = match reader().into_dimensions() {
        Ok(dims) => dims,
        Err(e) => return report.fail(format!("the image cannot be read: {e}")),
    };
    report.checks.insert("width".into(), json!(width));
    report.checks.insert("height".into(), json!(height));
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return report.fail(format!(
            "{width}x{height} is over the {MAX_DIMENSION} pixels a side this validator decodes"
        ));
    }
    let (min_w, min_h) = (rules.min_width, rules.min_height);
    if width < min_w || height < min_h {
        report = report.fail(format!(
            "{width}x{height} is smaller than the campaign's {min_w}x{min_h}"
        ));
    }
    let image = match reader().decode() {
        Ok(image) => image,
        Err(e) => return report.fail(format!("the image does not decode: {e}")),
    };
    let hash = dhash(&image);
    report
        .checks
        .insert("dhash".into(), json!(format!("{hash:016x}")));
    if let Some((distance, other)) = seen
        .iter()
        .map(|s| ((s ^ hash).count_ones(), *s))
        .min_by_key(|(d, _)| *d)
    {
        report
            .checks
            .insert("nearest_distance".into(), json!(distance));
        if distance <= DUPLICATE_DISTANCE {
            report = report.fail(format!(
                "a near-duplicate of an image this campaign already has (dhash {other:016x}, {distance} of 64 bits differ)"
            ));
        }
    }
    report.dhash = Some(hash);
    report
}

/// The 64-bit difference hash: the image in grey, shrunk to 9×8, one bit per horizontally
/// adjacent pair (1 where the left pixel is brighter), row by row from the top-left.
pub fn dhash(image: &image::DynamicImage) -> u64 {
    let small = image
        .resize_exact(9, 8, image::imageops::FilterType::Triangle)
        .to_luma8();
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            let left = small.get_pixel(x, y).0[0];
            let right = small.get_pixel(x + 1, y).0[0];
            hash = (hash << 1) | u64::from(left > right);
        }
    }
    hash
}

/// A parsed 16-bit PCM mono WAV file.
#[derive(Debug, Clone, PartialEq)]
pub struct Wav {
    /// Samples per second.
    pub sample_rate: u32,
    /// The samples.
    pub samples: Vec<i16>,
}

impl Wav {
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }

    /// RMS level in dBFS (negative infinity for silence).
    pub fn rms_dbfs(&self) -> f64 {
        if self.samples.is_empty() {
            return f64::NEG_INFINITY;
        }
        let sum: f64 = self.samples.iter().map(|s| f64::from(*s).powi(2)).sum();
        let rms = (sum / self.samples.len() as f64).sqrt();
        20.0 * (rms / 32768.0).log10()
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Parses a RIFF WAVE file that must be 16-bit PCM, one channel. Chunks other than `fmt ` and
/// `data` are skipped; every size is checked against what is there.
pub fn parse_wav(bytes: &[u8]) -> Result<Wav, String> {
    if bytes.get(..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err("not a RIFF WAVE file".into());
    }
    let mut at = 12usize;
    let mut format: Option<(u16, u16, u32, u32, u16, u16)> = None;
    let mut data: Option<&[u8]> = None;
    while at < bytes.len() {
        let id = bytes
            .get(at..at + 4)
            .ok_or("truncated: a chunk header is cut off")?;
        let size = u32_at(bytes, at + 4).ok_or("truncated: a chunk header is cut off")?;
        let start = at + 8;
        let end = start
            .checked_add(size as usize)
            .filter(|end| *end <= bytes.len())
            .ok_or_else(|| {
                format!(
                    "truncated: the {:?} chunk says {size} bytes, {} are there",
                    String::from_utf8_lossy(id),
                    bytes.len().saturating_sub(start)
                )
            })?;
        let body = bytes.get(start..end).ok_or("truncated chunk")?;
        match id {
            b"fmt " => {
                if body.len() < 16 {
                    return Err("the fmt chunk is shorter than 16 bytes".into());
                }
                let field16 = |at| u16_at(body, at).unwrap_or(0);
                let field32 = |at| u32_at(body, at).unwrap_or(0);
                format = Some((
                    field16(0),
                    field16(2),
                    field32(4),
                    field32(8),
                    field16(12),
                    field16(14),
                ));
            }
            b"data" if data.is_none() => data = Some(body),
            _ => {}
        }
        // Chunks are padded to an even length.
        at = end + (size as usize & 1);
    }
    let (audio_format, channels, rate, byte_rate, block_align, bits) =
        format.ok_or("no fmt chunk")?;
    let data = data.ok_or("no data chunk")?;
    if audio_format != 1 {
        return Err(format!("audio format {audio_format}, not PCM (1)"));
    }
    if channels != 1 || bits != 16 {
        return Err(format!(
            "{channels} channel(s) of {bits} bits; recordings are 16-bit mono"
        ));
    }
    if !(8_000..=192_000).contains(&rate) {
        return Err(format!("sample rate {rate} Hz is not 8000 to 192000"));
    }
    if block_align != 2 || byte_rate != rate * 2 {
        return Err("the fmt chunk's block align or byte rate does not fit 16-bit mono".into());
    }
    if data.len() % 2 != 0 {
        return Err("the data chunk has an odd length".into());
    }
    let samples = data
        .chunks_exact(2)
        .map(|pair| {
            i16::from_le_bytes([
                pair.first().copied().unwrap_or(0),
                pair.get(1).copied().unwrap_or(0),
            ])
        })
        .collect();
    Ok(Wav {
        sample_rate: rate,
        samples,
    })
}

/// Checks a voice recording against the rules.
pub fn check_audio(bytes: &[u8], rules: &UploadRules) -> Report {
    let (mut report, _) = match common(bytes, rules, &[Media::Wav], "a WAV recording") {
        Ok(ok) => ok,
        Err(report) => return report,
    };
    let wav = match parse_wav(bytes) {
        Ok(wav) => wav,
        Err(e) => return report.fail(format!("the recording cannot be read: {e}")),
    };
    let seconds = wav.seconds();
    let level = wav.rms_dbfs();
    report
        .checks
        .insert("seconds".into(), json!((seconds * 1000.0).round() / 1000.0));
    report
        .checks
        .insert("sample_rate".into(), json!(wav.sample_rate));
    report.checks.insert(
        "rms_dbfs".into(),
        if level.is_finite() {
            json!((level * 10.0).round() / 10.0)
        } else {
            Value::Null
        },
    );
    let (min, max) = (rules.min_seconds, rules.max_seconds);
    if seconds < min {
        report = report.fail(format!(
            "{seconds:.2} s, shorter than the campaign's {min} s"
        ));
    }
    if seconds > max {
        report = report.fail(format!(
            "{seconds:.2} s, longer than the campaign's {max} s"
        ));
    }
    let floor = MIN_RMS_DBFS;
    if level.is_nan() || level < floor {
        report = report.fail(if level.is_finite() {
            format!("too quiet: {level:.1} dBFS RMS, under {floor} dBFS")
        } else {
            "silent: every sample is zero".to_owned()
        });
    }
    report
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
pub mod tests {
    use super::*;
    use datahub_protocol::Kind;

    /// A picture with structure (so its hash means something): two overlapping waves whose
    /// frequencies and phase depend on `seed`.
    pub fn picture(seed: u32, width: u32, height: u32) -> image::RgbImage {
        let (fx, fy) = (1.0 + f64::from(seed % 5), 1.0 + f64::from((seed / 5) % 5));
        let phase = f64::from(seed) * 0.7;
        image::RgbImage::from_fn(width, height, |x, y| {
            let (u, v) = (
                f64::from(x) / f64::from(width),
                f64::from(y) / f64::from(height),
            );
            let a = (u * fx * std::f64::consts::TAU + phase).sin()
                * (v * fy * std::f64::consts::TAU - phase).cos();
            let b = ((u + v) * 3.0 + phase).sin();
            let level = |t: f64| (127.5 + 127.5 * t).clamp(0.0, 255.0) as u8;
            image::Rgb([level(a), level(b), level((a + b) / 2.0)])
        })
    }

    pub fn encode(image: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(image.clone())
            .write_to(&mut out, format)
            .unwrap();
        out.into_inner()
    }

    /// A 16-bit mono WAV of a tone at `amplitude` (0 for silence), `seconds` long.
    pub fn wav(seconds: f64, amplitude: f64, rate: u32) -> Vec<u8> {
        let count = (seconds * f64::from(rate)) as usize;
        let mut data = Vec::with_capacity(count * 2);
        for i in 0..count {
            let t = i as f64 / f64::from(rate);
            let s = (amplitude * 32767.0 * (t * 440.0 * std::f64::consts::TAU).sin()) as i16;
            data.extend_from_slice(&s.to_le_bytes());
        }
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

    fn rules(kind: Kind, json: Value) -> UploadRules {
        UploadRules::parse(kind, Some(&json)).unwrap()
    }

    #[test]
    fn valid_images_of_each_format_pass() {
        let rules = rules(
            Kind::ImageUpload,
            json!({ "types": ["image/png", "image/jpeg", "image/webp"], "min_width": 64, "min_height": 48 }),
        );
        let mut seen = Vec::new();
        for (seed, format) in [
            (1, image::ImageFormat::Png),
            (7, image::ImageFormat::Jpeg),
            (13, image::ImageFormat::WebP),
        ] {
            let bytes = encode(&picture(seed, 160, 120), format);
            let report = check_image(&bytes, &rules, &seen);
            assert!(report.accept(), "{format:?}: {:?}", report.reasons);
            assert_eq!(report.checks["width"], 160);
            assert_eq!(report.checks["height"], 120);
            seen.push(report.dhash.unwrap());
        }
    }

    #[test]
    fn corrupt_and_foreign_files_are_rejected() {
        let rules = UploadRules::default();
        let png = encode(&picture(2, 200, 150), image::ImageFormat::Png);
        // Cut in the middle of the pixel data: the header reads, the decode fails.
        let truncated = &png[..png.len() / 2];
        let report = check_image(truncated, &rules, &[]);
        assert!(!report.accept());
        assert!(
            report.reasons[0].starts_with("the image does not decode"),
            "{:?}",
            report.reasons
        );
        // Garbage after a PNG signature.
        let mut garbage = b"\x89PNG\r\n\x1a\n".to_vec();
        garbage.extend_from_slice(&[0xAB; 300]);
        let report = check_image(&garbage, &rules, &[]);
        assert!(
            report.reasons[0].starts_with("the image cannot be read"),
            "{:?}",
            report.reasons
        );
        let report = check_image(b"GIF89a not supported", &rules, &[]);
        assert_eq!(
            report.reasons,
            ["not an image (image/png, image/jpeg, image/webp)"]
        );
        let report = check_image(&[], &rules, &[]);
        assert!(!report.accept());
        // A WAV where an image is wanted.
        let report = check_image(&wav(1.0, 0.5, 8000), &rules, &[]);
        assert!(!report.accept());
    }

    #[test]
    fn every_prefix_and_flipped_byte_is_handled_without_panic() {
        let png = encode(&picture(3, 40, 30), image::ImageFormat::Png);
        let jpeg = encode(&picture(4, 40, 30), image::ImageFormat::Jpeg);
        let sound = wav(0.05, 0.5, 8000);
        for bytes in [&png, &jpeg] {
            for cut in (0..bytes.len()).step_by(7) {
                check_image(&bytes[..cut], &UploadRules::default(), &[]);
            }
            for i in (0..bytes.len()).step_by(5) {
                let mut bad = bytes.clone();
                bad[i] ^= 0x5A;
                check_image(&bad, &UploadRules::default(), &[]);
            }
        }
        for cut in 0..sound.len().min(200) {
            assert!(!check_audio(&sound[..cut], &UploadRules::default()).accept() || cut >= 44);
        }
        for i in 0..44 {
            let mut bad = sound.clone();
            bad[i] ^= 0xFF;
            check_audio(&bad, &UploadRules::default());
        }
    }

    #[test]
    fn too_small_too_large_and_wrong_type_are_rejected() {
        let rules = rules(
            Kind::ImageUpload,
            json!({ "types": ["image/png"], "min_width": 640, "min_height": 480, "max_bytes": 2000 }),
        );
        let small = encode(&picture(5, 320, 240), image::ImageFormat::Png);
        let report = check_image(&small, &rules, &[]);
        assert!(
            report
                .reasons
                .contains(&"320x240 is smaller than the campaign's 640x480".to_owned()),
            "{:?}",
            report.reasons
        );
        assert!(
            report
                .reasons
                .iter()
                .any(|r| r.ends_with("over the campaign's 2000")),
            "{:?}",
            report.reasons
        );
        let jpeg = encode(&picture(5, 800, 600), image::ImageFormat::Jpeg);
        let report = check_image(&jpeg, &rules, &[]);
        assert!(
            report
                .reasons
                .contains(&"image/jpeg is not among the campaign's types".to_owned()),
            "{:?}",
            report.reasons
        );
    }

    #[test]
    fn near_duplicates_are_rejected_and_different_images_are_not() {
        let rules = UploadRules::default();
        let original = picture(6, 320, 240);
        let first = check_image(&encode(&original, image::ImageFormat::Png), &rules, &[]);
        assert!(first.accept());
        let seen = [first.dhash.unwrap()];
        // The same picture re-encoded as JPEG and shrunk: a near-duplicate.
        let smaller =
            image::imageops::resize(&original, 200, 150, image::imageops::FilterType::Triangle);
        let copy = check_image(&encode(&smaller, image::ImageFormat::Jpeg), &rules, &seen);
        assert!(!copy.accept());
        assert!(
            copy.reasons[0].starts_with("a near-duplicate"),
            "{:?}",
            copy.reasons
        );
        // Other pictures are far from it.
        for seed in [8, 11, 17, 23] {
            let other = check_image(
                &encode(&picture(seed, 320, 240), image::ImageFormat::Png),
                &rules,
                &seen,
            );
            assert!(
                other.accept(),
                "seed {seed}: {:?} {:?}",
                other.reasons,
                other.checks
            );
        }
    }

    #[test]
    fn recordings_are_checked_for_length_and_level() {
        let rules = rules(
            Kind::VoiceRecording,
            json!({ "min_seconds": 1.0, "max_seconds": 3.0 }),
        );
        let report = check_audio(&wav(2.0, 0.3, 16_000), &rules);
        assert!(report.accept(), "{:?}", report.reasons);
        assert_eq!(report.checks["seconds"], 2.0);
        assert_eq!(report.checks["sample_rate"], 16000);
        let short = check_audio(&wav(0.5, 0.3, 16_000), &rules);
        assert_eq!(short.reasons, ["0.50 s, shorter than the campaign's 1 s"]);
        let long = check_audio(&wav(3.5, 0.3, 16_000), &rules);
        assert_eq!(long.reasons, ["3.50 s, longer than the campaign's 3 s"]);
        let silent = check_audio(&wav(2.0, 0.0, 16_000), &rules);
        assert_eq!(silent.reasons, ["silent: every sample is zero"]);
        let quiet = check_audio(&wav(2.0, 0.0005, 16_000), &rules);
        assert!(
            quiet.reasons[0].starts_with("too quiet: "),
            "{:?}",
            quiet.reasons
        );
    }

    #[test]
    fn corrupt_recordings_are_rejected() {
        let rules = UploadRules::default();
        let good = wav(1.0, 0.3, 8000);
        let truncated = &good[..good.len() - 100];
        let report = check_audio(truncated, &rules);
        assert!(
            report.reasons[0]
                .contains("truncated: the \"data\" chunk says 16000 bytes, 15900 are there"),
            "{:?}",
            report.reasons
        );
        let mut stereo = good.clone();
        stereo[22] = 2;
        assert!(check_audio(&stereo, &rules).reasons[0].contains("recordings are 16-bit mono"));
        let mut float = good.clone();
        float[20] = 3;
        assert!(check_audio(&float, &rules).reasons[0].contains("not PCM"));
        let mut huge = good.clone();
        huge[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(check_audio(&huge, &rules).reasons[0].contains("truncated"));
        assert_eq!(
            check_audio(b"RIFF\x04\x00\x00\x00WAVE", &rules).reasons,
            ["the recording cannot be read: no fmt chunk"]
        );
        assert_eq!(
            check_audio(b"ID3 an mp3", &rules).reasons,
            ["not a WAV recording (audio/wav)"]
        );
    }
}
