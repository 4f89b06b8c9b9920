//! The `range_proof` fuzz target: see [`checks::range_proof`] for what it feeds and what must hold.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::range_proof(data));
