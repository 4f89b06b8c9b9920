//! The header of a sealed stream: the file key wrapped to each recipient, and a MAC over it all.
//!
//! ```text
//! offset      len  field
//! 0           4    magic "DHSO" (0x44 0x48 0x53 0x4F)
//! 4           1    version, 0x01
//! 5           1    recipient count n, 1..=64
//! 6           16   payload nonce (random)
//! 22          81·n stanzas: ephemeral public key (33, compressed SEC1) ‖ wrapped file key (32 + 16 tag)
//! 22 + 81·n   32   header MAC
//! ```
//!
//! Wrapping, for recipient public key `R` with a fresh ephemeral secret `e` and `E = e·G`:
//! `wrap_key = BLAKE3-derive_key("DataHub v1 secp256k1 key wrap", x(e·R) ‖ E ‖ R)` (points
//! compressed), and the stanza's wrapped key is `ChaCha20-Poly1305(wrap_key, nonce = 0^12,
//! file_key)`. The zero nonce is safe because every wrap key is used once.
//!
//! The MAC is `BLAKE3-keyed(derive_key("DataHub v1 header MAC", file_key), header[..22 + 81·n])`,
//! so nobody without the file key can alter the recipients or the payload nonce.

use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::keys::{PublicKey, SecretKey, derive_nonzero};
use crate::stream::PayloadKey;

/// The 4 bytes that open every sealed stream.
pub const MAGIC: [u8; 4] = *b"DHSO";
/// The header format this crate writes and reads.
pub const VERSION: u8 = 1;
/// The most recipients one header may hold.
pub const MAX_RECIPIENTS: usize = 64;
/// Length of one recipient stanza.
pub const STANZA_LEN: usize = 33 + 32 + 16;
/// Length of the fixed fields before the stanzas.
const PREFIX_LEN: usize = 4 + 1 + 1 + 16;
const MAC_LEN: usize = 32;

const WRAP_CONTEXT: &str = "DataHub v1 secp256k1 key wrap";
const MAC_CONTEXT: &str = "DataHub v1 header MAC";
const PAYLOAD_CONTEXT: &str = "DataHub v1 payload key";
const GRANT_EPHEMERAL_CONTEXT: &[u8] = b"DataHub v1 grant ephemeral";

/// The random key that everything in one sealed object is derived from, wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct FileKey([u8; 32]);

impl FileKey {
    /// Wraps 32 uniformly random bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

/// A stanza wrapping an object's file key to a key chosen after the object was sealed (a compute
/// node's), kept outside the header and handed to that key's holder: 81 bytes laid out as a
/// header stanza. Made by a recipient with [`Header::grant`], opened with [`Header::unwrap_grant`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Grant([u8; STANZA_LEN]);

/// Bytes that cannot be a grant: not [`STANZA_LEN`] long, or not starting with a compressed
/// secp256k1 point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedGrant;

impl std::fmt::Display for MalformedGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a grant is {STANZA_LEN} bytes: a compressed secp256k1 point, then the wrapped key and its tag"
        )
    }
}

impl std::error::Error for MalformedGrant {}

impl Grant {
    /// Checks the form of a grant: its length, and that it starts with a compressed curve point.
    /// Whether it opens is known only to the key it was made for.
    pub fn parse(bytes: &[u8]) -> Result<Self, MalformedGrant> {
        let stanza: [u8; STANZA_LEN] = bytes.try_into().map_err(|_| MalformedGrant)?;
        let point = stanza.get(..33).ok_or(MalformedGrant)?;
        if !matches!(point.first(), Some(2 | 3)) || PublicKey::from_sec1_bytes(point).is_err() {
            return Err(MalformedGrant);
        }
        Ok(Self(stanza))
    }

    /// The grant's bytes.
    pub fn to_bytes(&self) -> [u8; STANZA_LEN] {
        self.0
    }
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Grant(")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// A parsed header, its MAC not yet checked (that needs the file key: see [`Header::unwrap`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    payload_nonce: [u8; 16],
    stanzas: Vec<[u8; STANZA_LEN]>,
    mac: [u8; MAC_LEN],
}

/// Why a header could not be read or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The bytes do not start with the "DHSO" magic: this is not a sealed stream.
    BadMagic,
    /// The stream was sealed by a format version this build does not read.
    UnsupportedVersion(u8),
    /// The recipient count is 0 or above [`MAX_RECIPIENTS`].
    BadRecipientCount(u8),
    /// Fewer bytes than the header needs.
    Truncated,
    /// No stanza opens with this key, or the header was altered.
    DecryptionFailed,
}

