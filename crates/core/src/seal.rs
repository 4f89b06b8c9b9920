//! Sealing and opening whole objects, streaming: what an upload becomes and how it comes back.
//!
//! Sealing: plaintext → STREAM-encrypted payload behind a header ([`crate::header`],
//! [`crate::stream`]) → segments of the sealed stream → `k + m` shards each
//! ([`crate::erasure`]) → a [`Manifest`] naming every shard. Opening runs the other way, from
//! any `k` good shards per segment. Both hold about one segment and its shards in memory,
//! whatever the object's size, as long as the caller feeds them at most a segment at a time.

use core::fmt;

use zeroize::Zeroizing;

use crate::erasure::{self, SegmentError};
use crate::header::{FileKey, Grant, Header, HeaderError};
use crate::keys::{PublicKey, SecretKey};
use crate::manifest::{Manifest, ManifestError, Params, ShardId};
use crate::stream::{self, CHUNK_LEN, ChunkIndex, PayloadKey, SEALED_CHUNK_LEN, TAG_LEN};

/// One shard and its id.
#[derive(Clone, PartialEq, Eq)]
pub struct Shard {
    /// The BLAKE3 hash of `bytes`.
    pub id: ShardId,
    /// The shard's bytes.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shard({}, {} bytes)", self.id, self.bytes.len())
    }
}

/// A segment's `k + m` shards, data shards first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSegment {
    /// The segment's position, from 0.
    pub index: u32,
    /// Its shards.
    pub shards: Vec<Shard>,
}

/// Why sealing could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// A sealed object needs 1 to [`crate::header::MAX_RECIPIENTS`] recipients.
    BadRecipientCount(usize),
    /// The coding parameters are out of range.
    BadParams(ManifestError),
    /// The object would have more than 2^32 − 1 segments: use a longer segment length.
    TooLarge,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRecipientCount(n) => write!(
                f,
                "a sealed object needs 1 to {} recipients, got {n}",
                crate::header::MAX_RECIPIENTS
            ),
            Self::BadParams(e) => write!(f, "invalid sealing parameters: {e}"),
            Self::TooLarge => write!(
                f,
                "the object has too many segments: use a longer segment length"
            ),
        }
    }
}

impl core::error::Error for SealError {}

/// Why an object could not be opened.
///
/// Every failure of authentication (a key that is no recipient's, a header or chunk altered,
/// reordered, duplicated, cut short or extended) is the one [`OpenError::DecryptionFailed`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// The stream does not start with the sealed-object magic.
    NotSealed,
    /// The stream was sealed by a format version this build does not read.
    UnsupportedVersion(u8),
    /// Wrong key, or the object was altered: nothing can be said about which.
    DecryptionFailed,
    /// A segment could not be rebuilt from the shards given.
    Segment(SegmentError),
    /// Segments must be given in order, each once.
    SegmentOutOfOrder {
        /// The segment that was due.
        expected: u32,
        /// The segment given.
        got: u32,
    },
    /// `finish` was called before the whole object was given.
    Incomplete,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSealed => write!(f, "not a sealed object: it does not start with \"DHSO\""),
            Self::UnsupportedVersion(v) => write!(
                f,
                "sealed-object version {v} is not supported: this build reads version {}",
                crate::header::VERSION
            ),
            Self::DecryptionFailed => {
                write!(
                    f,
                    "decryption failed: the key is not a recipient's, or the object was altered"
                )
            }
            Self::Segment(e) => e.fmt(f),
            Self::SegmentOutOfOrder { expected, got } => {
                write!(
                    f,
                    "segment {got} given while segment {expected} was due: give segments in order"
                )
            }
            Self::Incomplete => write!(f, "the object ended early: some segments were not given"),
        }
    }
}

impl core::error::Error for OpenError {}

impl From<SegmentError> for OpenError {
    fn from(e: SegmentError) -> Self {
        Self::Segment(e)
    }
}

impl From<HeaderError> for OpenError {
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::BadMagic => Self::NotSealed,
            HeaderError::UnsupportedVersion(v) => Self::UnsupportedVersion(v),
            // A header that does not parse was altered as surely as one whose MAC fails.
            _ => Self::DecryptionFailed,
        }
    }
}

