//! Property tests (native only: proptest needs the OS). The deterministic cases that also run
//! in wasm are in `sealed_object.rs`.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use datahub_core::manifest::Params;
use datahub_core::{OpenError, SecretKey, open_bytes, open_sealed, seal_bytes};
use proptest::prelude::*;

fn params() -> impl Strategy<Value = Params> {
    (1u8..=16, 1u8..=8, 1024u32..200_000).prop_map(|(k, m, s)| Params {
        data_shards: k,
        parity_shards: m,
        segment_len: s,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn seal_then_open_is_identity(
        plaintext in prop::collection::vec(any::<u8>(), 0..300_000),
        params in params(),
        entropy in any::<[u8; 32]>(),
        who in 1u8..=255,
    ) {
        let identity = SecretKey::derive(&[who; 32]);
        let (manifest, segments) = seal_bytes(&plaintext, &[identity.public_key()], &entropy, params).unwrap();
        let slots: Vec<Vec<Option<&[u8]>>> =
            segments.iter().map(|s| s.shards.iter().map(|x| Some(x.bytes.as_slice())).collect()).collect();
        let opened = open_bytes(&manifest, &slots, &identity).unwrap();
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }

    #[test]
    fn any_m_lost_shards_per_segment_decode(
        len in 0usize..150_000,
        params in params(),
        seed in any::<u64>(),
    ) {
        let identity = SecretKey::derive(&[7; 32]);
        let plaintext: Vec<u8> = (0..len).map(|i| (i as u64).wrapping_mul(seed | 1) as u8).collect();
        let (manifest, segments) = seal_bytes(&plaintext, &[identity.public_key()], &[1; 32], params).unwrap();
        let n = params.total_shards() as u64;
        let mut state = seed | 1;
        let slots: Vec<Vec<Option<&[u8]>>> = segments
            .iter()
            .map(|s| {
                let mut slots: Vec<Option<&[u8]>> = s.shards.iter().map(|x| Some(x.bytes.as_slice())).collect();
                for _ in 0..params.parity_shards {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    slots[((state >> 33) % n) as usize] = None;
                }
                slots
            })
            .collect();
        let opened = open_bytes(&manifest, &slots, &identity).unwrap();
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }

    #[test]
    fn a_flipped_bit_anywhere_in_the_stream_fails(
        len in 0usize..200_000,
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let identity = SecretKey::derive(&[3; 32]);
        let plaintext = vec![0x5a; len];
        let params = Params { data_shards: 1, parity_shards: 1, segment_len: 64 * 1024 * 1024 };
        let (manifest, segments) = seal_bytes(&plaintext, &[identity.public_key()], &[2; 32], params).unwrap();
        let mut sealed = segments[0].shards[0].bytes.clone();
        sealed.truncate(manifest.segment(0).unwrap().len);
        let i = at.index(sealed.len());
        sealed[i] ^= 1 << bit;
        let err = open_sealed(&sealed, &identity).unwrap_err();
        prop_assert!(matches!(err, OpenError::DecryptionFailed | OpenError::NotSealed | OpenError::UnsupportedVersion(_)));
    }

    #[test]
    fn manifest_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = datahub_core::Manifest::parse(&bytes);
    }

    #[test]
    fn stream_open_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400), who in 1u8..=255) {
        let _ = open_sealed(&bytes, &SecretKey::derive(&[who; 32]));
    }
}
