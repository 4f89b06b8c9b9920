//! Identity and signatures: keys, EIP-55, EIP-191, EIP-712, SIWE and session keys, checked
//! against the vectors in `test-vectors/eth-*.json` (made by ethers and viem) and the EIPs'
//! own examples. Runs natively and on wasm32 (`wasm-pack test --node crates/core`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

/// Marks a test for both the native harness and wasm-bindgen-test.
macro_rules! both {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        fn $name() $body
    };
}

mod keys;
mod personal;
#[cfg(not(target_arch = "wasm32"))]
mod props;
mod session;
mod siwe;
mod typed_data;

use serde_json::Value as Json;

pub fn vectors(text: &str) -> Json {
    serde_json::from_str(text).expect("vector file is JSON")
}

pub fn hex32(text: &str) -> [u8; 32] {
    hex::decode(text.trim_start_matches("0x"))
        .unwrap()
        .try_into()
        .unwrap()
}

pub fn secret(text: &str) -> datahub_core::SecretKey {
    datahub_core::SecretKey::from_bytes(&hex32(text)).unwrap()
}

/// The secret key labelled `label` in `test-vectors/eth-keys.json`.
pub fn key_for(label: &str) -> datahub_core::SecretKey {
    let keys = vectors(include_str!("../../../../test-vectors/eth-keys.json"));
    let key = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == label)
        .unwrap();
    secret(key["secret"].as_str().unwrap())
}
