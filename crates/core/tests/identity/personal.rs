use datahub_core::eth::{Signature, SignatureError, personal};

use crate::{hex32, key_for, vectors};

const V: &str = include_str!("../../../../test-vectors/eth-personal-sign.json");

fn message_bytes(v: &serde_json::Value) -> Vec<u8> {
    match v.get("message_hex") {
        Some(h) => hex::decode(h.as_str().unwrap().trim_start_matches("0x")).unwrap(),
        None => v["message"].as_str().unwrap().as_bytes().to_vec(),
    }
}

both! {
    fn sign_and_recover_match_ethers() {
        let v = vectors(V);
        for case in v["valid"].as_array().unwrap() {
            let msg = message_bytes(case);
            assert_eq!(personal::hash_message(&msg), hex32(case["digest"].as_str().unwrap()));
            let key = key_for(case["signer"].as_str().unwrap());
            // RFC 6979 makes signatures deterministic: ours are byte-for-byte ethers'.
            let sig = personal::sign_message(&key, &msg);
            assert_eq!(sig.to_hex(), case["signature"].as_str().unwrap());
            let theirs = Signature::from_hex(case["signature"].as_str().unwrap()).unwrap();
            let address = personal::recover_message(&msg, &theirs).unwrap();
            assert_eq!(address.to_checksum(), case["address"].as_str().unwrap());
            personal::verify_message(&msg, &theirs, &address).unwrap();
        }
    }
}

both! {
    fn v_of_zero_or_one_is_accepted() {
        let v = vectors(V);
        let case = &v["valid_v01"];
        let sig = Signature::from_hex(case["signature"].as_str().unwrap()).unwrap();
        let address = personal::recover_message(case["message"].as_str().unwrap().as_bytes(), &sig).unwrap();
        assert_eq!(address.to_checksum(), case["address"].as_str().unwrap());
        // Written back with v = 27/28.
        assert!(sig.v() == 27 || sig.v() == 28);
    }
}

both! {
    fn each_failure_mode_is_refused() {
        let v = vectors(V);
        for case in v["invalid"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let msg = case["message"].as_str().unwrap().as_bytes();
            let expected_address = case["address"].as_str().unwrap().parse().unwrap();
            let result = Signature::from_hex(case["signature"].as_str().unwrap())
                .and_then(|sig| personal::verify_message(msg, &sig, &expected_address));
            let err = result.expect_err(name);
            let kind = format!("{err:?}");
            assert!(kind.starts_with(case["error"].as_str().unwrap()), "{name}: {kind}");
        }
    }
}

both! {
    fn high_s_is_refused_even_though_it_recovers_in_k256() {
        let v = vectors(V);
        let case = v["invalid"].as_array().unwrap().iter().find(|c| c["name"] == "high_s").unwrap();
        let bytes = hex::decode(case["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap();
        assert_eq!(Signature::from_bytes(&bytes), Err(SignatureError::HighS));
    }
}

both! {
    fn signatures_are_low_s_and_round_trip() {
        let key = datahub_core::SecretKey::derive(&[7u8; 32]);
        // n / 2, big-endian.
        let half_n = hex32("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");
        for i in 0u32..64 {
            let msg = format!("message {i}");
            let sig = personal::sign_message(&key, msg.as_bytes());
            assert!(*sig.s() <= half_n);
            let again = Signature::from_bytes(&sig.to_bytes()).unwrap();
            assert_eq!(again, sig);
            assert_eq!(Signature::from_hex(&sig.to_hex()).unwrap(), sig);
            assert_eq!(personal::recover_message(msg.as_bytes(), &sig).unwrap(), key.address());
        }
    }
}
