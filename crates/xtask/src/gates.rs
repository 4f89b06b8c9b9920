//! The gates: each one a check that `cargo xtask test` runs and a person can run alone, and
//! what each may take.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cmd::{Cmd, heading, root, which};
use crate::pkg::Config;

const WASM32: &str = "wasm32-unknown-unknown";

/// Where the fuzz targets live (each a cargo-fuzz project of its own): the core's parsers, and
/// the relay's JSON request bodies.
const FUZZ_DIRS: [&str; 2] = ["crates/core/fuzz", "crates/relay/fuzz"];

/// The projects the test command fuzzes (`fuzz --quick`): the core's, whose build is cheap. The
/// relay's builds the whole relay and node again with coverage instrumentation: 16 of the 27
/// minutes the quick gate took over both on the busy 2-core machine. Its seeds and crashers
/// still run on every test run (test-native's `tests/fuzz_seeds.rs`, through the same
/// `checks.rs`); `cargo xtask fuzz` fuzzes it.
const QUICK_FUZZ_DIRS: [&str; 1] = ["crates/core/fuzz"];

/// What each gate of `cargo xtask test` may take, in seconds, on the 2-core CI machine from a
/// clean clone with the tools installed. `cargo xtask test` fails a gate that takes more than
/// half as long again (see `report::GateRun`). Figures from the last landed run on a busy
/// machine (clippy 233 s, test-native 438, test-wasm 210, test-js 431), rounded up, or lowered
/// where this change removed work (see each comment). Together they must stay under CI's 30
/// minutes (a test below adds them up): raise one only with the measurement that justifies it,
/// and say where the time went.
pub const BUDGETS: [(&str, u64); 12] = [
    ("fmt", 15),
    // cargo metadata and the checks: 4-5 s measured.
    ("deny", 20),
    // wasm-pack's builds of crates/wasm (the library: web, bundler, node; and the mini-app)
    // and wasm-opt: was part of test-js's time until the CLI embedded pkg/web. Raised from 120
    // for the mini-app's own build (a second full-LTO link, a fourth wasm-opt, two twiggy
    // reports): 241 s measured with cargo's part cached, on a machine at load 7-9; not yet
    // measured on a quiet one. 122-135 s in fresh-clone runs, 170 s with another build beside
    // it; 175 is what the CI limit leaves once test-wasm gave back what it does not use.
    ("pkg", 175),
    ("clippy", 240),
    // 12.7 and 20.2 s in the last two fresh-clone runs.
    ("doc", 30),
    // Now the protocol crate too: 40.3 s in the fresh-clone run that added it (21.1 before).
    ("core-wasm", 45),
    // 514.7 s in the fresh-clone run that added the crowd of 300 honest contributors (99 s
    // alone), the attack suite, node earnings and the SIGKILL test on PostgreSQL (410 before);
    // 493 s in the last run; 543 s once compute nodes opened uploads through grants (the
    // real-process test with 3 compute nodes, about 10 s more) with another build beside it.
    ("test-native", 560),
    // After test-native the build is a no-op (2 s measured); then the generators and
    // contracts/build.mjs --check: 4.5-4.9 s measured.
    ("generated", 15),
    // 85-102 s in the last four fresh-clone runs.
    ("test-wasm", 150),
    // 247-306 s measured with pkg/'s build, which is now the `pkg` gate's; the WebKit and
    // Firefox tests (about 25 s with their network) are in it.
    ("test-js", 240),
    // solc-js compiling the contracts, then the tests against a real anvil chain: 10.4-12.0 s.
    ("contracts", 40),
    // The quick build of the core's fuzz project (no sanitizer, opt-level 1), before each target
    // runs for its seconds (added by `budget`). Not measured on a quiet machine yet: 10 minutes
    // on the busy one (load 15 on 2 cores), where the old gate's core build took 14.5.
    ("fuzz", FUZZ_QUICK_BUILD_SECONDS),
];

/// CI's limit for the whole of `cargo xtask test`, setup included.
#[cfg(test)]
const CI_LIMIT_SECONDS: u64 = 30 * 60;

