//! The client's exported API under wasm-bindgen-test, in Node.js and in headless Chromium:
//! the shared vectors of `test-vectors/sealed-object.json` through `sealBytes`, `openBytes`
//! and `openSealed`, `sealBlob` over a real `Blob`, and the IndexedDB keystore where there is
//! one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use js_sys::{Array, Reflect, Uint8Array};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::js::parse_hex_loose;
use crate::seal::{Blob, open_bytes, open_sealed, seal_blob, seal_bytes};
use crate::signer::LocalSigner;

const SEALED: &str = include_str!("../../../test-vectors/sealed-object.json");

fn doc() -> Value {
    serde_json::from_str(SEALED).unwrap()
}

fn unhex(text: &str) -> Vec<u8> {
    parse_hex_loose(text).unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn secret(doc: &Value, name: &str) -> String {
    format!("0x{}", doc["identities"][name].as_str().unwrap())
}

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &key.into()).unwrap()
}

fn options(o: &Value) -> JsValue {
    let options = js_sys::Object::new();
    let set = |k: &str, v: JsValue| Reflect::set(&options, &k.into(), &v).unwrap();
    set("dataShards", o["params"]["k"].as_f64().unwrap().into());
    set("parityShards", o["params"]["m"].as_f64().unwrap().into());
    set(
        "segmentLen",
        o["params"]["segment_len"].as_f64().unwrap().into(),
    );
    set(
        "entropy",
        Uint8Array::from(unhex(o["entropy"].as_str().unwrap()).as_slice()).into(),
    );
    options.into()
}

async fn reseal(doc: &Value, o: &Value) -> JsValue {
    let recipients = o["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            LocalSigner::from_secret(&secret(doc, r.as_str().unwrap()))
                .unwrap()
                .public_key()
        })
        .collect();
    let data = Uint8Array::from(pattern(o["plaintext_len"].as_u64().unwrap() as usize).as_slice());
    seal_bytes(data, recipients, options(o)).await.unwrap()
}

/// The sealed stream: each segment's data shards joined and cut to the segment's length.
fn sealed_stream(o: &Value, sealed: &JsValue) -> Vec<u8> {
    let k = o["params"]["k"].as_u64().unwrap() as u32;
    let segment_len = o["params"]["segment_len"].as_u64().unwrap() as usize;
    let total = o["sealed_len"].as_u64().unwrap() as usize;
    let mut out = Vec::new();
    for segment in Array::from(&get(sealed, "shards")).iter() {
        let mut data = Vec::new();
        for i in 0..k {
            data.extend(Uint8Array::new(&Array::from(&segment).get(i)).to_vec());
        }
        data.truncate(segment_len.min(total - out.len()));
        out.extend(data);
    }
    out
}

fn error_code(e: &JsValue) -> (String, String) {
    (
        get(e, "name").as_string().unwrap(),
        get(e, "code").as_string().unwrap(),
    )
}

#[test]
async fn vectors_reseal_and_open() {
    let doc = doc();
    for o in doc["objects"].as_array().unwrap() {
        let name = o["name"].as_str().unwrap();
        let sealed = reseal(&doc, o).await;
        let manifest = Uint8Array::new(&get(&sealed, "manifest")).to_vec();
        assert_eq!(manifest, unhex(o["manifest"].as_str().unwrap()), "{name}");
        assert_eq!(
            get(&sealed, "objectId").as_string().unwrap(),
            o["object_id"].as_str().unwrap(),
            "{name}"
        );
        let stream = sealed_stream(o, &sealed);
        assert_eq!(
            blake3::hash(&stream).to_hex().as_str(),
            o["sealed_blake3"].as_str().unwrap(),
            "{name}"
        );
        let plaintext = pattern(o["plaintext_len"].as_u64().unwrap() as usize);
        for r in o["recipients"].as_array().unwrap() {
            let key = secret(&doc, r.as_str().unwrap());
            let opened = open_bytes(
                Uint8Array::from(manifest.as_slice()),
                Array::from(&get(&sealed, "shards")),
                key.clone(),
            )
            .await
            .unwrap();
            assert_eq!(opened.to_vec(), plaintext, "{name}");
            let opened = open_sealed(Uint8Array::from(stream.as_slice()), key)
                .await
                .unwrap();
            assert_eq!(opened.to_vec(), plaintext, "{name}");
        }
    }
}

