//! Verified byte ranges of a shard, in the manner of Bao.
//!
//! A shard's id is `blake3::hash(shard)` ([`ShardId`]). BLAKE3 hashes its input as a binary tree
//! of 1024-byte chunks, so a holder of the shard can prove that some bytes sit at some offset of
//! it by sending those bytes, rounded out to whole chunks, together with the chaining values of
//! the subtrees around them: the verifier recomputes the root from those and compares it with
//! the id. The verifier needs nothing but the 32-byte id and the shard's length (which the relay
//! knows from the manifest); the length fixes the shape of the tree, and it is written into the
//! proof and checked against the verifier's own, so a node cannot answer for a shard of another
//! length.
//!
//! This is how the relay audits a node: it asks for a random range and checks the answer with
//! [`verify`]; a node that does not hold the shard's bytes cannot answer.
//!
//! The proof is built with BLAKE3's own `hazmat` tree functions rather than the `bao` or
//! `bao-tree` crates: one range at a time is all an audit needs, the tree is BLAKE3's standard one
//! (so the root is the plain `blake3::hash` that already names shards), and no further dependency
//! has to build for wasm32. Whole subtrees inside the range are hashed in one call, so proving
//! and verifying run at BLAKE3's full (SIMD) speed.
//!
//! # The proof bytes
//!
//! All integers little-endian.
//!
//! ```text
//! offset   len        field
//! 0        4          magic "DHRP" = 44 48 52 50
//! 4        1          version = 0x01
//! 5        8          shard_len, bytes in the whole shard (u64, at most 2^48)
//! 13       8          offset, first byte of the range (u64)
//! 21       8          len, bytes in the range (u64)
//! 29       1          c, how many chaining values follow (0..=128)
//! 30       32·c       chaining values of the subtrees outside the covered chunks, in the order
//!                     a left-to-right depth-first walk of the tree meets them
//! 30+32·c  D          the covered bytes: the whole chunks that hold the range, from
//!                     chunk_start = ⌊offset / 1024⌋·1024 to min(⌈(offset+len) / 1024⌉·1024,
//!                     shard_len) (an empty range covers the one chunk holding its offset)
//! ```
//!
//! The total length is exactly `30 + 32·c + D`; `c` must be the count the tree's shape gives.
//! Anything else is refused.

use core::fmt;
use core::ops::Range;

use blake3::CHUNK_LEN;
use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, left_subtree_len, merge_subtrees_non_root, merge_subtrees_root,
};

use crate::manifest::ShardId;

/// The four bytes that start a proof.
pub const MAGIC: [u8; 4] = *b"DHRP";
/// The proof format's version.
pub const VERSION: u8 = 1;
/// Bytes before the chaining values.
pub const HEADER_LEN: usize = 30;
/// The most chaining values a proof can hold (a bound on the format; a tree over
/// [`MAX_SHARD_LEN`] bytes needs at most 2 × 38).
pub const MAX_CHAINING_VALUES: usize = 128;
/// The longest shard a proof can be about: 2^48 bytes (256 TiB), far beyond any real shard,
/// and low enough that no length arithmetic on the tree can overflow.
pub const MAX_SHARD_LEN: u64 = 1 << 48;

const CHUNK: u64 = CHUNK_LEN as u64;
const CV_LEN: usize = 32;

/// A proof that some bytes are a range of the shard with a given id.
#[derive(Clone, PartialEq, Eq)]
pub struct RangeProof {
    shard_len: u64,
    offset: u64,
    len: u64,
    cvs: Vec<ChainingValue>,
    covered: Vec<u8>,
}

/// Why a proof could not be built, read or verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// The range does not lie within the shard.
    RangeOutOfBounds {
        /// First byte asked for.
        offset: u64,
        /// Bytes asked for.
        len: u64,
        /// Bytes in the shard.
        shard_len: u64,
    },
    /// The bytes are not a well-formed proof (magic, version, lengths or count).
    Malformed,
    /// The proof is for another shard length or another range than the one asked for.
    WrongRange,
    /// The proof is well formed, but its bytes and chaining values do not hash to the id.
    Mismatch,
    /// The shard is longer than [`MAX_SHARD_LEN`], or the range too large to hold in memory on
    /// this platform.
    TooLarge,
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RangeOutOfBounds {
                offset,
                len,
                shard_len,
            } => write!(
                f,
                "range of {len} bytes at offset {offset} is outside the shard of {shard_len} bytes"
            ),
            Self::Malformed => f.write_str("malformed range proof"),
            Self::WrongRange => {
                f.write_str("range proof is for another shard length or range than asked for")
            }
            Self::Mismatch => f.write_str("range proof does not match the shard id"),
            Self::TooLarge => {
                f.write_str("shard or range too large (shards are at most 2^48 bytes)")
            }
        }
    }
}

