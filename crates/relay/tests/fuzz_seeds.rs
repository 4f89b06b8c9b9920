//! Every input kept in `fuzz/seeds/<target>/` (the starting inputs and every crasher ever found)
//! run through its fuzz target's check on every test run, without the fuzzer: a crasher, once
//! committed there, is a regression test. The checks are `fuzz/checks.rs`, the same code the
//! fuzz targets run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

/// A fuzz target's check: panics when its property fails.
type Check = fn(&[u8]);

/// The fuzz targets of `crates/relay/fuzz` and their checks.
const TARGETS: [(&str, Check); 5] = [
    ("campaign_spec", checks::campaign_spec),
    ("submission", checks::submission),
    ("api", checks::api),
    ("node_api", checks::node_api),
    ("chain_log", checks::chain_log),
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
fn campaign_spec() {
    replay("campaign_spec");
}

#[test]
fn submission() {
    replay("submission");
}

/// A status check: the input's status, `None` when it makes no request.
type StatusCheck = fn(&[u8]) -> Option<checks::StatusCode>;

/// Replays the seeds of an API target. Each seed is named `<what>.<status>`, the status it was
/// written to reach: a seed whose request no longer gets there (an edit of the API that refuses
/// it earlier, at the parser or at authentication) would go on passing the properties while
/// testing nothing past the refusal, so it fails here and must be remade.
fn replay_with_status(target: &str, check: StatusCheck) {
    let dir = fuzz_dir().join("seeds").join(target);
    let seeds = paths(&dir);
    assert!(!seeds.is_empty(), "{} has no seeds", dir.display());
    let mut wrong = Vec::new();
    for path in seeds {
        eprintln!("replaying {}", path.display());
        let expected: Option<u16> = path
            .extension()
            .and_then(|x| x.to_str())
            .and_then(|x| x.parse().ok());
        let Some(expected) = expected else {
            panic!(
                "{}: name the seed <what>.<status>, with the status it must reach (a crasher \
                 too, once fixed)",
                path.display()
            );
        };
        let status = check(&std::fs::read(&path).unwrap()).map(|s| s.as_u16());
        if status != Some(expected) {
            wrong.push(format!("{}: {status:?}, not {expected}", path.display()));
        }
    }
    assert!(
        wrong.is_empty(),
        "seeds that no longer reach their status:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn api() {
    replay_with_status("api", checks::api_status);
}

#[test]
fn node_api() {
    replay_with_status("node_api", checks::node_api_status);
}

/// A target added to the fuzz project without a check here would have its seeds never replayed.
#[test]
fn every_target_is_replayed() {
    let mut known: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    known.sort();
    assert_eq!(names(&fuzz_dir().join("fuzz_targets"), Some("rs")), known);
    assert_eq!(names(&fuzz_dir().join("seeds"), None), known);
}

#[test]
fn chain_log() {
    replay("chain_log");
}
