//! Ethereum addresses and their EIP-55 checksummed text form.

use core::{fmt, str::FromStr};

use super::{hex_digit, keccak256};
use crate::keys::PublicKey;

/// A 20-byte Ethereum account address: the last 20 bytes of the Keccak-256 hash of the 64-byte
/// uncompressed public key (x ‖ y, without the `0x04` tag).
///
/// Its text form is `0x` and 40 hex digits with the EIP-55 mixed-case checksum; [`Address::parse`]
/// also takes all-lower-case and all-upper-case digits, which carry no checksum.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address([u8; 20]);

/// Why text is not an address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressError {
    /// The text does not start with `0x`.
    MissingPrefix,
    /// The text after `0x` is not 40 characters long.
    InvalidLength {
        /// How many characters followed `0x`.
        len: usize,
    },
    /// A character after `0x` is not a hex digit.
    InvalidHex,
    /// The digits mix upper and lower case but not as the EIP-55 checksum says: the address was
    /// mistyped or altered.
    BadChecksum,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingPrefix => f.write_str("invalid address: it must start with 0x"),
            Self::InvalidLength { len } => write!(
                f,
                "invalid address: expected 40 hex digits after 0x, got {len} characters"
            ),
            Self::InvalidHex => f.write_str("invalid address: only hex digits may follow 0x"),
            Self::BadChecksum => f.write_str(
                "invalid address checksum (EIP-55): check the address for typos, or pass it all in lower case",
            ),
        }
    }
}

impl core::error::Error for AddressError {}

impl Address {
    /// The all-zero address.
    pub const ZERO: Self = Self([0; 20]);

    /// The address with these 20 bytes.
    pub const fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    /// The 20 bytes of this address.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The address of a public key.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let uncompressed = key.to_uncompressed();
        let (_tag, xy) = uncompressed.split_at(1);
        let hash = keccak256(xy);
        let mut out = [0u8; 20];
        let (_, tail) = hash.split_at(12);
        out.copy_from_slice(tail);
        Self(out)
    }

    /// Reads `0x` and 40 hex digits. All-lower-case and all-upper-case digits are taken as they
    /// are; mixed case must be the EIP-55 checksum.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let (address, digits) = Self::parse_digits(text)?;
        let has_lower = digits.iter().any(u8::is_ascii_lowercase);
        let has_upper = digits.iter().any(u8::is_ascii_uppercase);
        if has_lower && has_upper && !address.checksum_matches(digits) {
            return Err(AddressError::BadChecksum);
        }
        Ok(address)
    }

    /// Reads an address that must be written with its EIP-55 checksum, as EIP-4361 requires.
    /// (An address with no letters among its digits is its own checksum.)
    pub fn parse_checksummed(text: &str) -> Result<Self, AddressError> {
        let (address, digits) = Self::parse_digits(text)?;
        if !address.checksum_matches(digits) {
            return Err(AddressError::BadChecksum);
        }
        Ok(address)
    }

    fn parse_digits(text: &str) -> Result<(Self, &[u8]), AddressError> {
        let digits = text
            .strip_prefix("0x")
            .ok_or(AddressError::MissingPrefix)?
            .as_bytes();
        if digits.len() != 40 {
            return Err(AddressError::InvalidLength { len: digits.len() });
        }
        let mut out = [0u8; 20];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let [hi, lo] = pair else {
                return Err(AddressError::InvalidHex);
            };
            let (Some(hi), Some(lo)) = (hex_digit(*hi), hex_digit(*lo)) else {
                return Err(AddressError::InvalidHex);
            };
            *byte = hi << 4 | lo;
        }
        Ok((Self(out), digits))
    }

    fn checksum_matches(&self, digits: &[u8]) -> bool {
        self.checksum_digits().as_slice() == digits
    }

    /// The 40 EIP-55 digits: the lower-case hex of the address, with each letter upper-cased
    /// where the matching nibble of Keccak-256(lower-case hex) is 8 or more.
    fn checksum_digits(&self) -> [u8; 40] {
        let lower = super::to_hex(&self.0);
        let hash = keccak256(lower.as_bytes());
        let mut out = [0u8; 40];
        for (i, (slot, c)) in out.iter_mut().zip(lower.bytes()).enumerate() {
            let byte = hash.get(i / 2).copied().unwrap_or(0);
            let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
            *slot = if nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            };
        }
        out
    }

    /// The EIP-55 checksummed text form, `0x` and 40 hex digits.
    pub fn to_checksum(&self) -> String {
        let digits = self.checksum_digits();
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        out.extend(digits.iter().map(|&c| char::from(c)));
        out
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.to_checksum())
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl PublicKey {
    /// The Ethereum address of this key.
    pub fn address(&self) -> Address {
        Address::from_public_key(self)
    }
}
