//! secp256k1 keys: the identity of contributors, requesters, nodes and the relay.
//!
//! A [`SecretKey`] is 32 big-endian bytes, a non-zero scalar below the curve order; it is wiped
//! from memory when dropped. A [`PublicKey`] is a curve point, read from its 33-byte compressed or
//! 65-byte uncompressed SEC1 form and written in the compressed form.

use core::fmt;

/// A secp256k1 secret key, wiped from memory on drop.
#[derive(Clone)]
pub struct SecretKey(k256::SecretKey);

/// A secp256k1 public key (a curve point that is not the identity).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(k256::PublicKey);

/// Why bytes are not a key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// A secret key must be 32 bytes encoding a scalar in `1..n`.
    InvalidSecretKey,
    /// A public key must be a 33-byte compressed or 65-byte uncompressed SEC1 point on the curve.
    InvalidPublicKey,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidSecretKey => {
                "invalid secret key: expected 32 bytes encoding a non-zero scalar below the secp256k1 order"
            }
            Self::InvalidPublicKey => {
                "invalid public key: expected a 33-byte compressed or 65-byte uncompressed secp256k1 point"
            }
        })
    }
}

impl core::error::Error for KeyError {}

impl SecretKey {
    /// Reads a secret key from its 32 big-endian bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != 32 {
            return Err(KeyError::InvalidSecretKey);
        }
        k256::SecretKey::from_slice(bytes)
            .map(Self)
            .map_err(|_| KeyError::InvalidSecretKey)
    }

    /// Derives a secret key from 32 uniformly random bytes (the caller's entropy).
    ///
    /// The bytes are hashed with a counter until they give a valid scalar, so any input works;
    /// in practice the first try succeeds (the chance of a retry is about 2^-128).
    pub fn derive(entropy: &[u8; 32]) -> Self {
        derive_nonzero(b"datahub v1 secret key", entropy)
    }

    /// The 32 big-endian bytes of this key. Keep them secret; wipe copies after use.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes().into())
    }

    /// The public key of this secret key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.public_key())
    }

    /// The x-coordinate of `self · public`: the raw ECDH shared secret of SEC1, to be fed to a
    /// KDF, never used as a key directly.
    pub fn diffie_hellman(&self, public: &PublicKey) -> zeroize::Zeroizing<[u8; 32]> {
        let shared = self.0.diffie_hellman(&public.0);
        zeroize::Zeroizing::new((*shared.raw_secret_bytes()).into())
    }

    pub(crate) fn as_k256(&self) -> &k256::SecretKey {
        &self.0
    }
}

/// Hashes `entropy` under `context` with a counter until the result is a valid secret key.
pub(crate) fn derive_nonzero(context: &[u8], entropy: &[u8; 32]) -> SecretKey {
    let mut counter: u32 = 0;
    loop {
        let mut hasher = blake3::Hasher::new_keyed(entropy);
        hasher.update(context);
        hasher.update(&counter.to_le_bytes());
        let candidate = zeroize::Zeroizing::new(*hasher.finalize().as_bytes());
        if let Ok(key) = k256::SecretKey::from_slice(candidate.as_slice()) {
            return SecretKey(key);
        }
        counter = counter.wrapping_add(1);
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl PublicKey {
    /// Length of the compressed SEC1 encoding.
    pub const COMPRESSED_LEN: usize = 33;

    /// Reads a public key from its compressed (33-byte) or uncompressed (65-byte) SEC1 form.
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != 33 && bytes.len() != 65 {
            return Err(KeyError::InvalidPublicKey);
        }
        k256::PublicKey::from_sec1_bytes(bytes)
            .map(Self)
            .map_err(|_| KeyError::InvalidPublicKey)
    }

    /// The 33-byte compressed SEC1 form: `0x02`/`0x03` (parity of y) then x, big-endian.
    pub fn to_compressed(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out.copy_from_slice(&self.0.to_sec1_bytes());
        out
    }

    /// The 65-byte uncompressed SEC1 form: `0x04`, x, y, big-endian.
    pub fn to_uncompressed(&self) -> [u8; 65] {
        use k256::elliptic_curve::sec1::ToSec1Point;
        let mut out = [0u8; 65];
        out.copy_from_slice(self.0.as_affine().to_sec1_point(false).as_bytes());
        out
    }

    pub(crate) fn as_k256(&self) -> &k256::PublicKey {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        for byte in self.to_compressed() {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}
