//! Writes `test-vectors/sealed-object.json`: `cargo run -p datahub-core --example make_vectors`.
//!
//! Sealing is deterministic given its 32 bytes of entropy, so every vector here can be
//! reproduced by any implementation of `docs/sealed-object.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use datahub_core::header::Header;
use datahub_core::stream::SEALED_CHUNK_LEN;
use datahub_core::{Manifest, Params, SecretKey, seal_bytes};
use serde_json::{Value, json};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn identity(name: &str) -> SecretKey {
    SecretKey::derive(blake3::hash(name.as_bytes()).as_bytes())
}

/// The sealed stream: each segment's data shards, joined and cut to the segment's length.
fn sealed_stream(manifest: &Manifest, segments: &[datahub_core::EncodedSegment]) -> Vec<u8> {
    let k = usize::from(manifest.params().data_shards);
    let mut out = Vec::new();
    for segment in segments {
        let layout = manifest.segment(segment.index).unwrap();
        let mut bytes: Vec<u8> = segment.shards[..k]
            .iter()
            .flat_map(|s| s.bytes.clone())
            .collect();
        bytes.truncate(layout.len);
        out.extend(bytes);
    }
    out
}

struct Object {
    name: &'static str,
    plaintext_len: usize,
    recipients: &'static [&'static str],
    params: Params,
}

