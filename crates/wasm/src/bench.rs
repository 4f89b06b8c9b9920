//! The sealing pipeline's parts, one call each, for `tests/bench/pipeline.mjs` to time against
//! other libraries. Not part of the API: the names start with `bench` and may change.

use datahub_core::erasure::SegmentEncoder;
use datahub_core::manifest::Params;
use datahub_core::stream::{self, CHUNK_LEN, ChunkIndex, PayloadKey};
use wasm_bindgen::prelude::*;

/// Encrypts `data` as the payload stream does (64 KiB ChaCha20-Poly1305 chunks under a fixed
/// key); returns the ciphertext length.
#[wasm_bindgen(js_name = benchEncrypt)]
pub fn bench_encrypt(data: &[u8]) -> usize {
    let key = PayloadKey::from_bytes([7; 32]);
    let mut out = Vec::with_capacity(data.len() + data.len().div_ceil(CHUNK_LEN) * 16 + 16);
    let count = data.chunks(CHUNK_LEN).count();
    for (i, chunk) in data.chunks(CHUNK_LEN).enumerate() {
        stream::seal_chunk(&key, ChunkIndex(i as u64), i + 1 == count, chunk, &mut out);
    }
    out.len()
}

/// BLAKE3 of `data`, as lower-case hex.
#[wasm_bindgen(js_name = benchBlake3)]
pub fn bench_blake3(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// Reed–Solomon codes `data` as one segment into `k + m` shards; returns the bytes of parity.
#[wasm_bindgen(js_name = benchErasure)]
pub fn bench_erasure(data: &[u8], k: u8, m: u8) -> usize {
    let params = Params {
        data_shards: k,
        parity_shards: m,
        segment_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
    };
    if params.validate().is_err() {
        return 0;
    }
    let shards = SegmentEncoder::new(params).encode(data);
    shards.iter().skip(usize::from(k)).map(Vec::len).sum()
}
