//! `cargo xtask contracts`: the Solidity side. The committed artifacts must be exactly what the
//! pinned solc-js makes of the sources, and the escrow's tests must pass on a real chain (anvil).
//! See contracts/README.md.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::cmd::{Cmd, heading, root};

/// The gate: `node contracts/build.mjs --check`, then `node --test` over contracts/test/*.test.mjs.
pub fn gate() -> Result<()> {
    heading("contracts: contracts/artifacts/ is what the pinned solc-js compiles the sources to");
    Cmd::new("node")
        .args(["contracts/build.mjs", "--check"])
        .run()?;

    heading("contracts: the escrow's tests on anvil");
    let anvil = anvil()?;
    let dir = root().join("contracts");
    let mut tests = Vec::new();
    let test_dir = dir.join("test");
    for entry in std::fs::read_dir(&test_dir)
        .with_context(|| format!("could not list {}", test_dir.display()))?
    {
        let path = entry?.path();
        if path.to_string_lossy().ends_with(".test.mjs") {
            tests.push(path.strip_prefix(&dir).unwrap_or(&path).to_path_buf());
        }
    }
    if tests.is_empty() {
        bail!("contracts/test/ holds no *.test.mjs: the escrow would go untested");
    }
    tests.sort();
    Cmd::new("node")
        .env("DATAHUB_ANVIL", &anvil)
        .arg("--test")
        .args(tests)
        .dir(dir)
        .run()
}

/// The anvil binary for tests and `datahub dev`: `$DATAHUB_ANVIL` when set, else the one npm
/// installed from `@foundry-rs/anvil-linux-amd64` (pinned in contracts/package-lock.json).
pub fn anvil() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("DATAHUB_ANVIL").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!(
                "DATAHUB_ANVIL is {}, which is not a file: unset it or point it at an anvil binary",
                path.display()
            );
        }
        return Ok(path);
    }
    let path = root().join("contracts/node_modules/.bin/anvil");
    if !path.is_file() {
        bail!(
            "{} is missing: run `cargo xtask setup` (npm ci in contracts/) or set DATAHUB_ANVIL",
            path.display()
        );
    }
    Ok(path)
}
