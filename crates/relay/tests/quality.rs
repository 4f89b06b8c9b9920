//! Quality through the router on SQLite (and PostgreSQL when available): the requester's
//! results and quality report, adaptive overlap, golden items, restrictions, skip floods and
//! daily caps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use datahub_core::SecretKey;
use datahub_core::eth::Timestamp;
use datahub_core::request;
use serde_json::{Value, json};

fn verdict(v: &str) -> Value {
    json!({ "verdict": v })
}

/// A GET signed by `key` (empty body), as the CLI sends it.
async fn signed_get(net: &Net, key: &SecretKey, path: &str) -> (StatusCode, Value) {
    let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
    let signature = request::sign_request(key, "GET", path, b"", now, &net.address);
    let request = Request::get(path)
        .header(request::TIME_HEADER, now.unix_millis().to_string())
        .header(request::SIGNATURE_HEADER, signature.to_hex())
        .body(Body::empty())
        .unwrap();
    net.call(request).await
}

both!(results_list_accepted_items_in_order, |net| {
    let owner = key("owner");
    // Four items, three answers each, no golden; the aggregate decides at three answers.
    let mut spec = campaign_spec("res", &owner, 4, 3, "10");
    spec["confidence"] = json!(0.9);
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["quality"]["aggregation"], "dawid_skene");
    assert_eq!(body["quality"]["max_overlap"], 6);
    let mut workers = Vec::new();
    for i in 0..3 {
        workers.push(Worker::sign_in(&net, &format!("r{i}")).await);
    }
    // Everyone answers "true" for items 0, 1 and 3 and "false" for item 2, one item at a time.
    for _ in 0..4 {
        for w in &mut workers {
            let (status, task) = w.next(&net, "res").await;
            assert_eq!(status, StatusCode::OK, "{task}");
            let answer = if task["item"]["text"] == "item number 2" {
                "false"
            } else {
                "true"
            };
            let body = w.submission(
                &net,
                "res",
                task["lease"].as_str().unwrap(),
                &verdict(answer),
            );
            let (status, outcome) = w.submit(&net, &body).await;
            assert_eq!(status, StatusCode::OK, "{outcome}");
        }
    }
    let (status, page) = signed_get(&net, &owner, "/v1/campaigns/res/results?limit=3").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["campaign"], "res");
    assert_eq!(page["kind"], "content_verification");
    let records = page["records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    let indexes: Vec<i64> = records
        .iter()
        .map(|r| r["index"].as_i64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 1, 2]);
    assert_eq!(records[2]["answer"], verdict("false"));
    assert_eq!(records[2]["item"], json!({ "text": "item number 2" }));
    assert_eq!(records[0]["method"], "dawid_skene");
    assert!(records[0]["confidence"].as_f64().unwrap() >= 0.9);
    assert_eq!(records[0]["contributors"].as_array().unwrap().len(), 3);
    assert_eq!(records[0]["object"], Value::Null);
    assert_eq!(page["next"], 2);
    let (_, rest) = signed_get(&net, &owner, "/v1/campaigns/res/results?after=2&limit=3").await;
    assert_eq!(rest["records"].as_array().unwrap().len(), 1);
    assert_eq!(rest["records"][0]["index"], 3);
    assert_eq!(rest["next"], Value::Null);
    // Only the owner; limits are checked.
    let (status, body) = signed_get(&net, &key("stranger"), "/v1/campaigns/res/results").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_owner"))
    );
    let (status, _) = signed_get(&net, &owner, "/v1/campaigns/res/results?limit=1001").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = net.get("/v1/campaigns/res/results", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The quality report.
    let (status, report) = signed_get(&net, &owner, "/v1/campaigns/res/quality").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["items"]["accepted"], 4);
    assert_eq!(report["method"], "dawid_skene");
    let contributors = report["contributors"].as_array().unwrap();
    assert_eq!(contributors.len(), 3);
    assert!(
        contributors
            .iter()
            .all(|c| c["agreed"] == 4 && c["restricted"] == false),
        "{report}"
    );
});
