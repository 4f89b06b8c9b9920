//! The body of `POST /v1/submissions` and its answer: see [`checks::submission`].
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::submission(data));
