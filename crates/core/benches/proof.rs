//! Range proofs of a 1 MiB and a 16 MiB shard: building one (the node hashes the whole shard)
//! and verifying it (the relay hashes only the covered chunks and the path), against plain
//! `blake3::hash` of the shard. Run with `cargo bench -p datahub-core --bench proof`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datahub_core::ShardId;
use datahub_core::proof::{RangeProof, verify};

fn bench(c: &mut Criterion) {
    for (name, len) in [("1MiB", 1usize << 20), ("16MiB", 16 << 20)] {
        let shard: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let id = ShardId::of(&shard);
        // An audit-sized range in the middle, across a chunk boundary.
        let (offset, range) = (len as u64 / 2 - 1000, 4096u64);
        let proof = RangeProof::build(&shard, offset, range).unwrap().to_bytes();
        let mut group = c.benchmark_group(format!("proof/{name}"));
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function("blake3::hash", |b| {
            b.iter(|| blake3::hash(black_box(&shard)))
        });
        group.bench_function("build 4 KiB range", |b| {
            b.iter(|| RangeProof::build(black_box(&shard), offset, range).unwrap())
        });
        group.bench_function("build whole shard", |b| {
            b.iter(|| RangeProof::build(black_box(&shard), 0, len as u64).unwrap())
        });
        group.finish();
        let mut group = c.benchmark_group(format!("proof/{name}/verify"));
        group.throughput(Throughput::Bytes(proof.len() as u64));
        group.bench_function("verify 4 KiB range", |b| {
            b.iter(|| {
                verify(&id, len as u64, offset, range, black_box(&proof))
                    .unwrap()
                    .len()
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
