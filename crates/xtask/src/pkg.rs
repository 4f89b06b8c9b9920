//! `cargo xtask pkg`: builds pkg/ from crates/wasm as wasm-pack.toml says.
//!
//! wasm-pack does not read wasm-pack.toml; this module does, and turns it into `wasm-pack
//! build` runs (one per target, never optimising, so wasm-pack downloads nothing) followed by
//! the wasm-opt of the npm package binaryen installed in tests/. Two builds come from the one
//! crate: the library (the npm package's targets) and the mini-app (the `app` feature, for the
//! page); the gate weighs both and writes a twiggy report of each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::cmd::{Cmd, heading, root, which};

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
    app: App,
    max_gzip_kib: MaxGzip,
    wasm_opt: WasmOpt,
}

/// `[app]`: the mini-app's build.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct App {
    target: String,
    dir: String,
    features: Vec<String>,
    /// Files of the crate copied into the folder.
    copy: Vec<PathBuf>,
}

/// `[max-gzip-kib]`: the size gate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaxGzip {
    library: u64,
    app: u64,
}

/// One `wasm-pack build`: a target, the folder under out-dir, the features.
struct Build<'a> {
    target: &'a str,
    dir: &'a str,
    features: &'a [String],
    /// Files of the crate copied into the folder.
    copy: &'a [PathBuf],
    /// The mini-app's build (else one of the library's).
    app: bool,
}

/// What a build weighs: its folder, its .wasm raw and gzipped, and the most it may weigh.
pub struct Weight {
    dir: String,
    raw: u64,
    gzip: u64,
    max_gzip: u64,
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

