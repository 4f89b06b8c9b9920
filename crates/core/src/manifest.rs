//! The manifest: how a sealed stream was cut into segments and shards, and what each shard's
//! BLAKE3 hash is. Its own BLAKE3 hash is the object's id.
//!
//! ```text
//! offset  len             field
//! 0       4               magic "DHMF" (0x44 0x48 0x4D 0x46)
//! 4       1               version, 0x01
//! 5       1               k, data shards per segment, 1..=128
//! 6       1               m, parity shards per segment, 1..=128
//! 7       1               reserved, 0x00
//! 8       4               segment length S, u32 little-endian, 1 KiB..=64 MiB
//! 12      8               sealed length L, u64 little-endian
//! 20      32·(k+m)·N      shard ids, segment by segment, data shards first; N = ceil(L / S)
//! ```
//!
//! Segment `i` is bytes `i·S .. min((i+1)·S, L)` of the sealed stream; its shards are each
//! `ceil(len / k)` bytes rounded up to an even number (the erasure code works on 16-bit words),
//! the segment zero-padded to fill the `k` data shards. Nothing else is stored: every size
//! follows from `k`, `S` and `L`, so a manifest cannot disagree with itself.

use core::fmt;

use crate::header::Header;
use crate::stream::TAG_LEN;

/// The 4 bytes that open every manifest.
pub const MAGIC: [u8; 4] = *b"DHMF";
/// The manifest format this crate writes and reads.
pub const VERSION: u8 = 1;
const FIXED_LEN: usize = 20;
/// Smallest allowed segment length.
pub const MIN_SEGMENT_LEN: u32 = 1024;
/// Largest allowed segment length: a segment and its shards must fit in a phone's memory.
pub const MAX_SEGMENT_LEN: u32 = 64 * 1024 * 1024;
/// Most data (and most parity) shards per segment.
pub const MAX_SHARDS: u8 = 128;
/// The shortest possible sealed stream: a one-recipient header and an empty final chunk.
pub const MIN_SEALED_LEN: u64 = (Header::MIN_LEN + TAG_LEN) as u64;

/// The BLAKE3 hash of one shard's bytes, which names it everywhere.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub [u8; 32]);

/// The BLAKE3 hash of a manifest's bytes, which names the object.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub [u8; 32]);

impl ShardId {
    /// The id of `shard`.
    pub fn of(shard: &[u8]) -> Self {
        Self(*blake3::hash(shard).as_bytes())
    }

    /// Whether `shard` hashes to this id (compared in constant time).
    pub fn matches(&self, shard: &[u8]) -> bool {
        blake3::hash(shard) == blake3::Hash::from_bytes(self.0)
    }
}

macro_rules! hex_display {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
    };
}
hex_display!(ShardId);
hex_display!(ObjectId);

/// How a sealed stream is cut and coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// `k`: data shards per segment; any `k` shards of a segment rebuild it.
    pub data_shards: u8,
    /// `m`: parity shards per segment; up to `m` shards of a segment may be lost.
    pub parity_shards: u8,
    /// `S`: bytes of sealed stream per segment (the last segment may be shorter).
    pub segment_len: u32,
}

impl Default for Params {
    /// 4 + 2 over 4 MiB segments: a segment survives the loss of any two nodes of a six-node
    /// network, costs 1.5× the sealed size, and sealing holds about 10 MiB at a time.
    fn default() -> Self {
        Self {
            data_shards: 4,
            parity_shards: 2,
            segment_len: 4 * 1024 * 1024,
        }
    }
}

