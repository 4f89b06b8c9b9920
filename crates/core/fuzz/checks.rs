//! What each fuzz target of the core checks, as plain functions of the input bytes: a check
//! panics when a property fails. The fuzz targets (`fuzz_targets/*.rs`) and the core's test
//! `tests/fuzz_seeds.rs` both include this file, so every input kept in `seeds/<target>/` is
//! replayed by the ordinary test run, with no extra crate to build.

// Each fuzz target uses one of these functions; the test uses them all.
#![allow(dead_code)]

use datahub_core::eth::{
    Address, SessionGrant, Signature, SiweMessage, Timestamp, U256, keccak256,
};
use datahub_core::header::Header;
use datahub_core::manifest::Params;
use datahub_core::proof::{RangeProof, verify};
use datahub_core::{
    Manifest, PublicKey, SecretKey, ShardId, StreamOpener, open_bytes, open_sealed, seal_bytes,
};

/// Manifest bytes from anywhere: parsing never panics, and what parses writes back identically.
pub fn manifest(data: &[u8]) {
    if let Ok(manifest) = Manifest::parse(data) {
        assert_eq!(manifest.to_bytes(), data);
        for i in 0..manifest.segment_count() {
            let layout = manifest
                .segment(i)
                .unwrap_or_else(|| panic!("segment {i} of {} missing", manifest.segment_count()));
            assert_eq!(
                manifest.shard_ids(i).len(),
                manifest.params().total_shards()
            );
            assert!(
                layout.len > 0
                    && layout.shard_len * usize::from(manifest.params().data_shards) >= layout.len
            );
        }
    }
}

/// The key the header and stream checks open with. No seed is sealed to it, and a fuzzer cannot
/// make a stanza that opens under it without forging a Poly1305 tag, so whatever it unwraps or
/// opens is a break of the format.
pub fn stranger() -> SecretKey {
    SecretKey::derive(&[1; 32])
}

/// Header bytes from anywhere: parsing never panics, what parses writes back identically, and
/// unwrapping with a key that is no recipient's always fails.
pub fn header(data: &[u8]) {
    if let Ok((header, len)) = Header::parse(data) {
        assert_eq!(
            header.to_bytes(),
            data.get(..len)
                .unwrap_or_else(|| panic!("parsed length {len} beyond the input"))
        );
        assert!(
            header.unwrap(&stranger()).is_err(),
            "a stranger's key unwrapped a file key"
        );
        // The bytes after the header, read as a grant (81 bytes kept outside the object): the
        // parser takes any bytes, and a stranger's key opens no grant it was not made for.
        let rest = data.get(len..).unwrap_or_default();
        if let Some(grant) = rest
            .get(..datahub_core::header::STANZA_LEN)
            .and_then(|bytes| datahub_core::header::Grant::parse(bytes).ok())
        {
            assert!(
                header.unwrap_grant(&stranger(), &grant).is_err(),
                "a stranger's key opened a grant"
            );
        }
    }
    let _ = datahub_core::header::Grant::parse(data);
}

/// A sealed stream from anywhere, fed in pieces: opening never panics, and a stranger's key
/// gets no plaintext: no piece releases a byte and the stream never finishes as whole.
pub fn open_stream(data: &[u8]) {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let mut opener = StreamOpener::new(stranger(), stream.len() as u64);
    let (a, b) = stream.split_at(usize::from(split).min(stream.len()));
    for piece in [a, b] {
        match opener.update(piece) {
            Ok(plaintext) => assert!(
                plaintext.is_empty(),
                "a stranger's key got {} bytes of plaintext",
                plaintext.len()
            ),
            Err(_) => return,
        }
    }
    assert!(
        opener.finish().is_err(),
        "a stranger's key opened a whole stream"
    );
}

