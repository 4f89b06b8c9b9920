//! Round trips, loss patterns and tampering of sealed objects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{Rng, identity, pattern};
use datahub_core::erasure::{SegmentError, decode_segment, repair_segment};
use datahub_core::manifest::{ManifestError, Params};
use datahub_core::stream::CHUNK_LEN;
use datahub_core::{EncodedSegment, Manifest, OpenError, Opener, Sealer, open_bytes, seal_bytes};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn small_params() -> Params {
    Params {
        data_shards: 4,
        parity_shards: 2,
        segment_len: 20 * 1024,
    }
}

fn slots(segments: &[EncodedSegment]) -> Vec<Vec<Option<Vec<u8>>>> {
    segments
        .iter()
        .map(|s| s.shards.iter().map(|sh| Some(sh.bytes.clone())).collect())
        .collect()
}

fn roundtrip(len: usize, params: Params, seed: u64) {
    let mut rng = Rng::new(seed);
    let plaintext = rng.fill(len);
    let owner = identity(1);
    let contributor = identity(2);
    let recipients = [owner.public_key(), contributor.public_key()];
    let (manifest, segments) = seal_bytes(&plaintext, &recipients, &rng.bytes32(), params).unwrap();
    assert_eq!(manifest.segment_count() as usize, segments.len());
    for (i, segment) in segments.iter().enumerate() {
        assert_eq!(segment.index as usize, i);
        let layout = manifest.segment(segment.index).unwrap();
        for (shard, id) in segment.shards.iter().zip(manifest.shard_ids(segment.index)) {
            assert_eq!(shard.bytes.len(), layout.shard_len);
            assert_eq!(&shard.id, id);
        }
    }
    let parsed = Manifest::parse_with_id(&manifest.to_bytes(), &manifest.object_id()).unwrap();
    assert_eq!(parsed, manifest);
    for who in [&owner, &contributor] {
        let opened = open_bytes(&manifest, &slots(&segments), who).unwrap();
        assert!(
            opened.as_slice() == plaintext.as_slice(),
            "len {len} with {params:?}"
        );
    }
    assert_eq!(
        open_bytes(&manifest, &slots(&segments), &identity(3)),
        Err(OpenError::DecryptionFailed)
    );
}

#[test]
fn roundtrip_chunk_and_segment_boundaries() {
    let params = small_params();
    let header = datahub_core::header::Header::len_for(2);
    let seg = params.segment_len as usize;
    let mut sizes = vec![
        0,
        1,
        2,
        100,
        CHUNK_LEN - 1,
        CHUNK_LEN,
        CHUNK_LEN + 1,
        2 * CHUNK_LEN,
        3 * CHUNK_LEN + 7,
    ];
    // Plaintext sizes whose sealed stream ends exactly at, just before and just after a
    // segment boundary (one chunk: header + plaintext + one tag).
    for boundary in [seg, 2 * seg, 3 * seg] {
        let exact = boundary - header - 16;
        sizes.extend([exact - 1, exact, exact + 1]);
    }
    for (i, len) in sizes.into_iter().enumerate() {
        roundtrip(len, params, i as u64 + 1);
    }
}

#[test]
fn roundtrip_random_sizes() {
    let mut rng = Rng::new(0xDA7A);
    for case in 0..12 {
        let len = rng.below(300_000) as usize;
        let params = Params {
            data_shards: 1 + rng.below(16) as u8,
            parity_shards: 1 + rng.below(8) as u8,
            segment_len: 1024 + rng.below(100_000) as u32,
        };
        roundtrip(len, params, case);
    }
}

#[test]
fn roundtrip_default_params() {
    roundtrip(CHUNK_LEN * 3 + 5, Params::default(), 7);
}

#[test]
fn roundtrip_16_plus_8() {
    roundtrip(
        150_000,
        Params {
            data_shards: 16,
            parity_shards: 8,
            segment_len: 64 * 1024,
        },
        8,
    );
}

