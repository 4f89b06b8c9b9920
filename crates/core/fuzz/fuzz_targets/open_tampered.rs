//! A real object, then damaged as the input says: opening gives the original bytes or an error,
//! never other bytes, and never panics.
//!
//! Input: 2 bytes of plaintext length, then edits of 4 bytes each: a target (shard or sealed
//! stream), a position (2 bytes) and an xor mask.
#![no_main]

use datahub_core::manifest::Params;
use datahub_core::{SecretKey, open_bytes, open_sealed, seal_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len, edits)) = data.split_first_chunk::<2>() else { return };
    let len = usize::from(u16::from_le_bytes(*len)) % 12_000;
    let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let owner = SecretKey::derive(&[1; 32]);
    let params = Params { data_shards: 3, parity_shards: 2, segment_len: 4096 };
    let Ok((manifest, segments)) = seal_bytes(&plaintext, &[owner.public_key()], &[2; 32], params) else {
        return;
    };
    let mut shards: Vec<Vec<Vec<u8>>> =
        segments.into_iter().map(|s| s.shards.into_iter().map(|x| x.bytes).collect()).collect();
    let mut sealed: Vec<u8> = Vec::new();
    for (i, segment) in shards.iter().enumerate() {
        let mut data: Vec<u8> = segment.iter().take(3).flatten().copied().collect();
        data.truncate(manifest.segment(i as u32).map_or(0, |l| l.len));
        sealed.extend(data);
    }
    for edit in edits.chunks_exact(4) {
        let &[target, lo, hi, mask] = edit else { continue };
        let at = usize::from(u16::from_le_bytes([lo, hi]));
        if target == 0xff {
            let at = at % sealed.len();
            if let Some(b) = sealed.get_mut(at) {
                *b ^= mask;
            }
        } else {
            let segment = usize::from(target) % shards.len();
            let shard = at % 5;
            if let Some(s) = shards.get_mut(segment).and_then(|s| s.get_mut(shard)) {
                if mask == 0 {
                    s.clear();
                } else {
                    let byte = usize::from(lo) % s.len().max(1);
                    if let Some(b) = s.get_mut(byte) {
                        *b ^= mask;
                    }
                }
            }
        }
    }
    if let Ok(opened) = open_sealed(&sealed, &owner) {
        assert_eq!(opened.as_slice(), plaintext.as_slice());
    }
    let slots: Vec<Vec<Option<Vec<u8>>>> = shards
        .into_iter()
        .map(|s| s.into_iter().map(|x| Some(x).filter(|x| !x.is_empty())).collect())
        .collect();
    if let Ok(opened) = open_bytes(&manifest, &slots, &owner) {
        assert_eq!(opened.as_slice(), plaintext.as_slice());
    }
});