#[test]
async fn stream_failures_are_refused_with_their_code() {
    let doc = doc();
    for case in doc["stream_failures"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let o = doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == case["object"])
            .unwrap();
        let base = sealed_stream(o, &reseal(&doc, o).await);
        let mut edited = Vec::new();
        for part in case["parts"].as_array().unwrap() {
            match part {
                Value::String(literal) => edited.extend(unhex(literal)),
                range => edited.extend_from_slice(
                    &base[range[0].as_u64().unwrap() as usize..range[1].as_u64().unwrap() as usize],
                ),
            }
        }
        let key = secret(&doc, case["identity"].as_str().unwrap());
        let err = open_sealed(Uint8Array::from(edited.as_slice()), key)
            .await
            .expect_err(name);
        let code = match case["error"].as_str().unwrap() {
            "decryption failed" => "DecryptionFailed",
            "not sealed" => "NotSealed",
            "unsupported version" => "UnsupportedVersion",
            other => panic!("unknown error {other}"),
        };
        assert_eq!(
            error_code(&err),
            ("OpenError".into(), code.into()),
            "{name}"
        );
    }
}

#[test]
async fn shard_failures_open_or_are_refused() {
    let doc = doc();
    for case in doc["shard_failures"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let o = doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == case["object"])
            .unwrap();
        // Array::from would copy: edit the arrays themselves.
        let shards: Array = get(&reseal(&doc, o).await, "shards").dyn_into().unwrap();
        let slot = |pair: &Value| {
            let segment: Array = shards
                .get(pair[0].as_u64().unwrap() as u32)
                .dyn_into()
                .unwrap();
            (segment, pair[1].as_u64().unwrap() as u32)
        };
        for pair in case["missing"].as_array().unwrap() {
            let (segment, i) = slot(pair);
            segment.set(i, JsValue::NULL);
        }
        for pair in case["corrupt"].as_array().unwrap() {
            let (segment, i) = slot(pair);
            let mut bytes = Uint8Array::new(&segment.get(i)).to_vec();
            bytes[0] ^= 1;
            segment.set(i, Uint8Array::from(bytes.as_slice()).into());
        }
        let manifest = Uint8Array::from(unhex(o["manifest"].as_str().unwrap()).as_slice());
        let key = secret(&doc, o["recipients"][0].as_str().unwrap());
        let result = open_bytes(manifest, shards, key).await;
        if case["opens"].as_bool().unwrap() {
            let plaintext = pattern(o["plaintext_len"].as_u64().unwrap() as usize);
            assert_eq!(result.unwrap().to_vec(), plaintext, "{name}");
        } else {
            let err = result.expect_err(name);
            assert_eq!(
                error_code(&err),
                ("OpenError".into(), "NotEnoughShards".into()),
                "{name}"
            );
        }
    }
}

#[test]
async fn seal_blob_matches_seal_bytes() {
    let doc = doc();
    let o = doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "two_recipients_three_segments")
        .unwrap();
    let whole = reseal(&doc, o).await;
    let data = Uint8Array::from(pattern(o["plaintext_len"].as_u64().unwrap() as usize).as_slice());
    let blob_ctor: js_sys::Function = get(&js_sys::global(), "Blob").dyn_into().unwrap();
    // new Blob([data]): the first argument is the list of parts.
    let blob = Reflect::construct(&blob_ctor, &Array::of1(&Array::of1(&data))).unwrap();
    let recipients = o["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            LocalSigner::from_secret(&secret(&doc, r.as_str().unwrap()))
                .unwrap()
                .compressed_public_key()
        })
        .collect();
    let streamed = seal_blob(blob.unchecked_into::<Blob>(), recipients, options(o))
        .await
        .unwrap();
    assert_eq!(
        get(&streamed, "objectId").as_string(),
        get(&whole, "objectId").as_string()
    );
    assert_eq!(
        get(&streamed, "segmentCount").as_f64(),
        Some(f64::from(Array::from(&get(&whole, "shards")).length()))
    );
}

#[test]
async fn local_keys_persist_where_there_is_indexeddb() {
    let has_idb = !get(&js_sys::global(), "indexedDB").is_undefined();
    let result = LocalSigner::load_or_create(Some("wasm-bindgen-test".into())).await;
    if !has_idb {
        let err = result.err().expect("no IndexedDB in Node.js");
        assert_eq!(
            error_code(&err),
            ("KeystoreError".into(), "Unavailable".into())
        );
        return;
    }
    let first = result.unwrap();
    let again = LocalSigner::load_or_create(Some("wasm-bindgen-test".into()))
        .await
        .unwrap();
    assert_eq!(first.address(), again.address());
    wasm_bindgen_futures::JsFuture::from(
        LocalSigner::forget(Some("wasm-bindgen-test".into())).unwrap(),
    )
    .await
    .unwrap();
    assert!(
        LocalSigner::load(Some("wasm-bindgen-test".into()))
            .await
            .unwrap()
            .is_none()
    );
}
