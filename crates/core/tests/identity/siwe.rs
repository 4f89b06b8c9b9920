use datahub_core::eth::{
    MemoryNonceStore, NonceStore, Signature, SiweError, SiweMessage, SiweVerifier, Timestamp,
};

use crate::vectors;

const V: &str = include_str!("../../../../test-vectors/eth-siwe.json");

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

both! {
    fn viem_messages_parse_and_verify() {
        let v = vectors(V);
        let now = at(v["now"].as_str().unwrap());
        for case in v["valid"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let text = case["text"].as_str().unwrap();
            let msg = SiweMessage::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(msg.address.to_checksum(), v["wallet"].as_str().unwrap());
            assert_eq!(msg.domain, "datahub.example");
            assert_eq!(msg.nonce, "k3Xr9bQ2mZ");
            assert_eq!(msg.chain_id.0, 56);
            assert_eq!(msg.issued_at, at("2026-11-25T12:00:00Z"));
            // Our text differs from viem's only in how times are written (viem always writes
            // milliseconds); it parses back to the same fields.
            assert_eq!(SiweMessage::parse(&msg.to_string()).unwrap(), msg);
            assert_eq!(msg.to_string(), text.replace(".000Z", "Z"));
            let sig = Signature::from_hex(case["signature"].as_str().unwrap()).unwrap();
            let mut nonces = MemoryNonceStore::new();
            let verifier = SiweVerifier::new("datahub.example", now);
            let verified = verifier.verify(text, &sig, &mut nonces).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(verified, msg);
            // The same message again is a replay.
            assert_eq!(verifier.verify(text, &sig, &mut nonces), Err(SiweError::NonceReused));
        }
        let all = &v["valid"][2]["text"];
        let msg = SiweMessage::parse(all.as_str().unwrap()).unwrap();
        assert_eq!(msg.scheme.as_deref(), Some("https"));
        assert_eq!(msg.statement.as_deref(), Some("Sign in to DataHub."));
        assert_eq!(msg.request_id.as_deref(), Some("req-42"));
        assert_eq!(msg.expiration_time, Some(at("2026-11-25T18:00:00Z")));
        assert_eq!(msg.not_before, Some(at("2026-11-25T11:59:00Z")));
        assert_eq!(msg.resources.len(), 2);
    }
}

both! {
    fn malformed_messages_are_refused() {
        let v = vectors(V);
        for case in v["malformed"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let result = SiweMessage::parse(case["text"].as_str().unwrap());
            assert!(matches!(result, Err(SiweError::Malformed { .. })), "{name}: {result:?}");
        }
    }
}

both! {
    fn each_rejection_reason() {
        let v = vectors(V);
        for case in v["rejected"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let verifier = SiweVerifier::new(case["domain"].as_str().unwrap(), at(case["now"].as_str().unwrap()));
            let sig = Signature::from_hex(case["signature"].as_str().unwrap()).unwrap();
            let mut consumed = 0;
            let mut store = |_: &datahub_core::eth::Address, _: &str| {
                consumed += 1;
                true
            };
            let err = verifier.verify(case["text"].as_str().unwrap(), &sig, &mut store).unwrap_err();
            assert!(format!("{err:?}").starts_with(case["error"].as_str().unwrap()), "{name}: {err:?}");
            // A refused message never burns a nonce.
            assert_eq!(consumed, 0, "{name}");
        }
    }
}

both! {
    fn closure_nonce_store_and_chain_check() {
        let v = vectors(V);
        let case = &v["valid"][0];
        let sig = Signature::from_hex(case["signature"].as_str().unwrap()).unwrap();
        let mut verifier = SiweVerifier::new("datahub.example", at("2026-11-25T12:30:00Z"));
        verifier.chain_id = Some(datahub_core::eth::ChainId(1));
        let mut store = |_: &datahub_core::eth::Address, _: &str| true;
        assert!(matches!(verifier.verify(case["text"].as_str().unwrap(), &sig, &mut store), Err(SiweError::WrongChain { .. })));
        verifier.chain_id = Some(datahub_core::eth::ChainId(56));
        // A store that hands out nonces refuses one it never issued.
        let mut issued = |_: &datahub_core::eth::Address, nonce: &str| nonce == "someOtherNonce1";
        assert_eq!(verifier.verify(case["text"].as_str().unwrap(), &sig, &mut issued), Err(SiweError::NonceReused));
        assert!(verifier.verify(case["text"].as_str().unwrap(), &sig, &mut store).is_ok());
        fn takes(_: &mut impl NonceStore) {}
        takes(&mut MemoryNonceStore::new());
    }
}

