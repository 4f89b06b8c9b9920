//! Signature, address, integer and public-key parsing never panic; what parses round-trips;
//! recovery from any accepted signature returns a key or an error, never a panic.
#![no_main]

use datahub_core::{
    PublicKey,
    eth::{Address, Signature, U256, keccak256},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sig) = Signature::from_bytes(data) {
        assert_eq!(Signature::from_bytes(&sig.to_bytes()), Ok(sig));
        assert_eq!(Signature::from_hex(&sig.to_hex()), Ok(sig));
        let _ = sig.recover_prehash(&keccak256(data));
    }
    if let Ok(key) = PublicKey::from_sec1_bytes(data) {
        assert_eq!(PublicKey::from_sec1_bytes(&key.to_compressed()), Ok(key));
        if let (Some(digest), Some(rs)) = (data.get(1..33), data.get(1..65)) {
            let digest: [u8; 32] = digest.try_into().unwrap_or([0; 32]);
            let rs: [u8; 64] = rs.try_into().unwrap_or([0; 64]);
            let _ = key.verify_prehash(&digest, &rs);
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Signature::from_hex(text);
    if let Ok(address) = Address::parse(text) {
        assert_eq!(Address::parse(&address.to_checksum()), Ok(address));
        assert_eq!(Address::parse_checksummed(&address.to_checksum()), Ok(address));
    }
    let _ = Address::parse_checksummed(text);
    if let Ok(n) = U256::parse(text) {
        assert_eq!(U256::parse(&n.to_string()), Ok(n));
    }
});
