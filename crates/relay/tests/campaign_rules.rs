//! Campaign definitions the relay takes and refuses: image URLs on the relay's own origin, and
//! the upload rules of image and voice campaigns, through the router on a real database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

/// `spec` with `field` set to `value`.
fn with(mut spec: Value, field: &str, value: Value) -> Value {
    spec[field] = value;
    spec
}

/// Creates `spec`; the refusal's message, which must be a 422 `invalid_campaign`.
async fn refusal(net: &Net, owner: &datahub_core::SecretKey, spec: &Value) -> String {
    let (status, body) = net.create_campaign(owner, spec).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_campaign")),
        "{spec} → {body}"
    );
    body["message"].as_str().unwrap().to_owned()
}

both!(image_urls_may_be_paths_on_the_relay, |net| {
    let owner = key("owner");
    let base = with(
        campaign_spec("rel-urls", &owner, 1, 1, "1"),
        "kind",
        json!("image_categorization"),
    );
    let base = with(base, "labels", json!(["circle", "square"]));
    let good = with(
        base.clone(),
        "items",
        json!([
            {"image_url": "/demo/red-circle.svg"},
            {"image_url": "/demo/blue-square.svg?v=2"},
            {"image_url": "https://example.org/cat.png"},
            {"image_url": "/demo/file..name.svg"},
        ]),
    );
    let (status, body) = net.create_campaign(&owner, &good).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, task) = Worker::sign_in(&net, "w")
        .await
        .next(&net, "rel-urls")
        .await;
    assert!(
        task["item"]["image_url"]
            .as_str()
            .is_some_and(|u| u.starts_with('/') || u.starts_with("https://")),
        "{task}"
    );

    for bad in [
        "demo/red-circle.svg",
        "//evil.example/x.svg",
        "/demo/../relay.key",
        "/..",
        "/demo/./x.svg",
        "/demo/%2e%2E/x.svg",
        "/demo\\x.svg",
        "/demo/x.svg\n",
        "/demo/\u{7f}.svg",
        "javascript:alert(1)",
        "ftp://example.org/x.svg",
        "http://example.org/cat.png",
        "https:///cat.png",
        "https://example.org/a cat.png",
    ] {
        let spec = with(
            with(base.clone(), "id", json!("bad-url")),
            "items",
            json!([{ "image_url": bad }]),
        );
        let message = refusal(&net, &owner, &spec).await;
        assert!(
            message.starts_with("items[0]: image_url must be an https URL or a path on the relay"),
            "{bad:?}: {message}"
        );
    }
});

both!(upload_rules_are_checked_by_kind, |net| {
    let owner = key("owner");
    let prompts = json!([{ "prompt": "a photo of a plant" }]);
    let image = with(
        with(
            campaign_spec("img-up", &owner, 1, 1, "1"),
            "kind",
            json!("image_upload"),
        ),
        "items",
        prompts.clone(),
    );
    let voice = with(
        with(image.clone(), "kind", json!("voice_recording")),
        "id",
        json!("voice-up"),
    );
    let image_rules = json!({
        "types": ["image/png", "image/jpeg", "image/webp"],
        "min_width": 64, "min_height": 64, "max_bytes": 10_485_760
    });
    let voice_rules = json!({ "min_seconds": 1, "max_seconds": 15 });

    // Good rules are kept and shown; every rule is optional.
    let (status, body) = net
        .create_campaign(&owner, &with(image.clone(), "upload", image_rules.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["upload"], image_rules);
    let (status, body) = net
        .create_campaign(&owner, &with(voice.clone(), "upload", voice_rules.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, shown) = net.get("/v1/campaigns/voice-up", None).await;
    assert_eq!(shown["upload"], voice_rules);
    for (id, spec) in [
        ("img-none", with(image.clone(), "upload", json!({}))),
        (
            "img-some",
            with(image.clone(), "upload", json!({"min_width": 1})),
        ),
        ("voice-none", voice.clone()),
        (
            "voice-half",
            with(voice.clone(), "upload", json!({"max_seconds": 0.5})),
        ),
    ] {
        let (status, body) = net
            .create_campaign(&owner, &with(spec, "id", json!(id)))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{id}: {body}");
    }

    let image = with(image, "id", json!("img-bad"));
    let voice = with(voice, "id", json!("voice-bad"));
    let cases = [
        (&image, json!([1]), "upload: must be an object of rules"),
        (
            &image,
            json!({"min_seconds": 1}),
            "upload.min_seconds: unknown rule for image_upload",
        ),
        (
            &image,
            json!({"types": []}),
            "upload.types: a non-empty list of image types",
        ),
        (
            &image,
            json!({"types": "image/png"}),
            "upload.types: a non-empty list of image types",
        ),
        (
            &image,
            json!({"types": ["image/gif"]}),
            "upload.types: each one of",
        ),
        (
            &image,
            json!({"types": ["image/png", "image/png"]}),
            "upload.types: image/png twice",
        ),
        (
            &image,
            json!({"min_width": 0}),
            "upload.min_width: an integer from 1 to 16384",
        ),
        (
            &image,
            json!({"min_height": 64.5}),
            "upload.min_height: an integer from 1 to 16384",
        ),
        (
            &image,
            json!({"min_height": "64"}),
            "upload.min_height: an integer from 1 to 16384",
        ),
        (
            &image,
            json!({"max_bytes": -1}),
            "upload.max_bytes: an integer from 1 to 1073741824",
        ),
        (
            &voice,
            json!({"types": ["audio/wav"]}),
            "upload.types: unknown rule for voice_recording",
        ),
        (
            &voice,
            json!({"min_seconds": -1}),
            "upload.min_seconds: a number of seconds from 0 to 3600",
        ),
        (
            &voice,
            json!({"max_seconds": 7200}),
            "upload.max_seconds: a number of seconds from 0 to 3600",
        ),
        (
            &voice,
            json!({"max_seconds": "15"}),
            "upload.max_seconds: a number of seconds from 0 to 3600",
        ),
        (
            &voice,
            json!({"max_seconds": 0}),
            "upload.max_seconds: more than 0",
        ),
        (
            &voice,
            json!({"min_seconds": 20, "max_seconds": 15}),
            "upload.min_seconds: at most upload.max_seconds",
        ),
    ];
    for (spec, rules, expected) in cases {
        let message = refusal(&net, &owner, &with(spec.clone(), "upload", rules.clone())).await;
        assert!(message.starts_with(expected), "{rules}: {message}");
    }

    // Other task types take no upload rules.
    let labels = with(
        campaign_spec("verify-up", &owner, 1, 1, "1"),
        "upload",
        json!({"min_width": 64}),
    );
    assert_eq!(
        refusal(&net, &owner, &labels).await,
        "upload: only image_upload and voice_recording campaigns take upload rules, not content_verification"
    );
});

// Each budget rule has its own message: 7 decimals is not "less than one reward".
both!(budget_refusals_say_the_rule_broken, |net| {
    let owner = key("owner");
    let seven = campaign_spec("bad-budget", &owner, 1, 1, "2.0000001");
    assert_eq!(
        refusal(&net, &owner, &seven).await,
        "budget: a token amount with at most 6 decimals (\"2\", \"0.5\")"
    );
    let small = campaign_spec("bad-budget", &owner, 1, 1, "0.01");
    assert_eq!(
        refusal(&net, &owner, &small).await,
        "budget: at least one reward (0.05)"
    );
});
