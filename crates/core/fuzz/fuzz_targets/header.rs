//! Header bytes from anywhere: parsing never panics, what parses writes back identically, and
//! unwrapping with a key that is no recipient's always fails.
#![no_main]

use datahub_core::SecretKey;
use datahub_core::header::Header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, len)) = Header::parse(data) {
        assert_eq!(header.to_bytes(), data.get(..len).expect("parsed length within input"));
        let _ = header.unwrap(&SecretKey::derive(&[1; 32]));
    }
});
