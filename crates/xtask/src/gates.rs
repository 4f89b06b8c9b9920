//! The gates: each one a check that `cargo xtask test` runs and a person can run alone.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cmd::{Cmd, heading, root, which};
use crate::pkg::{self, Config};

const WASM32: &str = "wasm32-unknown-unknown";

/// Where the fuzz targets live (each a cargo-fuzz project of its own): the core's parsers, and
/// the relay's JSON request bodies.
const FUZZ_DIRS: [&str; 2] = ["crates/core/fuzz", "crates/relay/fuzz"];

pub fn fmt() -> Result<()> {
    heading("fmt: is the code formatted as rustfmt would?");
    Cmd::new("cargo").args(["fmt", "--all", "--check"]).run()
}

pub fn clippy() -> Result<()> {
    heading("clippy: lints on every crate and target, warnings denied");
    let native = Cmd::new("cargo")
        .args(["clippy", "--workspace", "--all-targets"])
        .args(["--", "-D", "warnings"])
        .run();
    heading("clippy: the crates that ship as WebAssembly, built for wasm32");
    // Benches are native only (criterion), so lib and tests.
    let wasm = Cmd::new("cargo")
        .env("RUSTFLAGS", Config::load()?.rustflags())
        .args(["clippy", "--target", WASM32, "--lib", "--tests"])
        .args(["-p", "datahub-core", "-p", "datahub-wasm"])
        .args(["--", "-D", "warnings"])
        .run();
    // Both run, so one failure does not hide the other's findings.
    native.and(wasm)
}

pub fn doc() -> Result<()> {
    heading("doc: the API docs build without a warning");
    Cmd::new("cargo")
        .env("RUSTDOCFLAGS", "-D warnings")
        .args(["doc", "--workspace", "--no-deps"])
        .run()
}

pub fn core_wasm() -> Result<()> {
    heading("core-wasm: datahub-core builds for wasm32-unknown-unknown");
    Cmd::new("cargo")
        .env("RUSTFLAGS", Config::load()?.rustflags())
        .args(["build", "-p", "datahub-core", "--target", WASM32])
        .run()
}

pub fn test_native() -> Result<()> {
    // The relay's tests run on SQLite and, against this server, on PostgreSQL.
    let postgres = crate::postgres::Cluster::start()?;
    let url = postgres.url.clone();
    // The COCO export is loaded by pycocotools when setup made its venv.
    let coco = crate::setup::coco_python_path();
    let with_env = |cmd: Cmd| {
        let cmd = cmd.env("DATAHUB_TEST_POSTGRES", &url);
        if coco.is_file() {
            cmd.env("DATAHUB_COCO_PYTHON", &coco)
        } else {
            cmd
        }
    };
    if Cmd::new("cargo")
        .args(["nextest", "--version"])
        .probe()
        .is_some()
    {
        heading("test-native: the workspace's tests (cargo nextest), then its doc tests");
        // A crate with no tests yet is not a failure.
        with_env(Cmd::new("cargo").args(["nextest", "run", "--workspace", "--no-tests=warn"]))
            .run()?;
        Cmd::new("cargo")
            .args(["test", "--workspace", "--doc"])
            .run()
    } else {
        heading(
            "test-native: the workspace's tests (cargo test; install cargo-nextest for nextest)",
        );
        with_env(Cmd::new("cargo").args(["test", "--workspace"])).run()
    }
}

/// The crates whose tests run as WebAssembly, in Node.js and in headless Chromium.
const WASM_TESTED: [&str; 2] = ["crates/core", "crates/wasm"];

pub fn test_wasm() -> Result<()> {
    for krate in WASM_TESTED {
        test_wasm_crate(krate)?;
    }
    Ok(())
}

fn test_wasm_crate(krate: &str) -> Result<()> {
    let rustflags = Config::load()?.rustflags();
    heading(&format!(
        "test-wasm: {krate}'s tests as WebAssembly in Node.js"
    ));
    Cmd::new("wasm-pack")
        .env("RUSTFLAGS", &rustflags)
        .args(["test", "--node", krate])
        .run()?;

    heading(&format!(
        "test-wasm: {krate}'s tests as WebAssembly in headless Chromium"
    ));
    // The driver is given explicitly so wasm-pack never downloads one. The test runner takes
    // Chromium's flags (no sandbox as root, no network chatter) from the file named here.
    let chromedriver =
        which("chromedriver").context("chromedriver is not on PATH: run `cargo xtask setup`")?;
    let webdriver_json = root().join("crates/xtask/webdriver.json");
    Cmd::new("wasm-pack")
        .env("RUSTFLAGS", &rustflags)
        .env("WASM_BINDGEN_TEST_WEBDRIVER_JSON", &webdriver_json)
        // Tests not configured for a browser would otherwise be skipped as Node-only.
        .env("WASM_BINDGEN_USE_BROWSER", "1")
        .args(["test", "--headless", "--chrome", "--chromedriver"])
        .arg(chromedriver)
        .arg(krate)
        .run()
}

