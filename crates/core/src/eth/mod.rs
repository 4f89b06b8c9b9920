//! Ethereum-compatible identity: addresses, message signatures, typed data, Sign-In with
//! Ethereum and session keys.
//!
//! Everything here follows the Ethereum standards byte for byte, so that wallets, ethers and viem
//! agree with it:
//!
//! - [`Address`]: 20-byte account ids, written with the EIP-55 mixed-case checksum.
//! - [`Signature`]: 65-byte recoverable ECDSA signatures `r ‖ s ‖ v` over Keccak-256 digests.
//!   Only low-s signatures are produced, and a high-s signature is refused on verification.
//! - [`personal`]: EIP-191 version `0x45` (`personal_sign`) messages.
//! - [`typed_data`]: EIP-712 structured data, generic (from the JSON that
//!   `eth_signTypedData_v4` takes) and for DataHub's own types in [`types`].
//! - [`siwe`]: EIP-4361 Sign-In with Ethereum messages: build, parse and verify.
//! - [`session`]: session keys authorized by a SIWE message's resources.
//! - [`abi`]: call data of the escrow's `claim` and the ERC-20 `balanceOf`, sent from a wallet.
//!
//! The module reads no clock and draws no randomness: the caller passes the current time and any
//! nonce it made. Replay protection is by nonce and deadline, never by signature bytes (a
//! signature is not unique: the same signer can make several valid ones for one message).
//!
//! `docs/signatures.md` gives the byte layouts and rules in full.

pub mod abi;
mod address;
mod keccak;
pub mod personal;
pub mod session;
mod signature;
pub mod siwe;
mod time;
pub mod typed_data;
pub mod types;
mod uint;

pub use address::{Address, AddressError};
pub use keccak::keccak256;
pub use session::{CampaignScope, Session, SessionError, SessionGrant};
pub use signature::{Signature, SignatureError};
pub use siwe::{MemoryNonceStore, NonceStore, SiweError, SiweMessage, SiweVerifier};
pub use time::{Timestamp, TimestampError};
pub use typed_data::{Eip712Domain, TypedData, TypedDataError};
pub use types::{RewardVoucher, SubmissionReceipt, TypedStruct};
pub use uint::{U256, U256Error};

/// An EIP-155 chain id (1 for Ethereum mainnet, 56 for BNB Smart Chain, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainId(pub u64);

impl core::fmt::Display for ChainId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Lower-case hex of `bytes`, without a prefix.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    use core::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The value of one hex digit, upper or lower case.
pub(crate) fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex of even length (no prefix) into bytes.
pub(crate) fn from_hex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some(hex_digit(*hi)? << 4 | hex_digit(*lo)?),
            _ => None,
        })
        .collect()
}

/// Strips a `0x` (or `0X`) prefix, if there is one.
pub(crate) fn strip_0x(text: &str) -> Option<&str> {
    text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))
}
