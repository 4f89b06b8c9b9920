//! `cargo xtask pkg`: builds pkg/ from crates/wasm as wasm-pack.toml says.
//!
//! wasm-pack does not read wasm-pack.toml; this module does, and turns it into `wasm-pack
//! build` runs (one per target, never optimising, so wasm-pack downloads nothing) followed by
//! the wasm-opt of the npm package binaryen installed in tests/.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::cmd::{Cmd, heading, root};

/// wasm-pack.toml. Its comments say what each key means.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    #[serde(rename = "crate")]
    krate: PathBuf,
    out_dir: PathBuf,
    profile: String,
    features: Vec<String>,
    target_features: Vec<String>,
    targets: BTreeMap<String, String>,
    wasm_opt: WasmOpt,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WasmOpt {
    level: String,
    flags: Vec<String>,
}

impl Config {
    pub fn load() -> Result<Self> {
        let path = root().join("wasm-pack.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }

    /// RUSTFLAGS for every wasm32 build: the caller's own RUSTFLAGS plus the target features.
    pub fn rustflags(&self) -> String {
        let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
        for feature in &self.target_features {
            if !flags.is_empty() {
                flags.push(' ');
            }
            flags.push_str("-C target-feature=+");
            flags.push_str(feature);
        }
        flags
    }

    /// The wasm-pack flag selecting the cargo profile.
    fn profile_args(&self) -> Vec<&str> {
        match self.profile.as_str() {
            "release" => vec!["--release"],
            "dev" => vec!["--dev"],
            "profiling" => vec!["--profiling"],
            other => vec!["--profile", other],
        }
    }
}

/// Builds every target of wasm-pack.toml into pkg/ and optimises it.
pub fn build() -> Result<()> {
    let config = Config::load()?;
    heading(&format!(
        "pkg: building {} into {}/ for {}",
        config.krate.display(),
        config.out_dir.display(),
        config
            .targets
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    check_package_version(&config)?;
    let wasm_opt = root().join("tests/node_modules/.bin/wasm-opt");
    if !wasm_opt.is_file() {
        bail!("{} is missing: run `cargo xtask setup`", wasm_opt.display());
    }
    let rustflags = config.rustflags();
    for (target, dir) in &config.targets {
        let out = root().join(&config.out_dir).join(dir);
        if out.exists() {
            std::fs::remove_dir_all(&out)
                .with_context(|| format!("could not clear {}", out.display()))?;
        }
        let mut cmd = Cmd::new("wasm-pack")
            .env("RUSTFLAGS", &rustflags)
            .arg("build")
            .arg(&config.krate)
            .args(["--target", target.as_str(), "--out-dir"])
            .arg(&out)
            // pkg/package.json is the one package description; no per-target copies.
            .args(["--no-opt", "--no-pack", "--no-gitignore"])
            .args(config.profile_args());
        if !config.features.is_empty() {
            cmd = cmd.args(["--", "--features", &config.features.join(",")]);
        }
        cmd.run()
            .with_context(|| format!("wasm-pack could not build the {target} target"))?;
        for wasm in files_with_extension(&out, "wasm")? {
            optimize(&wasm_opt, &config.wasm_opt, &wasm)?;
        }
        if target == "nodejs" {
            // The nodejs build is CommonJS, inside a package that is "type": "module".
            let marker = out.join("package.json");
            std::fs::write(&marker, "{ \"type\": \"commonjs\" }\n")
                .with_context(|| format!("could not write {}", marker.display()))?;
            // Its JS snippets (crates/wasm/js) are ES modules, which Node.js 20.19+ require()s.
            let snippets = out.join("snippets");
            if snippets.is_dir() {
                let marker = snippets.join("package.json");
                std::fs::write(&marker, "{ \"type\": \"module\" }\n")
                    .with_context(|| format!("could not write {}", marker.display()))?;
            }
        }
    }
    println!("pkg: built {}/", config.out_dir.display());
    Ok(())
}

/// pkg/package.json is hand-written; its version must follow the workspace's (which xtask
/// shares, hence CARGO_PKG_VERSION).
fn check_package_version(config: &Config) -> Result<()> {
    let path = root().join(&config.out_dir).join("package.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let version = json
        .get("version")
        .and_then(|v| v.as_str())
        .unwrap_or("(none)");
    let crate_version = env!("CARGO_PKG_VERSION");
    if version != crate_version {
        bail!(
            "{} has version {version} but the crates are {crate_version}: make them agree",
            path.display()
        );
    }
    Ok(())
}

fn optimize(wasm_opt: &Path, opt: &WasmOpt, wasm: &Path) -> Result<()> {
    let before = size(wasm)?;
    let tmp = wasm.with_extension("opt.wasm");
    Cmd::new(wasm_opt)
        .arg(&opt.level)
        .args(&opt.flags)
        .arg(wasm)
        .arg("-o")
        .arg(&tmp)
        .run()
        .context(
            "wasm-opt failed: do the [wasm-opt] flags in wasm-pack.toml cover what rustc emits?",
        )?;
    std::fs::rename(&tmp, wasm).with_context(|| format!("could not replace {}", wasm.display()))?;
    println!(
        "wasm-opt: {} {before} → {} bytes",
        wasm.display(),
        size(wasm)?
    );
    Ok(())
}

fn size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("no {}", path.display()))?
        .len())
}

fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == ext) {
            found.push(path);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::Config;
    use crate::cmd::root;
    use std::collections::BTreeSet;

    #[test]
    fn wasm_pack_toml_is_valid_and_asks_for_simd() -> anyhow::Result<()> {
        let config = Config::load()?;
        assert!(config.rustflags().contains("-C target-feature=+simd128"));
        assert!(config.wasm_opt.flags.iter().any(|f| f == "--enable-simd"));
        Ok(())
    }

    const HAND_WRITTEN: [&str; 1] = ["worker"];

    /// pkg/package.json's exports and files name exactly the folders wasm-pack.toml builds,
    /// besides the hand-written ones.
    #[test]
    fn package_json_points_at_the_built_folders() -> anyhow::Result<()> {
        let config = Config::load()?;
        let built: BTreeSet<&str> = config.targets.values().map(String::as_str).collect();
        let text = std::fs::read_to_string(root().join(&config.out_dir).join("package.json"))?;
        let json: serde_json::Value = serde_json::from_str(&text)?;

        let mut named = BTreeSet::new();
        let mut strings: Vec<_> = ["exports", "files"]
            .iter()
            .filter_map(|k| json.get(k))
            .collect();
        while let Some(value) = strings.pop() {
            match value {
                serde_json::Value::String(path) => {
                    let path = path.trim_start_matches("./");
                    if let Some((dir, _)) = path.split_once('/').filter(|(d, _)| *d != "*") {
                        named.insert(dir.to_owned());
                    }
                }
                serde_json::Value::Array(items) => strings.extend(items),
                serde_json::Value::Object(map) => strings.extend(map.values()),
                _ => {}
            }
        }
        // Hand-written folders of pkg/ (the Web Worker entry) are not built.
        let named: BTreeSet<&str> = named
            .iter()
            .map(String::as_str)
            .filter(|dir| !HAND_WRITTEN.contains(dir))
            .collect();
        assert_eq!(named, built);
        Ok(())
    }
}
