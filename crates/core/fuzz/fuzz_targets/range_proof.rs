//! Range-proof bytes from anywhere (a node's answer to an audit): parsing and verifying never
//! panic, what parses writes back identically, and what verifies is the shard's range.
#![no_main]

use datahub_core::ShardId;
use datahub_core::proof::{RangeProof, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(proof) = RangeProof::from_bytes(data) {
        assert_eq!(proof.to_bytes(), data);
        // Against an id the proof cannot match (unless it is the empty shard's id), and against
        // its own claim: never a panic, and a success returns exactly `len` bytes.
        let id = ShardId(*blake3::hash(b"not this shard").as_bytes());
        if let Ok(range) = proof.verify(&id) {
            assert_eq!(range.len() as u64, proof.len());
        }
        let _ = verify(&id, proof.shard_len(), proof.offset(), proof.len(), data);
    }
    // Any bytes against a fixed small shard's id.
    let shard = [7u8; 3000];
    let id = ShardId::of(&shard);
    if let Ok(range) = verify(&id, 3000, 1000, 1100, data) {
        assert_eq!(range, &shard[1000..2100]);
    }
});