/// Why parameters or manifest bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestError {
    /// The bytes do not start with the "DHMF" magic.
    BadMagic,
    /// Written by a manifest version this build does not read.
    UnsupportedVersion(u8),
    /// `k` or `m` is 0 or above [`MAX_SHARDS`], or the code does not support the pair.
    BadShardCounts {
        /// `k` as given.
        data: u8,
        /// `m` as given.
        parity: u8,
    },
    /// The segment length is outside [`MIN_SEGMENT_LEN`]..=[`MAX_SEGMENT_LEN`].
    BadSegmentLen(u32),
    /// The sealed length is below [`MIN_SEALED_LEN`] or too large to describe.
    BadSealedLen(u64),
    /// The reserved byte is not zero.
    BadReserved,
    /// The manifest does not hash to the object id it was fetched by.
    IdMismatch,
    /// The byte count does not match the number of shard ids the header implies.
    WrongLength {
        /// Bytes the header implies.
        expected: u64,
        /// Bytes given.
        actual: u64,
    },
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => write!(f, "not a manifest: it does not start with \"DHMF\""),
            Self::UnsupportedVersion(v) => {
                write!(
                    f,
                    "manifest version {v} is not supported: this build reads version {VERSION}"
                )
            }
            Self::BadShardCounts { data, parity } => write!(
                f,
                "unsupported shard counts {data}+{parity}: data and parity shards must each be 1..={MAX_SHARDS}"
            ),
            Self::BadSegmentLen(len) => write!(
                f,
                "segment length {len} is out of range {MIN_SEGMENT_LEN}..={MAX_SEGMENT_LEN}"
            ),
            Self::BadSealedLen(len) => write!(f, "sealed length {len} is impossible"),
            Self::BadReserved => write!(f, "manifest reserved byte is not zero"),
            Self::IdMismatch => write!(f, "the manifest does not hash to the object id asked for"),
            Self::WrongLength { expected, actual } => {
                write!(
                    f,
                    "manifest is {actual} bytes but its header says {expected}"
                )
            }
        }
    }
}

impl core::error::Error for ManifestError {}

impl Params {
    /// Checks the parameters are within this format's limits.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let (k, m) = (self.data_shards, self.parity_shards);
        if !(1..=MAX_SHARDS).contains(&k)
            || !(1..=MAX_SHARDS).contains(&m)
            || !reed_solomon_simd::ReedSolomonEncoder::supports(k.into(), m.into())
        {
            return Err(ManifestError::BadShardCounts { data: k, parity: m });
        }
        if !(MIN_SEGMENT_LEN..=MAX_SEGMENT_LEN).contains(&self.segment_len) {
            return Err(ManifestError::BadSegmentLen(self.segment_len));
        }
        Ok(())
    }

    /// Shards per segment, `k + m`.
    pub fn total_shards(&self) -> usize {
        usize::from(self.data_shards) + usize::from(self.parity_shards)
    }

    /// The length of each shard of a segment of `segment_len` bytes.
    pub fn shard_len(&self, segment_len: usize) -> usize {
        let len = segment_len.div_ceil(usize::from(self.data_shards).max(1));
        (len + 1) & !1
    }
}

/// Where one segment lies in the sealed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentLayout {
    /// The segment's position, from 0.
    pub index: u32,
    /// Offset of its first byte in the sealed stream.
    pub offset: u64,
    /// Its length in bytes (before padding).
    pub len: usize,
    /// The length of each of its shards.
    pub shard_len: usize,
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    params: Params,
    sealed_len: u64,
    shard_ids: Vec<ShardId>,
}

impl Manifest {
    /// Builds a manifest, checking that `shard_ids` has `k + m` ids for every segment.
    pub fn new(
        params: Params,
        sealed_len: u64,
        shard_ids: Vec<ShardId>,
    ) -> Result<Self, ManifestError> {
        params.validate()?;
        let expected = expected_ids(&params, sealed_len)?;
        if shard_ids.len() as u64 != expected {
            return Err(ManifestError::WrongLength {
                expected: FIXED_LEN as u64 + expected * 32,
                actual: FIXED_LEN as u64 + shard_ids.len() as u64 * 32,
            });
        }
        Ok(Self {
            params,
            sealed_len,
            shard_ids,
        })
    }