impl Header {
    /// The length of a header with `recipients` stanzas.
    pub const fn len_for(recipients: usize) -> usize {
        PREFIX_LEN + recipients * STANZA_LEN + MAC_LEN
    }

    /// The smallest header (one recipient).
    pub const MIN_LEN: usize = Self::len_for(1);

    /// Wraps `file_key` to every recipient and computes the MAC.
    ///
    /// `entropy` must be fresh random bytes: the ephemeral keys are derived from it.
    pub fn wrap(
        file_key: &FileKey,
        payload_nonce: [u8; 16],
        recipients: &[PublicKey],
        entropy: &[u8; 32],
    ) -> Result<Self, HeaderError> {
        let count = u8::try_from(recipients.len())
            .ok()
            .filter(|n| (1..=MAX_RECIPIENTS).contains(&usize::from(*n)))
            .ok_or(HeaderError::BadRecipientCount(
                recipients.len().min(255) as u8
            ))?;
        let mut stanzas = Vec::with_capacity(usize::from(count));
        for (i, recipient) in recipients.iter().enumerate() {
            let mut context = b"DataHub v1 ephemeral ".to_vec();
            context.extend_from_slice(&(i as u32).to_le_bytes());
            stanzas.push(wrap_stanza(
                file_key,
                recipient,
                &derive_nonzero(&context, entropy),
            ));
        }
        let mut header = Self {
            payload_nonce,
            stanzas,
            mac: [0; MAC_LEN],
        };
        header.mac = header.compute_mac(file_key);
        Ok(header)
    }

    /// Reads a header from the start of `bytes`, returning it and its length.
    pub fn parse(bytes: &[u8]) -> Result<(Self, usize), HeaderError> {
        let prefix = bytes.get(..PREFIX_LEN).ok_or(HeaderError::Truncated)?;
        let (magic, rest) = prefix.split_at(4);
        if magic != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        let (&version, rest) = rest.split_first().ok_or(HeaderError::Truncated)?;
        if version != VERSION {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        let (&count, nonce) = rest.split_first().ok_or(HeaderError::Truncated)?;
        if count == 0 || usize::from(count) > MAX_RECIPIENTS {
            return Err(HeaderError::BadRecipientCount(count));
        }
        let payload_nonce: [u8; 16] = nonce.try_into().map_err(|_| HeaderError::Truncated)?;
        let len = Self::len_for(usize::from(count));
        let body = bytes.get(PREFIX_LEN..len).ok_or(HeaderError::Truncated)?;
        let (stanza_bytes, mac) = body.split_at(body.len() - MAC_LEN);
        let stanzas = stanza_bytes
            .chunks_exact(STANZA_LEN)
            .map(|s| s.try_into().map_err(|_| HeaderError::Truncated))
            .collect::<Result<Vec<[u8; STANZA_LEN]>, _>>()?;
        let mac = mac.try_into().map_err(|_| HeaderError::Truncated)?;
        Ok((
            Self {
                payload_nonce,
                stanzas,
                mac,
            },
            len,
        ))
    }

    /// The header's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.authenticated_bytes();
        out.extend_from_slice(&self.mac);
        out
    }

    /// The number of recipients.
    pub fn recipient_count(&self) -> usize {
        self.stanzas.len()
    }

    /// Finds the stanza that `identity` opens, checks the MAC and returns the file key.
    ///
    /// Every failure, a key that is no recipient's or a header altered anywhere, is the same
    /// [`HeaderError::DecryptionFailed`], so the error tells an attacker nothing.
    pub fn unwrap(&self, identity: &SecretKey) -> Result<FileKey, HeaderError> {
        let file_key = self
            .stanzas
            .iter()
            .find_map(|stanza| open_stanza(identity, stanza))
            .ok_or(HeaderError::DecryptionFailed)?;
        self.check_mac(file_key)
    }

    /// Wraps `file_key` (this header's, from [`Header::unwrap`]) to `recipient` in a stanza
    /// kept outside the header: a grant. The header, the object's id and its shards stay as
    /// they are; whoever holds the grant and `recipient`'s secret key opens the object with
    /// [`Header::unwrap_grant`].
    ///
    /// `entropy` must be fresh random bytes: the ephemeral key is derived from it, and the
    /// stanza's zero nonce is safe only because every wrap key is used once.
    pub fn grant(&self, file_key: &FileKey, recipient: &PublicKey, entropy: &[u8; 32]) -> Grant {
        let ephemeral = derive_nonzero(GRANT_EPHEMERAL_CONTEXT, entropy);
        Grant(wrap_stanza(file_key, recipient, &ephemeral))
    }

