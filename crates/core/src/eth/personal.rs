//! EIP-191 version `0x45` signed messages: what `personal_sign`, ethers' `signMessage` and
//! viem's `signMessage` make.
//!
//! The digest is `keccak256(0x19 ‖ "Ethereum Signed Message:\n" ‖ len ‖ message)`, where `len` is
//! the message's length in bytes written in decimal ASCII with no leading zeros. A text message
//! is signed as its UTF-8 bytes.

use super::{Address, Signature, SignatureError, keccak::keccak256_concat};
use crate::keys::SecretKey;

/// The EIP-191 prefix, version byte `0x45` (`E`) included.
pub const PREFIX: &[u8] = b"\x19Ethereum Signed Message:\n";

/// The digest that a `personal_sign` signature over `message` signs.
pub fn hash_message(message: &[u8]) -> [u8; 32] {
    let len = message.len().to_string();
    keccak256_concat(&[PREFIX, len.as_bytes(), message])
}

/// Signs `message` as `personal_sign` does.
pub fn sign_message(key: &SecretKey, message: &[u8]) -> Signature {
    Signature::sign_prehash(key, &hash_message(message))
}

/// The address that signed `message` with `personal_sign`.
pub fn recover_message(message: &[u8], signature: &Signature) -> Result<Address, SignatureError> {
    signature.recover_address_prehash(&hash_message(message))
}

/// Checks that `expected` signed `message` with `personal_sign`.
pub fn verify_message(
    message: &[u8],
    signature: &Signature,
    expected: &Address,
) -> Result<(), SignatureError> {
    signature.verify_address_prehash(&hash_message(message), expected)
}
