//! The answers a campaign takes, and their agreement keys.

use datahub_protocol::answer::{self, MAX_SPANS, Verdict};
use serde_json::Value as Json_;

use super::{CampaignSpec, Kind};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// Checks an answer against the campaign and returns its comparison key: answers with the same
/// key agree (labels and flags sorted; spans ignored for agreement).
pub fn check_answer(spec: &CampaignSpec, item: &Json_, answer: &Json_) -> ApiResult<String> {
    let bad = |m: &str| ApiError::unprocessable(ErrorCode::InvalidAnswer, m.to_owned());
    let object = answer
        .as_object()
        .ok_or_else(|| bad("the answer must be a JSON object"))?;
    let allowed = answer::fields(spec.kind);
    if let Some(key) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(&format!(
            "unexpected field {key:?}; a {} answer has {allowed:?}",
            spec.kind.as_str()
        )));
    }
    let labels_of = |field: &str| -> ApiResult<Vec<String>> {
        let list = object
            .get(field)
            .and_then(Json_::as_array)
            .ok_or_else(|| bad(&format!("{field} must be a list of labels")))?;
        let mut out = Vec::with_capacity(list.len());
        for label in list {
            let label = label
                .as_str()
                .filter(|l| spec.labels.iter().any(|x| x == l))
                .ok_or_else(|| bad(&format!("{field}: each must be one of {:?}", spec.labels)))?;
            if out.iter().any(|l| l == label) {
                return Err(bad(&format!("{field}: each label once")));
            }
            out.push(label.to_owned());
        }
        out.sort();
        Ok(out)
    };
    match spec.kind {
        Kind::ImageCategorization => {
            let labels = labels_of("labels")?;
            if labels.is_empty() || (!spec.multi_label && labels.len() != 1) {
                return Err(bad(if spec.multi_label {
                    "labels: at least one"
                } else {
                    "labels: exactly one"
                }));
            }
            Ok(labels.join("\u{1f}"))
        }
        Kind::ContentModeration => Ok(labels_of("flags")?.join("\u{1f}")),
        Kind::ContentVerification => {
            let verdict = object
                .get("verdict")
                .and_then(Json_::as_str)
                .filter(|v| Verdict::parse(v).is_some())
                .ok_or_else(|| bad("verdict must be \"true\", \"false\" or \"unsure\""))?;
            Ok(verdict.to_owned())
        }
        Kind::TextLabeling => {
            let label = object
                .get("label")
                .and_then(Json_::as_str)
                .filter(|l| spec.labels.iter().any(|x| x == l))
                .ok_or_else(|| bad(&format!("label must be one of {:?}", spec.labels)))?;
            let text_len = item
                .get("text")
                .and_then(Json_::as_str)
                .map_or(0, |t| t.chars().count());
            if let Some(spans) = object.get("spans") {
                let spans = spans
                    .as_array()
                    .ok_or_else(|| bad("spans must be a list"))?;
                if spans.len() > MAX_SPANS {
                    return Err(bad(&format!("spans: at most {MAX_SPANS}")));
                }
                for span in spans {
                    let start = span.get("start").and_then(Json_::as_u64);
                    let end = span.get("end").and_then(Json_::as_u64);
                    let ok_label = span
                        .get("label")
                        .and_then(Json_::as_str)
                        .is_some_and(|l| spec.labels.iter().any(|x| x == l));
                    let fields_ok = span.as_object().is_some_and(|o| o.len() == 3);
                    match (start, end) {
                        (Some(s), Some(e))
                            if s < e && e <= text_len as u64 && ok_label && fields_ok => {}
                        _ => {
                            return Err(bad(
                                "each span is {start, end, label}: character offsets with start < end ≤ the text's length, and a campaign label",
                            ));
                        }
                    }
                }
            }
            Ok(label.to_owned())
        }
        Kind::ImageUpload | Kind::VoiceRecording => {
            let id = object
                .get("object")
                .and_then(Json_::as_str)
                .filter(|t| {
                    t.len() == 64
                        && t.bytes()
                            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                })
                .ok_or_else(|| {
                    bad("object must be the uploaded object's id (64 lower-case hex digits)")
                })?;
            if let Some(capture) = object.get("capture") {
                capture
                    .as_str()
                    .and_then(answer::Capture::parse)
                    .ok_or_else(|| {
                        bad("capture must be \"app\" (made in the app) or \"file\" (picked from a file)")
                    })?;
            }
            Ok(id.to_owned())
        }
    }
}
