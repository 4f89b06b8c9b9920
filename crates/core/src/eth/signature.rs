//! Recoverable secp256k1 ECDSA signatures in Ethereum's 65-byte `r ‖ s ‖ v` form.

use core::fmt;

use ecdsa::{RecoveryId, hazmat};
use k256::{Secp256k1, elliptic_curve::scalar::IsHigh};

use super::{Address, from_hex, strip_0x, to_hex};
use crate::keys::{PublicKey, SecretKey};

/// A recoverable ECDSA signature over a 32-byte digest, as Ethereum writes it: 65 bytes,
/// `r` (32 bytes, big-endian) ‖ `s` (32 bytes, big-endian) ‖ `v` (1 byte).
///
/// `v` is 27 or 28 (27 + the parity of the y-coordinate of the nonce point); 0 and 1 are
/// accepted on input too. A `Signature` is always canonical: `r` and `s` are in `1..n` and `s` is
/// at most `n/2` ("low-s", as Ethereum has required since EIP-2). A high-s signature is refused
/// when read, so it can never verify.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature {
    r: [u8; 32],
    s: [u8; 32],
    y_odd: bool,
}

/// Why a signature is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// A signature is 65 bytes: r, s and v.
    InvalidLength {
        /// How many bytes were given.
        len: usize,
    },
    /// The hex form must be `0x` and 130 hex digits.
    InvalidHex,
    /// `v` must be 27 or 28 (or 0 or 1).
    InvalidRecoveryId {
        /// The `v` byte that was given.
        v: u8,
    },
    /// `r` or `s` is zero or not below the curve order.
    InvalidScalar,
    /// `s` is above half the curve order: a malleated signature. Ethereum accepts only the low-s
    /// form; a signer must normalize `s` to `n - s` and flip `v`.
    HighS,
    /// No public key matches this signature and digest.
    RecoveryFailed,
    /// The signature is valid but made by another key than the expected one.
    WrongSigner {
        /// The address that was expected to sign.
        expected: Address,
        /// The address that did sign.
        actual: Address,
    },
    /// The signature does not verify under the given public key.
    Invalid,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidLength { len } => {
                write!(
                    f,
                    "invalid signature: expected 65 bytes (r, s, v), got {len}"
                )
            }
            Self::InvalidHex => {
                f.write_str("invalid signature: expected 0x followed by 130 hex digits")
            }
            Self::InvalidRecoveryId { v } => {
                write!(
                    f,
                    "invalid signature: v must be 27 or 28 (or 0 or 1), got {v}"
                )
            }
            Self::InvalidScalar => f.write_str(
                "invalid signature: r and s must be non-zero and below the secp256k1 order",
            ),
            Self::HighS => f.write_str(
                "invalid signature: s is not in low-s form (EIP-2); the signer must normalize it",
            ),
            Self::RecoveryFailed => {
                f.write_str("invalid signature: no public key can be recovered from it")
            }
            Self::WrongSigner { expected, actual } => {
                write!(
                    f,
                    "signature was made by {actual}, not by the expected {expected}"
                )
            }
            Self::Invalid => f.write_str("signature does not verify under this public key"),
        }
    }
}

impl core::error::Error for SignatureError {}

impl Signature {
    /// Length of the byte form.
    pub const LEN: usize = 65;

    /// Signs a 32-byte digest (RFC 6979 deterministic nonce, low-s), as `eth_sign` over a
    /// digest: the same key and digest always give the same signature, the one ethers and viem
    /// give.
    pub fn sign_prehash(key: &SecretKey, prehash: &[u8; 32]) -> Self {
        let d = key.as_k256().to_nonzero_scalar();
        let mut extra: u32 = 0;
        loop {
            // RFC 6979 with no additional data first; a retry is only needed in the ~2^-128 case
            // where r overflowed the order, which v cannot express.
            let ad = extra.to_be_bytes();
            let ad: &[u8] = if extra == 0 { &[] } else { &ad };
            let (signature, id) =
                hazmat::sign_prehashed_rfc6979::<Secp256k1, k256::sha2::Sha256>(&d, prehash, ad);
            if !id.is_x_reduced() {
                let (r, s) = signature.split_bytes();
                return Self {
                    r: r.into(),
                    s: s.into(),
                    y_odd: id.is_y_odd(),
                };
            }
            extra = extra.wrapping_add(1);
        }
    }

