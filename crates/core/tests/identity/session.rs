use datahub_core::{
    SecretKey,
    eth::{
        Address, CampaignScope, ChainId, Eip712Domain, MemoryNonceStore, Session, SessionError,
        SessionGrant, Signature, SiweError, SiweMessage, SiweVerifier, SubmissionReceipt,
        Timestamp, TypedStruct, U256, personal, session::verify_receipt_direct,
    },
};

use crate::{key_for, vectors};

const SIWE: &str = include_str!("../../../../test-vectors/eth-siwe.json");

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

fn domain() -> Eip712Domain {
    Eip712Domain {
        name: "DataHub".into(),
        version: "1".into(),
        chain_id: ChainId(56),
        verifying_contract: "0x1111111111111111111111111111111111111111"
            .parse()
            .unwrap(),
    }
}

fn receipt(campaign: &str, nonce: u64) -> SubmissionReceipt {
    SubmissionReceipt {
        campaign: campaign.into(),
        task: "t1".into(),
        answer_hash: [1; 32],
        manifest_id: [2; 32],
        nonce: U256::from_u64(nonce),
        deadline: 1_800_000_000,
        licence: String::new(),
        terms_hash: [0; 32],
    }
}

both! {
    fn viem_made_session_grant_is_honoured() {
        let v = vectors(SIWE);
        let case = v["valid"].as_array().unwrap().iter().find(|c| c["name"] == "session_grant").unwrap();
        let text = case["text"].as_str().unwrap();
        let sig = Signature::from_hex(case["signature"].as_str().unwrap()).unwrap();
        let verifier = SiweVerifier::new("datahub.example", at("2026-11-25T12:30:00Z"));
        let mut siwe_nonces = MemoryNonceStore::new();
        let session = Session::establish(&verifier, text, &sig, &mut siwe_nonces).unwrap();
        assert_eq!(session.wallet.to_checksum(), v["wallet"].as_str().unwrap());
        assert_eq!(session.grant.key.to_checksum(), v["session_key"].as_str().unwrap());
        assert_eq!(session.grant.campaigns, CampaignScope::Only(vec!["cats-2026".into(), "birds-2026".into()]));
        assert_eq!(session.grant.reward_cap, U256::from_u64(5_000_000));
        assert_eq!(session.expires, at("2026-11-25T18:00:00Z"));
        // Establishing twice is a replay of the sign-in.
        assert_eq!(
            Session::establish(&verifier, text, &sig, &mut siwe_nonces),
            Err(SessionError::Siwe(SiweError::NonceReused))
        );

        let session_key = key_for("session-1");
        let now = at("2026-11-25T13:00:00Z");
        let mut nonces = MemoryNonceStore::new();
        let r = receipt("cats-2026", 1);
        let rsig = r.sign(&session_key, &domain());
        assert_eq!(session.verify_receipt(&r, &domain(), &rsig, now, &mut nonces), Ok(session.wallet));
        // Replay of the same receipt: refused by nonce, whatever the signature bytes.
        assert_eq!(session.verify_receipt(&r, &domain(), &rsig, now, &mut nonces), Err(SessionError::NonceReused));
        // Out of scope, expired, past deadline, signed by someone else.
        let other = receipt("dogs-2026", 2);
        assert!(matches!(
            session.verify_receipt(&other, &domain(), &other.sign(&session_key, &domain()), now, &mut nonces),
            Err(SessionError::CampaignNotInScope { .. })
        ));
        let r3 = receipt("birds-2026", 3);
        let s3 = r3.sign(&session_key, &domain());
        assert_eq!(session.verify_receipt(&r3, &domain(), &s3, at("2026-11-25T18:00:00Z"), &mut nonces), Err(SessionError::Expired));
        let mut late = receipt("birds-2026", 4);
        late.deadline = 1_800_000_000;
        let s4 = late.sign(&session_key, &domain());
        assert!(session.verify_receipt(&late, &domain(), &s4, now, &mut nonces).is_ok());
        late.deadline = u64::try_from(now.unix_seconds()).unwrap() - 1;
        late.nonce = U256::from_u64(5);
        let s5 = late.sign(&session_key, &domain());
        assert_eq!(session.verify_receipt(&late, &domain(), &s5, now, &mut nonces), Err(SessionError::DeadlinePassed));
        let r6 = receipt("cats-2026", 6);
        let wallet_key = key_for("wallet-1");
        assert!(matches!(
            session.verify_receipt(&r6, &domain(), &r6.sign(&wallet_key, &domain()), now, &mut nonces),
            Err(SessionError::Signature(_))
        ));
        // Reward cap.
        assert!(session.check_reward(&U256::from_u64(4_000_000), &U256::from_u64(1_000_000)).is_ok());
        assert_eq!(session.check_reward(&U256::from_u64(4_000_001), &U256::from_u64(1_000_000)), Err(SessionError::RewardCapExceeded));
        assert_eq!(session.check_reward(&U256::MAX, &U256::from_u64(1)), Err(SessionError::RewardCapExceeded));
    }
}