    /// Opens `grant` with `identity` and checks this header's MAC with the file key it holds.
    ///
    /// A grant made for another key, for another object's header, or altered anywhere, and a
    /// header altered anywhere, all fail as the one [`HeaderError::DecryptionFailed`].
    pub fn unwrap_grant(
        &self,
        identity: &SecretKey,
        grant: &Grant,
    ) -> Result<FileKey, HeaderError> {
        let file_key = open_stanza(identity, &grant.0).ok_or(HeaderError::DecryptionFailed)?;
        self.check_mac(file_key)
    }

    fn check_mac(&self, file_key: FileKey) -> Result<FileKey, HeaderError> {
        let expected = blake3::Hash::from_bytes(self.compute_mac(&file_key));
        // blake3::Hash compares in constant time.
        if expected == blake3::Hash::from_bytes(self.mac) {
            Ok(file_key)
        } else {
            Err(HeaderError::DecryptionFailed)
        }
    }

    /// The key of the payload's chunks.
    pub fn payload_key(&self, file_key: &FileKey) -> PayloadKey {
        let material = Zeroizing::new([file_key.0.as_slice(), &self.payload_nonce].concat());
        PayloadKey::from_bytes(blake3::derive_key(PAYLOAD_CONTEXT, material.as_slice()))
    }

    fn authenticated_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::len_for(self.stanzas.len()));
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.stanzas.len() as u8);
        out.extend_from_slice(&self.payload_nonce);
        for stanza in &self.stanzas {
            out.extend_from_slice(stanza);
        }
        out
    }

    fn compute_mac(&self, file_key: &FileKey) -> [u8; MAC_LEN] {
        let mac_key = Zeroizing::new(blake3::derive_key(MAC_CONTEXT, &file_key.0));
        *blake3::keyed_hash(&mac_key, &self.authenticated_bytes()).as_bytes()
    }
}

/// A stanza wrapping `file_key` to `recipient` with the ephemeral secret `ephemeral`.
fn wrap_stanza(
    file_key: &FileKey,
    recipient: &PublicKey,
    ephemeral: &SecretKey,
) -> [u8; STANZA_LEN] {
    let ephemeral_public = ephemeral.public_key().to_compressed();
    let wrap_key = wrap_key(
        &ephemeral.diffie_hellman(recipient),
        &ephemeral_public,
        recipient,
    );
    let mut wrapped = Zeroizing::new(file_key.0);
    // Encryption of 32 bytes cannot exceed ChaCha20's length limit.
    #[allow(clippy::expect_used)]
    let tag = ChaCha20Poly1305::new(&(*wrap_key).into())
        .encrypt_inout_detached(&[0u8; 12].into(), &[], wrapped.as_mut_slice().into())
        .expect("32 bytes are within ChaCha20's limit");
    let mut stanza = [0u8; STANZA_LEN];
    stanza[..33].copy_from_slice(&ephemeral_public);
    stanza[33..65].copy_from_slice(wrapped.as_slice());
    stanza[65..].copy_from_slice(&tag);
    stanza
}

/// The file key in `stanza` if `identity` opens it (its MAC not checked yet). A stanza whose
/// ephemeral key is not a curve point simply does not open.
fn open_stanza(identity: &SecretKey, stanza: &[u8; STANZA_LEN]) -> Option<FileKey> {
    let (ephemeral, wrapped) = stanza.split_at(33);
    let ephemeral = PublicKey::from_sec1_bytes(ephemeral).ok()?;
    let (body, tag) = wrapped.split_at(32);
    let key = wrap_key(
        &identity.diffie_hellman(&ephemeral),
        &ephemeral.to_compressed(),
        &identity.public_key(),
    );
    let mut file_key = FileKey([0; 32]);
    file_key.0.copy_from_slice(body);
    let tag = <[u8; 16]>::try_from(tag).ok()?;
    ChaCha20Poly1305::new(&(*key).into())
        .decrypt_inout_detached(
            &[0u8; 12].into(),
            &[],
            file_key.0.as_mut_slice().into(),
            &tag.into(),
        )
        .ok()?;
    Some(file_key)
}

fn wrap_key(
    shared_x: &[u8; 32],
    ephemeral: &[u8; 33],
    recipient: &PublicKey,
) -> Zeroizing<[u8; 32]> {
    let material =
        Zeroizing::new([shared_x.as_slice(), ephemeral, &recipient.to_compressed()].concat());
    Zeroizing::new(blake3::derive_key(WRAP_CONTEXT, material.as_slice()))
}
