//! `cargo xtask`: the project's build and check commands, in Rust so they run the same on every
//! machine. `cargo xtask dev` runs DataHub locally; `cargo xtask test` runs every gate.

mod bench;
mod cmd;
mod contracts;
mod faults;
mod gates;
mod pkg;
mod postgres;
mod report;
mod setup;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::cmd::{Cmd, heading};

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
    /// Install what is missing: wasm32 target, wasm-bindgen-cli, wasm-pack, cargo-fuzz,
    /// Chromium + chromedriver, tests/node_modules, contracts/node_modules
    Setup,
    /// Build pkg/ (the npm package) from crates/wasm as wasm-pack.toml says
    Pkg,
    /// Setup, build pkg/, then run `datahub dev` with the given arguments
    Dev {
        /// Passed to `datahub dev` (see `cargo run -p datahub-cli -- dev --help`)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Setup, then every gate in order, and a summary
    Test {
        /// How long each fuzz target runs
        #[arg(long, default_value_t = 20)]
        fuzz_seconds: u64,
    },
    /// Gate: cargo fmt --check
    Fmt,
    /// Gate: clippy with warnings denied, native and wasm32
    Clippy,
    /// Gate: cargo doc with warnings denied
    Doc,
    /// Gate: datahub-core builds for wasm32-unknown-unknown
    CoreWasm,
    /// Gate: the workspace's native tests
    TestNative,
    /// Gate: contracts/artifacts match the sources; the escrow's tests on anvil
    Contracts,
    /// Gate: datahub-core's tests as WebAssembly in Node.js and headless Chromium
    TestWasm,
    /// Gate: build pkg/, then node --test over tests/**/*.test.mjs
    TestJs,
    /// Run the benchmarks; write docs/performance.md and target/bench/results.json
    Bench {
        /// Shrink every run (debug builds for the native ones) to check the harness in minutes
        #[arg(long)]
        quick: bool,
    },
    /// Run the fault suite on real processes; write docs/reliability.md and target/bench/faults.json
    Faults {
        /// Only the cases whose name contains this (docs/reliability.md is then left as it is)
        #[arg(long)]
        case: Option<String>,
    },
    /// Gate: run each fuzz target (crates/core/fuzz, crates/relay/fuzz) for a while; keep
    /// crashers in `seeds/<target>/`
    Fuzz {
        /// How long each fuzz target runs
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Only this target (repeat for several), e.g. `--target api`
        #[arg(long = "target", value_name = "NAME")]
        targets: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup => setup::run(),
        Command::Pkg => pkg::build(),
        Command::Dev { args } => dev(&args),
        Command::Test { fuzz_seconds } => return test(fuzz_seconds),
        Command::Fmt => gates::fmt(),
        Command::Clippy => gates::clippy(),
        Command::Doc => gates::doc(),
        Command::CoreWasm => gates::core_wasm(),
        Command::TestNative => gates::test_native(),
        Command::Contracts => contracts::gate(),
        Command::TestWasm => gates::test_wasm(),
        Command::TestJs => gates::test_js(),
        Command::Fuzz { seconds, targets } => gates::fuzz(seconds, &targets),
        Command::Bench { quick } => bench::run(quick),
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

/// Runs setup, then every gate even after one fails, and prints what passed.
fn test(fuzz_seconds: u64) -> ExitCode {
    let started = Instant::now();
    if let Err(err) = setup::run() {
        eprintln!("\nerror: setup failed, so no gate ran: {err:#}");
        return ExitCode::FAILURE;
    }
    let setup_time = started.elapsed();
    let fuzz = move || gates::fuzz(fuzz_seconds, &[]);
    let all: [(&str, &dyn Fn() -> Result<()>); 9] = [
        ("fmt", &gates::fmt),
        ("clippy", &gates::clippy),
        ("doc", &gates::doc),
        ("core-wasm", &gates::core_wasm),
        ("test-native", &gates::test_native),
        ("contracts", &contracts::gate),
        ("test-wasm", &gates::test_wasm),
        ("test-js", &gates::test_js),
        ("fuzz", &fuzz),
    ];
    let mut results = Vec::new();
    for (name, gate) in all {
        let start = Instant::now();
        let result = gate();
        if let Err(err) = &result {
            eprintln!("\nerror: gate {name} failed: {err:#}");
        }
        results.push((name, result.is_ok(), start.elapsed()));
    }

    let row = |name: &str, verdict: &str, time: Duration| {
        println!("{name:<12} {verdict:<7} {:>9}", seconds(time));
    };
    println!("\n{:<12} {:<7} {:>9}", "gate", "result", "time");
    row("setup", "ok", setup_time);
    for (name, ok, time) in &results {
        row(name, if *ok { "ok" } else { "FAILED" }, *time);
    }
    row("total", "", started.elapsed());
    let failed = results.iter().filter(|(_, ok, _)| !ok).count();
    println!(
        "\ngates: {} passed, {failed} failed",
        results.len() - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn seconds(time: Duration) -> String {
    format!("{:.1} s", time.as_secs_f64())
}
