//! The task types.

use serde::{Deserialize, Serialize};

/// The six task types, named on the wire (`kind`) and in the relay's database in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An image, one or several labels.
    ImageCategorization,
    /// A claim with its image or text: true, false or unsure.
    ContentVerification,
    /// A text: a label, and spans marked with labels.
    TextLabeling,
    /// An item: any number of flags.
    ContentModeration,
    /// The contributor uploads an image (sealed).
    ImageUpload,
    /// The contributor records their voice reading a prompt (sealed).
    VoiceRecording,
}

impl Kind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [Kind; 6] = [
        Self::ImageCategorization,
        Self::ContentVerification,
        Self::TextLabeling,
        Self::ContentModeration,
        Self::ImageUpload,
        Self::VoiceRecording,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImageCategorization => "image_categorization",
            Self::ContentVerification => "content_verification",
            Self::TextLabeling => "text_labeling",
            Self::ContentModeration => "content_moderation",
            Self::ImageUpload => "image_upload",
            Self::VoiceRecording => "voice_recording",
        }
    }

    /// Parses the API name; `None` for a name this version does not know.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether answers are sealed uploads (paid when the upload is complete).
    pub fn is_upload(self) -> bool {
        matches!(self, Self::ImageUpload | Self::VoiceRecording)
    }

    /// Whether a campaign of this kind needs `labels` (flags, for moderation).
    pub fn needs_labels(self) -> bool {
        matches!(
            self,
            Self::ImageCategorization | Self::TextLabeling | Self::ContentModeration
        )
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_what_serde_writes_and_parse_back() {
        for kind in Kind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("Image_Upload"), None);
        assert_eq!(Kind::parse(""), None);
    }
}