both! {
    fn built_messages_round_trip() {
        let key = datahub_core::SecretKey::derive(&[3u8; 32]);
        let msg = SiweMessage {
            scheme: None,
            domain: "localhost:8080".into(),
            address: key.address(),
            statement: None,
            uri: "http://localhost:8080/".into(),
            chain_id: datahub_core::eth::ChainId(31337),
            nonce: "abcdefgh12".into(),
            issued_at: Timestamp::from_unix_millis(1_795_000_000_123),
            expiration_time: None,
            not_before: None,
            request_id: Some(String::new()),
            resources: vec![],
        };
        msg.validate().unwrap();
        let text = msg.to_string();
        assert!(text.contains("\n\n\nURI: http://localhost:8080/\n"), "{text}");
        assert!(text.ends_with("Issued At: 2026-11-18T11:06:40.123Z\nRequest ID: "), "{text}");
        let sig = datahub_core::eth::personal::sign_message(&key, text.as_bytes());
        let verifier = SiweVerifier::new("localhost:8080", Timestamp::from_unix_seconds(1_795_000_100));
        assert_eq!(verifier.verify(&text, &sig, &mut MemoryNonceStore::new()).unwrap(), msg);
        let mut bad = msg.clone();
        bad.statement = Some("two\nlines".into());
        assert!(bad.validate().is_err());
        let mut bad = msg.clone();
        bad.statement = Some(String::new());
        assert_eq!(bad.validate(), Err(SiweError::Malformed { field: "statement" }));
        let mut bad = msg.clone();
        bad.issued_at = Timestamp::from_unix_millis(i64::MAX);
        assert_eq!(bad.validate(), Err(SiweError::Malformed { field: "issued at" }));
        let mut bad = msg;
        bad.nonce = "short".into();
        assert_eq!(bad.validate(), Err(SiweError::Malformed { field: "nonce" }));
    }
}

both! {
    fn rfc3339_forms() {
        assert_eq!(at("1970-01-01T00:00:00Z").unix_millis(), 0);
        assert_eq!(at("1970-01-01T01:00:00+01:00").unix_millis(), 0);
        assert_eq!(at("1969-12-31T23:00:00-01:00").unix_millis(), 0);
        assert_eq!(at("2000-02-29T00:00:00.5z").unix_millis(), 951_782_400_500);
        assert_eq!(at("2026-11-25T12:00:00.123456789Z").unix_millis() % 1000, 123);
        for bad in ["2023-02-29T00:00:00Z", "2026-11-25 12:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T12:00:00", "2026-11-25T12:00:00.Z", "2026-11-25T12:00:00+1:00", "", "2026-11-25T12:00:00Zjunk"] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(Timestamp::from_unix_millis(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp::from_unix_millis(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::from_unix_seconds(951_782_400).to_rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp::from_unix_millis(i64::MAX).to_rfc3339(), "9999-12-31T23:59:59.999Z");
    }
}

both! {
    fn uri_and_issued_at_windows() {
        let v = vectors(V);
        let case = &v["valid"][0];
        let text = case["text"].as_str().unwrap();
        let sig = Signature::from_hex(case["signature"].as_str().unwrap()).unwrap();
        let mut store = |_: &datahub_core::eth::Address, _: &str| true;
        let check = |origins: &[&str], now: &str| {
            let mut verifier = SiweVerifier::new("datahub.example", at(now));
            verifier.uri_origins = origins.iter().map(|o| (*o).to_owned()).collect();
            verifier.max_issued_ahead_ms = Some(60_000);
            verifier.max_issued_age_ms = Some(600_000);
            verifier.check_fields(&SiweMessage::parse(text).unwrap())
        };
        // The URI is https://datahub.example/login.
        assert_eq!(check(&["https://datahub.example"], "2026-11-25T12:00:30Z"), Ok(()));
        assert_eq!(check(&["http://datahub.example", "HTTPS://DataHub.example"], "2026-11-25T12:00:30Z"), Ok(()));
        for wrong in [&["https://evil.example"][..], &["https://datahub.ex"], &["http://datahub.example"]] {
            assert!(matches!(check(wrong, "2026-11-25T12:00:30Z"), Err(SiweError::WrongUri { .. })), "{wrong:?}");
        }
        // A prefix of the host is not the origin: https://datahub.example.evil/ is elsewhere.
        let mut verifier = SiweVerifier::new("datahub.example", at("2026-11-25T12:00:30Z"));
        verifier.uri_origins = vec!["https://datahub.example".into()];
        let mut other = SiweMessage::parse(text).unwrap();
        other.uri = "https://datahub.example.evil/login".into();
        assert!(matches!(verifier.check_fields(&other), Err(SiweError::WrongUri { .. })));
        // Issued at 12:00:00: a clock more than a minute behind sees it from the future; ten
        // minutes later it is too old.
        assert_eq!(check(&["https://datahub.example"], "2026-11-25T11:59:00Z"), Ok(()));
        assert_eq!(check(&["https://datahub.example"], "2026-11-25T11:58:59Z"), Err(SiweError::IssuedInFuture));
        assert_eq!(check(&["https://datahub.example"], "2026-11-25T12:10:00Z"), Ok(()));
        assert_eq!(check(&["https://datahub.example"], "2026-11-25T12:10:01Z"), Err(SiweError::IssuedTooLongAgo));
        // Unset, neither is checked (the EIP leaves both to the relying party).
        let verifier = SiweVerifier::new("datahub.example", at("2027-01-01T00:00:00Z"));
        assert!(verifier.verify(text, &sig, &mut store).is_ok());
    }
}
