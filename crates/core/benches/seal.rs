//! Seal and open throughput over 64 MiB with the default parameters, and the parts they are
//! made of: `cargo bench -p datahub-core --bench seal`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datahub_core::erasure::encode_segment;
use datahub_core::manifest::Params;
use datahub_core::stream::{CHUNK_LEN, ChunkIndex, PayloadKey, seal_chunk};
use datahub_core::{Opener, Sealer, SecretKey, seal_bytes};
use std::hint::black_box;

const LEN: usize = 64 * 1024 * 1024;

fn bench(c: &mut Criterion) {
    let plaintext: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let owner = SecretKey::derive(&[1; 32]);
    let params = Params::default();
    let mut group = c.benchmark_group("64MiB");
    group
        .sample_size(10)
        .throughput(Throughput::Bytes(LEN as u64));

    group.bench_function("seal", |b| {
        b.iter(|| {
            // Fed a segment at a time, as a streaming caller would.
            let mut sealer = Sealer::new(&[owner.public_key()], &[2; 32], params).unwrap();
            let mut shards = 0;
            for piece in plaintext.chunks(params.segment_len as usize) {
                shards += sealer.update(piece).unwrap().len();
            }
            let (last, manifest) = sealer.finish().unwrap();
            black_box((shards + last.len(), manifest))
        })
    });

    let (manifest, segments) =
        seal_bytes(&plaintext, &[owner.public_key()], &[2; 32], params).unwrap();
    group.bench_function("open", |b| {
        b.iter(|| {
            let mut opener = Opener::new(manifest.clone(), owner.clone());
            let mut out = 0;
            for s in &segments {
                let slots: Vec<Option<&[u8]>> =
                    s.shards.iter().map(|x| Some(x.bytes.as_slice())).collect();
                out += opener.push_segment(s.index, &slots).unwrap().len();
            }
            opener.finish().unwrap();
            black_box(out)
        })
    });

    group.bench_function("open_with_2_shards_lost", |b| {
        b.iter(|| {
            let mut opener = Opener::new(manifest.clone(), owner.clone());
            let mut out = 0;
            for s in &segments {
                let mut slots: Vec<Option<&[u8]>> =
                    s.shards.iter().map(|x| Some(x.bytes.as_slice())).collect();
                slots[0] = None;
                slots[1] = None;
                out += opener.push_segment(s.index, &slots).unwrap().len();
            }
            opener.finish().unwrap();
            black_box(out)
        })
    });

    // The parts, to see where the time goes.
    let key = PayloadKey::from_bytes([3; 32]);
    group.bench_function("part/chacha20poly1305_chunks", |b| {
        let mut out = Vec::with_capacity(LEN + LEN / CHUNK_LEN * 16);
        b.iter(|| {
            out.clear();
            for (i, chunk) in plaintext.chunks(CHUNK_LEN).enumerate() {
                seal_chunk(&key, ChunkIndex(i as u64), false, chunk, &mut out);
            }
            black_box(out.len())
        })
    });
    group.bench_function("part/reed_solomon_4+2", |b| {
        b.iter(|| {
            plaintext
                .chunks(params.segment_len as usize)
                .map(|segment| encode_segment(&params, segment).len())
                .sum::<usize>()
        })
    });
    group.bench_function("part/blake3_shards", |b| {
        b.iter(|| black_box(blake3::hash(&plaintext)))
    });
    // The ceiling: copying the bytes once, which no seal or open can beat.
    group.bench_function("ceiling/memcpy", |b| {
        let mut out = vec![0u8; LEN];
        b.iter(|| {
            out.copy_from_slice(&plaintext);
            black_box(out.as_ptr())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
