//! Builds the checkout's `www/` (the host page and the demo pictures) and, once `cargo xtask pkg`
//! has built it, the web app's client (the `pkg/` folders the page loads) into the binary, so
//! that a `datahub dev` run outside the checkout (a `cargo install`ed binary) serves the whole
//! web app: writes `$OUT_DIR/www_files.rs` and `$OUT_DIR/pkg_files.rs`, each a list of
//! `(path, include_bytes!(…))`.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let out = std::env::var_os("OUT_DIR").map(PathBuf::from);
    let (Some(manifest), Some(out)) = (manifest, out) else {
        panic!("cargo sets CARGO_MANIFEST_DIR and OUT_DIR");
    };
    let www = manifest.join("../../www");
    // A directory: cargo looks at every file under it.
    println!("cargo:rerun-if-changed={}", www.display());
    let mut files = Vec::new();
    if www.is_dir() {
        collect(&www, &www, &mut files);
    }
    write_list(&out.join("www_files.rs"), "`www/`", &files);

    // Only the folders the page loads: the Node.js and bundler builds are the npm package's.
    // A path that does not exist would make cargo rerun this script, and rebuild the CLI, on
    // every build; `pkg/` itself is in the repository, so before `cargo xtask pkg` it is the
    // one watched, and the first build of the client is seen.
    let pkg = manifest.join("../../pkg");
    let mut files = Vec::new();
    for folder in PKG_FOLDERS {
        let dir = pkg.join(folder);
        if dir.is_dir() {
            println!("cargo:rerun-if-changed={}", dir.display());
            collect(&pkg, &dir, &mut files);
        } else {
            println!("cargo:rerun-if-changed={}", pkg.display());
        }
    }
    write_list(&out.join("pkg_files.rs"), "the built `pkg/`", &files);
}

/// What of `pkg/` the pages load: the mini-app's build (`www/main.js`), the library's web build
/// (the console, `www/console/`) and the seal worker.
const PKG_FOLDERS: [&str; 3] = ["app", "web", "worker"];

/// Writes `FILES`, the list of `(path, bytes)` to build in, sorted so the output is stable.
fn write_list(out: &Path, what: &str, files: &[(String, PathBuf)]) {
    let mut files = files.to_vec();
    files.sort();
    let mut code = format!("/// {what} as built into the binary: (path under it, bytes).\n");
    code.push_str("pub const FILES: &[(&str, &[u8])] = &[\n");
    for (relative, absolute) in &files {
        code.push_str(&format!(
            "    ({relative:?}, include_bytes!({:?})),\n",
            absolute.display().to_string()
        ));
    }
    code.push_str("];\n");
    if let Err(e) = std::fs::write(out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}

/// Every file under `dir`, by its `/`-separated path under `root`; hidden entries and
/// `node_modules` (test tooling, never served) left out.
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "node_modules" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let relative: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push((relative.join("/"), path));
        }
    }
}
