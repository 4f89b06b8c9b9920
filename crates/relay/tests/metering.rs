//! Metering of storage (docs/relay.md §7, "Metering"): creating an object needs an upload lease
//! or a requester's key; a manifest listing more shards than `storage.max_manifest_shards` is
//! refused before anything is written; a wallet's objects are capped at
//! `storage.max_bytes_per_wallet` sealed bytes and `storage.max_shards_per_wallet` shards. All were open: any key could create objects,
//! and an 8 MiB manifest inserted ~262k rows in the single writer's transaction.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use datahub_core::eth::Timestamp;
use datahub_core::{Manifest, Params, SecretKey, request, seal_bytes};
use serde_json::Value;

/// Seals `len` random bytes with 4 + 2 over 64 KiB segments: six shards per started segment.
fn sealed(len: usize) -> Manifest {
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        data.extend_from_slice(&datahub_relay::clock::random::<32>());
    }
    data.truncate(len);
    let params = Params {
        data_shards: 4,
        parity_shards: 2,
        segment_len: 64 * 1024,
    };
    let seed = datahub_relay::clock::random::<32>();
    seal_bytes(&data, &[key("reader").public_key()], &seed, params)
        .unwrap()
        .0
}

/// `POST /v1/objects` with a contributor's session token.
async fn post_manifest_bearer(net: &Net, token: &str, manifest: &Manifest) -> (StatusCode, Value) {
    let request = Request::post("/v1/objects")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(manifest.to_bytes()))
        .unwrap();
    net.call(request).await
}

async fn post_manifest(
    net: &Net,
    uploader: &SecretKey,
    manifest: &Manifest,
) -> (StatusCode, Value) {
    let body = manifest.to_bytes();
    let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
    let signature =
        request::sign_request(uploader, "POST", "/v1/objects", &body, now, &net.address);
    let request = Request::post("/v1/objects")
        .header(request::TIME_HEADER, now.unix_millis().to_string())
        .header(request::SIGNATURE_HEADER, signature.to_hex())
        .body(Body::from(body))
        .unwrap();
    net.call(request).await
}

async fn object_exists(net: &Net, manifest: &Manifest) -> bool {
    let (status, _) = net
        .get(
            &format!("/v1/objects/{}/missing", manifest.object_id()),
            None,
        )
        .await;
    status == StatusCode::OK
}

async fn too_many_shards(backend: Backend) {
    let Some(net) = Net::start_with(backend, |c| c.storage.max_manifest_shards = 12) else {
        return;
    };
    let uploader = key("uploader");
    // Three segments, eighteen shards: over the cap of twelve, refused, nothing recorded.
    let big = sealed(150_000);
    assert_eq!(big.all_shard_ids().len(), 18);
    let (status, body) = post_manifest(&net, &uploader, &big).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_many_shards")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("18 shards"),
        "{body}"
    );
    assert!(!object_exists(&net, &big).await);
    // Two segments, twelve shards: at the cap, taken.
    let fits = sealed(100_000);
    assert_eq!(fits.all_shard_ids().len(), 12);
    let (status, body) = post_manifest(&net, &uploader, &fits).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn wallet_quota(backend: Backend) {
    let first = sealed(100_000);
    let second = sealed(100_000);
    // Room for the first object and a little more, not for the second.
    let quota = first.sealed_len() + 1_000;
    let Some(net) = Net::start_with(backend, |c| c.storage.max_bytes_per_wallet = quota) else {
        return;
    };
    let (alice, bob) = (key("alice"), key("bob"));
    let (status, body) = post_manifest(&net, &alice, &first).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post_manifest(&net, &alice, &second).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("quota_exceeded")),
        "{body}"
    );
    assert!(!object_exists(&net, &second).await);
    // The same object again is no new bytes: answered as before.
    let (status, body) = post_manifest(&net, &alice, &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Another wallet has its own quota.
    let (status, body) = post_manifest(&net, &bob, &second).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Bytes alone did not bound the rows a wallet writes: 1 KiB segments list up to 128 shards per
/// KiB, so a wallet well within its byte quota could write a row per shard without end.
async fn wallet_shard_quota(backend: Backend) {
    let first = sealed(800_000);
    let second = sealed(100_000);
    let shards = first.all_shard_ids().len();
    // More rows than one 64-row insert, and not a multiple of it: every batch size is used.
    assert!(shards > 64 && !shards.is_multiple_of(64), "{shards}");
    let quota = u64::try_from(shards).unwrap() + 5;
    let Some(net) = Net::start_with(backend, |c| c.storage.max_shards_per_wallet = quota) else {
        return;
    };
    let (alice, bob) = (key("alice"), key("bob"));
    let (status, body) = post_manifest(&net, &alice, &first).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Every shard is recorded once, at its own position, none placed yet.
    let mut missing: Vec<&str> = body["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(body["shards"], shards, "{body}");
    missing.sort_unstable();
    missing.dedup();
    let mut listed: Vec<String> = first
        .all_shard_ids()
        .iter()
        .map(ToString::to_string)
        .collect();
    listed.sort_unstable();
    listed.dedup();
    assert_eq!(missing, listed);
    // Far under the byte quota, over the shard quota: refused, nothing recorded.
    let (status, body) = post_manifest(&net, &alice, &second).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("quota_exceeded")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("shards"),
        "{body}"
    );
    assert!(!object_exists(&net, &second).await);
    let (status, body) = post_manifest(&net, &bob, &second).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A large manifest's rows are written in chunks (so the writer is never held for long); a
/// relay stopped between chunks leaves the object short of rows, and sending the manifest again
/// writes exactly what is missing.
async fn a_manifest_cut_short_is_finished_when_sent_again(backend: Backend) {
    use datahub_relay::db::{Conn, DbError};
    let Some(net) = Net::start(backend) else {
        return;
    };
    // More rows than one chunk (1024): 200 segments of 6 shards. The shards are never sent, so
    // their ids need not be real hashes.
    let params = Params {
        data_shards: 4,
        parity_shards: 2,
        segment_len: 1024,
    };
    let ids = (0..1200u32)
        .map(|i| datahub_core::ShardId(*blake3::hash(&i.to_le_bytes()).as_bytes()))
        .collect();
    let big = Manifest::new(params, 200 * 1024, ids).unwrap();
    let shards = big.all_shard_ids().len();
    assert!(shards > 1024, "{shards}");
    let uploader = key("uploader");
    let (status, body) = post_manifest(&net, &uploader, &big).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["missing"].as_array().unwrap().len(), shards, "{body}");
    let rows = |net: &Net| {
        let id = big.object_id().to_string();
        let relay = net.relay().clone();
        async move {
            relay
                .db
                .read(move |conn: &mut dyn Conn| -> Result<Vec<(i64, i64, String)>, DbError> {
                    conn.query(
                        "SELECT segment, position, shard FROM shards WHERE object = $1 ORDER BY segment, position",
                        datahub_relay::params![id],
                    )?
                    .iter()
                    .map(|r| Ok((r.int(0)?, r.int(1)?, r.text(2)?)))
                    .collect()
                })
                .await
                .unwrap()
        }
    };
    let whole = rows(&net).await;
    let expected: Vec<(i64, i64, String)> = (0..big.segment_count())
        .flat_map(|segment| {
            big.shard_ids(segment)
                .iter()
                .enumerate()
                .map(move |(position, id)| (i64::from(segment), position as i64, id.to_string()))
        })
        .collect();
    assert_eq!(
        whole, expected,
        "each shard at its own segment and position"
    );
    // A relay stopped after the first chunk.
    let id = big.object_id().to_string();
    net.relay()
        .db
        .write(move |conn: &mut dyn Conn| -> Result<u64, DbError> {
            conn.execute(
                "DELETE FROM shards WHERE object = $1 AND segment >= 100",
                datahub_relay::params![id],
            )
        })
        .await
        .unwrap();
    assert!(rows(&net).await.len() < shards);
    let (status, body) = post_manifest(&net, &uploader, &big).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["missing"].as_array().unwrap().len(), shards, "{body}");
    assert_eq!(rows(&net).await, expected);
}