/// Seals a stream of plaintext into segments of shards, one `update` at a time.
pub struct Sealer {
    params: Params,
    payload_key: PayloadKey,
    next_chunk: ChunkIndex,
    /// Plaintext not yet sealed; a full chunk waits here until we know whether it is the last.
    pending: Zeroizing<Vec<u8>>,
    /// Sealed bytes not yet cut into a segment.
    sealed: Vec<u8>,
    sealed_len: u64,
    next_segment: u32,
    shard_ids: Vec<ShardId>,
    encoder: erasure::SegmentEncoder,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("params", &self.params)
            .field("sealed_len", &self.sealed_len)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Starts sealing to `recipients`.
    ///
    /// `entropy` must be 32 fresh random bytes from a cryptographic source: the file key, the
    /// payload nonce and the ephemeral keys are all derived from it. Reusing it for two objects
    /// reuses their keys.
    pub fn new(
        recipients: &[PublicKey],
        entropy: &[u8; 32],
        params: Params,
    ) -> Result<Self, SealError> {
        params.validate().map_err(SealError::BadParams)?;
        let file_key = FileKey::from_bytes(blake3::derive_key("DataHub v1 file key", entropy));
        let payload_nonce = blake3::derive_key("DataHub v1 payload nonce", entropy);
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(payload_nonce.get(..16).unwrap_or(&[0; 16]));
        let header = Header::wrap(&file_key, nonce, recipients, entropy)
            .map_err(|_| SealError::BadRecipientCount(recipients.len()))?;
        // Room for a segment and the chunk that crosses its end, so the buffer never regrows.
        let mut sealed = Vec::with_capacity(params.segment_len as usize + SEALED_CHUNK_LEN);
        sealed.extend_from_slice(&header.to_bytes());
        Ok(Self {
            params,
            payload_key: header.payload_key(&file_key),
            next_chunk: ChunkIndex(0),
            pending: Zeroizing::new(Vec::with_capacity(CHUNK_LEN)),
            sealed_len: sealed.len() as u64,
            sealed,
            next_segment: 0,
            shard_ids: Vec::new(),
            encoder: erasure::SegmentEncoder::new(params),
        })
    }

    /// Seals more plaintext, returning the segments it completed.
    ///
    /// Feeding at most one segment length per call keeps memory to about one segment and its
    /// shards.
    pub fn update(&mut self, mut plaintext: &[u8]) -> Result<Vec<EncodedSegment>, SealError> {
        let mut done = Vec::new();
        while !plaintext.is_empty() {
            if self.pending.len() == CHUNK_LEN {
                // More plaintext follows, so the waiting full chunk is not the last.
                self.seal_pending(false);
                self.cut_segments(&mut done, false)?;
            }
            if self.pending.is_empty() && plaintext.len() > CHUNK_LEN {
                // A whole chunk with more after it: seal it straight from the input.
                let (chunk, rest) = plaintext.split_at(CHUNK_LEN);
                self.seal_chunk(chunk, false);
                self.cut_segments(&mut done, false)?;
                plaintext = rest;
                continue;
            }
            let take = (CHUNK_LEN - self.pending.len()).min(plaintext.len());
            let (now, rest) = plaintext.split_at(take);
            self.pending.extend_from_slice(now);
            plaintext = rest;
        }
        Ok(done)
    }

    /// Seals the final chunk and returns the last segments and the manifest.
    pub fn finish(mut self) -> Result<(Vec<EncodedSegment>, Manifest), SealError> {
        let mut done = Vec::new();
        self.seal_pending(true);
        self.cut_segments(&mut done, true)?;
        let manifest = Manifest::new(
            self.params,
            self.sealed_len,
            core::mem::take(&mut self.shard_ids),
        )
        .map_err(SealError::BadParams)?;
        Ok((done, manifest))
    }

    fn seal_pending(&mut self, last: bool) {
        let pending = core::mem::take(&mut self.pending);
        self.seal_chunk(&pending, last);
        self.pending = pending;
        self.pending.clear();
    }

    fn seal_chunk(&mut self, chunk: &[u8], last: bool) {
        let before = self.sealed.len();
        stream::seal_chunk(
            &self.payload_key,
            self.next_chunk,
            last,
            chunk,
            &mut self.sealed,
        );
        self.sealed_len += (self.sealed.len() - before) as u64;
        self.next_chunk.0 += 1;
    }

