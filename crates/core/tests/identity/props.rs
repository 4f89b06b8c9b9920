//! Round-trip properties over random inputs (native only: proptest does not run on wasm32).
use datahub_core::{
    SecretKey,
    eth::{Address, ChainId, Signature, SiweMessage, Timestamp, U256, personal},
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sign_recover_round_trip(entropy in any::<[u8; 32]>(), message in proptest::collection::vec(any::<u8>(), 0..300)) {
        let key = SecretKey::derive(&entropy);
        let sig = personal::sign_message(&key, &message);
        prop_assert_eq!(Signature::from_bytes(&sig.to_bytes()), Ok(sig));
        prop_assert_eq!(personal::recover_message(&message, &sig), Ok(key.address()));
        // Any single flipped bit of the message changes the recovered signer (or fails).
        if !message.is_empty() {
            let mut other = message.clone();
            other[0] ^= 1;
            prop_assert_ne!(personal::recover_message(&other, &sig).ok(), Some(key.address()));
        }
    }

    #[test]
    fn address_text_round_trip(bytes in any::<[u8; 20]>()) {
        let address = Address::from_bytes(bytes);
        let text = address.to_checksum();
        prop_assert_eq!(Address::parse(&text), Ok(address));
        prop_assert_eq!(Address::parse(&text.to_lowercase()), Ok(address));
        prop_assert_eq!(Address::parse_checksummed(&text), Ok(address));
    }

    #[test]
    fn u256_decimal_round_trip(bytes in any::<[u8; 32]>(), small in any::<u128>()) {
        let n = U256::from_be_bytes(bytes);
        prop_assert_eq!(U256::parse(&n.to_string()), Ok(n));
        prop_assert_eq!(U256::from_u128(small).to_string(), small.to_string());
    }

    #[test]
    fn rfc3339_round_trip(millis in -62_167_219_200_000i64..=253_402_300_799_999) {
        let t = Timestamp::from_unix_millis(millis);
        prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Ok(t));
    }

    #[test]
    fn siwe_build_parse_round_trip(
        entropy in any::<[u8; 32]>(),
        domain in "[a-z]{1,12}(\\.[a-z]{2,6}){1,2}(:[0-9]{1,5})?",
        statement in proptest::option::of("[A-Za-z0-9.,!?:/'()*+;=@#-][A-Za-z0-9 .,!?:/'()*+;=@#-]{0,60}"),
        nonce in "[A-Za-z0-9]{8,24}",
        chain in any::<u64>(),
        issued in 0i64..4_000_000_000_000,
        expires in proptest::option::of(0i64..4_000_000_000_000),
        request_id in proptest::option::of("[A-Za-z0-9._~!$&'()*+,;=:@-]{0,16}"),
        resources in proptest::collection::vec("(https://[a-z]{1,10}\\.example/[a-z0-9]{0,8}|urn:datahub:session:campaign:[a-z0-9-]{1,12}|ipfs://[a-z0-9]{10,30})", 0..4),
    ) {
        let message = SiweMessage {
            scheme: None,
            domain,
            address: SecretKey::derive(&entropy).address(),
            statement,
            uri: "https://datahub.example/login".into(),
            chain_id: ChainId(chain),
            nonce,
            issued_at: Timestamp::from_unix_millis(issued),
            expiration_time: expires.map(Timestamp::from_unix_millis),
            not_before: None,
            request_id,
            resources,
        };
        prop_assert_eq!(message.validate(), Ok(()));
        prop_assert_eq!(SiweMessage::parse(&message.to_string()), Ok(message));
    }
}
