//! Wycheproof's secp256k1 ECDSA vectors, Bitcoin variant (SHA-256, DER, low-s only), run
//! through `PublicKey::verify_prehash`, the check that recoverable signatures also rely on.
//! Every valid signature's high-s twin (`n - s`) must be refused too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use datahub_core::{PublicKey, eth::SignatureError};
use k256::sha2::{Digest, Sha256};
use wycheproof::{
    TestResult,
    ecdsa::{TestName, TestSet},
};

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn wycheproof_secp256k1_bitcoin() {
    let set = TestSet::load(TestName::EcdsaSecp256k1Sha256Bitcoin).unwrap();
    let (mut valid, mut invalid, mut high_s) = (0, 0, 0);
    for group in &set.test_groups {
        let key = PublicKey::from_sec1_bytes(&group.key.key).unwrap();
        for test in &group.tests {
            let digest: [u8; 32] = Sha256::digest(&*test.msg).into();
            // Strict DER: a BER or otherwise non-canonical encoding is an invalid signature.
            let parsed = ecdsa::Signature::<k256::Secp256k1>::from_der(&test.sig);
            let result = parsed
                .as_ref()
                .map_err(|_| SignatureError::InvalidScalar)
                .and_then(|sig| key.verify_prehash(&digest, &sig.to_bytes().into()));
            match test.result {
                TestResult::Valid => {
                    assert!(
                        result.is_ok(),
                        "tc {} ({}) should verify: {result:?}",
                        test.tc_id,
                        test.comment
                    );
                    valid += 1;
                    // The malleated twin, (r, n - s), verifies under plain ECDSA but not here.
                    let sig = parsed.unwrap();
                    let s = -*sig.s();
                    let twin = ecdsa::Signature::<k256::Secp256k1>::from_scalars(
                        sig.r().to_bytes(),
                        s.to_bytes(),
                    )
                    .unwrap();
                    assert_eq!(
                        key.verify_prehash(&digest, &twin.to_bytes().into()),
                        Err(SignatureError::HighS),
                        "tc {}",
                        test.tc_id
                    );
                    high_s += 1;
                }
                TestResult::Invalid => {
                    assert!(
                        result.is_err(),
                        "tc {} ({}) should be refused",
                        test.tc_id,
                        test.comment
                    );
                    invalid += 1;
                }
                TestResult::Acceptable => {}
            }
        }
    }
    println!(
        "wycheproof secp256k1 bitcoin: {valid} valid, {invalid} invalid, {high_s} high-s twins refused"
    );
    assert!(
        valid > 50 && invalid > 200,
        "valid {valid}, invalid {invalid}"
    );
    assert_eq!(high_s, valid);
}
