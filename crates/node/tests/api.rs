//! The node's HTTP API through `app()` with `oneshot` (no socket): signed writes and deletes,
//! public reads, ranges and proofs, and every refusal with its status and error body.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use datahub_core::eth::Timestamp;
use datahub_core::request::{SIGNATURE_HEADER, TIME_HEADER, sign_request};
use datahub_core::{Address, SecretKey, ShardId, proof};
use datahub_node::api::{AppState, app};
use datahub_node::store::{Disk, MemoryStore, ShardStore};
use http_body_util::BodyExt;
use tower::ServiceExt;

const NOW: Timestamp = Timestamp::from_unix_millis(1_790_000_000_000);

fn relay_key() -> SecretKey {
    SecretKey::derive(&[1; 32])
}
fn node_key() -> SecretKey {
    SecretKey::derive(&[2; 32])
}
fn stranger_key() -> SecretKey {
    SecretKey::derive(&[3; 32])
}

struct Node {
    state: AppState,
    store: Arc<MemoryStore>,
}

fn node_with(capacity: u64, max: u64) -> Node {
    let store = Arc::new(MemoryStore::new());
    let state = AppState::new(store.clone(), node_key().address(), "eu-test", capacity)
        .with_max_shard_size(max)
        .with_clock(|| NOW);
    assert!(state.set_relay(relay_key().address()));
    Node { state, store }
}

fn node() -> Node {
    node_with(1 << 30, 1 << 20)
}

fn shard(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn signed_as(
    key: &SecretKey,
    audience: &Address,
    method: &str,
    uri: &str,
    body: Vec<u8>,
    time: Timestamp,
) -> Request<Body> {
    let signature = sign_request(key, method, uri, &body, time, audience);
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_LENGTH, body.len().to_string())
        .header(TIME_HEADER, time.unix_millis().to_string())
        .header(SIGNATURE_HEADER, signature.to_hex())
        .body(Body::from(body))
        .unwrap()
}

fn signed(method: &str, uri: &str, body: Vec<u8>) -> Request<Body> {
    signed_as(&relay_key(), &node_key().address(), method, uri, body, NOW)
}

fn plain(method: &str, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap()
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The error code of a JSON error body (and its message is a non-empty string); a code
    /// outside the node's vocabulary fails the test.
    fn error(&self) -> String {
        let json = self.json();
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
        let code = json["error"].as_str().unwrap().to_owned();
        assert!(
            datahub_protocol::NodeErrorCode::parse(&code).is_some(),
            "{code} is not a NodeErrorCode"
        );
        code
    }
}

/// docs/storage-node.md §2's table of errors lists every code of the node's vocabulary, each
/// once, and nothing else.
#[test]
fn the_documented_error_codes_are_the_nodes() {
    let doc = include_str!("../../../docs/storage-node.md");
    let mut listed: Vec<String> = doc
        .lines()
        .filter(|line| line.starts_with("| 4") || line.starts_with("| 5"))
        .filter_map(|line| line.split('|').nth(2))
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    listed.sort();
    let mut codes: Vec<String> = datahub_protocol::NodeErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    codes.sort();
    assert_eq!(listed, codes);
}