impl core::error::Error for ProofError {}

/// The chunk-aligned bytes a proof of `offset..offset + len` carries, checked against the shard.
fn covered_range(shard_len: u64, offset: u64, len: u64) -> Result<Range<u64>, ProofError> {
    if shard_len > MAX_SHARD_LEN {
        return Err(ProofError::TooLarge);
    }
    let out = ProofError::RangeOutOfBounds {
        offset,
        len,
        shard_len,
    };
    let end = offset.checked_add(len).ok_or(out.clone())?;
    if end > shard_len {
        return Err(out);
    }
    // The chunk holding the first byte; an empty range at the very end of a shard whose length
    // is a whole number of chunks uses the last chunk (the one chunk of an empty shard is empty).
    let last_chunk = shard_len.saturating_sub(1) / CHUNK;
    let first = (offset / CHUNK).min(last_chunk);
    let last = (end.saturating_sub(1) / CHUNK).max(first).min(last_chunk);
    let start = first * CHUNK;
    let stop = last.saturating_add(1).saturating_mul(CHUNK).min(shard_len);
    Ok(start..stop)
}

/// Where the chaining values of subtrees outside the covered chunks come from, and the covered
/// bytes themselves: computed from the shard when proving, read from the proof when verifying.
trait Source {
    /// The chaining value of the subtree `start..start + len`, which lies outside the covered
    /// chunks.
    fn outside(&mut self, start: u64, len: u64) -> Result<ChainingValue, ProofError>;
    /// The shard's bytes `start..start + len`, which lie within the covered chunks.
    fn inside(&self, start: u64, len: u64) -> Result<&[u8], ProofError>;
}

/// The root hash of a shard of `shard_len` bytes whose chunks `covered` come from `source`.
fn root(
    shard_len: u64,
    covered: &Range<u64>,
    source: &mut impl Source,
) -> Result<blake3::Hash, ProofError> {
    if covered.start == 0 && covered.end == shard_len {
        // The whole shard (always the case for one chunk or less).
        return Ok(blake3::hash(source.inside(0, shard_len)?));
    }
    let left = left_subtree_len(shard_len);
    let left_cv = subtree(0, left, covered, source)?;
    let right_cv = subtree(left, shard_len - left, covered, source)?;
    Ok(merge_subtrees_root(&left_cv, &right_cv, Mode::Hash))
}

/// The chaining value of the (non-root) subtree `start..start + len`.
///
/// `start` is always a chunk boundary and `len` at most the largest subtree that can start
/// there, because every subtree is reached by splitting its parent with `left_subtree_len`.
fn subtree(
    start: u64,
    len: u64,
    covered: &Range<u64>,
    source: &mut impl Source,
) -> Result<ChainingValue, ProofError> {
    let end = start + len;
    if covered.start <= start && end <= covered.end {
        let bytes = source.inside(start, len)?;
        return Ok(blake3::Hasher::new()
            .set_input_offset(start)
            .update(bytes)
            .finalize_non_root());
    }
    if end <= covered.start || covered.end <= start {
        return source.outside(start, len);
    }
    // Partly covered: the covered chunks are chunk-aligned, so this subtree has more than one
    // chunk and splits.
    let left = left_subtree_len(len);
    let left_cv = subtree(start, left, covered, source)?;
    let right_cv = subtree(start + left, len - left, covered, source)?;
    Ok(merge_subtrees_non_root(&left_cv, &right_cv, Mode::Hash))
}

/// How many chaining values a proof of the chunks `covered` of a `shard_len`-byte shard holds.
fn chaining_value_count(shard_len: u64, covered: &Range<u64>) -> usize {
    fn count(start: u64, len: u64, covered: &Range<u64>) -> usize {
        let end = start + len;
        if covered.start <= start && end <= covered.end {
            0
        } else if end <= covered.start || covered.end <= start {
            1
        } else {
            let left = left_subtree_len(len);
            count(start, left, covered) + count(start + left, len - left, covered)
        }
    }
    if covered.start == 0 && covered.end == shard_len {
        return 0;
    }
    let left = left_subtree_len(shard_len);
    count(0, left, covered) + count(left, shard_len - left, covered)
}