/// Every subset of shard indexes of size `size` out of `n`.
fn subsets(n: usize, size: usize) -> Vec<Vec<usize>> {
    (0u32..1 << n)
        .filter(|mask| mask.count_ones() as usize == size)
        .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect())
        .collect()
}

fn assert_every_loss_pattern(params: Params, len: usize) {
    let plaintext = pattern(len);
    let owner = identity(1);
    let (manifest, segments) =
        seal_bytes(&plaintext, &[owner.public_key()], &[9; 32], params).unwrap();
    let n = params.total_shards();
    let all = slots(&segments);
    let mut patterns = 0;
    for lost in 0..=usize::from(params.parity_shards) {
        for missing in subsets(n, lost) {
            let mut damaged = all.clone();
            for segment in &mut damaged {
                for &i in &missing {
                    segment[i] = None;
                }
            }
            let opened = open_bytes(&manifest, &damaged, &owner).unwrap();
            assert!(
                opened.as_slice() == plaintext.as_slice(),
                "lost {missing:?} of {params:?}"
            );
            // Repair rebuilds the lost shards byte for byte.
            for (s, segment) in damaged.iter().enumerate() {
                let refs: Vec<Option<&[u8]>> = segment.iter().map(|x| x.as_deref()).collect();
                let repaired = repair_segment(&manifest, s as u32, &refs).unwrap();
                let original: Vec<Vec<u8>> =
                    segments[s].shards.iter().map(|x| x.bytes.clone()).collect();
                assert_eq!(repaired, original);
            }
            patterns += 1;
        }
    }
    assert!(patterns > 0);
    // One more loss than parity: an error, never wrong bytes.
    for missing in subsets(n, usize::from(params.parity_shards) + 1)
        .into_iter()
        .take(20)
    {
        let mut damaged = all.clone();
        for &i in &missing {
            damaged[0][i] = None;
        }
        let err = open_bytes(&manifest, &damaged, &owner).unwrap_err();
        assert!(
            matches!(
                err,
                OpenError::Segment(SegmentError::NotEnoughShards { segment: 0, .. })
            ),
            "{err:?}"
        );
    }
}

#[test]
fn every_loss_pattern_of_the_defaults() {
    // The default 4 + 2, over three segments (the last one short).
    assert_every_loss_pattern(
        Params {
            segment_len: 48 * 1024,
            ..Params::default()
        },
        130_000,
    );
}

#[test]
fn every_loss_pattern_of_small_codes() {
    for (k, m) in [(1, 1), (2, 1), (3, 2), (5, 3)] {
        assert_every_loss_pattern(
            Params {
                data_shards: k,
                parity_shards: m,
                segment_len: 8 * 1024,
            },
            20_000,
        );
    }
}

#[test]
fn corrupt_shards_count_as_missing() {
    let params = small_params();
    let owner = identity(1);
    let plaintext = pattern(50_000);
    let (manifest, segments) =
        seal_bytes(&plaintext, &[owner.public_key()], &[3; 32], params).unwrap();
    let mut damaged = slots(&segments);
    // Two corrupt shards per segment (a flipped bit, a truncated shard): still opens.
    for segment in &mut damaged {
        segment[0].as_mut().unwrap()[5] ^= 0x40;
        segment[4].as_mut().unwrap().pop();
    }
    assert!(open_bytes(&manifest, &damaged, &owner).unwrap().as_slice() == plaintext.as_slice());
    // A third corrupt shard in segment 1: too few good shards, and the error names the segment.
    damaged[1][2].as_mut().unwrap()[0] ^= 1;
    assert_eq!(
        open_bytes(&manifest, &damaged, &owner).unwrap_err(),
        OpenError::Segment(SegmentError::NotEnoughShards {
            segment: 1,
            good: 3,
            needed: 4
        })
    );
}

