//! Verified byte ranges of shards: every range around chunk and subtree boundaries proves and
//! verifies, and any change to the proof, the id, the length or the range is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use datahub_core::ShardId;
use datahub_core::proof::{HEADER_LEN, ProofError, RangeProof, verify};

const LENGTHS: [usize; 10] = [
    0,
    1,
    1023,
    1024,
    1025,
    2048,
    3073,
    5 * 1024 + 7,
    16 * 1024,
    (1 << 20) + 4321,
];

fn shard(len: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    for _ in 0..len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        out.push(state as u8);
    }
    out
}

/// Offsets at and around every chunk boundary and every power-of-two subtree boundary up to `n`,
/// and around `n` itself.
fn points(n: u64) -> Vec<u64> {
    let mut out = vec![0, 1, n.saturating_sub(1), n];
    for chunks in [1u64, 2, 3, 4, 5, 8, 16, 64, 256, 512, 1024] {
        let b = chunks * 1024;
        out.extend([b - 1, b, b + 1]);
    }
    out.retain(|&p| p <= n);
    out.sort_unstable();
    out.dedup();
    out
}

fn check_all_ranges(n: usize, flip: bool) {
    let data = shard(n, 7);
    let id = ShardId::of(&data);
    assert_eq!(id.0, *blake3::hash(&data).as_bytes());
    let other = ShardId::of(&shard(n, 8));
    let pts = points(n as u64);
    for (i, &a) in pts.iter().enumerate() {
        for &b in &pts[i..] {
            let len = b - a;
            let proof = RangeProof::build(&data, a, len).unwrap();
            let bytes = proof.to_bytes();
            assert_eq!(bytes.len(), proof.encoded_len());
            let want = &data[a as usize..b as usize];
            assert_eq!(
                verify(&id, n as u64, a, len, &bytes),
                Ok(want),
                "{n} {a}..{b}"
            );
            let parsed = RangeProof::from_bytes(&bytes).unwrap();
            assert_eq!(parsed, proof);
            assert_eq!(parsed.verify(&id), Ok(want));
            // Another shard's id (of the same length), never.
            if n > 0 {
                assert_eq!(
                    verify(&other, n as u64, a, len, &bytes),
                    Err(ProofError::Mismatch)
                );
            }
            // Truncated or extended, never.
            assert!(verify(&id, n as u64, a, len, &bytes[..bytes.len() - 1]).is_err());
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(verify(&id, n as u64, a, len, &longer).is_err());
            // Asked for another range or another shard length, never.
            if len > 0 {
                assert_eq!(
                    verify(&id, n as u64, a, len - 1, &bytes),
                    Err(ProofError::WrongRange)
                );
            }
            if a > 0 {
                assert_eq!(
                    verify(&id, n as u64, a - 1, len, &bytes),
                    Err(ProofError::WrongRange)
                );
            }
            assert_eq!(
                verify(&id, n as u64 + 1, a, len, &bytes),
                Err(ProofError::WrongRange)
            );
            if flip {
                for at in 0..bytes.len() {
                    let mut bad = bytes.clone();
                    bad[at] ^= 0x01;
                    assert!(
                        verify(&id, n as u64, a, len, &bad).is_err(),
                        "{n} {a}..{b}: flipped byte {at} accepted"
                    );
                }
            }
        }
    }
}

#[test]
fn small_shards_every_range_and_every_flip() {
    for n in LENGTHS.into_iter().filter(|&n| n <= 5 * 1024 + 7) {
        check_all_ranges(n, true);
    }
}

#[test]
fn larger_shards_every_boundary_range() {
    for n in LENGTHS.into_iter().filter(|&n| n > 5 * 1024 + 7) {
        check_all_ranges(n, false);
    }
}

#[test]
fn flips_in_a_large_proof() {
    let n = (1 << 20) + 4321;
    let data = shard(n, 3);
    let id = ShardId::of(&data);
    // A range that straddles the big left subtree and the short right edge.
    let (a, len) = ((1 << 20) - 1500, 3000u64);
    let bytes = RangeProof::build(&data, a, len).unwrap().to_bytes();
    assert!(verify(&id, n as u64, a, len, &bytes).is_ok());
    for at in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x80;
        assert!(verify(&id, n as u64, a, len, &bad).is_err(), "byte {at}");
    }
    // Only the chaining values and the covered chunks travel, not the shard.
    assert!(bytes.len() < HEADER_LEN + 64 * 32 + 5 * 1024);
}