fn to_usize(n: u64) -> Result<usize, ProofError> {
    usize::try_from(n).map_err(|_| ProofError::TooLarge)
}

fn slice(bytes: &[u8], start: u64, len: u64) -> Result<&[u8], ProofError> {
    let start = to_usize(start)?;
    let end = start
        .checked_add(to_usize(len)?)
        .ok_or(ProofError::TooLarge)?;
    bytes.get(start..end).ok_or(ProofError::Malformed)
}

/// Proving: everything comes from the whole shard, and outside chaining values are recorded.
struct Prover<'a> {
    shard: &'a [u8],
    cvs: Vec<ChainingValue>,
}

impl Source for Prover<'_> {
    fn outside(&mut self, start: u64, len: u64) -> Result<ChainingValue, ProofError> {
        let cv = blake3::Hasher::new()
            .set_input_offset(start)
            .update(slice(self.shard, start, len)?)
            .finalize_non_root();
        self.cvs.push(cv);
        Ok(cv)
    }

    fn inside(&self, start: u64, len: u64) -> Result<&[u8], ProofError> {
        slice(self.shard, start, len)
    }
}

/// Verifying: outside chaining values are read in order from the proof, covered bytes from its
/// data (which starts at `covered_start` in the shard).
struct Verifier<'a> {
    cvs: core::slice::ChunksExact<'a, u8>,
    covered: &'a [u8],
    covered_start: u64,
}

impl Source for Verifier<'_> {
    fn outside(&mut self, _start: u64, _len: u64) -> Result<ChainingValue, ProofError> {
        let cv = self.cvs.next().ok_or(ProofError::Malformed)?;
        ChainingValue::try_from(cv).map_err(|_| ProofError::Malformed)
    }

    fn inside(&self, start: u64, len: u64) -> Result<&[u8], ProofError> {
        let relative = start
            .checked_sub(self.covered_start)
            .ok_or(ProofError::Malformed)?;
        slice(self.covered, relative, len)
    }
}

impl RangeProof {
    /// Proves that `shard[offset..offset + len]` is part of the shard whose id is
    /// `blake3::hash(shard)`. Hashes the whole shard once.
    pub fn build(shard: &[u8], offset: u64, len: u64) -> Result<Self, ProofError> {
        let shard_len = shard.len() as u64;
        let covered = covered_range(shard_len, offset, len)?;
        let mut prover = Prover {
            shard,
            cvs: Vec::new(),
        };
        root(shard_len, &covered, &mut prover)?;
        let bytes = slice(shard, covered.start, covered.end - covered.start)?;
        Ok(Self {
            shard_len,
            offset,
            len,
            cvs: prover.cvs,
            covered: bytes.to_vec(),
        })
    }

    /// Bytes in the whole shard.
    pub fn shard_len(&self) -> u64 {
        self.shard_len
    }

    /// First byte of the proven range.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes in the proven range.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the proven range is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Length of the byte form.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + CV_LEN * self.cvs.len() + self.covered.len()
    }

    /// The byte form (see the module documentation).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.shard_len.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        // At most MAX_CHAINING_VALUES by construction.
        out.push(u8::try_from(self.cvs.len()).unwrap_or(u8::MAX));
        for cv in &self.cvs {
            out.extend_from_slice(cv);
        }
        out.extend_from_slice(&self.covered);
        out
    }

    /// Reads the byte form, strictly: the magic, the version, a range within the shard, the
    /// number of chaining values the tree's shape gives and exactly the covered bytes. This
    /// checks the form only; [`RangeProof::verify`] checks it against an id.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        let parsed = Parsed::read(bytes)?;
        let cvs = parsed
            .cvs
            .chunks_exact(CV_LEN)
            .map(|cv| ChainingValue::try_from(cv).map_err(|_| ProofError::Malformed))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            shard_len: parsed.shard_len,
            offset: parsed.offset,
            len: parsed.len,
            cvs,
            covered: parsed.covered.to_vec(),
        })
    }

    /// The proven range, once its bytes and chaining values hash up to exactly `id`.
    pub fn verify(&self, id: &ShardId) -> Result<&[u8], ProofError> {
        let covered = covered_range(self.shard_len, self.offset, self.len)?;
        if self.covered.len() as u64 != covered.end - covered.start
            || self.cvs.len() != chaining_value_count(self.shard_len, &covered)
        {
            return Err(ProofError::Malformed);
        }
        let cvs = self.cvs.as_flattened();
        check_root(id, &covered, self.shard_len, cvs, &self.covered)?;
        slice(&self.covered, self.offset - covered.start, self.len)
    }
}

