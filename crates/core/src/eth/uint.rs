//! A 256-bit unsigned integer, enough for token amounts, nonces and EIP-712 `uint256` fields.

use core::fmt;

use super::{hex_digit, strip_0x};

/// An unsigned 256-bit integer, stored as 32 big-endian bytes (the EIP-712 / ABI word).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct U256([u8; 32]);

/// Why text is not a 256-bit unsigned integer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum U256Error {
    /// The text is empty or has a character that is not a digit.
    InvalidDigit,
    /// The number does not fit in 256 bits.
    Overflow,
}

impl fmt::Display for U256Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidDigit => {
                "invalid integer: expected decimal digits, or 0x followed by hex digits"
            }
            Self::Overflow => "integer too large: it must fit in 256 bits",
        })
    }
}

impl core::error::Error for U256Error {}

impl U256 {
    /// Zero.
    pub const ZERO: Self = Self([0; 32]);
    /// 2^256 − 1.
    pub const MAX: Self = Self([0xff; 32]);

    /// The integer with these 32 big-endian bytes.
    pub const fn from_be_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 big-endian bytes of this integer.
    pub const fn to_be_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The integer `value`.
    pub fn from_u128(value: u128) -> Self {
        let mut out = [0u8; 32];
        let (_, low) = out.split_at_mut(16);
        low.copy_from_slice(&value.to_be_bytes());
        Self(out)
    }

    /// The integer `value`.
    pub fn from_u64(value: u64) -> Self {
        Self::from_u128(u128::from(value))
    }

    /// This integer as a `u64`, if it fits.
    pub fn to_u64(&self) -> Option<u64> {
        let (high, low) = self.0.split_at(24);
        if high.iter().any(|&b| b != 0) {
            return None;
        }
        Some(u64::from_be_bytes(low.try_into().ok()?))
    }

    /// The number of significant bits (0 for zero).
    pub fn bits(&self) -> u32 {
        for (i, byte) in self.0.iter().enumerate() {
            if *byte != 0 {
                let i = u32::try_from(i).unwrap_or(32);
                return (32 - i) * 8 - byte.leading_zeros();
            }
        }
        0
    }

    /// Reads decimal digits, or `0x` followed by at most 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, U256Error> {
        match strip_0x(text) {
            Some(hex) => Self::parse_radix(hex, 16),
            None => Self::parse_radix(text, 10),
        }
    }

    fn parse_radix(digits: &str, radix: u16) -> Result<Self, U256Error> {
        if digits.is_empty() {
            return Err(U256Error::InvalidDigit);
        }
        let mut out = Self::ZERO;
        for c in digits.bytes() {
            let digit = hex_digit(c).filter(|&d| u16::from(d) < radix);
            let digit = digit.ok_or(U256Error::InvalidDigit)?;
            out = out.mul_small_add(radix, digit).ok_or(U256Error::Overflow)?;
        }
        Ok(out)
    }

    /// `self * factor + addend`, or `None` on overflow.
    fn mul_small_add(mut self, factor: u16, addend: u8) -> Option<Self> {
        let mut carry = u32::from(addend);
        for byte in self.0.iter_mut().rev() {
            let v = u32::from(*byte) * u32::from(factor) + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        (carry == 0).then_some(self)
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(&self, other: &Self) -> Option<Self> {
        let mut out = [0u8; 32];
        let mut carry = 0u16;
        for ((o, a), b) in out.iter_mut().zip(self.0.iter()).zip(other.0.iter()).rev() {
            let v = u16::from(*a) + u16::from(*b) + carry;
            *o = (v & 0xff) as u8;
            carry = v >> 8;
        }
        (carry == 0).then_some(Self(out))
    }

    /// Two's complement negation modulo 2^256.
    pub(crate) fn wrapping_neg(&self) -> Self {
        let mut out = self.0.map(|b| !b);
        let mut carry = 1u16;
        for byte in out.iter_mut().rev() {
            let v = u16::from(*byte) + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        Self(out)
    }

    /// Decimal digits, no leading zeros.
    fn to_decimal(self) -> String {
        let mut digits = Vec::new();
        let mut n = self.0;
        while n.iter().any(|&b| b != 0) {
            let mut rem = 0u32;
            for byte in n.iter_mut() {
                let v = (rem << 8) | u32::from(*byte);
                *byte = (v / 10) as u8;
                rem = v % 10;
            }
            digits.push(char::from(b'0' + rem as u8));
        }
        if digits.is_empty() {
            digits.push('0');
        }
        digits.iter().rev().collect()
    }
}

impl fmt::Display for U256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal())
    }
}

impl fmt::Debug for U256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "U256({})", self.to_decimal())
    }
}

impl From<u64> for U256 {
    fn from(value: u64) -> Self {
        Self::from_u64(value)
    }
}

impl From<u128> for U256 {
    fn from(value: u128) -> Self {
        Self::from_u128(value)
    }
}

impl core::str::FromStr for U256 {
    type Err = U256Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}
