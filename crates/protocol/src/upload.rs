//! An upload campaign's `upload` rules: what an upload must be. The relay checks them when a
//! campaign is created, the browser client enforces them before sealing, and validators check
//! opened uploads against them; all three read them with [`UploadRules::parse`], so a rule left
//! out means the same default everywhere (docs/relay.md §4, "Upload rules").

use serde_json::Value as Json_;

use crate::Kind;

/// The largest image before sealing when a campaign does not say (`max_bytes`): 20 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 20 << 20;
/// The most `max_bytes` may say: 1 GiB.
pub const MAX_UPLOAD_BYTES: u64 = 1 << 30;
/// The most `min_width` and `min_height` may say, in pixels.
pub const MAX_PIXELS: u32 = 16_384;
/// The shortest recording when a campaign does not say (`min_seconds`).
pub const DEFAULT_MIN_SECONDS: f64 = 1.0;
/// The longest recording when a campaign does not say (`max_seconds`).
pub const DEFAULT_MAX_SECONDS: f64 = 30.0;
/// The most `min_seconds` and `max_seconds` may say.
pub const MAX_SECONDS: f64 = 3600.0;

/// The image types an `image_upload` campaign may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageType {
    /// `image/png`.
    Png,
    /// `image/jpeg`.
    Jpeg,
    /// `image/webp`.
    Webp,
}

impl ImageType {
    /// All of them, the default of `types`.
    pub const ALL: [ImageType; 3] = [Self::Png, Self::Jpeg, Self::Webp];

    /// The media type, as `types` names it.
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    /// Reads a media type exactly as `types` names it.
    pub fn from_mime(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.mime() == text)
    }
}

/// A campaign's upload rules with the defaults filled in. The image rules (`types`,
/// `min_width`, `min_height`, `max_bytes`) hold for `image_upload`, the recording rules
/// (`min_seconds`, `max_seconds`) for `voice_recording`; recordings are 16-bit PCM WAV, mono.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRules {
    /// The image types accepted (default: all of [`ImageType::ALL`]).
    pub types: Vec<ImageType>,
    /// The least width in pixels (default 1).
    pub min_width: u32,
    /// The least height in pixels (default 1).
    pub min_height: u32,
    /// The largest image before sealing, in bytes (default [`DEFAULT_MAX_BYTES`]).
    pub max_bytes: u64,
    /// The shortest recording in seconds (default [`DEFAULT_MIN_SECONDS`], or `max_seconds`
    /// if that is shorter).
    pub min_seconds: f64,
    /// The longest recording in seconds (default [`DEFAULT_MAX_SECONDS`]).
    pub max_seconds: f64,
}

impl Default for UploadRules {
    fn default() -> Self {
        Self {
            types: ImageType::ALL.to_vec(),
            min_width: 1,
            min_height: 1,
            max_bytes: DEFAULT_MAX_BYTES,
            min_seconds: DEFAULT_MIN_SECONDS,
            max_seconds: DEFAULT_MAX_SECONDS,
        }
    }
}