#[test]
fn any_flipped_bit_in_a_shard_is_detected() {
    let owner = identity(1);
    let params = Params {
        data_shards: 2,
        parity_shards: 1,
        segment_len: 1024,
    };
    let (manifest, segments) =
        seal_bytes(&pattern(300), &[owner.public_key()], &[4; 32], params).unwrap();
    let shards: Vec<Vec<u8>> = segments[0].shards.iter().map(|s| s.bytes.clone()).collect();
    for s in 0..shards.len() {
        for bit in 0..shards[s].len() * 8 {
            let mut flipped = shards[s].clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            // With the flipped shard alone standing in for its slot and one other shard gone,
            // only k - 1 good shards remain: decoding must refuse, not guess.
            let mut slots: Vec<Option<&[u8]>> = shards.iter().map(|x| Some(x.as_slice())).collect();
            slots[s] = Some(&flipped);
            slots[(s + 1) % shards.len()] = None;
            assert!(matches!(
                decode_segment(&manifest, 0, &slots),
                Err(SegmentError::NotEnoughShards { .. })
            ));
        }
    }
}

#[test]
fn any_flipped_bit_in_the_sealed_stream_is_detected() {
    use datahub_core::open_sealed;
    let owner = identity(1);
    let params = Params {
        data_shards: 1,
        parity_shards: 1,
        segment_len: 64 * 1024 * 4,
    };
    let (manifest, segments) = seal_bytes(
        &pattern(70),
        &[owner.public_key(), identity(2).public_key()],
        &[5; 32],
        params,
    )
    .unwrap();
    let layout = manifest.segment(0).unwrap();
    // With k = 1 the single data shard is the sealed stream (plus padding).
    let sealed = segments[0].shards[0].bytes[..layout.len].to_vec();
    assert_eq!(
        open_sealed(&sealed, &owner).unwrap().as_slice(),
        pattern(70).as_slice()
    );
    for bit in 0..sealed.len() * 8 {
        let mut flipped = sealed.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let err = open_sealed(&flipped, &owner).unwrap_err();
        let expected_kinds = matches!(
            err,
            OpenError::DecryptionFailed | OpenError::NotSealed | OpenError::UnsupportedVersion(_)
        );
        assert!(expected_kinds, "bit {bit}: {err:?}");
    }
}

#[test]
fn any_flipped_bit_in_the_manifest_is_detected() {
    let owner = identity(1);
    let (manifest, _) = seal_bytes(
        &pattern(5000),
        &[owner.public_key()],
        &[6; 32],
        small_params(),
    )
    .unwrap();
    let bytes = manifest.to_bytes();
    let id = manifest.object_id();
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            Manifest::parse_with_id(&flipped, &id),
            Err(ManifestError::IdMismatch)
        );
    }
}

#[test]
fn streaming_sealer_matches_one_shot_and_holds_one_segment() {
    let params = Params {
        segment_len: 100 * 1024,
        ..Params::default()
    };
    let owner = identity(1);
    let plaintext = pattern(5 * CHUNK_LEN + 123);
    let entropy = [8u8; 32];
    let (manifest, segments) =
        seal_bytes(&plaintext, &[owner.public_key()], &entropy, params).unwrap();
    let mut sealer = Sealer::new(&[owner.public_key()], &entropy, params).unwrap();
    let mut streamed = Vec::new();
    let mut rng = Rng::new(11);
    let mut rest = plaintext.as_slice();
    while !rest.is_empty() {
        let take = (1 + rng.below(30_000) as usize).min(rest.len());
        let (now, later) = rest.split_at(take);
        let done = sealer.update(now).unwrap();
        // A piece completes at most one chunk, and a chunk is shorter than a segment, so it
        // completes at most one segment: the sealer never holds more than that.
        assert!(done.len() <= 1);
        streamed.extend(done);
        rest = later;
    }
    let (last, streamed_manifest) = sealer.finish().unwrap();
    streamed.extend(last);
    assert_eq!(streamed_manifest, manifest);
    assert_eq!(streamed, segments);
    // Opening segment by segment releases plaintext as it goes.
    let mut opener = Opener::new(manifest.clone(), owner.clone());
    let mut opened = Vec::new();
    for segment in &segments {
        let refs: Vec<Option<&[u8]>> = segment
            .shards
            .iter()
            .map(|s| Some(s.bytes.as_slice()))
            .collect();
        opened.extend_from_slice(&opener.push_segment(segment.index, &refs).unwrap());
    }
    opener.finish().unwrap();
    assert_eq!(opened, plaintext);
}