    /// Reads and validates a manifest.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let too_short = || ManifestError::WrongLength {
            expected: FIXED_LEN as u64,
            actual: bytes.len() as u64,
        };
        let fixed: &[u8; FIXED_LEN] = bytes
            .get(..FIXED_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(too_short)?;
        let [
            m0,
            m1,
            m2,
            m3,
            version,
            k,
            m,
            reserved,
            s0,
            s1,
            s2,
            s3,
            l @ ..,
        ] = *fixed;
        if [m0, m1, m2, m3] != MAGIC {
            return Err(ManifestError::BadMagic);
        }
        if version != VERSION {
            return Err(ManifestError::UnsupportedVersion(version));
        }
        if reserved != 0 {
            return Err(ManifestError::BadReserved);
        }
        let params = Params {
            data_shards: k,
            parity_shards: m,
            segment_len: u32::from_le_bytes([s0, s1, s2, s3]),
        };
        params.validate()?;
        let sealed_len = u64::from_le_bytes(l);
        let ids = expected_ids(&params, sealed_len)?;
        let expected = ids
            .checked_mul(32)
            .and_then(|n| n.checked_add(FIXED_LEN as u64));
        if expected != Some(bytes.len() as u64) {
            return Err(ManifestError::WrongLength {
                expected: expected.unwrap_or(u64::MAX),
                actual: bytes.len() as u64,
            });
        }
        let shard_ids = bytes
            .get(FIXED_LEN..)
            .unwrap_or_default()
            .chunks_exact(32)
            .filter_map(|id| id.try_into().ok().map(ShardId))
            .collect();
        Ok(Self {
            params,
            sealed_len,
            shard_ids,
        })
    }

    /// Reads a manifest fetched by `id`, checking that it hashes to `id` before anything else.
    pub fn parse_with_id(bytes: &[u8], id: &ObjectId) -> Result<Self, ManifestError> {
        if blake3::hash(bytes) != blake3::Hash::from_bytes(id.0) {
            return Err(ManifestError::IdMismatch);
        }
        Self::parse(bytes)
    }

    /// The manifest's canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + self.shard_ids.len() * 32);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[
            VERSION,
            self.params.data_shards,
            self.params.parity_shards,
            0,
        ]);
        out.extend_from_slice(&self.params.segment_len.to_le_bytes());
        out.extend_from_slice(&self.sealed_len.to_le_bytes());
        for id in &self.shard_ids {
            out.extend_from_slice(&id.0);
        }
        out
    }

    /// The object's id: the BLAKE3 hash of [`Manifest::to_bytes`].
    pub fn object_id(&self) -> ObjectId {
        ObjectId(*blake3::hash(&self.to_bytes()).as_bytes())
    }

    /// The coding parameters.
    pub fn params(&self) -> Params {
        self.params
    }

    /// The length of the sealed stream (header and payload).
    pub fn sealed_len(&self) -> u64 {
        self.sealed_len
    }

    /// The number of segments.
    pub fn segment_count(&self) -> u32 {
        // Bounded by the shard ids held in memory, so it fits.
        (self.shard_ids.len() / self.params.total_shards()) as u32
    }

    /// Where segment `index` lies, or `None` past the last segment.
    pub fn segment(&self, index: u32) -> Option<SegmentLayout> {
        if index >= self.segment_count() {
            return None;
        }
        let offset = u64::from(index) * u64::from(self.params.segment_len);
        let len = (self.sealed_len - offset).min(u64::from(self.params.segment_len)) as usize;
        Some(SegmentLayout {
            index,
            offset,
            len,
            shard_len: self.params.shard_len(len),
        })
    }

    /// The ids of segment `index`'s `k + m` shards, data shards first.
    pub fn shard_ids(&self, index: u32) -> &[ShardId] {
        let n = self.params.total_shards();
        let start = (index as usize).saturating_mul(n);
        self.shard_ids
            .get(start..start.saturating_add(n))
            .unwrap_or_default()
    }

    /// Every shard id, segment by segment.
    pub fn all_shard_ids(&self) -> &[ShardId] {
        &self.shard_ids
    }
}

fn expected_ids(params: &Params, sealed_len: u64) -> Result<u64, ManifestError> {
    if sealed_len < MIN_SEALED_LEN {
        return Err(ManifestError::BadSealedLen(sealed_len));
    }
    let segments = sealed_len.div_ceil(u64::from(params.segment_len));
    if segments > u64::from(u32::MAX) {
        return Err(ManifestError::BadSealedLen(sealed_len));
    }
    Ok(segments * params.total_shards() as u64)
}
