//! What the CLI's tests share, written once: the test network (`datahub dev` through
//! `datahub-testnet`, the harness the benches and the fault suite use too), `datahub` commands
//! run against it, and a plain GET.
// Each test file uses some of these.
#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use datahub_testnet::{Dev, DevBuilder, DevNode, alive, kill_pid};

/// The `datahub` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_datahub");

/// The checkout's `www/`, which holds the web app and the demo pictures.
pub fn www() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www")
}

/// `datahub dev --port 0 --nodes N --data DIR/net` in `dir`, with none of the developer's
/// `DATAHUB_*` settings: options, then `start()`.
pub fn new_dev(dir: &Path, nodes: u16) -> DevBuilder {
    Dev::builder(BIN, dir, nodes)
}

/// Runs `datahub ARGS` in `dir` (its spool there too), with none of the developer's settings,
/// `stdin` (if any) as its input.
pub fn datahub_with(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DATAHUB_RELAY")
        .env_remove("DATAHUB_IDENTITY")
        .env("DATAHUB_SPOOL", dir.join("spool"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// `datahub ARGS` with nothing on its input.
pub fn datahub(dir: &Path, args: &[&str]) -> Output {
    datahub_with(dir, args, None)
}

/// `datahub ARGS`, which must succeed; its standard output.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    ok_with(dir, args, None)
}

/// `datahub ARGS` fed `stdin`, which must succeed; its standard output.
pub fn ok_with(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = datahub_with(dir, args, stdin);
    assert!(
        out.status.success(),
        "datahub {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `datahub ARGS`, which must fail; its standard error.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let out = datahub(dir, args);
    assert!(!out.status.success(), "datahub {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

/// A GET on a thread of its own (the tests have no async runtime of their own): status,
/// content type, body.
pub fn get(url: &str) -> (u16, String, Vec<u8>) {
    let url = url.to_owned();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let response = reqwest::get(&url).await?;
                let status = response.status().as_u16();
                let kind = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                Ok::<_, reqwest::Error>((status, kind, response.bytes().await?.to_vec()))
            })
            .unwrap()
    })
    .join()
    .unwrap()
}

/// A GET's body as text.
pub fn get_text(url: &str) -> String {
    String::from_utf8(get(url).2).unwrap()
}
