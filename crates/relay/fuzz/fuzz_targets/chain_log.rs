//! A JSON-RPC endpoint's log or block: see [`checks::chain_log`].
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::chain_log(data));
