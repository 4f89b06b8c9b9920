use datahub_core::{
    PublicKey, SecretKey,
    eth::{Address, AddressError},
};

use crate::{secret, vectors};

const KEYS: &str = include_str!("../../../../test-vectors/eth-keys.json");

both! {
    fn keys_match_ethers() {
        let v = crate::vectors(KEYS);
        for k in v["keys"].as_array().unwrap() {
            let sk = secret(k["secret"].as_str().unwrap());
            let pk = sk.public_key();
            assert_eq!(format!("0x{}", hex::encode(pk.to_compressed())), k["public_compressed"].as_str().unwrap());
            assert_eq!(format!("0x{}", hex::encode(pk.to_uncompressed())), k["public_uncompressed"].as_str().unwrap());
            assert_eq!(sk.address().to_checksum(), k["address"].as_str().unwrap());
            assert_eq!(pk.address(), Address::from_public_key(&pk));
            // Both SEC1 forms read back to the same key.
            assert_eq!(PublicKey::from_sec1_bytes(&pk.to_uncompressed()).unwrap(), pk);
            assert_eq!(PublicKey::from_sec1_bytes(&pk.to_compressed()).unwrap(), pk);
            assert_eq!(*SecretKey::from_bytes(&*sk.to_bytes()).unwrap().to_bytes(), *sk.to_bytes());
        }
    }
}

both! {
    fn eip55_examples() {
        let v = vectors(KEYS);
        for a in v["eip55_valid"].as_array().unwrap() {
            let text = a["text"].as_str().unwrap();
            let address = Address::parse(text).unwrap();
            assert_eq!(address.to_checksum(), a["checksummed"].as_str().unwrap());
            assert_eq!(address.to_string(), a["checksummed"].as_str().unwrap());
            // The checksummed form is accepted by the strict parser; the lower/upper-case forms
            // only when they happen to be the checksum.
            assert!(Address::parse_checksummed(&address.to_checksum()).is_ok());
            let lower = format!("0x{}", text[2..].to_lowercase());
            let upper = format!("0x{}", text[2..].to_uppercase());
            assert_eq!(Address::parse(&lower).unwrap(), address);
            assert_eq!(Address::parse(&upper).unwrap(), address);
        }
        for text in v["eip55_bad_checksum"].as_array().unwrap() {
            assert_eq!(Address::parse(text.as_str().unwrap()), Err(AddressError::BadChecksum), "{text}");
        }
        for text in v["malformed"].as_array().unwrap() {
            assert!(Address::parse(text.as_str().unwrap()).is_err(), "{text}");
        }
    }
}

both! {
    fn address_errors_are_specific() {
        assert_eq!(Address::parse("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"), Err(AddressError::MissingPrefix));
        assert_eq!(Address::parse("0x1234"), Err(AddressError::InvalidLength { len: 4 }));
        assert_eq!(Address::parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg"), Err(AddressError::InvalidHex));
        assert_eq!(Address::parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1Be✓"), Err(AddressError::InvalidHex));
        let e = Address::parse("0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("invalid address checksum"), "{msg}");
    }
}

both! {
    fn derive_gives_valid_distinct_keys() {
        let a = SecretKey::derive(&[1u8; 32]);
        let b = SecretKey::derive(&[2u8; 32]);
        assert_ne!(a.address(), b.address());
        assert_eq!(SecretKey::derive(&[1u8; 32]).address(), a.address());
    }
}
