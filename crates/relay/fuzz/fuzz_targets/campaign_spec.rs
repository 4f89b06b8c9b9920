//! The body of `POST /v1/campaigns` on its own: see [`checks::campaign_spec`].
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::campaign_spec(data));