    fn cut_segments(
        &mut self,
        done: &mut Vec<EncodedSegment>,
        finished: bool,
    ) -> Result<(), SealError> {
        let segment_len = self.params.segment_len as usize;
        while self.sealed.len() >= segment_len || (finished && !self.sealed.is_empty()) {
            let take = segment_len.min(self.sealed.len());
            let shards = self
                .encoder
                .encode(self.sealed.get(..take).unwrap_or_default());
            self.sealed.drain(..take);
            let shards: Vec<Shard> = shards
                .into_iter()
                .map(|bytes| Shard {
                    id: ShardId::of(&bytes),
                    bytes,
                })
                .collect();
            self.shard_ids.extend(shards.iter().map(|s| s.id));
            done.push(EncodedSegment {
                index: self.next_segment,
                shards,
            });
            self.next_segment = self
                .next_segment
                .checked_add(1)
                .ok_or(SealError::TooLarge)?;
        }
        Ok(())
    }
}

/// Seals `plaintext` in one call: the manifest and every segment's shards.
pub fn seal_bytes(
    plaintext: &[u8],
    recipients: &[PublicKey],
    entropy: &[u8; 32],
    params: Params,
) -> Result<(Manifest, Vec<EncodedSegment>), SealError> {
    let mut sealer = Sealer::new(recipients, entropy, params)?;
    let mut segments = sealer.update(plaintext)?;
    let (last, manifest) = sealer.finish()?;
    segments.extend(last);
    Ok((manifest, segments))
}

/// Decrypts a sealed stream of known total length as its bytes arrive.
///
/// Plaintext is released chunk by chunk, each chunk authenticated; the stream as a whole is
/// authentic only once [`StreamOpener::finish`] succeeds (until then it may have been cut short).
pub struct StreamOpener {
    identity: SecretKey,
    grant: Option<Grant>,
    total_len: u64,
    consumed: u64,
    buf: Vec<u8>,
    state: OpenState,
}

enum OpenState {
    Header,
    Payload {
        key: PayloadKey,
        next: ChunkIndex,
        header_len: u64,
    },
    Done,
}

impl fmt::Debug for StreamOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamOpener")
            .field("total_len", &self.total_len)
            .field("consumed", &self.consumed)
            .finish_non_exhaustive()
    }
}

impl StreamOpener {
    /// Starts opening a sealed stream of `total_len` bytes with `identity`.
    pub fn new(identity: SecretKey, total_len: u64) -> Self {
        Self::with_grant(identity, None, total_len)
    }

    /// As [`StreamOpener::new`], opening the header with `grant` (made for `identity` after the
    /// stream was sealed, [`Header::grant`]) instead of the header's own stanzas when given.
    pub fn with_grant(identity: SecretKey, grant: Option<Grant>, total_len: u64) -> Self {
        Self {
            identity,
            grant,
            total_len,
            consumed: 0,
            buf: Vec::new(),
            state: OpenState::Header,
        }
    }

    /// Takes more sealed bytes, returning the plaintext they complete.
    pub fn update(&mut self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        self.check_len(sealed.len())?;
        self.buf.extend_from_slice(sealed);
        self.process()
    }