/// A real object, then damaged as the input says: opening gives the original bytes or an error,
/// never other bytes, and never panics.
///
/// Input: 2 bytes of plaintext length, then edits of 4 bytes each: a target (shard or sealed
/// stream), a position (2 bytes) and an xor mask.
pub fn open_tampered(data: &[u8]) {
    let Some((len, edits)) = data.split_first_chunk::<2>() else {
        return;
    };
    let len = usize::from(u16::from_le_bytes(*len)) % 12_000;
    let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let owner = SecretKey::derive(&[1; 32]);
    let params = Params {
        data_shards: 3,
        parity_shards: 2,
        segment_len: 4096,
    };
    let Ok((manifest, segments)) = seal_bytes(&plaintext, &[owner.public_key()], &[2; 32], params)
    else {
        return;
    };
    let mut shards: Vec<Vec<Vec<u8>>> = segments
        .into_iter()
        .map(|s| s.shards.into_iter().map(|x| x.bytes).collect())
        .collect();
    let mut sealed: Vec<u8> = Vec::new();
    for (i, segment) in shards.iter().enumerate() {
        let mut data: Vec<u8> = segment.iter().take(3).flatten().copied().collect();
        data.truncate(manifest.segment(i as u32).map_or(0, |l| l.len));
        sealed.extend(data);
    }
    for edit in edits.chunks_exact(4) {
        let &[target, lo, hi, mask] = edit else {
            continue;
        };
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
        .map(|s| {
            s.into_iter()
                .map(|x| Some(x).filter(|x| !x.is_empty()))
                .collect()
        })
        .collect();
    if let Ok(opened) = open_bytes(&manifest, &slots, &owner) {
        assert_eq!(opened.as_slice(), plaintext.as_slice());
    }
}

/// SIWE (EIP-4361) parsing, session-grant reading and RFC 3339 times never panic, and whatever
/// parses writes back (canonically) to text that parses to the same fields.
pub fn siwe(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = SiweMessage::parse(text) {
        let canonical = message.to_string();
        let again = SiweMessage::parse(&canonical)
            .unwrap_or_else(|e| panic!("canonical form does not parse: {e:?}"));
        assert_eq!(again, message);
        let _ = SessionGrant::from_resources(&message.resources);
    }
    if let Ok(at) = Timestamp::parse_rfc3339(text) {
        assert_eq!(Timestamp::parse_rfc3339(&at.to_rfc3339()), Ok(at));
    }
}

/// Signature, address, integer and public-key parsing never panic; what parses round-trips;
/// recovery from any accepted signature returns a key or an error, never a panic.
pub fn signature(data: &[u8]) {
    if let Ok(sig) = Signature::from_bytes(data) {
        assert_eq!(Signature::from_bytes(&sig.to_bytes()), Ok(sig));
        assert_eq!(Signature::from_hex(&sig.to_hex()), Ok(sig));
        let _ = sig.recover_prehash(&keccak256(data));
    }
    if let Ok(key) = PublicKey::from_sec1_bytes(data) {
        assert_eq!(PublicKey::from_sec1_bytes(&key.to_compressed()), Ok(key));
        if let (Some(digest), Some(rs)) = (data.get(1..33), data.get(1..65)) {
            let digest: [u8; 32] = digest.try_into().unwrap_or([0; 32]);
            let rs: [u8; 64] = rs.try_into().unwrap_or([0; 64]);
            let _ = key.verify_prehash(&digest, &rs);
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Signature::from_hex(text);
    if let Ok(address) = Address::parse(text) {
        assert_eq!(Address::parse(&address.to_checksum()), Ok(address));
        assert_eq!(
            Address::parse_checksummed(&address.to_checksum()),
            Ok(address)
        );
    }
    let _ = Address::parse_checksummed(text);
    if let Ok(n) = U256::parse(text) {
        assert_eq!(U256::parse(&n.to_string()), Ok(n));
    }
}

/// Range-proof bytes from anywhere (a node's answer to an audit): parsing and verifying never
/// panic, what parses writes back identically, and what verifies is the shard's range.
pub fn range_proof(data: &[u8]) {
    if let Ok(proof) = RangeProof::from_bytes(data) {
        assert_eq!(proof.to_bytes(), data);
        // Against the id of a known shard: a proof verifies only if it is a true proof of that
        // shard, so whatever verifies must be exactly the claimed range of it; anything else
        // (other bytes, another length) is a forgery that verified.
        let known: &[u8] = b"not this shard";
        let id = ShardId::of(known);
        let claimed = |offset: u64, len: u64| {
            let start = usize::try_from(offset).ok()?;
            known.get(start..start.checked_add(usize::try_from(len).ok()?)?)
        };
        if let Ok(range) = proof.verify(&id) {
            assert_eq!(
                Some(range),
                claimed(proof.offset(), proof.len()),
                "a forged range proof verified"
            );
        }
        if let Ok(range) = verify(&id, proof.shard_len(), proof.offset(), proof.len(), data) {
            assert_eq!(
                Some(range),
                claimed(proof.offset(), proof.len()),
                "a forged range proof verified"
            );
        }
    }
    // Any bytes against a fixed small shard's id.
    let shard = [7u8; 3000];
    let id = ShardId::of(&shard);
    if let Ok(range) = verify(&id, 3000, 1000, 1100, data) {
        assert_eq!(Some(range), shard.get(1000..2100));
    }
}
