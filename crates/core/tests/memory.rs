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
    // Opening needs the manifest, which only exists at the end, so each segment's shards are
    // checked and opened after sealing, as a downloader would: here, kept only as their ids.
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

    // Open by resealing each segment's shards on the fly (sealing is deterministic), so no
    // more than one segment of shards ever exists at once.
    let baseline = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let mut resealer = Sealer::new(&[owner.public_key()], &[2; 32], params).unwrap();
    let mut opener = Opener::new(manifest.clone(), owner.clone());
    let mut actual = blake3::Hasher::new();
    let mut open = |segments: Vec<EncodedSegment>, opener: &mut Opener| {
        for s in segments {
            // Drop two shards of every segment: opening must decode from the other four.
            let slots: Vec<Option<&[u8]>> = s
                .shards
                .iter()
                .enumerate()
                .map(|(i, x)| Some(x.bytes.as_slice()).filter(|_| i % 3 != 0))
                .collect();
            actual.update(&opener.push_segment(s.index, &slots).unwrap());
        }
    };
    for _ in 0..GIB / piece.len() {
        let done = resealer.update(&piece).unwrap();
        open(done, &mut opener);
    }
    let (last, _) = resealer.finish().unwrap();
    open(last, &mut opener);
    opener.finish().unwrap();
    let opening_peak = HEAP.peak_usage() - baseline;
    assert_eq!(actual.finalize(), expected.finalize());

    let segment = params.segment_len as usize;
    let shards = largest_segment_bytes;
    println!(
        "1 GiB: sealing peak {:.1} MiB, sealing and opening together {:.1} MiB (segment {} MiB, its shards {:.1} MiB)",
        sealing_peak as f64 / 1048576.0,
        opening_peak as f64 / 1048576.0,
        segment >> 20,
        shards as f64 / 1048576.0
    );
    // About one segment plus its shards, whatever the size of the object: the sealed-stream
    // buffer (one segment), the shards (1.5 segments for 4 + 2) and the coder's workspace
    // (about two segments). Opening, measured here beside the second sealer that feeds it,
    // adds the decoded segment, the stream buffer and the plaintext it releases.
    assert!(sealing_peak < 5 * segment, "sealing peak {sealing_peak}");
    let opening = opening_peak.saturating_sub(sealing_peak);
    assert!(opening < 4 * segment, "opening needed {opening} beyond the sealer's {sealing_peak}");
}