async fn only_leases_and_requesters_create_objects(backend: Backend) {
    let Some(net) = Net::start_with(backend, |c| c.storage.open_uploads = false) else {
        return;
    };
    let refused = |(status, body): (StatusCode, Value)| {
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("upload_not_allowed")),
            "{body}"
        );
    };
    // A stranger's key: refused, nothing recorded.
    let junk = sealed(10_000);
    refused(post_manifest(&net, &key("stranger"), &junk).await);
    assert!(!object_exists(&net, &junk).await);

    // A requester with an upload campaign: allowed (so is one with funds only, below).
    let owner = key("owner");
    let mut spec = campaign_spec("photos", &owner, 1, 1, "1");
    spec["kind"] = serde_json::json!("image_upload");
    spec["items"] = serde_json::json!([{ "prompt": "a cat" }]);
    let (status, created) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, body) = post_manifest(&net, &owner, &sealed(10_000)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let funded = key("funded");
    let (status, body) = net
        .grant(
            &funded.public_key().address(),
            CHAIN,
            "USDT",
            "1",
            "fund-funded",
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, body) = post_manifest(&net, &funded, &sealed(10_000)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A contributor: refused until it leases an upload task, then allowed.
    let worker = Worker::sign_in(&net, "uploader").await;
    refused(post_manifest_bearer(&net, &worker.token, &sealed(10_000)).await);
    let (status, task) = worker.next(&net, "photos").await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let (status, body) = post_manifest_bearer(&net, &worker.token, &sealed(10_000)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A lease on a campaign that is not for uploads does not count.
    let text = campaign_spec("captions", &owner, 1, 1, "1");
    let (status, created) = net.create_campaign(&owner, &text).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let reader = Worker::sign_in(&net, "reader").await;
    let (status, task) = reader.next(&net, "captions").await;
    assert_eq!(status, StatusCode::OK, "{task}");
    refused(post_manifest_bearer(&net, &reader.token, &sealed(10_000)).await);
}

macro_rules! on_both {
    ($($name:ident),*) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if super::postgres_admin_url().is_some() {
                        super::$name(super::Backend::Postgres).await;
                    }
                }
            )*
        }
    };
}

on_both!(
    too_many_shards,
    wallet_quota,
    wallet_shard_quota,
    a_manifest_cut_short_is_finished_when_sent_again,
    only_leases_and_requesters_create_objects
);
