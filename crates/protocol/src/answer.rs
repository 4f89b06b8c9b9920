//! The answer each task type takes: a JSON object with the fields below. The relay checks an
//! answer against its campaign (labels among the campaign's, spans inside the text) in its
//! `spec` module; clients build answers with [`Answer`].

use serde::{Deserialize, Serialize};

use crate::Kind;

/// The verdict of a `content_verification` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The claim is true.
    True,
    /// The claim is false.
    False,
    /// The contributor cannot tell.
    Unsure,
}

impl Verdict {
    /// The verdicts, in the order clients offer them.
    pub const ALL: [Verdict; 3] = [Self::True, Self::False, Self::Unsure];

    /// The verdict as it is sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "true",
            Self::False => "false",
            Self::Unsure => "unsure",
        }
    }

    /// Reads a verdict as it is sent.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

/// Where an upload's media came from, as the contributor's client saw it: made in the app
/// (camera or microphone) or picked from a file (the gallery, a file chooser, the CLI). Part of
/// the signed answer, so an export can say it per row; a client could lie about it, so it is
/// the contributor's statement, not a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capture {
    /// Captured in the app: the camera or the microphone, while the task was open.
    App,
    /// Picked from a file.
    File,
}

impl Capture {
    /// Both, in the order clients name them.
    pub const ALL: [Capture; 2] = [Self::App, Self::File];

    /// The value as it is sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::File => "file",
        }
    }

    /// Reads a value as it is sent.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

/// A marked span of a `text_labeling` answer: `start..end` in characters (Unicode scalar
/// values) of the item's text, and one of the campaign's labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    /// The first character.
    pub start: u64,
    /// One past the last character.
    pub end: u64,
    /// A campaign label.
    pub label: String,
}

/// The most spans one `text_labeling` answer may mark.
pub const MAX_SPANS: usize = 256;

/// An answer as it is sent, one variant per group of task types.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// `image_categorization`: one label, or several if the campaign is `multi_label`.
    Labels {
        /// Campaign labels, each once.
        labels: Vec<String>,
    },
    /// `content_verification`.
    Verdict {
        /// The verdict.
        verdict: Verdict,
    },
    /// `text_labeling`: a label for the text, and spans marked in it.
    Label {
        /// A campaign label.
        label: String,
        /// Marked spans, at most [`MAX_SPANS`].
        spans: Vec<Span>,
    },
    /// `content_moderation`: any number of flags (the campaign's labels).
    Flags {
        /// Campaign labels, each once.
        flags: Vec<String>,
    },
    /// `image_upload` and `voice_recording`: the sealed object uploaded.
    Object {
        /// The object's id, 64 lower-case hex digits.
        object: String,
        /// Where the media came from; left out by clients older than this field.
        #[serde(skip_serializing_if = "Option::is_none")]
        capture: Option<Capture>,
    },
}

/// The fields an answer to this kind of task may have (and nothing else).
pub fn fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::ImageCategorization => &["labels"],
        Kind::ContentVerification => &["verdict"],
        Kind::TextLabeling => &["label", "spans"],
        Kind::ContentModeration => &["flags"],
        Kind::ImageUpload | Kind::VoiceRecording => &["object", "capture"],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn answers_are_sent_as_the_relay_reads_them() {
        let cases = [
            (
                Answer::Labels {
                    labels: vec!["cat".into()],
                },
                json!({"labels": ["cat"]}),
                Kind::ImageCategorization,
            ),
            (
                Answer::Verdict {
                    verdict: Verdict::Unsure,
                },
                json!({"verdict": "unsure"}),
                Kind::ContentVerification,
            ),
            (
                Answer::Label {
                    label: "PER".into(),
                    spans: vec![Span {
                        start: 0,
                        end: 3,
                        label: "PER".into(),
                    }],
                },
                json!({"label": "PER", "spans": [{"start": 0, "end": 3, "label": "PER"}]}),
                Kind::TextLabeling,
            ),
            (
                Answer::Flags { flags: vec![] },
                json!({"flags": []}),
                Kind::ContentModeration,
            ),
            (
                Answer::Object {
                    object: "ab".repeat(32),
                    capture: None,
                },
                json!({"object": "ab".repeat(32)}),
                Kind::ImageUpload,
            ),
            (
                Answer::Object {
                    object: "cd".repeat(32),
                    capture: Some(Capture::App),
                },
                json!({"object": "cd".repeat(32), "capture": "app"}),
                Kind::VoiceRecording,
            ),
        ];
        for (answer, wire, kind) in cases {
            let sent = serde_json::to_value(&answer).unwrap();
            assert_eq!(sent, wire);
            let keys: Vec<&str> = sent
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert!(
                keys.iter().all(|k| fields(kind).contains(k)),
                "{kind}: {keys:?}"
            );
        }
        for verdict in Verdict::ALL {
            assert_eq!(Verdict::parse(verdict.as_str()), Some(verdict));
        }
        for capture in Capture::ALL {
            assert_eq!(Capture::parse(capture.as_str()), Some(capture));
        }
    }
}
