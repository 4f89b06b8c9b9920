//! The body of `POST /v1/submissions` and the answer inside it: whatever bytes come, reading the
//! body and checking its answer against a campaign of each task type never panics, and the check
//! is deterministic. Bytes that are not a submission body are checked as an answer themselves.
#![no_main]

use std::sync::OnceLock;

use datahub_relay::campaigns::{CampaignSpec, check_answer};
use datahub_relay::tasks::SubmissionRequest;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// A valid campaign of each of the six task types, and the item answered.
fn campaigns() -> &'static [(CampaignSpec, Value)] {
    static CAMPAIGNS: OnceLock<Vec<(CampaignSpec, Value)>> = OnceLock::new();
    CAMPAIGNS.get_or_init(|| {
        let kinds = [
            "image_categorization",
            "content_verification",
            "text_labeling",
            "content_moderation",
            "image_upload",
            "voice_recording",
        ];
        kinds
            .iter()
            .map(|kind| {
                let item = json!({ "text": "the quick brown fox", "prompt": "read this" });
                let spec = json!({
                    "id": "fuzz", "kind": kind, "title": "fuzz", "instructions": "",
                    "labels": ["cat", "dog", "spam"], "multi_label": true, "items": [item],
                    "reward": "0.01", "token": "USDT", "budget": "1", "chains": [56],
                    "encryption_key": "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
                });
                let spec: CampaignSpec = serde_json::from_value(spec).expect("the spec parses");
                (spec, item)
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let answer_text = match serde_json::from_slice::<SubmissionRequest>(data) {
        Ok(request) => request.answer,
        Err(_) => String::from_utf8_lossy(data).into_owned(),
    };
    let Ok(answer) = serde_json::from_str::<Value>(&answer_text) else {
        return;
    };
    for (spec, item) in campaigns() {
        let first = check_answer(spec, item, &answer).ok();
        assert_eq!(check_answer(spec, item, &answer).ok(), first);
    }
});