fn grant(key: Address) -> SessionGrant {
    SessionGrant {
        key,
        expires: at("2026-11-25T14:00:00Z"),
        campaigns: CampaignScope::Any,
        reward_cap: U256::from_u64(1000),
    }
}

both! {
    fn built_grant_round_trips_and_verifies() {
        let wallet = SecretKey::derive(&[10; 32]);
        let session_key = SecretKey::derive(&[11; 32]);
        let g = grant(session_key.address());
        g.validate().unwrap();
        assert_eq!(g.to_resources()[2], "urn:datahub:session:campaign:*");
        let msg = g.siwe_message(wallet.address(), "datahub.example", "https://datahub.example/", ChainId(1), "nonce12345", at("2026-11-25T12:00:00Z"), Some("Authorize a DataHub session key."));
        msg.validate().unwrap();
        let text = msg.to_string();
        let sig = personal::sign_message(&wallet, text.as_bytes());
        let verifier = SiweVerifier::new("datahub.example", at("2026-11-25T12:01:00Z"));
        let session = Session::establish(&verifier, &text, &sig, &mut MemoryNonceStore::new()).unwrap();
        assert_eq!(session.wallet, wallet.address());
        let r = receipt("anything", 9);
        assert!(session.verify_receipt(&r, &domain(), &r.sign(&session_key, &domain()), at("2026-11-25T12:02:00Z"), &mut MemoryNonceStore::new()).is_ok());
        // A sign-in with no session resources grants nothing, and burns no nonce.
        let mut plain = msg.clone();
        plain.resources.clear();
        let text = plain.to_string();
        let sig = personal::sign_message(&wallet, text.as_bytes());
        let mut calls = 0;
        let mut store = |_: &Address, _: &str| { calls += 1; true };
        assert_eq!(Session::establish(&verifier, &text, &sig, &mut store), Err(SessionError::NotASession));
        assert_eq!(calls, 0);
        // Direct (no session) receipts.
        let mut nonces = MemoryNonceStore::new();
        let r = receipt("c", 1);
        let s = r.sign(&wallet, &domain());
        assert!(verify_receipt_direct(&r, &domain(), &s, &wallet.address(), at("2026-11-25T12:02:00Z"), &mut nonces).is_ok());
        assert_eq!(verify_receipt_direct(&r, &domain(), &s, &wallet.address(), at("2026-11-25T12:02:00Z"), &mut nonces), Err(SessionError::NonceReused));
        let _ = SiweMessage::parse(&msg.to_string()).unwrap();
    }
}

both! {
    fn malformed_grants_are_refused() {
        let key = SecretKey::derive(&[12; 32]).address();
        let base = grant(key).to_resources();
        let with = |extra: &str| {
            let mut r = base.clone();
            r.push(extra.to_owned());
            SessionGrant::from_resources(&r)
        };
        assert!(matches!(with("urn:datahub:session:key:0x0000000000000000000000000000000000000001"), Err(SessionError::DuplicateResource { kind: "key" })));
        assert!(matches!(with("urn:datahub:session:expires:2026-11-25T15:00:00Z"), Err(SessionError::DuplicateResource { .. })));
        assert!(matches!(with("urn:datahub:session:campaign:x"), Err(SessionError::DuplicateResource { .. })));
        assert!(matches!(with("urn:datahub:session:admin:yes"), Err(SessionError::InvalidResource { .. })));
        assert!(matches!(with("urn:datahub:session:nocolon"), Err(SessionError::InvalidResource { .. })));
        // Resources of other services are left alone.
        assert!(with("https://example.com/tos").unwrap().is_some());
        let without = |kind: &str| {
            let r: Vec<String> = base.iter().filter(|r| !r.contains(kind)).cloned().collect();
            SessionGrant::from_resources(&r)
        };
        // A grant without its key is malformed: never read as "no grant" (a plain wallet session).
        assert_eq!(without(":key:"), Err(SessionError::MissingResource { kind: "key" }));
        assert_eq!(without(":expires:"), Err(SessionError::MissingResource { kind: "expires" }));
        assert_eq!(without(":campaign:"), Err(SessionError::MissingResource { kind: "campaign" }));
        assert_eq!(without(":reward-cap:"), Err(SessionError::MissingResource { kind: "reward-cap" }));
        assert_eq!(SessionGrant::from_resources(&[]), Ok(None));
        let bad_id = SessionGrant { campaigns: CampaignScope::Only(vec!["has space".into()]), ..grant(key) };
        assert!(bad_id.validate().is_err());
        let none = SessionGrant { campaigns: CampaignScope::Only(vec![]), ..grant(key) };
        assert!(none.validate().is_err());
    }
}
