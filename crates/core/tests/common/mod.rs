//! Helpers shared by the core's integration tests, natively and under wasm-bindgen-test.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use datahub_core::SecretKey;

/// `len` bytes of the pattern `i % 251`, as the BLAKE3 vectors use.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A small deterministic generator (xorshift64*), so native and wasm runs test the same cases.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        out
    }
    pub fn fill(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// The `n`th fixed test identity.
pub fn identity(n: u8) -> SecretKey {
    SecretKey::derive(&[n; 32])
}

pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("valid hex in a test vector")
}
