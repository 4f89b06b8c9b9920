//! Every JSON-bodied `POST` of the relay, through its router: see [`checks::api`].
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::api(data));
