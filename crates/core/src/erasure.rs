//! Reed–Solomon coding of one segment into `k` data and `m` parity shards, and back.
//!
//! Shards are checked against their manifest ids before they are used: a shard that does not
//! hash to its id counts as missing, so a corrupt or lying node can cost availability but never
//! correctness.

use crate::manifest::{Manifest, Params, SegmentLayout, ShardId};

/// Why a segment could not be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SegmentError {
    /// The manifest has no segment with this index.
    NoSuchSegment(u32),
    /// The caller passed a slot count other than `k + m`.
    WrongShardCount {
        /// `k + m`.
        expected: usize,
        /// Slots given.
        actual: usize,
    },
    /// Fewer than `k` shards matched their ids.
    NotEnoughShards {
        /// The segment.
        segment: u32,
        /// Shards that matched their ids.
        good: usize,
        /// `k`.
        needed: usize,
    },
    /// Rebuilt shards do not hash to the manifest's ids: the manifest's parity does not belong
    /// to its data (it was not made by an honest sealer).
    Inconsistent(u32),
}

impl core::fmt::Display for SegmentError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoSuchSegment(i) => write!(f, "the manifest has no segment {i}"),
            Self::WrongShardCount { expected, actual } => {
                write!(f, "expected {expected} shard slots, got {actual}")
            }
            Self::NotEnoughShards {
                segment,
                good,
                needed,
            } => write!(
                f,
                "segment {segment} has {good} good shards but needs {needed}: fetch more shards and try again"
            ),
            Self::Inconsistent(i) => {
                write!(f, "segment {i}'s shards do not agree with the manifest")
            }
        }
    }
}

impl core::error::Error for SegmentError {}

/// Cuts `segment` into `k` zero-padded data shards and computes `m` parity shards.
///
/// Returns `k + m` shards of [`Params::shard_len`] bytes, data shards first.
pub fn encode_segment(params: &Params, segment: &[u8]) -> Vec<Vec<u8>> {
    SegmentEncoder::new(*params).encode(segment)
}

/// Encodes segment after segment, reusing the coder's working memory between them (a fresh
/// coder per segment costs page faults and zeroing on every segment).
pub struct SegmentEncoder {
    params: Params,
    coder: Option<(usize, reed_solomon_simd::ReedSolomonEncoder)>,
}

impl core::fmt::Debug for SegmentEncoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SegmentEncoder")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl SegmentEncoder {
    /// An encoder for segments coded with `params` (already validated).
    pub fn new(params: Params) -> Self {
        Self {
            params,
            coder: None,
        }
    }

    /// Cuts `segment` into `k` zero-padded data shards and computes `m` parity shards.
    ///
    /// Returns `k + m` shards of [`Params::shard_len`] bytes, data shards first.
    pub fn encode(&mut self, segment: &[u8]) -> Vec<Vec<u8>> {
        let (k, m) = (
            usize::from(self.params.data_shards),
            usize::from(self.params.parity_shards),
        );
        let shard_len = self.params.shard_len(segment.len());
        let mut shards: Vec<Vec<u8>> = Vec::with_capacity(k + m);
        for i in 0..k {
            let start = (i * shard_len).min(segment.len());
            let end = ((i + 1) * shard_len).min(segment.len());
            let mut shard = Vec::with_capacity(shard_len);
            shard.extend_from_slice(segment.get(start..end).unwrap_or_default());
            shard.resize(shard_len, 0);
            shards.push(shard);
        }
        // Validated parameters and `k` shards of one even, non-zero length are all the
        // encoder needs, so none of these calls can fail.
        #[allow(clippy::expect_used)]
        let coder = match &mut self.coder {
            Some((len, coder)) if *len == shard_len => coder,
            slot => {
                let coder = match slot.take() {
                    Some((_, mut coder)) => coder.reset(k, m, shard_len).map(|()| coder),
                    None => reed_solomon_simd::ReedSolomonEncoder::new(k, m, shard_len),
                }
                .expect("validated parameters and an even shard length");
                &mut slot.insert((shard_len, coder)).1
            }
        };
        for shard in &shards {
            #[allow(clippy::expect_used)]
            coder
                .add_original_shard(shard)
                .expect("k shards of the configured length");
        }
        #[allow(clippy::expect_used)]
        let parity = coder.encode().expect("all k original shards were added");
        let parity: Vec<Vec<u8>> = parity.recovery_iter().map(<[u8]>::to_vec).collect();
        shards.extend(parity);
        shards
    }
}

/// Checks offered shards against their ids, in slot order, until `enough` are good (data shards
/// come first, so an intact segment never hashes its parity), and returns the slots with only
/// the good ones kept.
fn verified<'a>(
    manifest: &Manifest,
    layout: &SegmentLayout,
    shards: &[Option<&'a [u8]>],
    enough: usize,
) -> Result<Vec<Option<&'a [u8]>>, SegmentError> {
    let ids = manifest.shard_ids(layout.index);
    if shards.len() != ids.len() {
        return Err(SegmentError::WrongShardCount {
            expected: ids.len(),
            actual: shards.len(),
        });
    }
    let mut good = 0;
    let slots: Vec<Option<&[u8]>> = shards
        .iter()
        .zip(ids)
        .map(|(shard, id)| {
            let ok = good < enough
                && shard.is_some_and(|s| s.len() == layout.shard_len && id.matches(s));
            good += usize::from(ok);
            shard.filter(|_| ok)
        })
        .collect();
    let needed = usize::from(manifest.params().data_shards);
    if good < needed {
        return Err(SegmentError::NotEnoughShards {
            segment: layout.index,
            good,
            needed,
        });
    }
    Ok(slots)
}