    /// Reads the 65-byte form. `v` may be 27/28 or 0/1; `r` and `s` must be in range and `s`
    /// must be low.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignatureError> {
        let Ok(bytes) = <&[u8; 65]>::try_from(bytes) else {
            return Err(SignatureError::InvalidLength { len: bytes.len() });
        };
        let (rs, v) = bytes.split_at(64);
        let y_odd = match v {
            [0 | 27] => false,
            [1 | 28] => true,
            [v, ..] => return Err(SignatureError::InvalidRecoveryId { v: *v }),
            [] => return Err(SignatureError::InvalidLength { len: 64 }),
        };
        let (r, s) = split_rs(rs)?;
        Ok(Self { r, s, y_odd })
    }

    /// Reads the hex form, `0x` and 130 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, SignatureError> {
        let digits = strip_0x(text).ok_or(SignatureError::InvalidHex)?;
        let bytes = from_hex(digits).ok_or(SignatureError::InvalidHex)?;
        Self::from_bytes(&bytes)
    }

    /// The 65-byte form, with `v` = 27 or 28.
    pub fn to_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        let (r, rest) = out.split_at_mut(32);
        let (s, v) = rest.split_at_mut(32);
        r.copy_from_slice(&self.r);
        s.copy_from_slice(&self.s);
        if let [v] = v {
            *v = self.v();
        }
        out
    }

    /// The hex form, `0x` and 130 lower-case hex digits, `v` = 27 or 28 (as ethers and viem
    /// write it).
    pub fn to_hex(&self) -> String {
        let mut out = String::from("0x");
        out.push_str(&to_hex(&self.to_bytes()));
        out
    }

    /// `r`, 32 bytes big-endian.
    pub fn r(&self) -> &[u8; 32] {
        &self.r
    }

    /// `s`, 32 bytes big-endian (always at most n/2).
    pub fn s(&self) -> &[u8; 32] {
        &self.s
    }

    /// `v`: 27 or 28.
    pub fn v(&self) -> u8 {
        27 + u8::from(self.y_odd)
    }

    /// Whether the nonce point's y-coordinate is odd (`v` − 27).
    pub fn y_parity(&self) -> bool {
        self.y_odd
    }

    fn to_k256(self) -> Result<ecdsa::Signature<Secp256k1>, SignatureError> {
        ecdsa::Signature::from_scalars(self.r, self.s).map_err(|_| SignatureError::InvalidScalar)
    }

    /// The public key that made this signature over `prehash`.
    pub fn recover_prehash(&self, prehash: &[u8; 32]) -> Result<PublicKey, SignatureError> {
        let signature = self.to_k256()?;
        // Checked when read too; checked again so no path can skip it.
        if bool::from(signature.s().is_high()) {
            return Err(SignatureError::HighS);
        }
        let id = RecoveryId::new(self.y_odd, false);
        let key = ecdsa::VerifyingKey::<Secp256k1>::recover_from_prehash(prehash, &signature, id)
            .map_err(|_| SignatureError::RecoveryFailed)?;
        Ok(PublicKey::from_k256(k256::PublicKey::from(&key)))
    }

    /// The address that made this signature over `prehash`.
    pub fn recover_address_prehash(&self, prehash: &[u8; 32]) -> Result<Address, SignatureError> {
        self.recover_prehash(prehash).map(|key| key.address())
    }

    /// Checks that `expected` made this signature over `prehash`.
    pub fn verify_address_prehash(
        &self,
        prehash: &[u8; 32],
        expected: &Address,
    ) -> Result<(), SignatureError> {
        let actual = self.recover_address_prehash(prehash)?;
        if actual == *expected {
            Ok(())
        } else {
            Err(SignatureError::WrongSigner {
                expected: *expected,
                actual,
            })
        }
    }
}

fn split_rs(rs: &[u8]) -> Result<([u8; 32], [u8; 32]), SignatureError> {
    let (r, s) = rs
        .split_at_checked(32)
        .ok_or(SignatureError::InvalidScalar)?;
    let r: [u8; 32] = r.try_into().map_err(|_| SignatureError::InvalidScalar)?;
    let s: [u8; 32] = s.try_into().map_err(|_| SignatureError::InvalidScalar)?;
    low_s_signature(r, s)?;
    Ok((r, s))
}

/// `r ‖ s` as a signature, refused unless both are in `1..n` and `s ≤ n/2` (EIP-2).
fn low_s_signature(
    r: [u8; 32],
    s: [u8; 32],
) -> Result<ecdsa::Signature<Secp256k1>, SignatureError> {
    let signature = ecdsa::Signature::<Secp256k1>::from_scalars(r, s)
        .map_err(|_| SignatureError::InvalidScalar)?;
    if bool::from(signature.s().is_high()) {
        return Err(SignatureError::HighS);
    }
    Ok(signature)
}

impl PublicKey {
    /// Verifies a plain (non-recoverable) ECDSA signature `r ‖ s` (64 bytes, big-endian) over a
    /// 32-byte digest. A high-s signature is refused.
    pub fn verify_prehash(&self, prehash: &[u8; 32], rs: &[u8; 64]) -> Result<(), SignatureError> {
        let (r, s) = rs.split_at(32);
        let r = r.try_into().map_err(|_| SignatureError::InvalidScalar)?;
        let s = s.try_into().map_err(|_| SignatureError::InvalidScalar)?;
        let signature = low_s_signature(r, s)?;
        let point = self.as_k256().to_projective();
        hazmat::verify_prehashed::<Secp256k1>(&point, prehash, &signature)
            .map_err(|_| SignatureError::Invalid)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl SecretKey {
    /// Signs a 32-byte digest; see [`Signature::sign_prehash`].
    pub fn sign_prehash(&self, prehash: &[u8; 32]) -> Signature {
        Signature::sign_prehash(self, prehash)
    }

    /// The Ethereum address of this key's public key.
    pub fn address(&self) -> Address {
        self.public_key().address()
    }
}