async fn send(state: &AppState, request: Request<Body>) -> Answer {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

fn uri(id: &ShardId) -> String {
    format!("/v1/shards/{id}")
}

#[tokio::test]
async fn put_get_range_proof_delete() {
    let n = node();
    let bytes = shard(5000, 1);
    let id = ShardId::of(&bytes);

    let put = send(&n.state, signed("PUT", &uri(&id), bytes.clone())).await;
    assert_eq!(put.status, StatusCode::CREATED);
    assert_eq!(put.json()["created"], true);
    let again = send(&n.state, signed("PUT", &uri(&id), bytes.clone())).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["created"], false);

    let get = send(&n.state, plain("GET", &uri(&id))).await;
    assert_eq!(get.status, StatusCode::OK);
    assert_eq!(get.body, bytes);
    assert_eq!(
        get.headers[header::CONTENT_TYPE],
        "application/octet-stream"
    );

    for (range, start, end) in [
        ("bytes=0-0", 0, 1),
        ("bytes=1000-2047", 1000, 2048),
        ("bytes=4000-", 4000, 5000),
        ("bytes=-10", 4990, 5000),
        ("bytes=4990-9999", 4990, 5000),
    ] {
        let mut request = plain("GET", &uri(&id));
        request
            .headers_mut()
            .insert(header::RANGE, range.parse().unwrap());
        let answer = send(&n.state, request).await;
        assert_eq!(answer.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(answer.body, &bytes[start..end], "{range}");
        assert_eq!(
            answer.headers[header::CONTENT_RANGE],
            format!("bytes {start}-{}/5000", end - 1).as_str()
        );
    }
    for (range, status) in [
        ("bytes=5000-", StatusCode::RANGE_NOT_SATISFIABLE),
        ("bytes=-0", StatusCode::RANGE_NOT_SATISFIABLE),
        ("bytes=0-1,3-4", StatusCode::BAD_REQUEST),
        ("bytes=5-1", StatusCode::BAD_REQUEST),
        ("items=0-1", StatusCode::BAD_REQUEST),
        ("bytes=-", StatusCode::BAD_REQUEST),
    ] {
        let mut request = plain("GET", &uri(&id));
        request
            .headers_mut()
            .insert(header::RANGE, range.parse().unwrap());
        assert_eq!(send(&n.state, request).await.status, status, "{range}");
    }

    let proof_uri = format!("{}/proof?offset=1500&len=700", uri(&id));
    let answer = send(&n.state, plain("GET", &proof_uri)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/octet-stream"
    );
    assert_eq!(
        proof::verify(&id, 5000, 1500, 700, &answer.body).unwrap(),
        &bytes[1500..2200]
    );
    for bad in ["offset=4990&len=11", "offset=x&len=1", "len=3", ""] {
        let answer = send(&n.state, plain("GET", &format!("{}/proof?{bad}", uri(&id)))).await;
        assert!(answer.status.is_client_error(), "{bad}");
    }

    let status = send(&n.state, plain("GET", "/v1/status")).await;
    assert_eq!(status.status, StatusCode::OK);
    let json = status.json();
    assert_eq!(json["address"], node_key().address().to_checksum());
    assert_eq!(json["relay"], relay_key().address().to_checksum());
    assert_eq!(json["region"], "eu-test");
    assert_eq!(json["capacity"], 1u64 << 30);
    assert_eq!(json["used"], 5000);
    assert_eq!(json["shards"], 1);
    assert!(json["version"].is_string());

    let deleted = send(&n.state, signed("DELETE", &uri(&id), vec![])).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.json()["deleted"], true);
    let gone = send(&n.state, plain("GET", &uri(&id))).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error(), "not_found");
    let proof_gone = send(&n.state, plain("GET", &proof_uri)).await;
    assert_eq!(proof_gone.status, StatusCode::NOT_FOUND);
    // The same signed delete again is a replay, refused; a new one is answered.
    let replayed = send(&n.state, signed("DELETE", &uri(&id), vec![])).await;
    assert_eq!(replayed.status, StatusCode::CONFLICT);
    assert_eq!(replayed.error(), "replayed");
    let later = Timestamp::from_unix_millis(NOW.unix_millis() + 1);
    let again = send(
        &n.state,
        signed_as(
            &relay_key(),
            &node_key().address(),
            "DELETE",
            &uri(&id),
            vec![],
            later,
        ),
    )
    .await;
    assert_eq!(again.json()["deleted"], false);

    let health = send(&n.state, plain("GET", "/healthz")).await;
    assert_eq!(
        (health.status, &health.body[..]),
        (StatusCode::OK, &b"ok"[..])
    );
}