/// The `fuzz` gate's budget before its targets run.
const FUZZ_QUICK_BUILD_SECONDS: u64 = 150;

/// How long each fuzz target runs in `cargo xtask test` (`--fuzz-seconds` changes it).
pub const FUZZ_QUICK_SECONDS: u64 = 5;

/// The budget of gate `name`, when it has one. The fuzz gate's grows with its targets' time.
pub fn budget(name: &str, fuzz_seconds: u64) -> Option<Duration> {
    let (_, seconds) = BUDGETS.iter().find(|(gate, _)| *gate == name)?;
    let mut seconds = *seconds;
    if name == "fuzz" {
        // Each target's run, and a few seconds for libFuzzer to start and cargo-fuzz to look.
        let targets = u64::try_from(fuzz_target_count()).unwrap_or(u64::MAX);
        seconds = seconds.saturating_add(targets.saturating_mul(fuzz_seconds.saturating_add(3)));
    }
    Some(Duration::from_secs(seconds))
}

/// How many fuzz targets the test command runs (a file each in `fuzz_targets/`).
fn fuzz_target_count() -> usize {
    QUICK_FUZZ_DIRS
        .iter()
        .filter_map(|dir| std::fs::read_dir(root().join(dir).join("fuzz_targets")).ok())
        .flat_map(|entries| entries.filter_map(Result::ok))
        .filter(|entry| entry.path().extension().is_some_and(|e| e == "rs"))
        .count()
}

pub fn fmt() -> Result<()> {
    heading("fmt: is the code formatted as rustfmt would?");
    Cmd::new("cargo").args(["fmt", "--all", "--check"]).run()
}

/// `cargo deny check` as deny.toml says: licences, banned and duplicate crates, sources.
pub fn deny() -> Result<()> {
    heading("deny: licences, banned and duplicate crates, and sources (deny.toml)");
    // Not `advisories`: its database is cloned from GitHub on every run, which CI cannot
    // reach. Run `cargo deny check advisories` by hand where the network allows.
    Cmd::new("cargo")
        .args(["deny", "--locked", "check", "licenses", "bans", "sources"])
        .run()
}

/// The generated files are what their generators make today: the test vectors, and the
/// contracts' artifacts. docs/openapi.json is not generated (it is written by hand and
/// `crates/relay/tests/openapi.rs`, in `test-native`, checks the router against it).
pub fn generated() -> Result<()> {
    heading("generated: test-vectors/sealed-object.json is what make_vectors writes");
    let sealed = regenerates_the_same(
        Cmd::new(workspace_test_build("make_vectors")?),
        &["test-vectors/sealed-object.json"],
    );
    heading("generated: test-vectors/eth-*.json are what make-eth-vectors.mjs writes");
    let eth = regenerates_the_same(
        Cmd::new("node")
            .arg("vectors/make-eth-vectors.mjs")
            .dir(root().join("tests")),
        &ETH_VECTORS,
    );
    // The contracts' own check compiles them with the pinned solc-js and compares with
    // contracts/artifacts/ (and says what differs).
    let contracts = if root().join("contracts/build.mjs").is_file() {
        heading("generated: contracts/artifacts/ are what contracts/build.mjs compiles");
        Cmd::new("node")
            .args(["contracts/build.mjs", "--check"])
            .run()
    } else {
        println!("note: no contracts/build.mjs yet, no contract artifacts to check");
        Ok(())
    };
    // All three run, so one stale file does not hide another.
    sealed.and(eth).and(contracts)
}