pub fn test_js() -> Result<()> {
    pkg::build()?;
    heading("test-js: the datahub binary (tests/pkg/relay.test.mjs starts `datahub dev`)");
    Cmd::new("cargo")
        .args(["build", "-p", "datahub-cli"])
        .run()?;
    heading("test-js: node --test over tests/**/*.test.mjs");
    let mut files = Vec::new();
    find_js_tests(&root().join("tests"), &mut files)?;
    if files.is_empty() {
        println!("note: no tests/**/*.test.mjs yet, nothing to run");
        return Ok(());
    }
    files.sort();
    let tests = root().join("tests");
    let relative = files
        .iter()
        .map(|f| f.strip_prefix(&tests).unwrap_or(f).to_path_buf());
    Cmd::new("node")
        .arg("--test")
        .args(relative.collect::<Vec<_>>())
        .dir(tests)
        .run()
}

fn find_js_tests(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))?
    {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "node_modules") {
                find_js_tests(&path, found)?;
            }
        } else if path.to_string_lossy().ends_with(".test.mjs") {
            found.push(path);
        }
    }
    Ok(())
}

/// Runs every fuzz target (or those named in `only`) for `seconds` each. A target that fails
/// leaves its crashing input in `seeds/<target>/` (see [`keep_crashers`]); the others still run,
/// and the gate fails naming every failed target.
pub fn fuzz(seconds: u64, only: &[String]) -> Result<()> {
    let mut failed = Vec::new();
    let mut ran = 0;
    for dir in FUZZ_DIRS {
        ran += fuzz_dir(dir, seconds, only, &mut failed)?;
    }
    if ran == 0 && !only.is_empty() {
        anyhow::bail!("no fuzz target is named {}", only.join(" or "));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("fuzz targets failed: {}", failed.join(", "))
    }
}

/// Fuzzes the targets of `dir`; how many ran. Failed ones are added to `failed`.
fn fuzz_dir(dir: &str, seconds: u64, only: &[String], failed: &mut Vec<String>) -> Result<usize> {
    heading(&format!("fuzz: each fuzz target of {dir} for {seconds} s"));
    if !root().join(dir).join("Cargo.toml").is_file() {
        println!("note: {dir} does not exist yet, nothing to fuzz");
        return Ok(0);
    }
    // cargo-fuzz passes nightly-only flags (-Z sanitizer, ...) to rustc. RUSTC_BOOTSTRAP lets
    // the pinned stable toolchain accept them, so no nightly toolchain is needed.
    let cargo_fuzz = || Cmd::new("cargo").env("RUSTC_BOOTSTRAP", "1").arg("fuzz");
    let list = cargo_fuzz().args(["list", "--fuzz-dir", dir]).read()?;
    let targets: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| only.is_empty() || only.iter().any(|o| o == l))
        .collect();
    if targets.is_empty() {
        println!("note: {dir} has no fuzz targets to run");
    }
    for &target in &targets {
        // The working corpus grows in corpus/<target> (not committed); seeds/<target> holds
        // the committed starting inputs and every crasher ever found, which libFuzzer runs
        // first (and the crate's tests/fuzz_seeds.rs replays on every test run).
        let corpus = root().join(dir).join("corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("creating {}", corpus.display()))?;
        let seeds = root().join(dir).join("seeds").join(target);
        let dict = root().join(dir).join(format!("{target}.dict"));
        let mut run = cargo_fuzz().args(["run", "--fuzz-dir", dir, target]);
        run = run.arg(corpus.as_os_str());
        if seeds.is_dir() {
            run = run.arg(seeds.as_os_str());
        }
        run = run.arg("--");
        if dict.is_file() {
            run = run.arg(format!("-dict={}", dict.display()));
        }
        // An input that takes a minute is a hang worth keeping, not a slow machine.
        let result = run
            .arg("-timeout=60")
            .arg(format!("-max_total_time={seconds}"))
            .run();
        if let Err(err) = result {
            eprintln!("\nerror: fuzz target {target} failed: {err:#}");
            let kept = keep_crashers(dir, target)?;
            if kept.is_empty() {
                eprintln!("note: no crashing input was left in {dir}/artifacts/{target}");
            }
            for path in kept {
                eprintln!(
                    "kept {}: commit it; tests/fuzz_seeds.rs replays it until it passes",
                    path.strip_prefix(root()).unwrap_or(&path).display()
                );
            }
            failed.push(format!("{dir} {target}"));
        }
    }
    Ok(targets.len())
}

/// Moves the inputs libFuzzer left in `artifacts/<target>/` (crashes, leaks, out-of-memory
/// and timeouts, each named by its content's SHA-1) into `seeds/<target>/`, where the test
/// replays them and the next fuzz run starts from them; the paths kept.
fn keep_crashers(dir: &str, target: &str) -> Result<Vec<PathBuf>> {
    let artifacts = root().join(dir).join("artifacts").join(target);
    let seeds = root().join(dir).join("seeds").join(target);
    let mut kept = Vec::new();
    let Ok(entries) = std::fs::read_dir(&artifacts) else {
        return Ok(kept);
    };
    std::fs::create_dir_all(&seeds).with_context(|| format!("creating {}", seeds.display()))?;
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let is_failure = ["crash-", "leak-", "oom-", "timeout-"]
            .iter()
            .any(|p| name.starts_with(p));
        if !is_failure {
            continue;
        }
        let to = seeds.join(name);
        // Same name, same content: already kept.
        if to.exists() {
            std::fs::remove_file(&path)?;
            continue;
        }
        std::fs::rename(&path, &to)
            .with_context(|| format!("moving {} to {}", path.display(), to.display()))?;
        kept.push(to);
    }
    kept.sort();
    Ok(kept)
}
