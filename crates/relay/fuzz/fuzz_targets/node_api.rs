//! Every request to a storage node, through its router: see [`checks::node_api`].
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::node_api(data));