#[test]
fn opener_refuses_out_of_order_and_incomplete() {
    let owner = identity(1);
    let (manifest, segments) = seal_bytes(
        &pattern(100_000),
        &[owner.public_key()],
        &[1; 32],
        small_params(),
    )
    .unwrap();
    let refs = |i: usize| -> Vec<Option<&[u8]>> {
        segments[i]
            .shards
            .iter()
            .map(|s| Some(s.bytes.as_slice()))
            .collect()
    };
    let mut opener = Opener::new(manifest.clone(), owner.clone());
    assert_eq!(
        opener.push_segment(1, &refs(1)).unwrap_err(),
        OpenError::SegmentOutOfOrder {
            expected: 0,
            got: 1
        }
    );
    opener.push_segment(0, &refs(0)).unwrap();
    assert_eq!(opener.finish().unwrap_err(), OpenError::Incomplete);
    // Segments swapped: the shards do not match the ids of the slot they are offered for.
    let mut opener = Opener::new(manifest, owner);
    assert!(matches!(
        opener.push_segment(0, &refs(1)),
        Err(OpenError::Segment(SegmentError::NotEnoughShards { .. }))
    ));
}

#[test]
fn sealing_refuses_bad_input() {
    use datahub_core::SealError;
    let owner = identity(1).public_key();
    assert_eq!(
        Sealer::new(&[], &[0; 32], Params::default()).unwrap_err(),
        SealError::BadRecipientCount(0)
    );
    assert_eq!(
        Sealer::new(&vec![owner; 65], &[0; 32], Params::default()).unwrap_err(),
        SealError::BadRecipientCount(65)
    );
    assert!(Sealer::new(&vec![owner; 64], &[0; 32], Params::default()).is_ok());
    for bad in [
        Params {
            data_shards: 0,
            ..Params::default()
        },
        Params {
            parity_shards: 0,
            ..Params::default()
        },
        Params {
            data_shards: 129,
            ..Params::default()
        },
        Params {
            segment_len: 1023,
            ..Params::default()
        },
        Params {
            segment_len: 64 * 1024 * 1024 + 1,
            ..Params::default()
        },
    ] {
        assert!(
            matches!(
                Sealer::new(&[owner], &[0; 32], bad),
                Err(SealError::BadParams(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn manifest_parsing_refuses_malformed_bytes() {
    let (manifest, _) =
        seal_bytes(b"x", &[identity(1).public_key()], &[2; 32], small_params()).unwrap();
    let good = manifest.to_bytes();
    let with = |at: usize, value: u8| {
        let mut b = good.clone();
        b[at] = value;
        Manifest::parse(&b)
    };
    assert_eq!(
        Manifest::parse(&[]),
        Err(ManifestError::WrongLength {
            expected: 20,
            actual: 0
        })
    );
    assert_eq!(with(0, b'X'), Err(ManifestError::BadMagic));
    assert_eq!(with(4, 2), Err(ManifestError::UnsupportedVersion(2)));
    assert_eq!(
        with(5, 0),
        Err(ManifestError::BadShardCounts { data: 0, parity: 2 })
    );
    assert_eq!(with(7, 1), Err(ManifestError::BadReserved));
    assert!(matches!(
        Manifest::parse(&good[..good.len() - 1]),
        Err(ManifestError::WrongLength { .. })
    ));
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(
        Manifest::parse(&long),
        Err(ManifestError::WrongLength { .. })
    ));
    // A sealed length of 2^64 - 1 with 1 KiB segments would need 2^54 segments: refused
    // before anything is allocated.
    let mut huge = good.clone();
    huge[8..12].copy_from_slice(&1024u32.to_le_bytes());
    huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        Manifest::parse(&huge),
        Err(ManifestError::BadSealedLen(u64::MAX))
    );
}