    /// As [`StreamOpener::update`], taking the bytes by value to spare a copy.
    pub fn update_owned(&mut self, sealed: Vec<u8>) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        self.check_len(sealed.len())?;
        if self.buf.is_empty() {
            self.buf = sealed;
        } else {
            self.buf.extend_from_slice(&sealed);
        }
        self.process()
    }

    fn check_len(&self, more: usize) -> Result<(), OpenError> {
        let seen = self.consumed + self.buf.len() as u64 + more as u64;
        if seen > self.total_len {
            return Err(OpenError::DecryptionFailed);
        }
        Ok(())
    }

    fn process(&mut self) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        // The plaintext is never longer than the ciphertext at hand.
        let mut out = Zeroizing::new(Vec::with_capacity(self.buf.len()));
        if let OpenState::Header = self.state {
            self.read_header()?;
        }
        if let OpenState::Payload {
            key,
            next,
            header_len,
        } = &mut self.state
        {
            let payload_len = self.total_len - *header_len;
            // Chunks are read in place and the buffer drained once: draining per chunk would
            // move the rest of a segment-sized buffer once per chunk.
            let mut pos = 0;
            loop {
                let remaining = payload_len - (self.consumed - *header_len);
                let chunk_len = (SEALED_CHUNK_LEN as u64).min(remaining) as usize;
                let Some(chunk) = self.buf.get(pos..pos + chunk_len).filter(|_| chunk_len > 0)
                else {
                    break;
                };
                let last = chunk_len as u64 == remaining;
                // The final chunk is empty only when the whole payload is.
                if chunk_len < TAG_LEN || (last && chunk_len == TAG_LEN && next.0 > 0) {
                    return Err(OpenError::DecryptionFailed);
                }
                stream::open_chunk(key, *next, last, chunk, &mut out)
                    .map_err(|_| OpenError::DecryptionFailed)?;
                pos += chunk_len;
                self.consumed += chunk_len as u64;
                next.0 += 1;
                if last {
                    self.state = OpenState::Done;
                    break;
                }
            }
            self.buf.drain(..pos);
        }
        Ok(out)
    }

    /// Checks that the whole stream was given and authenticated.
    pub fn finish(self) -> Result<(), OpenError> {
        match self.state {
            OpenState::Done => Ok(()),
            _ => Err(OpenError::Incomplete),
        }
    }

    fn read_header(&mut self) -> Result<(), OpenError> {
        let (header, len) = match Header::parse(&self.buf) {
            Ok(parsed) => parsed,
            // Wait for more bytes, unless the stream cannot hold them.
            Err(HeaderError::Truncated) if (self.buf.len() as u64) < self.total_len => {
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let file_key = match &self.grant {
            Some(grant) => header.unwrap_grant(&self.identity, grant)?,
            None => header.unwrap(&self.identity)?,
        };
        let header_len = len as u64;
        if self.total_len < header_len + TAG_LEN as u64 {
            return Err(OpenError::DecryptionFailed);
        }
        self.buf.drain(..len);
        self.consumed = header_len;
        self.state = OpenState::Payload {
            key: header.payload_key(&file_key),
            next: ChunkIndex(0),
            header_len,
        };
        Ok(())
    }
}

/// Opens a whole sealed stream held in memory.
pub fn open_sealed(sealed: &[u8], identity: &SecretKey) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let mut opener = StreamOpener::new(identity.clone(), sealed.len() as u64);
    let plaintext = opener.update(sealed)?;
    opener.finish()?;
    Ok(plaintext)
}

/// Opens an object segment by segment from its shards.
#[derive(Debug)]
pub struct Opener {
    manifest: Manifest,
    stream: StreamOpener,
    decoder: erasure::SegmentDecoder,
    next_segment: u32,
}

impl Opener {
    /// Starts opening the object that `manifest` describes, with `identity`.
    pub fn new(manifest: Manifest, identity: SecretKey) -> Self {
        Self::with_grant(manifest, identity, None)
    }

    /// As [`Opener::new`], opening the header with `grant` when given (see
    /// [`StreamOpener::with_grant`]).
    pub fn with_grant(manifest: Manifest, identity: SecretKey, grant: Option<Grant>) -> Self {
        let stream = StreamOpener::with_grant(identity, grant, manifest.sealed_len());
        Self {
            manifest,
            stream,
            decoder: erasure::SegmentDecoder::default(),
            next_segment: 0,
        }
    }

    /// The manifest being opened.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Takes segment `index`'s shards (`k + m` slots, data shards first, `None` where missing;
    /// any `k` good ones suffice) and returns the plaintext it completes.
    pub fn push_segment(
        &mut self,
        index: u32,
        shards: &[Option<&[u8]>],
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        if index != self.next_segment {
            return Err(OpenError::SegmentOutOfOrder {
                expected: self.next_segment,
                got: index,
            });
        }
        // Ciphertext: nothing secret to wipe.
        let segment = self.decoder.decode(&self.manifest, index, shards)?;
        let plaintext = self.stream.update_owned(segment)?;
        self.next_segment += 1;
        Ok(plaintext)
    }

    /// Checks that every segment was given and the stream authenticated to its end.
    pub fn finish(self) -> Result<(), OpenError> {
        if self.next_segment != self.manifest.segment_count() {
            return Err(OpenError::Incomplete);
        }
        self.stream.finish()
    }
}

/// Opens an object in one call from its manifest and, per segment, its shard slots.
pub fn open_bytes<S: AsRef<[u8]>>(
    manifest: &Manifest,
    segments: &[Vec<Option<S>>],
    identity: &SecretKey,
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let mut opener = Opener::new(manifest.clone(), identity.clone());
    let mut plaintext = Zeroizing::new(Vec::new());
    for (index, shards) in segments.iter().enumerate() {
        let slots: Vec<Option<&[u8]>> = shards
            .iter()
            .map(|s| s.as_ref().map(AsRef::as_ref))
            .collect();
        let index = u32::try_from(index).map_err(|_| OpenError::Incomplete)?;
        plaintext.extend_from_slice(&opener.push_segment(index, &slots)?);
    }
    opener.finish()?;
    Ok(plaintext)
}