fn main() {
    let names = ["alice", "bob", "mallory"];
    let identities: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| (n.to_string(), json!(hex::encode(*identity(n).to_bytes()))))
        .collect();
    let objects = [
        Object {
            name: "empty",
            plaintext_len: 0,
            recipients: &["alice"],
            params: Params {
                data_shards: 2,
                parity_shards: 1,
                segment_len: 1024,
            },
        },
        Object {
            name: "one_byte",
            plaintext_len: 1,
            recipients: &["alice"],
            params: Params {
                data_shards: 2,
                parity_shards: 1,
                segment_len: 1024,
            },
        },
        Object {
            name: "two_recipients_three_segments",
            plaintext_len: 2500,
            recipients: &["alice", "bob"],
            params: Params {
                data_shards: 3,
                parity_shards: 2,
                segment_len: 1024,
            },
        },
        Object {
            name: "three_chunks",
            plaintext_len: 2 * 65536 + 10,
            recipients: &["alice"],
            params: Params::default(),
        },
        Object {
            name: "full_final_chunk",
            plaintext_len: 65536,
            recipients: &["alice", "bob"],
            params: Params {
                data_shards: 16,
                parity_shards: 8,
                segment_len: 16 * 1024,
            },
        },
    ];
    let mut out_objects = Vec::new();
    let mut streams = std::collections::HashMap::new();
    for (i, o) in objects.iter().enumerate() {
        let entropy = *blake3::hash(format!("entropy {}", o.name).as_bytes()).as_bytes();
        let recipients: Vec<_> = o
            .recipients
            .iter()
            .map(|n| identity(n).public_key())
            .collect();
        let (manifest, segments) =
            seal_bytes(&pattern(o.plaintext_len), &recipients, &entropy, o.params).unwrap();
        let sealed = sealed_stream(&manifest, &segments);
        let mut v = json!({
            "name": o.name,
            "plaintext_len": o.plaintext_len,
            "recipients": o.recipients,
            "entropy": hex::encode(entropy),
            "params": {"k": o.params.data_shards, "m": o.params.parity_shards, "segment_len": o.params.segment_len},
            "sealed_len": sealed.len(),
            "sealed_blake3": blake3::hash(&sealed).to_hex().to_string(),
            "manifest": hex::encode(manifest.to_bytes()),
            "object_id": manifest.object_id().to_string(),
        });
        if sealed.len() <= 4096 {
            v["sealed"] = json!(hex::encode(&sealed));
        }
        out_objects.push(v);
        streams.insert(o.name, (sealed, i));
    }

    // Failures of the sealed stream, as edits of `three_chunks`: `parts` are ranges of its
    // sealed bytes ([start, end)) and hex literals, joined in order.
    let (base, _) = &streams["three_chunks"];
    let len = base.len();
    let h = Header::len_for(1);
    let c = SEALED_CHUNK_LEN;
    let flip = |at: usize| json!([[0, at], hex::encode([base[at] ^ 0x01]), [at + 1, len]]);
    let stream_failures = [
        ("chunk_swapped", json!([[0, h], [h + c, h + 2 * c], [h, h + c], [h + 2 * c, len]]), "alice", "decryption failed"),
        ("chunk_duplicated", json!([[0, h + c], [h, len]]), "alice", "decryption failed"),
        ("chunk_dropped", json!([[0, h + c], [h + 2 * c, len]]), "alice", "decryption failed"),
        ("final_chunk_missing", json!([[0, h + 2 * c]]), "alice", "decryption failed"),
        ("stream_truncated_mid_chunk", json!([[0, len - 5]]), "alice", "decryption failed"),
        ("stream_truncated_in_header", json!([[0, h - 1]]), "alice", "decryption failed"),
        ("payload_missing", json!([[0, h]]), "alice", "decryption failed"),
        ("trailing_data", json!([[0, len], "00"]), "alice", "decryption failed"),
        ("trailing_chunk", json!([[0, len], [h, h + c]]), "alice", "decryption failed"),
        ("ciphertext_flipped", flip(h + c + 100), "alice", "decryption failed"),
        ("tag_flipped", flip(h + c - 1), "alice", "decryption failed"),
        ("final_tag_flipped", flip(len - 1), "alice", "decryption failed"),
        ("header_nonce_flipped", flip(6), "alice", "decryption failed"),
        ("header_stanza_flipped", flip(22 + 40), "alice", "decryption failed"),
        ("header_mac_flipped", flip(h - 1), "alice", "decryption failed"),
        ("recipient_count_changed", json!([[0, 5], "02", [6, len]]), "alice", "decryption failed"),
        ("wrong_identity", json!([[0, len]]), "mallory", "decryption failed"),
        ("bad_magic", json!(["44485358", [4, len]]), "alice", "not sealed"),
        ("unsupported_version", json!([[0, 4], "02", [5, len]]), "alice", "unsupported version"),
    ]
    .map(|(name, parts, identity, error)| {
        json!({"name": name, "object": "three_chunks", "parts": parts, "identity": identity, "error": error})
    });

    // Failures of shards and manifests, on `two_recipients_three_segments` (k = 3, m = 2).
    let shard_cases = json!([
        {"name": "shard_corrupt", "object": "two_recipients_three_segments", "corrupt": [[0, 1]], "missing": [], "opens": true},
        {"name": "shards_missing_up_to_parity", "object": "two_recipients_three_segments", "corrupt": [], "missing": [[0, 0], [0, 4], [1, 2], [1, 3], [2, 0], [2, 1]], "opens": true},
        {"name": "shard_corrupt_and_missing_up_to_parity", "object": "two_recipients_three_segments", "corrupt": [[1, 0]], "missing": [[1, 3]], "opens": true},
        {"name": "shards_lost_beyond_parity", "object": "two_recipients_three_segments", "corrupt": [[2, 0]], "missing": [[2, 3], [2, 4]], "opens": false, "error": "not enough shards in segment 2"},
    ]);
    // Grants (§3.1): the file key of `two_recipients_three_segments` (sealed to alice and bob)
    // re-wrapped by alice to mallory's key; opened by mallory with the grant, by nobody else,
    // and refused for another object (its header's MAC does not match).
    let grant_of = |object: &str, to: &str| {
        let (stream, _) = &streams[object];
        let (header, _) = Header::parse(stream).unwrap();
        let file_key = header.unwrap(&identity("alice")).unwrap();
        let entropy = *blake3::hash(format!("grant entropy {object} {to}").as_bytes()).as_bytes();
        let grant = header.grant(&file_key, &identity(to).public_key(), &entropy);
        (hex::encode(entropy), hex::encode(grant.to_bytes()))
    };
    let (entropy, grant) = grant_of("two_recipients_three_segments", "mallory");
    let grants = json!([
        {"name": "grant_to_mallory", "object": "two_recipients_three_segments", "by": "alice", "to": "mallory", "entropy": entropy, "grant": grant, "identity": "mallory", "opens": true},
        {"name": "grant_used_by_another_key", "object": "two_recipients_three_segments", "by": "alice", "to": "mallory", "entropy": entropy, "grant": grant, "identity": "bob", "opens": false, "error": "decryption failed"},
        {"name": "grant_for_another_object", "object": "three_chunks", "by": "alice", "to": "mallory", "entropy": entropy, "grant": grant, "identity": "mallory", "opens": false, "error": "decryption failed"},
    ]);
    let doc = json!({
        "_comment": "DataHub sealed-object v1 test vectors (docs/sealed-object.md), written by `cargo run -p datahub-core --example make_vectors`. Identities are secp256k1 secret keys (hex, big-endian). Plaintext of length n is the bytes i % 251 for i in 0..n. Sealing is deterministic given `entropy`; `sealed` (given when at most 4096 bytes) is the sealed stream, header then payload; `sealed_blake3` its BLAKE3 hash; `manifest` the manifest bytes and `object_id` their BLAKE3 hash. `stream_failures` edit an object's sealed stream: `parts` are [start, end) byte ranges of it and hex literals, joined in order; opening the result with `identity` must fail with `error`. `shard_failures` damage the shards of an object ([segment, shard] pairs; `corrupt` flips the low bit of the shard's first byte) and say whether it must still open. `grants` (§3.1) are stanzas made by `by` (a recipient of the object named in the first case) for `to`'s key with `entropy`: opening `object` with `identity` and the grant gives its plaintext when `opens`, else fails with `error`.",
        "identities": identities,
        "objects": out_objects,
        "stream_failures": stream_failures,
        "shard_failures": shard_cases,
        "grants": grants,
    });
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/sealed-object.json"
    );
    std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    println!("wrote {path}");
}
