//! `docs/openapi.json` describes the API the router serves: every documented operation is
//! routed (it is not answered by the fallback or with 405), and the relay serves the document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::Value;

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let net = Net::start(Backend::Sqlite).unwrap();
    let doc: Value = serde_json::from_str(datahub_relay::ops::OPENAPI).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{id}", &"a".repeat(64))
                .replace("{shard}", &"b".repeat(64));
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&concrete)
                .body(Body::empty())
                .unwrap();
            let (status, body) = net.call(request).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(
                body["error"], "not_found",
                "{method} {path} is documented but not routed"
            );
            operations += 1;
        }
    }
    assert!(operations >= 26, "{operations} operations documented");
    let (status, served) = net.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, doc);
}

/// The `error` codes the document lists are exactly the relay's (`ErrorCode`, which the relay's
/// `ApiError` takes, so no code can be sent that is not in it), each once.
#[test]
fn the_documented_error_codes_are_the_relays() {
    use datahub_relay::error::ErrorCode;
    let doc: Value = serde_json::from_str(datahub_relay::ops::OPENAPI).unwrap();
    let listed: Vec<&str> = doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
        .as_array()
        .expect("the Error schema lists its codes in an enum")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let mut documented: Vec<&str> = listed.clone();
    documented.sort_unstable();
    documented.dedup();
    assert_eq!(documented.len(), listed.len(), "a code listed twice");
    let mut ours: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    ours.sort_unstable();
    let missing: Vec<_> = ours.iter().filter(|c| !documented.contains(c)).collect();
    let stale: Vec<_> = documented.iter().filter(|c| !ours.contains(c)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "not in docs/openapi.json: {missing:?}; in it but never sent: {stale:?}"
    );
}
