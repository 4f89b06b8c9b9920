//! Wycheproof's vectors for the primitives the sealed-object format stands on:
//! ChaCha20-Poly1305 (chunks and key wrap) and secp256k1 ECDH (key wrap).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit};
use datahub_core::{PublicKey, SecretKey};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
use wycheproof::TestResult;

#[test]
fn chacha20_poly1305() {
    let set =
        wycheproof::aead::TestSet::load(wycheproof::aead::TestName::ChaCha20Poly1305).unwrap();
    let (mut run, mut skipped) = (0, 0);
    for group in &set.test_groups {
        if group.nonce_size != 96 || group.key_size != 256 || group.tag_size != 128 {
            // Only 96-bit nonces exist in our construction; these groups are all invalid.
            assert!(group.tests.iter().all(|t| t.result == TestResult::Invalid));
            skipped += group.tests.len();
            continue;
        }
        for t in &group.tests {
            let cipher = ChaCha20Poly1305::new_from_slice(&t.key).unwrap();
            let nonce: [u8; 12] = t.nonce.as_slice().try_into().unwrap();
            let mut sealed = t.pt.to_vec();
            let tag = cipher
                .encrypt_inout_detached(&nonce.into(), &t.aad, sealed.as_mut_slice().into())
                .unwrap();
            let matches = sealed == *t.ct && tag.as_slice() == t.tag.as_slice();
            let mut opened = t.ct.to_vec();
            let tag: [u8; 16] = t.tag.as_slice().try_into().unwrap();
            let decrypted = cipher.decrypt_inout_detached(
                &nonce.into(),
                &t.aad,
                opened.as_mut_slice().into(),
                &tag.into(),
            );
            match t.result {
                TestResult::Valid => {
                    assert!(matches, "tc {}: wrong ciphertext", t.tc_id);
                    assert!(
                        decrypted.is_ok() && opened == *t.pt,
                        "tc {}: did not open",
                        t.tc_id
                    );
                }
                TestResult::Invalid => {
                    assert!(decrypted.is_err(), "tc {} ({}): opened", t.tc_id, t.comment)
                }
                TestResult::Acceptable => {}
            }
            run += 1;
        }
    }
    assert!(run > 250, "ran {run} (skipped {skipped})");
}

/// The SEC1 point inside a DER SubjectPublicKeyInfo for secp256k1, if it has exactly the
/// standard form (id-ecPublicKey, secp256k1, a BIT STRING with no unused bits).
fn spki_point(der: &[u8]) -> Option<&[u8]> {
    const UNCOMPRESSED: &str = "3056301006072a8648ce3d020106052b8104000a034200";
    const COMPRESSED: &str = "3036301006072a8648ce3d020106052b8104000a032200";
    for (prefix, point_len) in [(UNCOMPRESSED, 65), (COMPRESSED, 33)] {
        let prefix = hex::decode(prefix).unwrap();
        if der.len() == prefix.len() + point_len && der.starts_with(&prefix) {
            return Some(&der[prefix.len()..]);
        }
    }
    None
}

#[test]
fn secp256k1_ecdh() {
    let set = wycheproof::ecdh::TestSet::load(wycheproof::ecdh::TestName::EcdhSecp256k1).unwrap();
    let mut valid = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            // Wycheproof writes private keys as minimal big-endian integers (a leading zero byte
            // when the top bit is set); ours are exactly 32 bytes.
            let raw: Vec<u8> = t
                .private_key
                .iter()
                .copied()
                .skip_while(|b| *b == 0)
                .collect();
            let mut secret = vec![0u8; 32usize.saturating_sub(raw.len())];
            secret.extend(raw);
            let secret = SecretKey::from_bytes(&secret).unwrap();
            let shared = spki_point(&t.public_key)
                .and_then(|point| PublicKey::from_sec1_bytes(point).ok())
                .map(|public| *secret.diffie_hellman(&public));
            match t.result {
                TestResult::Valid => {
                    assert_eq!(
                        shared.as_ref().map(|s| s.as_slice()),
                        Some(t.shared_secret.as_slice()),
                        "tc {}",
                        t.tc_id
                    );
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert!(shared.is_none(), "tc {} ({}): accepted", t.tc_id, t.comment)
                }
                TestResult::Acceptable => {
                    if let Some(s) = shared {
                        assert_eq!(s.as_slice(), t.shared_secret.as_slice(), "tc {}", t.tc_id);
                    }
                }
            }
        }
    }
    assert!(valid > 100, "only {valid} valid cases");
}
