//! Grants: the file key of a sealed object re-wrapped to a key chosen after sealing (a compute
//! node's), opened with the header's MAC checked, and every way a grant can be wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{Rng, identity};
use datahub_core::header::{Grant, Header, HeaderError, STANZA_LEN};
use datahub_core::manifest::Params;
use datahub_core::{EncodedSegment, OpenError, Opener, seal_bytes};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn params() -> Params {
    Params {
        data_shards: 4,
        parity_shards: 2,
        segment_len: 20 * 1024,
    }
}

fn open_with(
    manifest: &datahub_core::Manifest,
    segments: &[EncodedSegment],
    who: &datahub_core::SecretKey,
    grant: Option<Grant>,
) -> Result<Vec<u8>, OpenError> {
    let mut opener = Opener::with_grant(manifest.clone(), who.clone(), grant);
    let mut out = Vec::new();
    for segment in segments {
        let slots: Vec<Option<&[u8]>> = segment
            .shards
            .iter()
            .map(|s| Some(s.bytes.as_slice()))
            .collect();
        out.extend_from_slice(&opener.push_segment(segment.index, &slots)?);
    }
    opener.finish()?;
    Ok(out)
}

/// The header at the start of a sealed object (segment 0's data shards, joined).
fn header_of(segments: &[EncodedSegment], k: usize) -> Header {
    let bytes: Vec<u8> = segments[0].shards[..k]
        .iter()
        .flat_map(|s| s.bytes.clone())
        .collect();
    Header::parse(&bytes).unwrap().0
}

#[test]
fn a_node_opens_an_object_through_a_grant_and_nothing_else_does() {
    let mut rng = Rng::new(21);
    let plaintext = rng.fill(50_000);
    let requester = identity(1);
    let node = identity(7);
    let stranger = identity(8);
    let (manifest, segments) = seal_bytes(
        &plaintext,
        &[requester.public_key()],
        &rng.bytes32(),
        params(),
    )
    .unwrap();
    // Not sealed to the node: it cannot open the object alone.
    assert_eq!(
        open_with(&manifest, &segments, &node, None),
        Err(OpenError::DecryptionFailed)
    );
    let header = header_of(&segments, 4);
    let file_key = header.unwrap(&requester).unwrap();
    let grant = header.grant(&file_key, &node.public_key(), &rng.bytes32());
    assert_eq!(
        Grant::parse(&grant.to_bytes()).unwrap(),
        grant,
        "a grant's bytes parse back"
    );
    // The object and its shards are unchanged; the node opens it with the grant.
    assert_eq!(
        open_with(&manifest, &segments, &node, Some(grant)).unwrap(),
        plaintext
    );
    // Another key cannot use the node's grant, nor can the requester (it is not for it).
    for who in [&stranger, &requester] {
        assert_eq!(
            open_with(&manifest, &segments, who, Some(grant)),
            Err(OpenError::DecryptionFailed)
        );
    }
}

#[test]
fn a_wrong_grant_never_opens() {
    let mut rng = Rng::new(22);
    let requester = identity(1);
    let node = identity(7);
    let (_, segments) = seal_bytes(
        &rng.fill(3000),
        &[requester.public_key()],
        &rng.bytes32(),
        params(),
    )
    .unwrap();
    let header = header_of(&segments, 4);
    let file_key = header.unwrap(&requester).unwrap();
    let good = header.grant(&file_key, &node.public_key(), &rng.bytes32());
    assert!(header.unwrap_grant(&node, &good).is_ok());

    // Every byte of the grant flipped in turn: never opens (a bad point fails to parse or open).
    for i in 0..STANZA_LEN {
        let mut bytes = good.to_bytes();
        bytes[i] ^= 0x01;
        if let Ok(bent) = Grant::parse(&bytes) {
            assert!(
                matches!(
                    header.unwrap_grant(&node, &bent),
                    Err(HeaderError::DecryptionFailed)
                ),
                "byte {i}"
            );
        }
    }
    // Another object's file key wrapped for the node: its stanza opens, this header's MAC does not.
    let (_, other) = seal_bytes(
        &rng.fill(3000),
        &[requester.public_key()],
        &rng.bytes32(),
        params(),
    )
    .unwrap();
    let other_header = header_of(&other, 4);
    let other_key = other_header.unwrap(&requester).unwrap();
    let misplaced = other_header.grant(&other_key, &node.public_key(), &rng.bytes32());
    assert!(matches!(
        header.unwrap_grant(&node, &misplaced),
        Err(HeaderError::DecryptionFailed)
    ),);
    // A header altered anywhere no longer matches its MAC, with a good grant.
    let mut altered = header.to_bytes();
    altered[10] ^= 0x80;
    let (altered, _) = Header::parse(&altered).unwrap();
    assert!(matches!(
        altered.unwrap_grant(&node, &good),
        Err(HeaderError::DecryptionFailed)
    ),);
}

#[test]
fn malformed_grants_are_told_apart_from_wrong_ones() {
    assert!(Grant::parse(&[]).is_err());
    assert!(Grant::parse(&[2u8; STANZA_LEN - 1]).is_err());
    assert!(Grant::parse(&[2u8; STANZA_LEN + 1]).is_err());
    // Not a compressed point: an uncompressed prefix, and an x with no point on the curve.
    let mut bytes = [0u8; STANZA_LEN];
    bytes[0] = 4;
    assert!(Grant::parse(&bytes).is_err());
    bytes[0] = 2;
    bytes[1..33].fill(0xff);
    assert!(Grant::parse(&bytes).is_err());
    // A point followed by anything is well formed; whether it opens only its key can tell.
    bytes[1..33].copy_from_slice(&identity(3).public_key().to_compressed()[1..]);
    bytes[0] = identity(3).public_key().to_compressed()[0];
    assert!(Grant::parse(&bytes).is_ok());
}

#[test]
fn grants_are_deterministic_in_their_entropy() {
    let mut rng = Rng::new(23);
    let requester = identity(1);
    let sealed_plaintext = rng.fill(100);
    let (_, segments) = seal_bytes(
        &sealed_plaintext,
        &[requester.public_key()],
        &rng.bytes32(),
        params(),
    )
    .unwrap();
    let header = header_of(&segments, 4);
    let file_key = header.unwrap(&requester).unwrap();
    let entropy = rng.bytes32();
    let node = identity(7).public_key();
    assert_eq!(
        header.grant(&file_key, &node, &entropy),
        header.grant(&file_key, &node, &entropy)
    );
    assert_ne!(
        header.grant(&file_key, &node, &entropy),
        header.grant(&file_key, &node, &rng.bytes32())
    );
}