/// Builds the workspace's tests (and examples) as test-native does, so after it nothing is
/// compiled, and returns the path of the example named `example`. `cargo run -p datahub-core
/// --example …` would resolve features without the other crates' dev-dependencies: another
/// build of the core's dependencies, 8 minutes on a busy 2-core machine.
fn workspace_test_build(example: &str) -> Result<PathBuf> {
    #[derive(serde::Deserialize)]
    struct Message {
        reason: String,
        target: Option<Target>,
        executable: Option<PathBuf>,
    }
    #[derive(serde::Deserialize)]
    struct Target {
        name: String,
        kind: Vec<String>,
    }
    let out = Cmd::new("cargo")
        .args(["test", "--workspace", "--no-run"])
        .arg("--message-format=json-render-diagnostics")
        .read()?;
    out.lines()
        .filter_map(|line| serde_json::from_str::<Message>(line).ok())
        .filter(|m| m.reason == "compiler-artifact")
        .find_map(|m| {
            let target = m.target?;
            (target.name == example && target.kind.iter().any(|k| k == "example"))
                .then_some(m.executable)?
        })
        .with_context(|| format!("cargo test --no-run built no example named {example}"))
}

/// What tests/vectors/make-eth-vectors.mjs writes (its `out(...)` calls).
const ETH_VECTORS: [&str; 4] = [
    "test-vectors/eth-keys.json",
    "test-vectors/eth-personal-sign.json",
    "test-vectors/eth-typed-data.json",
    "test-vectors/eth-siwe.json",
];