#[tokio::test]
async fn only_the_relay_writes() {
    let n = node();
    let bytes = shard(100, 2);
    let id = ShardId::of(&bytes);
    let me = node_key().address();
    let other_node = stranger_key().address();

    let unsigned = Request::builder()
        .method("PUT")
        .uri(uri(&id))
        .body(Body::from(bytes.clone()))
        .unwrap();
    let answer = send(&n.state, unsigned).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.error(), "unsigned");

    // Signed by someone else.
    let answer = send(
        &n.state,
        signed_as(&stranger_key(), &me, "PUT", &uri(&id), bytes.clone(), NOW),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.error(), "forbidden");

    // Signed by the relay for another node (replayed here): the signature recovers to some
    // other address, so it is someone else's request.
    let answer = send(
        &n.state,
        signed_as(
            &relay_key(),
            &other_node,
            "PUT",
            &uri(&id),
            bytes.clone(),
            NOW,
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    // Signed for another body: the signature (over the id) holds, the bytes do not hash to it.
    let mut request = signed("PUT", &uri(&id), bytes.clone());
    *request.body_mut() = Body::from(shard(100, 3));
    let answer = send(&n.state, request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "wrong_id");
    assert!(!n.store.contains(&id).unwrap());
    // Signed for another method or path.
    let mut request = signed("DELETE", &uri(&id), vec![]);
    *request.method_mut() = axum::http::Method::PUT;
    *request.body_mut() = Body::from(bytes.clone());
    assert_eq!(send(&n.state, request).await.status, StatusCode::FORBIDDEN);

    // Stale, future, malformed.
    for time in [NOW.plus_seconds(-301), NOW.plus_seconds(301)] {
        let answer = send(
            &n.state,
            signed_as(&relay_key(), &me, "PUT", &uri(&id), bytes.clone(), time),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.error(), "stale_request");
    }
    let mut request = signed("PUT", &uri(&id), bytes.clone());
    request
        .headers_mut()
        .insert(SIGNATURE_HEADER, "0x1234".parse().unwrap());
    let answer = send(&n.state, request).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.error(), "bad_signature");
    let mut request = signed("PUT", &uri(&id), bytes.clone());
    request
        .headers_mut()
        .insert(TIME_HEADER, "soon".parse().unwrap());
    assert_eq!(
        send(&n.state, request).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Deletes too.
    n.store.put(&id, &bytes).unwrap();
    let answer = send(&n.state, plain("DELETE", &uri(&id))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let answer = send(
        &n.state,
        signed_as(&stranger_key(), &me, "DELETE", &uri(&id), vec![], NOW),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(n.store.contains(&id).unwrap());
}

#[tokio::test]
async fn error_bodies_are_exact() {
    let n = node();
    let answer = send(&n.state, plain("GET", "/v1/shards/ABC")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        String::from_utf8(answer.body).unwrap(),
        r#"{"error":"bad_shard_id","message":"a shard id is 64 lower-case hex digits (the BLAKE3 hash of the shard)"}"#
    );
    let answer = send(&n.state, plain("PUT", &uri(&ShardId([0; 32])))).await;
    assert_eq!(
        String::from_utf8(answer.body).unwrap(),
        r#"{"error":"unsigned","message":"missing header x-datahub-time: sign the request"}"#
    );
}

#[tokio::test]
async fn bad_ids_and_path_tricks() {
    let n = node();
    let good = ShardId::of(b"x").to_string();
    let upper = good.to_uppercase();
    let bad = [
        upper.as_str(),
        &good[..63],
        &format!("{good}0"),
        "..",
        "%2e%2e%2f%2e%2e%2fnode.key",
        "..%2Fnode.key",
        "../../node.key",
        "ab/cd/ef",
        &format!("{}zz", &good[..62]),
        &format!("{good}%00"),
    ];
    for id in bad {
        for method in ["GET", "PUT", "DELETE"] {
            let answer = send(
                &n.state,
                signed(method, &format!("/v1/shards/{id}"), b"x".to_vec()),
            )
            .await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{method} {id}");
            assert_eq!(answer.error(), "bad_shard_id");
        }
        let answer = send(
            &n.state,
            plain("GET", &format!("/v1/shards/{id}/proof?offset=0&len=1")),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "proof {id}");
    }
    let answer = send(&n.state, plain("GET", "/v2/nothing")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.error(), "no_route");
}

#[tokio::test]
async fn wrong_id_too_large_and_full() {
    let n = node_with(10_000, 4096);
    let bytes = shard(3000, 4);
    let id = ShardId::of(&bytes);
    let other = ShardId::of(b"something else");
    // The relay signs the body's hash, which for a shard is its id: bytes sent under another id
    // fail the signature check, before the body is read.
    let answer = send(&n.state, signed("PUT", &uri(&other), bytes.clone())).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.error(), "forbidden");
    assert!(!n.store.contains(&other).unwrap());
    // Signed for the id but other bytes sent: refused once read.
    let mut request = signed("PUT", &uri(&other), bytes.clone());
    let signature = sign_request(
        &relay_key(),
        "PUT",
        &uri(&other),
        b"something else",
        NOW,
        &node_key().address(),
    );
    request
        .headers_mut()
        .insert(SIGNATURE_HEADER, signature.to_hex().parse().unwrap());
    let answer = send(&n.state, request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "wrong_id");
    assert!(!n.store.contains(&other).unwrap());

    let big = shard(4097, 5);
    let answer = send(
        &n.state,
        signed("PUT", &uri(&ShardId::of(&big)), big.clone()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.error(), "too_large");
    // Also without a Content-Length (a streamed body).
    let stream = futures_stream(big.clone());
    let mut request = signed("PUT", &uri(&ShardId::of(&big)), big);
    *request.body_mut() = stream;
    assert_eq!(
        send(&n.state, request).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // 3000 + 3000 + 3000 fit in 10 000; a fourth does not; a held shard can be put again.
    for seed in 10..13 {
        let b = shard(3000, seed);
        let answer = send(&n.state, signed("PUT", &uri(&ShardId::of(&b)), b)).await;
        assert_eq!(answer.status, StatusCode::CREATED);
    }
    let answer = send(&n.state, signed("PUT", &uri(&id), bytes)).await;
    assert_eq!(answer.status, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(answer.error(), "insufficient_storage");
    let held = shard(3000, 10);
    let answer = send(&n.state, signed("PUT", &uri(&ShardId::of(&held)), held)).await;
    assert_eq!(answer.status, StatusCode::OK);
}

/// A disk with less room than `--capacity`: the node offers what the disk has left, refuses a
/// shard that would not fit (507, not 500), and takes shards again once there is room.
#[tokio::test]
async fn a_disk_fuller_than_the_capacity_says() {
    let n = node_with(1 << 30, 1 << 20);
    n.store.set_disk(Some(Disk {
        bytes: 10_000,
        tells_free_space: true,
    }));
    let first = shard(3000, 20);
    let answer = send(&n.state, signed("PUT", &uri(&ShardId::of(&first)), first)).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let status = send(&n.state, plain("GET", "/v1/status")).await.json();
    assert_eq!(
        (status["capacity"].as_u64(), status["used"].as_u64()),
        (Some(10_000), Some(3000))
    );

    let big = shard(8000, 21);
    let answer = send(
        &n.state,
        signed("PUT", &uri(&ShardId::of(&big)), big.clone()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(answer.error(), "insufficient_storage");
    assert!(!n.store.contains(&ShardId::of(&big)).unwrap());

    // The disk grows (another program's file went away): the same shard is taken.
    n.store.set_disk(Some(Disk {
        bytes: 20_000,
        tells_free_space: true,
    }));
    let answer = send(&n.state, signed("PUT", &uri(&ShardId::of(&big)), big)).await;
    assert_eq!(answer.status, StatusCode::CREATED);
}

/// A disk that fills during the write without having said so (a quota does not show in the free
/// space): 507 like any full node, nothing kept, the node's use unchanged.
#[tokio::test]
async fn a_disk_that_fills_during_the_write() {
    let n = node_with(1 << 30, 1 << 20);
    n.store.set_disk(Some(Disk {
        bytes: 5000,
        tells_free_space: false,
    }));
    let status = send(&n.state, plain("GET", "/v1/status")).await.json();
    assert_eq!(status["capacity"].as_u64(), Some(1 << 30));
    let bytes = shard(6000, 22);
    let answer = send(
        &n.state,
        signed("PUT", &uri(&ShardId::of(&bytes)), bytes.clone()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(answer.error(), "insufficient_storage");
    assert!(!n.store.contains(&ShardId::of(&bytes)).unwrap());
    assert_eq!(n.store.usage().unwrap().bytes, 0);
}

/// A body with no Content-Length, delivered in pieces.
fn futures_stream(bytes: Vec<u8>) -> Body {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    Body::from_stream(tokio_stream_iter(pieces))
}

fn tokio_stream_iter(
    items: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    struct Iter(std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>);
    impl futures_core::Stream for Iter {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(items.into_iter())
}

#[tokio::test]
async fn corrupt_shards_are_never_served() {
    let n = node();
    let bytes = shard(4000, 6);
    let id = ShardId::of(&bytes);

    // Rot in a byte the range does not touch still fails a range read and a proof.
    n.store.put(&id, &bytes).unwrap();
    assert!(n.store.corrupt(&id, 3999));
    let mut request = plain("GET", &uri(&id));
    request
        .headers_mut()
        .insert(header::RANGE, "bytes=0-9".parse().unwrap());
    let answer = send(&n.state, request).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.error(), "shard_corrupt");
    // Dropped: the node now reports it missing, so the relay repairs it.
    assert!(!n.store.contains(&id).unwrap());
    assert_eq!(
        send(&n.state, plain("GET", &uri(&id))).await.error(),
        "not_found"
    );

    for (index, path) in [
        (0usize, uri(&id)),
        (2500, format!("{}/proof?offset=0&len=10", uri(&id))),
    ] {
        n.store.put(&id, &bytes).unwrap();
        assert!(n.store.corrupt(&id, index));
        let answer = send(&n.state, plain("GET", &path)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.error(), "shard_corrupt");
    }

    // A relay put repairs a corrupt copy.
    n.store.insert_unchecked(id, vec![0; 4000]);
    let answer = send(&n.state, signed("PUT", &uri(&id), bytes.clone())).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(send(&n.state, plain("GET", &uri(&id))).await.body, bytes);
}

#[tokio::test]
async fn store_failures_leak_nothing_and_writes_wait_for_the_relay() {
    let n = node();
    let bytes = shard(10, 7);
    let id = ShardId::of(&bytes);
    n.store.set_failing(true);
    for request in [
        plain("GET", &uri(&id)),
        plain("GET", "/v1/status"),
        signed("PUT", &uri(&id), bytes.clone()),
    ] {
        let answer = send(&n.state, request).await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.error(), "internal");
        let text = String::from_utf8(answer.body).unwrap();
        assert!(!text.contains("injected"), "{text}");
    }

    let store = Arc::new(MemoryStore::new());
    let state = AppState::new(store, node_key().address(), "x", 1 << 20).with_clock(|| NOW);
    let answer = send(&state, signed("PUT", &uri(&id), bytes)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.error(), "relay_unknown");
}

/// A body that never arrives: whatever is answered, it was answered without reading it.
struct NeverEnds;

impl futures_core::Stream for NeverEnds {
    type Item = Result<axum::body::Bytes, std::io::Error>;
    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Pending
    }
}

/// A put's signature, signer and declared length are checked before a byte of its body is read:
/// a stranger cannot make the node take in 16 MiB to find out it was not the relay.
#[tokio::test]
async fn puts_are_judged_before_their_body_is_read() {
    let n = node_with(1 << 30, 4096);
    let bytes = shard(3000, 9);
    let id = ShardId::of(&bytes);
    let me = node_key().address();
    let with_endless_body = |mut request: Request<Body>, len: &str| {
        *request.body_mut() = Body::from_stream(NeverEnds);
        request
            .headers_mut()
            .insert(header::CONTENT_LENGTH, len.parse().unwrap());
        request
    };
    let quick = std::time::Duration::from_secs(2);
    let cases = [
        // Unsigned.
        (
            with_endless_body(plain("PUT", &uri(&id)), "3000"),
            StatusCode::UNAUTHORIZED,
            "unsigned",
        ),
        // Signed by someone else.
        (
            with_endless_body(
                signed_as(&stranger_key(), &me, "PUT", &uri(&id), bytes.clone(), NOW),
                "3000",
            ),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        // Signed by the relay, but longer than the node takes.
        (
            with_endless_body(signed("PUT", &uri(&id), bytes.clone()), "5000"),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
    ];
    for (request, status, code) in cases {
        let answer = tokio::time::timeout(quick, send(&n.state, request))
            .await
            .expect("answered without waiting for the body");
        assert_eq!(answer.status, status);
        assert_eq!(answer.error(), code);
    }
    // No declared length: refused, since the body could not be bounded before it is read.
    let mut request = signed("PUT", &uri(&id), bytes.clone());
    request.headers_mut().remove(header::CONTENT_LENGTH);
    let answer = send(&n.state, request).await;
    assert_eq!(answer.status, StatusCode::LENGTH_REQUIRED);
    assert_eq!(answer.error(), "length_required");
    assert!(!n.store.contains(&id).unwrap());
}

/// A delete captured on the wire cannot be played again, even after the shard is put back.
#[tokio::test]
async fn a_replayed_delete_is_refused() {
    let n = node();
    let bytes = shard(500, 11);
    let id = ShardId::of(&bytes);
    let delete = || signed("DELETE", &uri(&id), vec![]);
    assert_eq!(
        send(&n.state, signed("PUT", &uri(&id), bytes.clone()))
            .await
            .status,
        StatusCode::CREATED
    );
    let first = send(&n.state, delete()).await;
    assert_eq!(first.json()["deleted"], true);
    // The relay places the shard here again; the old delete, replayed, must not remove it.
    let later = Timestamp::from_unix_millis(NOW.unix_millis() + 5);
    let put = signed_as(
        &relay_key(),
        &node_key().address(),
        "PUT",
        &uri(&id),
        bytes.clone(),
        later,
    );
    assert_eq!(send(&n.state, put).await.status, StatusCode::CREATED);
    let replayed = send(&n.state, delete()).await;
    assert_eq!(replayed.status, StatusCode::CONFLICT);
    assert_eq!(replayed.error(), "replayed");
    assert!(n.store.contains(&id).unwrap());
}