#[test]
fn range_outside_the_shard() {
    let data = shard(3073, 1);
    let id = ShardId::of(&data);
    for (offset, len) in [
        (3073, 1),
        (3074, 0),
        (0, 3074),
        (3000, 74),
        (u64::MAX, 2),
        (1, u64::MAX),
    ] {
        assert!(matches!(
            RangeProof::build(&data, offset, len),
            Err(ProofError::RangeOutOfBounds { .. })
        ));
        assert!(matches!(
            verify(&id, 3073, offset, len, b"anything"),
            Err(ProofError::RangeOutOfBounds { .. })
        ));
    }
}

#[test]
fn whole_shard_proof_is_the_shard() {
    for n in [0usize, 1, 1024, 2048, 3073] {
        let data = shard(n, 9);
        let proof = RangeProof::build(&data, 0, n as u64).unwrap().to_bytes();
        assert_eq!(proof.len(), HEADER_LEN + n);
        assert_eq!(&proof[HEADER_LEN..], &data[..]);
    }
}

#[test]
fn proof_for_another_length_of_the_same_prefix() {
    // A node holding a longer (or shorter) shard that starts with the same bytes cannot answer
    // for this one, even rewriting the header.
    let long = shard(4096, 4);
    let short = &long[..3000];
    let id = ShardId::of(short);
    let mut bytes = RangeProof::build(&long, 0, 100).unwrap().to_bytes();
    assert_eq!(
        verify(&id, 3000, 0, 100, &bytes),
        Err(ProofError::WrongRange)
    );
    bytes[5..13].copy_from_slice(&3000u64.to_le_bytes());
    assert!(verify(&id, 3000, 0, 100, &bytes).is_err());
}

#[test]
fn garbage_is_refused() {
    assert_eq!(RangeProof::from_bytes(&[]), Err(ProofError::Malformed));
    assert_eq!(RangeProof::from_bytes(b"DHRP"), Err(ProofError::Malformed));
    let mut header = b"DHRP\x01".to_vec();
    header.extend_from_slice(&u64::MAX.to_le_bytes());
    header.extend_from_slice(&0u64.to_le_bytes());
    header.extend_from_slice(&u64::MAX.to_le_bytes());
    header.push(0);
    assert_eq!(RangeProof::from_bytes(&header), Err(ProofError::Malformed));
    // A huge claimed shard with a tiny range must not allocate or panic.
    let mut huge = b"DHRP\x01".to_vec();
    huge.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
    huge.extend_from_slice(&(1u64 << 40).to_le_bytes());
    huge.extend_from_slice(&1u64.to_le_bytes());
    huge.push(120);
    assert_eq!(RangeProof::from_bytes(&huge), Err(ProofError::Malformed));
    // The fuzzer's first find: a shard of u64::MAX bytes overflowed the tree arithmetic.
    let crasher = include_bytes!("../fuzz/seeds/range_proof/crash-shard-len-u64-max");
    assert_eq!(RangeProof::from_bytes(crasher), Err(ProofError::Malformed));
    assert_eq!(
        verify(&ShardId([0; 32]), u64::MAX, 0, 1, crasher),
        Err(ProofError::TooLarge)
    );
    assert_eq!(RangeProof::build(b"", 0, 0).unwrap().shard_len(), 0);
}

#[cfg(not(target_arch = "wasm32"))]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn random_ranges_verify(n in 0usize..40_000, a in any::<u64>(), l in any::<u64>(), seed in any::<u8>()) {
            let data = shard(n, seed);
            let a = if n == 0 { 0 } else { a % (n as u64 + 1) };
            let l = l % (n as u64 - a + 1);
            let bytes = RangeProof::build(&data, a, l).unwrap().to_bytes();
            prop_assert_eq!(
                verify(&ShardId::of(&data), n as u64, a, l, &bytes).unwrap(),
                &data[a as usize..(a + l) as usize]
            );
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = RangeProof::from_bytes(&bytes);
            let _ = verify(&ShardId([0; 32]), 5000, 10, 20, &bytes);
        }
    }
}

#[test]
fn documented_example_five_chunks() {
    // docs/storage-node.md §4: a range inside chunk 2 of a 5-chunk shard carries 3 chaining
    // values and chunk 2.
    let data = shard(5 * 1024, 5);
    let bytes = RangeProof::build(&data, 2 * 1024 + 100, 50)
        .unwrap()
        .to_bytes();
    assert_eq!(&bytes[..5], b"DHRP\x01");
    assert_eq!(bytes[29], 3);
    assert_eq!(bytes.len(), HEADER_LEN + 3 * 32 + 1024);
    assert_eq!(&bytes[HEADER_LEN + 96..], &data[2048..3072]);
}
