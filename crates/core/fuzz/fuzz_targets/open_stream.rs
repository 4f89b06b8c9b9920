//! A sealed stream from anywhere, fed in pieces: opening never panics.
#![no_main]

use datahub_core::{SecretKey, StreamOpener};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else { return };
    let mut opener = StreamOpener::new(SecretKey::derive(&[1; 32]), stream.len() as u64);
    let (a, b) = stream.split_at(usize::from(split).min(stream.len()));
    if opener.update(a).is_ok() && opener.update(b).is_ok() {
        let _ = opener.finish();
    }
});