/// A proof's fields, borrowed from its bytes and checked for form.
struct Parsed<'a> {
    shard_len: u64,
    offset: u64,
    len: u64,
    covered_range: Range<u64>,
    cvs: &'a [u8],
    covered: &'a [u8],
}

impl<'a> Parsed<'a> {
    fn read(bytes: &'a [u8]) -> Result<Self, ProofError> {
        let (header, rest) = bytes
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(ProofError::Malformed)?;
        let (magic, header) = header
            .split_first_chunk::<4>()
            .ok_or(ProofError::Malformed)?;
        let (version, header) = header.split_first().ok_or(ProofError::Malformed)?;
        if *magic != MAGIC || *version != VERSION {
            return Err(ProofError::Malformed);
        }
        let (shard_len, header) = read_u64(header)?;
        let (offset, header) = read_u64(header)?;
        let (len, header) = read_u64(header)?;
        let count = match header {
            [count] if usize::from(*count) <= MAX_CHAINING_VALUES => usize::from(*count),
            _ => return Err(ProofError::Malformed),
        };
        let covered_range =
            covered_range(shard_len, offset, len).map_err(|_| ProofError::Malformed)?;
        if count != chaining_value_count(shard_len, &covered_range) {
            return Err(ProofError::Malformed);
        }
        let covered_len = to_usize(covered_range.end - covered_range.start)?;
        let cv_len = CV_LEN * count;
        if Some(rest.len()) != cv_len.checked_add(covered_len) {
            return Err(ProofError::Malformed);
        }
        let (cvs, covered) = rest.split_at_checked(cv_len).ok_or(ProofError::Malformed)?;
        Ok(Self {
            shard_len,
            offset,
            len,
            covered_range,
            cvs,
            covered,
        })
    }
}

/// Recomputes the root from `cvs` (concatenated chaining values) and the `covered` bytes and
/// compares it with `id`.
fn check_root(
    id: &ShardId,
    range: &Range<u64>,
    shard_len: u64,
    cvs: &[u8],
    covered: &[u8],
) -> Result<(), ProofError> {
    let mut verifier = Verifier {
        cvs: cvs.chunks_exact(CV_LEN),
        covered,
        covered_start: range.start,
    };
    let root = root(shard_len, range, &mut verifier)?;
    if verifier.cvs.next().is_some() {
        return Err(ProofError::Malformed);
    }
    // blake3::Hash compares in constant time.
    if root == blake3::Hash::from_bytes(id.0) {
        Ok(())
    } else {
        Err(ProofError::Mismatch)
    }
}

fn read_u64(bytes: &[u8]) -> Result<(u64, &[u8]), ProofError> {
    let (n, rest) = bytes
        .split_first_chunk::<8>()
        .ok_or(ProofError::Malformed)?;
    Ok((u64::from_le_bytes(*n), rest))
}

/// Checks `proof` (the byte form of a [`RangeProof`]) for the range `offset..offset + len` of
/// the `shard_len`-byte shard named `id`, and returns the range's bytes (borrowed from `proof`)
/// only if everything hashes up to exactly `id`. The proof must be for that very length and
/// range.
pub fn verify<'a>(
    id: &ShardId,
    shard_len: u64,
    offset: u64,
    len: u64,
    proof: &'a [u8],
) -> Result<&'a [u8], ProofError> {
    covered_range(shard_len, offset, len)?;
    let parsed = Parsed::read(proof)?;
    if (parsed.shard_len, parsed.offset, parsed.len) != (shard_len, offset, len) {
        return Err(ProofError::WrongRange);
    }
    let range = &parsed.covered_range;
    check_root(id, range, shard_len, parsed.cvs, parsed.covered)?;
    slice(parsed.covered, offset - range.start, len)
}

impl fmt::Debug for RangeProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RangeProof")
            .field("shard_len", &self.shard_len)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .field("chaining_values", &self.cvs.len())
            .field("covered_len", &self.covered.len())
            .finish()
    }
}