impl UploadRules {
    /// Reads a campaign's `upload` rules (`None` or `null`: none given, all defaults). Every
    /// key is optional and unknown keys are refused:
    /// - `image_upload`: `types` (a non-empty list of [`ImageType`] names, each once),
    ///   `min_width` and `min_height` (pixels, 1 to [`MAX_PIXELS`]), `max_bytes` (1 to
    ///   [`MAX_UPLOAD_BYTES`]);
    /// - `voice_recording`: `min_seconds` and `max_seconds` (0 to [`MAX_SECONDS`]; `max_seconds`
    ///   above 0, and `min_seconds` at most `max_seconds` — the default one when it is left out;
    ///   `min_seconds` left out is [`DEFAULT_MIN_SECONDS`], or `max_seconds` if that is shorter);
    /// - the other kinds take no rules.
    ///
    /// The error names the rule and what it must be (`upload.min_width: an integer from 1 to
    /// 16384`).
    pub fn parse(kind: Kind, rules: Option<&Json_>) -> Result<Self, String> {
        let mut out = Self::default();
        let Some(rules) = rules.filter(|r| !r.is_null()) else {
            return Ok(out);
        };
        let allowed: &[&str] = match kind {
            Kind::ImageUpload => &["types", "min_width", "min_height", "max_bytes"],
            Kind::VoiceRecording => &["min_seconds", "max_seconds"],
            _ => {
                return Err(format!(
                    "upload: only image_upload and voice_recording campaigns take upload rules, not {kind}"
                ));
            }
        };
        let object = rules
            .as_object()
            .ok_or("upload: must be an object of rules")?;
        if let Some(key) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!(
                "upload.{key}: unknown rule for {kind} (allowed: {allowed:?})"
            ));
        }
        let integer = |key: &str, max: u64| -> Result<Option<u64>, String> {
            match object.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .filter(|n| (1..=max).contains(n))
                    .map(Some)
                    .ok_or_else(|| format!("upload.{key}: an integer from 1 to {max}")),
            }
        };
        let seconds = |key: &str| -> Result<Option<f64>, String> {
            match object.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_f64()
                    .filter(|s| (0.0..=MAX_SECONDS).contains(s))
                    .map(Some)
                    // Whole seconds as integers: the float formatting would weigh about 14 KB
                    // of the browser client's .wasm, which reads campaigns with this.
                    .ok_or_else(|| {
                        format!(
                            "upload.{key}: a number of seconds from 0 to {}",
                            MAX_SECONDS as u32
                        )
                    }),
            }
        };
        if kind == Kind::ImageUpload {
            if let Some(types) = object.get("types") {
                let list = types
                    .as_array()
                    .filter(|l| !l.is_empty())
                    .ok_or("upload.types: a non-empty list of image types")?;
                let names = ImageType::ALL.map(ImageType::mime);
                let mut seen = Vec::new();
                for t in list {
                    let t = t
                        .as_str()
                        .and_then(ImageType::from_mime)
                        .ok_or(format!("upload.types: each one of {names:?}"))?;
                    if seen.contains(&t) {
                        return Err(format!("upload.types: {} twice", t.mime()));
                    }
                    seen.push(t);
                }
                out.types = seen;
            }
            let pixels = u64::from(MAX_PIXELS);
            // Bounded by MAX_PIXELS, so the conversions cannot fail.
            if let Some(n) = integer("min_width", pixels)? {
                out.min_width = u32::try_from(n).unwrap_or(MAX_PIXELS);
            }
            if let Some(n) = integer("min_height", pixels)? {
                out.min_height = u32::try_from(n).unwrap_or(MAX_PIXELS);
            }
            if let Some(n) = integer("max_bytes", MAX_UPLOAD_BYTES)? {
                out.max_bytes = n;
            }
        } else {
            match seconds("max_seconds")? {
                Some(0.0) => {
                    return Err("upload.max_seconds: more than 0".into());
                }
                Some(max) => out.max_seconds = max,
                None => {}
            }
            // A campaign that wants clips shorter than the default shortest one gets them.
            out.min_seconds =
                seconds("min_seconds")?.unwrap_or(DEFAULT_MIN_SECONDS.min(out.max_seconds));
            if out.min_seconds > out.max_seconds {
                return Err(if object.contains_key("max_seconds") {
                    "upload.min_seconds: at most upload.max_seconds".into()
                } else {
                    format!(
                        "upload.min_seconds: at most upload.max_seconds, which is {} when left out; give max_seconds too",
                        DEFAULT_MAX_SECONDS as u32
                    )
                });
            }
        }
        Ok(out)
    }

    /// The accepted image types' names, as `types` lists them.
    pub fn type_names(&self) -> Vec<&'static str> {
        self.types.iter().map(|t| t.mime()).collect()
    }

    /// Whether an image of this type is accepted.
    pub fn allows(&self, image: ImageType) -> bool {
        self.types.contains(&image)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(kind: Kind, rules: Json_) -> Result<UploadRules, String> {
        UploadRules::parse(kind, Some(&rules))
    }

    #[test]
    fn rules_left_out_are_the_documented_defaults() {
        for kind in Kind::ALL {
            let none = UploadRules::parse(kind, None).unwrap();
            assert_eq!(none, UploadRules::parse(kind, Some(&Json_::Null)).unwrap());
            assert_eq!(none.max_bytes, 20 * 1024 * 1024);
            assert_eq!((none.min_width, none.min_height), (1, 1));
            assert_eq!((none.min_seconds, none.max_seconds), (1.0, 30.0));
            assert_eq!(none.types, ImageType::ALL);
        }
        let image = parse(Kind::ImageUpload, json!({"min_width": 64})).unwrap();
        assert_eq!(image.min_width, 64);
        assert_eq!(image.max_bytes, DEFAULT_MAX_BYTES);
        let voice = parse(Kind::VoiceRecording, json!({"max_seconds": 15})).unwrap();
        assert_eq!((voice.min_seconds, voice.max_seconds), (1.0, 15.0));
        let short = parse(Kind::VoiceRecording, json!({"max_seconds": 0.5})).unwrap();
        assert_eq!((short.min_seconds, short.max_seconds), (0.5, 0.5));
        let long = parse(Kind::VoiceRecording, json!({"min_seconds": 20})).unwrap();
        assert_eq!((long.min_seconds, long.max_seconds), (20.0, 30.0));
    }

    #[test]
    fn given_rules_are_read() {
        let rules = parse(
            Kind::ImageUpload,
            json!({"types": ["image/webp", "image/png"], "min_width": 640, "min_height": 480, "max_bytes": 2000}),
        )
        .unwrap();
        assert_eq!(rules.types, [ImageType::Webp, ImageType::Png]);
        assert!(!rules.allows(ImageType::Jpeg));
        assert_eq!(
            (rules.min_width, rules.min_height, rules.max_bytes),
            (640, 480, 2000)
        );
        let voice = parse(
            Kind::VoiceRecording,
            json!({"min_seconds": 0, "max_seconds": 3600}),
        )
        .unwrap();
        assert_eq!((voice.min_seconds, voice.max_seconds), (0.0, 3600.0));
    }

    #[test]
    fn each_bad_rule_is_refused_with_its_name() {
        let cases = [
            (Kind::TextLabeling, json!({}), "only image_upload"),
            (Kind::ImageUpload, json!([1]), "must be an object"),
            (
                Kind::ImageUpload,
                json!({"min_seconds": 1}),
                "upload.min_seconds: unknown",
            ),
            (
                Kind::VoiceRecording,
                json!({"types": ["image/png"]}),
                "upload.types: unknown",
            ),
            (
                Kind::ImageUpload,
                json!({"types": []}),
                "upload.types: a non-empty",
            ),
            (
                Kind::ImageUpload,
                json!({"types": ["webp"]}),
                "upload.types: each one",
            ),
            (
                Kind::ImageUpload,
                json!({"types": ["IMAGE/PNG"]}),
                "upload.types: each one",
            ),
            (
                Kind::ImageUpload,
                json!({"types": ["image/png", "image/png"]}),
                "twice",
            ),
            (
                Kind::ImageUpload,
                json!({"min_width": 0}),
                "upload.min_width: an integer",
            ),
            (
                Kind::ImageUpload,
                json!({"min_height": 16385}),
                "upload.min_height",
            ),
            (
                Kind::ImageUpload,
                json!({"max_bytes": 1.5}),
                "upload.max_bytes",
            ),
            (
                Kind::ImageUpload,
                json!({"max_bytes": -1}),
                "upload.max_bytes",
            ),
            (
                Kind::VoiceRecording,
                json!({"max_seconds": 0}),
                "more than 0",
            ),
            (
                Kind::VoiceRecording,
                json!({"min_seconds": -1}),
                "upload.min_seconds",
            ),
            (
                Kind::VoiceRecording,
                json!({"max_seconds": "5"}),
                "upload.max_seconds",
            ),
            (
                Kind::VoiceRecording,
                json!({"max_seconds": 3601}),
                "upload.max_seconds",
            ),
            (
                Kind::VoiceRecording,
                json!({"min_seconds": 9, "max_seconds": 5}),
                "at most",
            ),
            // The default longest recording holds when only the shortest is given.
            (
                Kind::VoiceRecording,
                json!({"min_seconds": 40}),
                "give max_seconds too",
            ),
        ];
        for (kind, rules, expected) in cases {
            let err = parse(kind, rules.clone()).unwrap_err();
            assert!(err.contains(expected), "{kind} {rules}: {err}");
        }
    }
}
