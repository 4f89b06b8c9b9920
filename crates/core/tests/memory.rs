//! Sealing and opening 1 GiB hold about one segment and its shards, not the object.
//!
//! Native only: it counts the heap with a global allocator, so it is a test binary of its own.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use datahub_core::manifest::Params;
use datahub_core::{EncodedSegment, Opener, Sealer, SecretKey};
use peak_alloc::PeakAlloc;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

const GIB: usize = 1 << 30;

#[test]
fn one_gib_in_one_segment_of_memory() {
    let params = Params::default();
    let owner = SecretKey::derive(&[1; 32]);
    let mut sealer = Sealer::new(&[owner.public_key()], &[2; 32], params).unwrap();
    // Sealing, as an uploader would: each segment's shards leave as soon as they are made
    // (here they are dropped, keeping only their ids).
    let piece: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let mut expected = blake3::Hasher::new();
    let mut stored: Vec<[u8; 32]> = Vec::new();
    let mut largest_segment_bytes = 0;
    let mut keep = |segments: Vec<EncodedSegment>, stored: &mut Vec<[u8; 32]>| {
        for s in segments {
            largest_segment_bytes =
                largest_segment_bytes.max(s.shards.iter().map(|x| x.bytes.len()).sum::<usize>());
            stored.extend(s.shards.iter().map(|x| x.id.0));
        }
    };
    let baseline = HEAP.current_usage();
    HEAP.reset_peak_usage();
    for _ in 0..GIB / piece.len() {
        expected.update(&piece);
        let done = sealer.update(&piece).unwrap();
        keep(done, &mut stored);
    }
    let (last, manifest) = sealer.finish().unwrap();
    keep(last, &mut stored);
    let sealing_peak = HEAP.peak_usage() - baseline;
    assert_eq!(
        manifest
            .all_shard_ids()
            .iter()
            .map(|id| id.0)
            .collect::<Vec<_>>(),
        stored
    );

    // Opening: first reseal (sealing is deterministic) and keep every shard, 1.5 GiB that
    // stands for the storage nodes; then count only what opening adds on top of it.
    let mut resealer = Sealer::new(&[owner.public_key()], &[2; 32], params).unwrap();
    let mut segments: Vec<EncodedSegment> = Vec::new();
    for _ in 0..GIB / piece.len() {
        segments.extend(resealer.update(&piece).unwrap());
    }
    let (last, _) = resealer.finish().unwrap();
    segments.extend(last);
    let baseline = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let mut opener = Opener::new(manifest.clone(), owner.clone());
    let mut actual = blake3::Hasher::new();
    for s in &segments {
        // Drop two shards of every segment: opening must decode from the other four.
        let slots: Vec<Option<&[u8]>> = s
            .shards
            .iter()
            .enumerate()
            .map(|(i, x)| Some(x.bytes.as_slice()).filter(|_| i % 3 != 0))
            .collect();
        actual.update(&opener.push_segment(s.index, &slots).unwrap());
    }
    opener.finish().unwrap();
    let opening_peak = HEAP.peak_usage() - baseline;
    drop(segments);
    assert_eq!(actual.finalize(), expected.finalize());

    let segment = params.segment_len as usize;
    let shards = largest_segment_bytes;
    println!(
        "1 GiB: sealing peak {:.1} MiB, opening peak {:.1} MiB (segment {} MiB, its shards {:.1} MiB)",
        sealing_peak as f64 / 1048576.0,
        opening_peak as f64 / 1048576.0,
        segment >> 20,
        shards as f64 / 1048576.0
    );
    // About one segment plus its shards, whatever the size of the object. Sealing: the
    // sealed-stream buffer (one segment), the shards (1.5 segments for 4 + 2) and the coder's
    // workspace (about two segments). Opening: the decoded segment, the plaintext it releases
    // and the decoder's workspace (about four segments for 4 + 2: the code works over a
    // power-of-two number of shards, twice).
    assert!(sealing_peak < 5 * segment, "sealing peak {sealing_peak}");
    assert!(opening_peak < 7 * segment, "opening peak {opening_peak}");
}
