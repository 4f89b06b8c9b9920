//! Every input kept in `fuzz/seeds/<target>/` (the starting inputs and every crasher ever found)
//! run through its fuzz target's check on every test run, without the fuzzer: a crasher, once
//! committed there, is a regression test. The checks are `fuzz/checks.rs`, the same code the
//! fuzz targets run. Native only: the seeds are read from the file system.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

/// A fuzz target's check: panics when its property fails.
type Check = fn(&[u8]);

/// The fuzz targets of `crates/core/fuzz` and their checks.
const TARGETS: [(&str, Check); 7] = [
    ("manifest", checks::manifest),
    ("header", checks::header),
    ("open_stream", checks::open_stream),
    ("open_tampered", checks::open_tampered),
    ("siwe", checks::siwe),
    ("signature", checks::signature),
    ("range_proof", checks::range_proof),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The paths in `dir`, sorted.
fn paths(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    paths
}

/// The names in `dir` of the files ending in `.{extension}` (if given), without it.
fn names(dir: &Path, extension: Option<&str>) -> Vec<String> {
    paths(dir)
        .iter()
        .filter(|path| extension.is_none_or(|x| path.extension().is_some_and(|e| e == x)))
        .map(|path| {
            let name = if extension.is_some() {
                path.file_stem()
            } else {
                path.file_name()
            };
            name.unwrap().to_string_lossy().into_owned()
        })
        .collect()
}

fn replay(target: &str) {
    let (_, check) = TARGETS.iter().find(|(name, _)| *name == target).unwrap();
    let dir = fuzz_dir().join("seeds").join(target);
    let seeds = paths(&dir);
    assert!(!seeds.is_empty(), "{} has no seeds", dir.display());
    for path in seeds {
        // Printed first, so a failing seed is named in the test's output.
        eprintln!("replaying {}", path.display());
        check(&std::fs::read(&path).unwrap());
    }
}

#[test]
fn manifest() {
    replay("manifest");
}

#[test]
fn header() {
    replay("header");
}

#[test]
fn open_stream() {
    replay("open_stream");
}

#[test]
fn open_tampered() {
    replay("open_tampered");
}

#[test]
fn siwe() {
    replay("siwe");
}

#[test]
fn signature() {
    replay("signature");
}

#[test]
fn range_proof() {
    replay("range_proof");
}

/// A target added to the fuzz project without a check here would have its seeds never replayed.
#[test]
fn every_target_is_replayed() {
    let mut known: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    known.sort();
    assert_eq!(names(&fuzz_dir().join("fuzz_targets"), Some("rs")), known);
    assert_eq!(names(&fuzz_dir().join("seeds"), None), known);
}

/// The sealed stream of a small object sealed to `recipient`, with a split byte in front (the
/// `open_stream` input form).
fn sealed_to(recipient: &datahub_core::PublicKey) -> Vec<u8> {
    let params = datahub_core::manifest::Params {
        data_shards: 2,
        parity_shards: 1,
        segment_len: 4096,
    };
    let (manifest, segments) =
        datahub_core::seal_bytes(b"secret", &[*recipient], &[3; 32], params).unwrap();
    let len = manifest.segment(0).unwrap().len;
    let mut stream: Vec<u8> = segments[0].shards[..2]
        .iter()
        .flat_map(|s| s.bytes.clone())
        .collect();
    stream.truncate(len);
    stream.insert(0, 100);
    stream
}

/// The stranger properties are assertions that fire: a stream sealed to the stranger's own key
/// makes the `header` and `open_stream` checks fail, and one sealed to someone else passes.
#[test]
fn the_stranger_checks_fail_when_the_stranger_can_open() {
    let theirs = sealed_to(&checks::stranger().public_key());
    assert!(std::panic::catch_unwind(|| checks::header(&theirs[1..])).is_err());
    assert!(std::panic::catch_unwind(|| checks::open_stream(&theirs)).is_err());
    let someone = datahub_core::SecretKey::derive(&[9; 32]).public_key();
    let not_theirs = sealed_to(&someone);
    checks::header(&not_theirs[1..]);
    checks::open_stream(&not_theirs);
}

/// The forgery property does not refuse true proofs: a real proof of the check's known shard
/// verifies and passes, as does a real proof of any other shard (which must not verify).
#[test]
fn the_range_proof_check_passes_true_proofs() {
    let known = b"not this shard";
    for (offset, len) in [(0, 14), (2, 5), (13, 1)] {
        let proof = datahub_core::proof::RangeProof::build(known, offset, len).unwrap();
        let id = datahub_core::ShardId::of(known);
        assert_eq!(
            proof.verify(&id).unwrap(),
            &known[offset as usize..(offset + len) as usize]
        );
        checks::range_proof(&proof.to_bytes());
    }
    let other = [5u8; 5000];
    checks::range_proof(
        &datahub_core::proof::RangeProof::build(&other, 1024, 2000)
            .unwrap()
            .to_bytes(),
    );
}
