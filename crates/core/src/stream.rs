//! The payload's STREAM encryption: 64 KiB chunks, each sealed on its own.
//!
//! The construction is age v1's STREAM (Hoang, Reyhanitabar, Rogaway and Vizár, "Online
//! Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance"): chunk `i` is sealed with
//! ChaCha20-Poly1305 under the payload key and the 12-byte nonce `i as u88 big-endian ‖ last`,
//! where `last` is `0x01` on the final chunk and `0x00` on every other. A reordered, duplicated
//! or dropped chunk is then decrypted under the wrong nonce and fails its tag, and so does a
//! stream cut at a chunk boundary, because its new final chunk was not sealed as last.
//!
//! Every chunk holds [`CHUNK_LEN`] plaintext bytes except the final one, which holds 1 to
//! `CHUNK_LEN` bytes, or none when the whole payload is empty.
//!
//! These are the chunk-level functions; [`crate::seal`] drives them over a stream.

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Plaintext bytes in every chunk but the last.
pub const CHUNK_LEN: usize = 64 * 1024;
/// Bytes the AEAD tag adds to each chunk.
pub const TAG_LEN: usize = 16;
/// Ciphertext bytes of a full chunk.
pub const SEALED_CHUNK_LEN: usize = CHUNK_LEN + TAG_LEN;

/// The position of a chunk in the payload, starting at 0.
///
/// The nonce holds it in 11 bytes, so a payload may have up to 2^64 chunks here (the `u64`
/// bound is reached long before the nonce's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChunkIndex(pub u64);

/// The key that encrypts the payload's chunks, wiped on drop.
///
/// It is derived from the file key and the header's random payload nonce, so it is never used
/// for two payloads; within one payload each chunk index and `last` flag gives a distinct nonce,
/// and [`seal_chunk`] must be called at most once per index.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PayloadKey([u8; 32]);

/// A chunk failed to authenticate: wrong key, wrong position, wrong `last` flag, or altered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkAuthError;

impl PayloadKey {
    /// Wraps 32 key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// ChaCha20-Poly1305: encrypts `body` in place, returns the tag.
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn seal_in_place(&self, nonce: &[u8; 12], body: &mut [u8]) -> [u8; TAG_LEN] {
        // Encryption only fails for messages longer than ChaCha20's 256 GiB block counter allows.
        #[allow(clippy::expect_used)]
        let tag = ChaCha20Poly1305::new(&self.0.into())
            .encrypt_inout_detached(&(*nonce).into(), &[], body.into())
            .expect("a 64 KiB chunk is within ChaCha20's limit");
        tag.into()
    }

    /// ChaCha20-Poly1305: checks the tag, then decrypts `body` in place.
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn open_in_place(
        &self,
        nonce: &[u8; 12],
        body: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), ChunkAuthError> {
        ChaCha20Poly1305::new(&self.0.into())
            .decrypt_inout_detached(&(*nonce).into(), &[], body.into(), &(*tag).into())
            .map_err(|_| ChunkAuthError)
    }

    /// The same, with ChaCha20 in WebAssembly SIMD ([`crate::chacha_simd`]).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fn seal_in_place(&self, nonce: &[u8; 12], body: &mut [u8]) -> [u8; TAG_LEN] {
        crate::chacha_simd::ChaCha20::new(&self.0, nonce).seal(body)
    }

    /// The same, with ChaCha20 in WebAssembly SIMD ([`crate::chacha_simd`]).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fn open_in_place(
        &self,
        nonce: &[u8; 12],
        body: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), ChunkAuthError> {
        if crate::chacha_simd::ChaCha20::new(&self.0, nonce).open(body, tag) {
            Ok(())
        } else {
            Err(ChunkAuthError)
        }
    }
}

fn chunk_nonce(index: ChunkIndex, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    // u88 big-endian counter: the top three bytes stay zero for a u64 index.
    nonce[3..11].copy_from_slice(&index.0.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

/// Seals one chunk of at most [`CHUNK_LEN`] bytes, appending `ciphertext ‖ tag` to `out`.
///
/// # Panics
/// If `plaintext` is longer than [`CHUNK_LEN`]: that is a bug in the caller, not bad input.
pub fn seal_chunk(
    key: &PayloadKey,
    index: ChunkIndex,
    last: bool,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) {
    assert!(plaintext.len() <= CHUNK_LEN, "chunk longer than CHUNK_LEN");
    let start = out.len();
    out.extend_from_slice(plaintext);
    let nonce = chunk_nonce(index, last);
    let body = out.get_mut(start..).unwrap_or_default();
    let tag = key.seal_in_place(&nonce, body);
    out.extend_from_slice(&tag);
}

/// Opens one sealed chunk (`ciphertext ‖ tag`), appending its plaintext to `out`.
///
/// On failure `out` is left as it was: no unauthenticated byte is ever released.
pub fn open_chunk(
    key: &PayloadKey,
    index: ChunkIndex,
    last: bool,
    sealed: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ChunkAuthError> {
    let body_len = sealed.len().checked_sub(TAG_LEN).ok_or(ChunkAuthError)?;
    if body_len > CHUNK_LEN {
        return Err(ChunkAuthError);
    }
    let (body, tag) = sealed.split_at(body_len);
    let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| ChunkAuthError)?;
    let start = out.len();
    out.extend_from_slice(body);
    let nonce = chunk_nonce(index, last);
    let plain = out.get_mut(start..).unwrap_or_default();
    match key.open_in_place(&nonce, plain, &tag) {
        Ok(()) => Ok(()),
        Err(ChunkAuthError) => {
            out.get_mut(start..).unwrap_or_default().zeroize();
            out.truncate(start);
            Err(ChunkAuthError)
        }
    }
}

/// The ciphertext length of a payload of `plaintext_len` bytes.
pub fn sealed_payload_len(plaintext_len: u64) -> u64 {
    let chunks = plaintext_len.div_ceil(CHUNK_LEN as u64).max(1);
    plaintext_len + chunks * TAG_LEN as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn nonce_layout() {
        let nonce = chunk_nonce(ChunkIndex(0x0102), true);
        assert_eq!(nonce, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 1]);
    }

    #[test]
    fn payload_len() {
        assert_eq!(sealed_payload_len(0), 16);
        assert_eq!(sealed_payload_len(1), 17);
        assert_eq!(sealed_payload_len(CHUNK_LEN as u64), CHUNK_LEN as u64 + 16);
        assert_eq!(
            sealed_payload_len(CHUNK_LEN as u64 + 1),
            CHUNK_LEN as u64 + 33
        );
    }
}
