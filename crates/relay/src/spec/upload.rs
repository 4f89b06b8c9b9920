//! A campaign's `upload` rules: what an upload must be, shown to contributors and checked by
//! their client and by validators.

use serde_json::Value as Json_;

use super::Kind;

/// The image types an `image_upload` campaign may ask for.
pub const UPLOAD_IMAGE_TYPES: [&str; 3] = ["image/png", "image/jpeg", "image/webp"];

/// Checks a campaign's `upload` rules. Every key is optional, unknown keys are refused:
/// - `image_upload`: `types` (a non-empty list of [`UPLOAD_IMAGE_TYPES`], each once),
///   `min_width` and `min_height` (pixels, 1 to 16384), `max_bytes` (1 to 1 GiB);
/// - `voice_recording`: `min_seconds` and `max_seconds` (0 to 3600, `max_seconds` above 0 and
///   at least `min_seconds`); recordings are 16-bit PCM WAV, mono;
/// - the other types take no rules (`null` is accepted as none).
pub fn check_upload_rules(kind: Kind, rules: &Json_) -> Result<(), String> {
    if rules.is_null() {
        return Ok(());
    }
    let allowed: &[&str] = match kind {
        Kind::ImageUpload => &["types", "min_width", "min_height", "max_bytes"],
        Kind::VoiceRecording => &["min_seconds", "max_seconds"],
        _ => {
            return Err(format!(
                "upload: only image_upload and voice_recording campaigns take upload rules, not {}",
                kind.as_str()
            ));
        }
    };
    let object = rules
        .as_object()
        .ok_or("upload: must be an object of rules")?;
    if let Some(key) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "upload.{key}: unknown rule for {} (allowed: {allowed:?})",
            kind.as_str()
        ));
    }
    let integer = |key: &str, max: u64| -> Result<(), String> {
        match object.get(key) {
            None => Ok(()),
            Some(v) if v.as_u64().is_some_and(|n| (1..=max).contains(&n)) => Ok(()),
            Some(_) => Err(format!("upload.{key}: an integer from 1 to {max}")),
        }
    };
    let seconds = |key: &str| -> Result<Option<f64>, String> {
        match object.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|s| (0.0..=3600.0).contains(s))
                .map(Some)
                .ok_or_else(|| format!("upload.{key}: a number of seconds from 0 to 3600")),
        }
    };
    match kind {
        Kind::ImageUpload => {
            if let Some(types) = object.get("types") {
                let list = types
                    .as_array()
                    .filter(|l| !l.is_empty())
                    .ok_or("upload.types: a non-empty list of image types")?;
                let mut seen = Vec::new();
                for t in list {
                    let t = t
                        .as_str()
                        .filter(|t| UPLOAD_IMAGE_TYPES.contains(t))
                        .ok_or(format!("upload.types: each one of {UPLOAD_IMAGE_TYPES:?}"))?;
                    if seen.contains(&t) {
                        return Err(format!("upload.types: {t} twice"));
                    }
                    seen.push(t);
                }
            }
            integer("min_width", 16_384)?;
            integer("min_height", 16_384)?;
            integer("max_bytes", 1 << 30)?;
        }
        _ => {
            let min = seconds("min_seconds")?;
            let max = seconds("max_seconds")?;
            if max == Some(0.0) {
                return Err("upload.max_seconds: more than 0".into());
            }
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                return Err("upload.min_seconds: at most upload.max_seconds".into());
            }
        }
    }
    Ok(())
}
