//! Builds the checkout's `www/` (the host page and the demo pictures) into the binary, so that
//! a `datahub dev` run outside the checkout (a `cargo install`ed binary) serves them too:
//! writes `$OUT_DIR/www_files.rs`, a list of `(path, include_bytes!(…))`.

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
    files.sort();
    let mut code = String::from("/// `www/` as built into the binary: (path under www/, bytes).\n");
    code.push_str("pub const FILES: &[(&str, &[u8])] = &[\n");
    for (relative, absolute) in &files {
        code.push_str(&format!(
            "    ({relative:?}, include_bytes!({:?})),\n",
            absolute.display().to_string()
        ));
    }
    code.push_str("];\n");
    if let Err(e) = std::fs::write(out.join("www_files.rs"), code) {
        panic!("cannot write www_files.rs: {e}");
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