/// Rebuilds segments, reusing the coder's working memory between them.
#[derive(Default)]
pub struct SegmentDecoder {
    coder: Option<reed_solomon_simd::ReedSolomonDecoder>,
}

impl core::fmt::Debug for SegmentDecoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SegmentDecoder").finish_non_exhaustive()
    }
}

impl SegmentDecoder {
    /// Rebuilds segment `index`'s bytes from any `k` good shards.
    ///
    /// `shards` has one slot per shard of the segment (`k + m`, data shards first), `None`
    /// where a shard is missing. Shards that do not hash to their manifest id are ignored.
    pub fn decode(
        &mut self,
        manifest: &Manifest,
        index: u32,
        shards: &[Option<&[u8]>],
    ) -> Result<Vec<u8>, SegmentError> {
        let layout = manifest
            .segment(index)
            .ok_or(SegmentError::NoSuchSegment(index))?;
        let good = verified(
            manifest,
            &layout,
            shards,
            manifest.params().data_shards.into(),
        )?;
        self.join_data(&manifest.params(), &layout, &good)
    }

    /// The segment's bytes from the good slots: its data shards joined, the missing ones
    /// rebuilt from parity, the padding cut off.
    fn join_data(
        &mut self,
        params: &Params,
        layout: &SegmentLayout,
        good: &[Option<&[u8]>],
    ) -> Result<Vec<u8>, SegmentError> {
        let (k, m) = (
            usize::from(params.data_shards),
            usize::from(params.parity_shards),
        );
        let (data, parity) = good.split_at(k.min(good.len()));
        let mut segment = Vec::with_capacity(k * layout.shard_len);
        let inconsistent = |_| SegmentError::Inconsistent(layout.index);
        if data.iter().all(Option::is_some) {
            data.iter()
                .flatten()
                .for_each(|s| segment.extend_from_slice(s));
        } else {
            let coder = match &mut self.coder {
                Some(coder) => {
                    coder.reset(k, m, layout.shard_len).map_err(inconsistent)?;
                    coder
                }
                slot => slot.insert(
                    reed_solomon_simd::ReedSolomonDecoder::new(k, m, layout.shard_len)
                        .map_err(inconsistent)?,
                ),
            };
            for (i, shard) in data.iter().enumerate() {
                if let Some(shard) = shard {
                    coder.add_original_shard(i, shard).map_err(inconsistent)?;
                }
            }
            for (i, shard) in parity.iter().enumerate() {
                if let Some(shard) = shard {
                    coder.add_recovery_shard(i, shard).map_err(inconsistent)?;
                }
            }
            let restored = coder.decode().map_err(inconsistent)?;
            for (i, shard) in data.iter().enumerate() {
                let shard = shard.or_else(|| restored.restored_original(i));
                segment.extend_from_slice(shard.ok_or(SegmentError::Inconsistent(layout.index))?);
            }
        }
        segment.truncate(layout.len);
        Ok(segment)
    }
}

/// Rebuilds segment `index`'s bytes from any `k` good shards (see [`SegmentDecoder::decode`]).
pub fn decode_segment(
    manifest: &Manifest,
    index: u32,
    shards: &[Option<&[u8]>],
) -> Result<Vec<u8>, SegmentError> {
    SegmentDecoder::default().decode(manifest, index, shards)
}

/// Rebuilds all `k + m` shards of segment `index` from any `k` good ones, without decrypting.
///
/// Every rebuilt shard is checked against its manifest id, so repair never places a wrong shard.
pub fn repair_segment(
    manifest: &Manifest,
    index: u32,
    shards: &[Option<&[u8]>],
) -> Result<Vec<Vec<u8>>, SegmentError> {
    let layout = manifest
        .segment(index)
        .ok_or(SegmentError::NoSuchSegment(index))?;
    let good = verified(manifest, &layout, shards, shards.len())?;
    if good.iter().all(Option::is_some) {
        return Ok(good.iter().flatten().map(|s| s.to_vec()).collect());
    }
    let params = manifest.params();
    let segment = SegmentDecoder::default().join_data(&params, &layout, &good)?;
    let rebuilt = encode_segment(&params, &segment);
    let ids = manifest.shard_ids(index);
    if rebuilt.iter().zip(ids).all(|(shard, id)| id.matches(shard)) {
        Ok(rebuilt)
    } else {
        Err(SegmentError::Inconsistent(index))
    }
}

/// The ids of `shards`.
pub fn shard_ids(shards: &[Vec<u8>]) -> Vec<ShardId> {
    shards.iter().map(|s| ShardId::of(s)).collect()
}
