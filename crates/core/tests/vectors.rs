//! The shared test vectors in `test-vectors/`, read the same way natively and in wasm.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{pattern, unhex};
use datahub_core::erasure::SegmentError;
use datahub_core::manifest::{ObjectId, Params};
use datahub_core::{Manifest, OpenError, SecretKey, open_bytes, open_sealed, seal_bytes};
use serde_json::Value;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const SEALED: &str = include_str!("../../../test-vectors/sealed-object.json");
const BLAKE3: &str = include_str!("../../../test-vectors/blake3-official.json");

fn vectors() -> Value {
    serde_json::from_str(SEALED).unwrap()
}

fn identity(doc: &Value, name: &str) -> SecretKey {
    SecretKey::from_bytes(&unhex(doc["identities"][name].as_str().unwrap())).unwrap()
}

fn object<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap()
}

fn params(o: &Value) -> Params {
    Params {
        data_shards: o["params"]["k"].as_u64().unwrap() as u8,
        parity_shards: o["params"]["m"].as_u64().unwrap() as u8,
        segment_len: o["params"]["segment_len"].as_u64().unwrap() as u32,
    }
}

/// Reseals an object from its vector and returns its manifest, shards and sealed stream.
fn reseal(doc: &Value, o: &Value) -> (Manifest, Vec<Vec<Vec<u8>>>, Vec<u8>) {
    let recipients: Vec<_> = o["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| identity(doc, n.as_str().unwrap()).public_key())
        .collect();
    let entropy: [u8; 32] = unhex(o["entropy"].as_str().unwrap()).try_into().unwrap();
    let plaintext = pattern(o["plaintext_len"].as_u64().unwrap() as usize);
    let (manifest, segments) = seal_bytes(&plaintext, &recipients, &entropy, params(o)).unwrap();
    let k = usize::from(manifest.params().data_shards);
    let mut sealed = Vec::new();
    for s in &segments {
        let mut data: Vec<u8> = s.shards[..k].iter().flat_map(|x| x.bytes.clone()).collect();
        data.truncate(manifest.segment(s.index).unwrap().len);
        sealed.extend(data);
    }
    let shards = segments
        .into_iter()
        .map(|s| s.shards.into_iter().map(|x| x.bytes).collect())
        .collect();
    (manifest, shards, sealed)
}

#[test]
fn objects_reseal_to_the_same_bytes_and_open() {
    let doc = vectors();
    for o in doc["objects"].as_array().unwrap() {
        let name = o["name"].as_str().unwrap();
        let (manifest, shards, sealed) = reseal(&doc, o);
        assert_eq!(
            hex::encode(manifest.to_bytes()),
            o["manifest"].as_str().unwrap(),
            "{name}"
        );
        let id = ObjectId(unhex(o["object_id"].as_str().unwrap()).try_into().unwrap());
        assert_eq!(manifest.object_id(), id, "{name}");
        assert_eq!(
            sealed.len() as u64,
            o["sealed_len"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            blake3::hash(&sealed).to_hex().as_str(),
            o["sealed_blake3"].as_str().unwrap(),
            "{name}"
        );
        if let Some(hex_sealed) = o["sealed"].as_str() {
            assert_eq!(hex::encode(&sealed), hex_sealed, "{name}");
        }
        let plaintext = pattern(o["plaintext_len"].as_u64().unwrap() as usize);
        let parsed = Manifest::parse_with_id(&unhex(o["manifest"].as_str().unwrap()), &id).unwrap();
        for r in o["recipients"].as_array().unwrap() {
            let who = identity(&doc, r.as_str().unwrap());
            assert_eq!(
                open_sealed(&sealed, &who).unwrap().as_slice(),
                plaintext.as_slice(),
                "{name}"
            );
            let slots: Vec<Vec<Option<&[u8]>>> = shards
                .iter()
                .map(|s| s.iter().map(|x| Some(x.as_slice())).collect())
                .collect();
            assert_eq!(
                open_bytes(&parsed, &slots, &who).unwrap().as_slice(),
                plaintext.as_slice(),
                "{name}"
            );
        }
    }
}

fn error_kind(e: &OpenError) -> String {
    match e {
        OpenError::DecryptionFailed => "decryption failed".into(),
        OpenError::NotSealed => "not sealed".into(),
        OpenError::UnsupportedVersion(_) => "unsupported version".into(),
        OpenError::Segment(SegmentError::NotEnoughShards { segment, .. }) => {
            format!("not enough shards in segment {segment}")
        }
        other => format!("{other:?}"),
    }
}

#[test]
fn every_stream_failure_is_refused() {
    let doc = vectors();
    for case in doc["stream_failures"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (_, _, base) = reseal(&doc, object(&doc, case["object"].as_str().unwrap()));
        let mut edited = Vec::new();
        for part in case["parts"].as_array().unwrap() {
            match part {
                Value::String(literal) => edited.extend(unhex(literal)),
                range => {
                    let (start, end) = (
                        range[0].as_u64().unwrap() as usize,
                        range[1].as_u64().unwrap() as usize,
                    );
                    edited.extend_from_slice(&base[start..end]);
                }
            }
        }
        let who = identity(&doc, case["identity"].as_str().unwrap());
        let err = open_sealed(&edited, &who).expect_err(name);
        assert_eq!(error_kind(&err), case["error"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn shard_failures_open_or_fail_as_said() {
    let doc = vectors();
    for case in doc["shard_failures"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let o = object(&doc, case["object"].as_str().unwrap());
        let (manifest, shards, _) = reseal(&doc, o);
        let mut slots: Vec<Vec<Option<Vec<u8>>>> = shards
            .into_iter()
            .map(|s| s.into_iter().map(Some).collect())
            .collect();
        let at = |v: &Value| {
            (
                v[0].as_u64().unwrap() as usize,
                v[1].as_u64().unwrap() as usize,
            )
        };
        for c in case["corrupt"].as_array().unwrap() {
            let (s, i) = at(c);
            slots[s][i].as_mut().unwrap()[0] ^= 1;
        }
        for c in case["missing"].as_array().unwrap() {
            let (s, i) = at(c);
            slots[s][i] = None;
        }
        let who = identity(&doc, o["recipients"][0].as_str().unwrap());
        let result = open_bytes(&manifest, &slots, &who);
        if case["opens"].as_bool().unwrap() {
            let plaintext = pattern(o["plaintext_len"].as_u64().unwrap() as usize);
            assert_eq!(result.unwrap().as_slice(), plaintext.as_slice(), "{name}");
        } else {
            assert_eq!(
                error_kind(&result.unwrap_err()),
                case["error"].as_str().unwrap(),
                "{name}"
            );
        }
    }
}

#[test]
fn blake3_official_vectors() {
    let doc: Value = serde_json::from_str(BLAKE3).unwrap();
    let key: [u8; 32] = doc["key"].as_str().unwrap().as_bytes().try_into().unwrap();
    let context = doc["context_string"].as_str().unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() > 30);
    for case in cases {
        let input = pattern(case["input_len"].as_u64().unwrap() as usize);
        let check = |expected: &str, mut reader: blake3::OutputReader, short: [u8; 32]| {
            let expected = unhex(expected);
            let mut out = vec![0u8; expected.len()];
            reader.fill(&mut out);
            assert_eq!(out, expected);
            assert_eq!(short, expected[..32]);
        };
        let mut h = blake3::Hasher::new();
        h.update(&input);
        check(
            case["hash"].as_str().unwrap(),
            h.finalize_xof(),
            *blake3::hash(&input).as_bytes(),
        );
        let mut h = blake3::Hasher::new_keyed(&key);
        h.update(&input);
        check(
            case["keyed_hash"].as_str().unwrap(),
            h.finalize_xof(),
            *blake3::keyed_hash(&key, &input).as_bytes(),
        );
        let mut h = blake3::Hasher::new_derive_key(context);
        h.update(&input);
        check(
            case["derive_key"].as_str().unwrap(),
            h.finalize_xof(),
            blake3::derive_key(context, &input),
        );
        // Shard ids are plain BLAKE3 hashes.
        assert_eq!(
            datahub_core::ShardId::of(&input).0,
            *blake3::hash(&input).as_bytes()
        );
    }
}

#[test]
fn grants_are_made_again_and_open_as_said() {
    use datahub_core::StreamOpener;
    use datahub_core::header::{Grant, Header};
    let doc = vectors();
    let cases = doc["grants"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let text = |field: &str| case[field].as_str().unwrap();
        let o = object(&doc, text("object"));
        let (_, _, sealed) = reseal(&doc, o);
        let grant = Grant::parse(&unhex(text("grant"))).unwrap();
        if case["opens"] == true {
            // Made again by its recipient from the document's entropy: the same 81 bytes.
            let (header, _) = Header::parse(&sealed).unwrap();
            let file_key = header.unwrap(&identity(&doc, text("by"))).unwrap();
            let entropy: [u8; 32] = unhex(text("entropy")).try_into().unwrap();
            let to = identity(&doc, text("to")).public_key();
            assert_eq!(header.grant(&file_key, &to, &entropy), grant, "{name}");
        }
        let mut opener = StreamOpener::with_grant(
            identity(&doc, text("identity")),
            Some(grant),
            sealed.len() as u64,
        );
        let opened = opener
            .update(&sealed)
            .and_then(|plaintext| opener.finish().map(|()| plaintext));
        if case["opens"] == true {
            let plaintext = pattern(o["plaintext_len"].as_u64().unwrap() as usize);
            assert_eq!(opened.unwrap().as_slice(), plaintext.as_slice(), "{name}");
        } else {
            assert_eq!(error_kind(&opened.unwrap_err()), text("error"), "{name}");
        }
    }
}