    /// Every build: the library's targets, then the mini-app.
    fn builds(&self) -> Vec<Build<'_>> {
        let mut builds: Vec<Build<'_>> = self
            .targets
            .iter()
            .map(|(target, dir)| Build {
                target,
                dir,
                features: &self.features,
                copy: &[],
                app: false,
            })
            .collect();
        builds.push(Build {
            target: &self.app.target,
            dir: &self.app.dir,
            features: &self.app.features,
            copy: &self.app.copy,
            app: true,
        });
        builds
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

/// The gate: builds pkg/, then fails if a build weighs more than wasm-pack.toml allows.
pub fn gate() -> Result<()> {
    let weights = build()?;
    let over: Vec<String> = weights
        .iter()
        .filter(|w| w.gzip > w.max_gzip * 1024)
        .map(|w| {
            format!(
                "{}/ is {} KiB gzipped, over its {} KiB (target/twiggy/ says what is in it)",
                w.dir,
                kib(w.gzip),
                w.max_gzip
            )
        })
        .collect();
    if !over.is_empty() {
        bail!(
            "the client grew past wasm-pack.toml's [max-gzip-kib]:\n{}",
            over.join("\n")
        );
    }
    Ok(())
}

/// Builds every target of wasm-pack.toml into pkg/, optimises it, writes a twiggy report of
/// the library (its web build) and of the mini-app to target/twiggy/, and prints what each
/// build weighs.
pub fn build() -> Result<Vec<Weight>> {
    let config = Config::load()?;
    let builds = config.builds();
    heading(&format!(
        "pkg: building {} into {}/ for {}",
        config.krate.display(),
        config.out_dir.display(),
        builds
            .iter()
            .map(|b| format!("{} ({})", b.target, b.dir))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    check_package_version(&config)?;
    let wasm_opt = root().join("tests/node_modules/.bin/wasm-opt");
    if !wasm_opt.is_file() {
        bail!("{} is missing: run `cargo xtask setup`", wasm_opt.display());
    }
    let twiggy = which("twiggy").context("twiggy is not on PATH: run `cargo xtask setup`")?;
    let reports = root().join("target/twiggy");
    std::fs::create_dir_all(&reports)
        .with_context(|| format!("could not make {}", reports.display()))?;
    let rustflags = config.rustflags();
    let mut weights = Vec::new();
    for build in &builds {
        let (target, dir) = (build.target, build.dir);
        let out = root().join(&config.out_dir).join(dir);
        if out.exists() {
            std::fs::remove_dir_all(&out)
                .with_context(|| format!("could not clear {}", out.display()))?;
        }
        let mut cmd = Cmd::new("wasm-pack")
            .env("RUSTFLAGS", &rustflags)
            .arg("build")
            .arg(&config.krate)
            .args(["--target", target, "--out-dir"])
            .arg(&out)
            // pkg/package.json is the one package description; no per-target copies.
            .args(["--no-opt", "--no-pack", "--no-gitignore"])
            .args(config.profile_args())
            // The crate's default feature is the mini-app: each build names what it wants.
            .args(["--", "--no-default-features"]);
        if !build.features.is_empty() {
            cmd = cmd.args(["--features", &build.features.join(",")]);
        }
        cmd.run().with_context(|| {
            format!("wasm-pack could not build the {target} target into {dir}/")
        })?;
        for wasm in files_with_extension(&out, "wasm")? {
            // One report per build kind: the library's builds differ only in their glue.
            let report = (build.app || target == "web")
                .then(|| (twiggy.as_path(), reports.join(format!("{dir}.txt"))));
            optimize(&wasm_opt, &config.wasm_opt, &wasm, report)?;
            let raw = size(&wasm)?;
            let gzip = gzip_size(&wasm)?;
            weights.push(Weight {
                dir: dir.to_owned(),
                raw,
                gzip,
                max_gzip: if build.app {
                    config.max_gzip_kib.app
                } else {
                    config.max_gzip_kib.library
                },
            });
        }
        for file in build.copy {
            let from = root().join(&config.krate).join(file);
            let name = file.file_name().context("a file to copy has no name")?;
            std::fs::copy(&from, out.join(name))
                .with_context(|| format!("could not copy {} into {dir}/", from.display()))?;
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
    println!("| build | .wasm | gzip | at most (gzip) |\n|---|---:|---:|---:|");
    for w in &weights {
        println!(
            "| {}/ | {} KiB | {} KiB | {} KiB |",
            w.dir,
            kib(w.raw),
            kib(w.gzip),
            w.max_gzip
        );
    }
    println!("pkg: what is in each build: target/twiggy/{{web,app}}.txt (twiggy top)");
    Ok(weights)
}

/// Bytes in KiB, one decimal.
fn kib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1024.0)
}

/// The size of `path` gzipped at level 6, the level servers commonly send at.
fn gzip_size(path: &Path) -> Result<u64> {
    use std::io::Write as _;
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    encoder.write_all(&bytes)?;
    Ok(u64::try_from(encoder.finish()?.len()).unwrap_or(u64::MAX))
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

/// Optimises `wasm` in place. With a `report` to write, the optimised module keeps its function
/// names (`-g`) until twiggy has written it; then they are stripped, which changes no code.
fn optimize(
    wasm_opt: &Path,
    opt: &WasmOpt,
    wasm: &Path,
    report: Option<(&Path, PathBuf)>,
) -> Result<()> {
    let before = size(wasm)?;
    let optimised = wasm.with_extension("opt.wasm");
    let mut cmd = Cmd::new(wasm_opt).arg(&opt.level).args(&opt.flags);
    if report.is_some() {
        cmd = cmd.arg("-g");
    }
    cmd.arg(wasm).arg("-o").arg(&optimised).run().context(
        "wasm-opt failed: do the [wasm-opt] flags in wasm-pack.toml cover what rustc emits?",
    )?;
    match report {
        Some((twiggy, report)) => {
            Cmd::new(twiggy)
                .args(["top", "-n", "40", "-o"])
                .arg(&report)
                .arg(&optimised)
                .run()
                .context("twiggy could not read the optimised module")?;
            Cmd::new(wasm_opt)
                .args(&opt.flags)
                .arg("--strip-debug")
                .arg(&optimised)
                .arg("-o")
                .arg(wasm)
                .run()
                .context("wasm-opt could not strip the names")?;
            std::fs::remove_file(&optimised)
                .with_context(|| format!("could not remove {}", optimised.display()))?;
        }
        None => std::fs::rename(&optimised, wasm)
            .with_context(|| format!("could not replace {}", wasm.display()))?,
    }
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

    /// The library is built without the mini-app, the app build with it, each into a folder of
    /// its own: an integrator's download must not carry the app.
    #[test]
    fn the_library_and_the_mini_app_are_separate_builds() -> anyhow::Result<()> {
        let config = Config::load()?;
        let builds = config.builds();
        let (app, library): (Vec<_>, Vec<_>) = builds.iter().partition(|b| b.app);
        assert_eq!(app.len(), 1);
        assert!(app.iter().all(|b| b.features.iter().any(|f| f == "app")));
        assert!(!library.is_empty());
        assert!(
            library
                .iter()
                .all(|b| !b.features.iter().any(|f| f == "app"))
        );
        let dirs: BTreeSet<&str> = builds.iter().map(|b| b.dir).collect();
        assert_eq!(dirs.len(), builds.len(), "two builds share a folder");
        assert!(config.max_gzip_kib.library <= config.max_gzip_kib.app);
        Ok(())
    }

    const HAND_WRITTEN: [&str; 1] = ["worker"];

    /// pkg/package.json's exports and files name exactly the folders wasm-pack.toml builds,
    /// besides the hand-written ones.
    #[test]
    fn package_json_points_at_the_built_folders() -> anyhow::Result<()> {
        let config = Config::load()?;
        let built: BTreeSet<&str> = config.builds().iter().map(|b| b.dir).collect();
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
