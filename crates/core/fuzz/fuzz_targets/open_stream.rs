//! The `open_stream` fuzz target: see [`checks::open_stream`] for what it feeds and what must hold.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::open_stream(data));
