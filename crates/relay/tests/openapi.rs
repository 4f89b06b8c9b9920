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