/// Runs `generator`, which rewrites `files` (relative to the root) in place, and fails naming
/// every file it changed. The tree is left as it was: a changed file gets its old bytes back,
/// and the regenerated one is kept under target/generated/ to compare.
fn regenerates_the_same(generator: Cmd, files: &[&str]) -> Result<()> {
    let before = files
        .iter()
        .map(|file| {
            let path = root().join(file);
            let read = || -> std::io::Result<_> {
                Ok((std::fs::read(&path)?, std::fs::metadata(&path)?.modified()?))
            };
            read().with_context(|| format!("could not read {}", path.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let ran = generator.run();
    let mut changed = Vec::new();
    for (file, (old, modified)) in files.iter().zip(before) {
        let path = root().join(file);
        let new = std::fs::read(&path).unwrap_or_default();
        if new == old {
            // The tests include the vectors (include_str!): a file rewritten with the same
            // bytes but a new time would have cargo compile them again in the next gates.
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(modified))
                .with_context(|| format!("could not set the time of {}", path.display()))?;
            continue;
        }
        let kept = root().join("target/generated").join(file);
        if let Some(parent) = kept.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&kept, &new).with_context(|| format!("writing {}", kept.display()))?;
        std::fs::write(&path, &old).with_context(|| format!("restoring {}", path.display()))?;
        changed.push(format!(
            "{file} (regenerated: {})",
            kept.strip_prefix(root()).unwrap_or(&kept).display()
        ));
    }
    ran?;
    if !changed.is_empty() {
        bail!(
            "out of date, so the tests read stale vectors: {}; run the generator named in the \
             file's _comment and commit the result",
            changed.join(", ")
        );
    }
    println!("ok: {} up to date", files.join(", "));
    Ok(())
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
        .args([
            "-p",
            "datahub-core",
            "-p",
            "datahub-protocol",
            "-p",
            "datahub-wasm",
        ])
        .args(["--", "-D", "warnings"])
        .run();
    // The library as the npm package ships it, without the mini-app (the default feature): code
    // only the app used would otherwise be dead there, unseen.
    let library = Cmd::new("cargo")
        .env("RUSTFLAGS", Config::load()?.rustflags())
        .args([
            "clippy",
            "--target",
            WASM32,
            "--lib",
            "--no-default-features",
        ])
        .args(["-p", "datahub-wasm", "--", "-D", "warnings"])
        .run();
    // All run, so one failure does not hide the others' findings.
    native.and(wasm).and(library)
}

pub fn doc() -> Result<()> {
    heading("doc: the API docs build without a warning");
    // The examples too (the default is libraries and binaries): a build with an example in it
    // resolves features with the dev-dependencies, as clippy's `--all-targets` did, so the
    // dependencies clippy checked are used as they are. Without them 20 were checked again
    // (serde, serde_json, the k256 stack, axum, reqwest, …: cargo's unit graph says so).
    Cmd::new("cargo")
        .env("RUSTDOCFLAGS", "-D warnings")
        .args([
            "doc",
            "--workspace",
            "--no-deps",
            "--lib",
            "--bins",
            "--examples",
        ])
        .run()
}

pub fn core_wasm() -> Result<()> {
    heading("core-wasm: datahub-core and datahub-protocol build for wasm32-unknown-unknown");
    Cmd::new("cargo")
        .env("RUSTFLAGS", Config::load()?.rustflags())
        .args(["build", "-p", "datahub-core", "-p", "datahub-protocol"])
        .args(["--target", WASM32])
        .run()
}

pub fn test_native() -> Result<()> {
    // The relay's tests run on SQLite and, against this server, on PostgreSQL.
    let postgres = crate::postgres::Cluster::start()?;
    let url = postgres.url.clone();
    let ca = postgres.ca.clone();
    // The COCO export is loaded by pycocotools when setup made its venv.
    let coco = crate::setup::coco_python_path();
    let with_env = |cmd: Cmd| {
        let cmd = cmd
            .env("DATAHUB_TEST_POSTGRES", &url)
            .env("DATAHUB_TEST_POSTGRES_CA", &ca);
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
        // Every failure in one run (nextest stops at the first by default), named again at the
        // end from its JUnit report (.config/nextest.toml).
        let junit = root().join("target/nextest/default/junit.xml");
        let _ = std::fs::remove_file(&junit);
        let result = with_env(Cmd::new("cargo").args([
            "nextest",
            "run",
            "--workspace",
            "--no-fail-fast",
            "--no-tests=fail",
        ]))
        .run();
        if let Err(err) = result {
            let failed = std::fs::read_to_string(&junit)
                .map(|xml| failed_junit_tests(&xml))
                .unwrap_or_default();
            if failed.is_empty() {
                return Err(err);
            }
            bail!(
                "{} failed:\n{}",
                plural(failed.len(), "test"),
                failed.join("\n")
            );
        }
        every_crate_has_tests()?;
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

/// The failed test cases of a JUnit report (nextest's): `binary::test`, one per failure.
fn failed_junit_tests(xml: &str) -> Vec<String> {
    let attr = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let len = tag[start..].find('"')?;
        Some(tag[start..start + len].to_owned())
    };
    xml.split("<testcase ")
        .skip(1)
        .filter_map(|case| {
            // A case ends at its closing tag, or at the next case when it closes itself.
            let body = case.split("</testcase>").next().unwrap_or(case);
            let failed = body.contains("<failure") || body.contains("<error");
            let tag = &case[..case.find('>')?];
            failed.then(|| {
                let class = attr(tag, "classname").unwrap_or_default();
                let name = attr(tag, "name").unwrap_or_default();
                format!("{class} {name}")
            })
        })
        .collect()
}

/// Each workspace crate still has tests: nextest's `--no-tests=fail` fails only when the whole
/// run has none, so a crate whose tests all went missing would pass unnoticed.
fn every_crate_has_tests() -> Result<()> {
    let list = Cmd::new("cargo")
        .args(["nextest", "list", "--workspace", "--message-format", "json"])
        .read()?;
    let list: serde_json::Value =
        serde_json::from_str(&list).context("reading `cargo nextest list`'s JSON")?;
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let suites = list.get("rust-suites").and_then(|s| s.as_object());
    for suite in suites.into_iter().flat_map(|s| s.values()) {
        let package = suite.get("package-name").and_then(|p| p.as_str());
        let package = package.unwrap_or_default().to_owned();
        let cases = suite.get("testcases").and_then(|c| c.as_object());
        let cases = cases.map_or(0, |c| c.len());
        *counts.entry(package).or_default() += cases;
    }
    let metadata: serde_json::Value = serde_json::from_str(
        &Cmd::new("cargo")
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .read()?,
    )
    .context("reading `cargo metadata`")?;
    let empty: Vec<String> = metadata
        .get("packages")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("name").and_then(|n| n.as_str()))
        .filter(|name| counts.get(*name).copied().unwrap_or(0) == 0)
        .map(str::to_owned)
        .collect();
    if empty.is_empty() {
        Ok(())
    } else {
        bail!(
            "these workspace crates have no tests any more: {}",
            empty.join(", ")
        )
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

/// Over the `pkg/` built before (by the `pkg` gate, or `cargo xtask test-js`).
pub fn test_js() -> Result<()> {
    heading("test-js: the datahub binary (tests/pkg/relay.test.mjs starts `datahub dev`)");
    // The very build test-native made, so after it this compiles nothing. `cargo build -p
    // datahub-cli` resolves features without the workspace's dev-dependencies (serde,
    // serde_json, blake3, regex differ), so it compiled serde and everything above it again:
    // most of the workspace, 10 minutes and more on a busy 2-core machine.
    Cmd::new("cargo")
        .args(["test", "--workspace", "--no-run"])
        .run()?;
    heading("test-js: node --test over tests/**/*.test.mjs");
    let mut files = Vec::new();
    find_js_tests(&root().join("tests"), &mut files)?;
    // A gate that finds nothing to run would pass while proving nothing.
    if files.len() < MIN_JS_TEST_FILES {
        bail!(
            "found {} tests/**/*.test.mjs files, expected at least {MIN_JS_TEST_FILES}: were tests \
             moved or deleted? (lower MIN_JS_TEST_FILES in crates/xtask/src/gates.rs only on purpose)",
            files.len()
        );
    }
    files.sort();
    let tests = root().join("tests");
    let relative = files
        .iter()
        .map(|f| f.strip_prefix(&tests).unwrap_or(f).to_path_buf());
    // TAP on the terminal as before, and the same into a file, so that a failure can name its
    // tests at the end of the log instead of minutes of output earlier.
    let tap = root().join("target/test-js.tap");
    let result = Cmd::new("node")
        .arg("--test")
        .args(["--test-reporter=tap", "--test-reporter-destination=stdout"])
        .arg("--test-reporter=tap")
        .arg(format!("--test-reporter-destination={}", tap.display()))
        .args(relative.collect::<Vec<_>>())
        .dir(tests)
        .run();
    if let Err(err) = result {
        let failed = std::fs::read_to_string(&tap)
            .map(|text| failed_tap_tests(&text))
            .unwrap_or_default();
        if failed.is_empty() {
            return Err(err);
        }
        bail!(
            "{} failed:\n{}",
            plural(failed.len(), "test"),
            failed.join("\n")
        );
    }
    Ok(())
}

/// The fewest test files test-js accepts (there are 14).
const MIN_JS_TEST_FILES: usize = 10;

/// The failed tests of a TAP report (`node --test`'s): each `not ok` line, with the location
/// and error that follow it in its YAML block.
fn failed_tap_tests(tap: &str) -> Vec<String> {
    let mut failed = Vec::new();
    let mut lines = tap.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(name) = line.trim_start().strip_prefix("not ok ") else {
            continue;
        };
        // A subtest's failure is also its parent's: name the innermost only.
        let mut detail = Vec::new();
        while let Some(next) = lines.peek() {
            let next = next.trim();
            if next.starts_with("ok ")
                || next.starts_with("not ok ")
                || next.starts_with("# Subtest")
            {
                break;
            }
            if next.starts_with("location:") || next.starts_with("error:") {
                let block = next.ends_with('|') || next.ends_with("|-");
                detail.push(next.trim_end_matches(['|', '-']).trim_end().to_owned());
                lines.next();
                // A YAML block scalar: the message is on the next line.
                if let (Some(first), Some(last)) =
                    (lines.peek().filter(|_| block), detail.last_mut())
                {
                    last.push(' ');
                    last.push_str(first.trim());
                }
                continue;
            }
            lines.next();
        }
        if detail
            .iter()
            .any(|d| d.contains("subtest") && d.contains("failed"))
        {
            continue;
        }
        failed.push(format!("not ok {name} ({})", detail.join("; ")));
    }
    failed
}

/// `n thing` or `n things`.
fn plural(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
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

/// How a fuzz run builds its targets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FuzzBuild {
    /// cargo-fuzz's defaults: optimised with one codegen unit per crate and AddressSanitizer,
    /// in each project's own `target/`. Fast and thorough to run, slow to build (most of it the
    /// relay with every dependency, one codegen unit each): `cargo xtask fuzz`.
    Thorough,
    /// The test command's smoke run: no sanitizer (the code is `forbid(unsafe_code)`, and the C
    /// in the dependencies is not instrumented by it anyway), the dev profile at opt-level 1
    /// (many codegen units, not cargo-fuzz's one), no debug info but line tables, its own
    /// target directory; only [`QUICK_FUZZ_DIRS`]. It proves those targets build and run; the
    /// seeds of every target are replayed by `test-native`.
    Quick,
}

impl FuzzBuild {
    /// `cargo fuzz <subcommand> --fuzz-dir <dir>` with the options that select this build.
    fn cargo_fuzz(self, subcommand: &str, dir: &str) -> Cmd {
        // cargo-fuzz passes nightly-only flags (-Z sanitizer, ...) to rustc. RUSTC_BOOTSTRAP
        // lets the pinned stable toolchain accept them, so no nightly toolchain is needed.
        let cmd = Cmd::new("cargo").env("RUSTC_BOOTSTRAP", "1");
        let cmd = match self {
            Self::Thorough => cmd,
            // Full debug info of every dependency is most of a dev build's output;
            // line tables are enough for a crasher's backtrace. Opt-level 1: at 0 the crypto
            // ran at 30-40 inputs a second and open_tampered got through 2 inputs in 5 s.
            Self::Quick => cmd
                .env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only")
                .env("CARGO_PROFILE_DEV_OPT_LEVEL", "1"),
        };
        let cmd = cmd.args(["fuzz", subcommand, "--fuzz-dir", dir]);
        match self {
            Self::Thorough => cmd,
            Self::Quick => cmd
                .args(["--dev", "--sanitizer", "none", "--target-dir"])
                .arg(root().join("target/fuzz-quick")),
        }
    }
}

/// The test command's fuzz gate: every target, built the quick way, for `seconds` each.
pub fn fuzz_quick(seconds: u64) -> Result<()> {
    fuzz(FuzzBuild::Quick, seconds, &[])
}

/// Runs every fuzz target (or those named in `only`) for `seconds` each. A target that fails
/// leaves its crashing input in `seeds/<target>/` (see [`keep_crashers`]); the others still run,
/// and the gate fails naming every failed target.
pub fn fuzz(build: FuzzBuild, seconds: u64, only: &[String]) -> Result<()> {
    if seconds == 0 {
        // libFuzzer reads -max_total_time=0 as "no limit".
        bail!("a fuzz run needs at least 1 second per target");
    }
    let mut failed = Vec::new();
    let mut ran = 0;
    let dirs: &[&str] = match build {
        FuzzBuild::Thorough => &FUZZ_DIRS,
        FuzzBuild::Quick => &QUICK_FUZZ_DIRS,
    };
    for &dir in dirs {
        ran += fuzz_dir(dir, build, seconds, only, &mut failed)?;
    }
    if ran == 0 && !only.is_empty() {
        bail!("no fuzz target is named {}", only.join(" or "));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("fuzz targets failed: {}", failed.join(", "))
    }
}

/// Fuzzes the targets of `dir`; how many ran. Failed ones are added to `failed`.
fn fuzz_dir(
    dir: &str,
    build: FuzzBuild,
    seconds: u64,
    only: &[String],
    failed: &mut Vec<String>,
) -> Result<usize> {
    heading(&format!("fuzz: each fuzz target of {dir} for {seconds} s"));
    if !root().join(dir).join("Cargo.toml").is_file() {
        bail!("{dir}/Cargo.toml is missing: the fuzz project was moved or deleted");
    }
    let list = FuzzBuild::Thorough.cargo_fuzz("list", dir).read()?;
    let targets: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| only.is_empty() || only.iter().any(|o| o == l))
        .collect();
    if targets.is_empty() {
        if only.is_empty() {
            // Targets that vanish would leave a gate that passes having fuzzed nothing.
            bail!("{dir} has no fuzz targets (`cargo fuzz list` printed none)");
        }
        return Ok(0);
    }
    // One cargo build for all of them: the binaries link in parallel, and a build error is
    // said once, not once per target. `cargo fuzz run` below finds them built.
    let mut build_cmd = build.cargo_fuzz("build", dir);
    if let [target] = targets.as_slice() {
        build_cmd = build_cmd.arg(target);
    }
    if let Err(err) = build_cmd.run() {
        eprintln!("\nerror: the fuzz targets of {dir} do not build: {err:#}");
        failed.push(format!("{dir} (build)"));
        return Ok(targets.len());
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
        let mut run = build.cargo_fuzz("run", dir).arg(target);
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

#[cfg(test)]
mod tests {
    use super::{
        BUDGETS, CI_LIMIT_SECONDS, FUZZ_QUICK_SECONDS, budget, failed_junit_tests,
        failed_tap_tests, fuzz_target_count,
    };

    /// A budget raised past what CI allows would let a run time out instead of failing with
    /// the name of the gate that grew.
    #[test]
    fn the_budgets_fit_in_ci_limit_with_a_minute_for_setup() {
        let total: u64 = BUDGETS
            .iter()
            .filter_map(|(name, _)| budget(name, FUZZ_QUICK_SECONDS))
            .map(|b| b.as_secs())
            .sum();
        assert!(
            total + 60 <= CI_LIMIT_SECONDS,
            "the budgets add up to {total} s"
        );
    }

    #[test]
    fn the_fuzz_budget_grows_with_its_seconds() {
        let short = budget("fuzz", 5).map(|b| b.as_secs());
        let long = budget("fuzz", 15).map(|b| b.as_secs());
        let targets = u64::try_from(fuzz_target_count()).unwrap_or(0);
        assert!(targets > 0);
        assert!(short.zip(long).is_some_and(|(s, l)| l - s == 10 * targets));
    }

    #[test]
    fn a_tap_report_names_each_failed_test_not_its_parents() {
        let tap = "TAP version 13\n\
            # Subtest: desktop\n\
            not ok 75 - desktop\n  ---\n  duration_ms: 1\n  location: 'app.test.mjs:327:1'\n  \
            failureType: 'testCodeFailure'\n  error: 'page.waitForFunction: Timeout 60000ms exceeded.'\n  ...\n\
            # Subtest: phone\n\
            ok 76 - phone\n\
            # Subtest: group\n    # Subtest: inner\n    not ok 1 - inner\n      ---\n      \
            error: |-\n        Expected values to be strictly equal\n      ...\n    1..1\n\
            not ok 77 - group\n  ---\n  error: '1 subtest failed'\n  ...\n";
        assert_eq!(
            failed_tap_tests(tap),
            [
                "not ok 75 - desktop (location: 'app.test.mjs:327:1'; error: 'page.waitForFunction: Timeout 60000ms exceeded.')",
                "not ok 1 - inner (error: Expected values to be strictly equal)",
            ]
        );
        assert!(failed_tap_tests("ok 1 - fine\n1..1\n").is_empty());
    }

    #[test]
    fn a_junit_report_names_each_failed_case() {
        let xml = r#"<testsuites><testsuite name="datahub-node::process">
            <testcase name="capacity" classname="datahub-node::process" time="1.0"><failure type="test failure">boom</failure></testcase>
            <testcase name="fine" classname="datahub-node::process" time="0.1"/>
            <testcase name="hangs" classname="datahub-relay::api" time="9"><error message="timeout"/></testcase>
            </testsuite></testsuites>"#;
        assert_eq!(
            failed_junit_tests(xml),
            ["datahub-node::process capacity", "datahub-relay::api hangs"]
        );
    }
}
