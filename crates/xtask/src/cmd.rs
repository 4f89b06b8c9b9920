//! Running other programs: each one is echoed before it runs, from the repository root unless
//! told otherwise, and a failure names the command that failed.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The repository root. xtask is always built from the checkout it runs on (`cargo xtask` is
/// an alias for `cargo run -p xtask`), so its own manifest dir locates the root.
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// Whether we run unattended (CI=true or CI=1): then no child may wait on standard input.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A command to run, with the text that shows it to the reader.
pub struct Cmd {
    inner: Command,
    shown: String,
    dir: Option<PathBuf>,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let program = program.as_ref();
        let mut inner = Command::new(program);
        inner.current_dir(root());
        // `cargo xtask` is `cargo run`, which tells xtask about its own package in these. A
        // cargo run by us must not see them: ring's build script reruns when
        // CARGO_MANIFEST_DIR changes, so a build by hand and one through xtask rebuilt ring
        // and everything above it (rustls, reqwest, the relay, the node, the CLI) each time.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let from_cargo_run = key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_MANIFEST_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_BIN_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                ]
                .contains(&key.as_ref());
            if from_cargo_run {
                inner.env_remove(key.as_ref());
            }
        }
        if in_ci() {
            inner.stdin(Stdio::null());
        }
        Self {
            inner,
            shown: program.to_string_lossy().into_owned(),
            dir: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        let arg = arg.as_ref();
        let text = arg.to_string_lossy();
        if text.contains(' ') || text.is_empty() {
            let _ = write!(self.shown, " '{text}'");
        } else {
            let _ = write!(self.shown, " {text}");
        }
        self.inner.arg(arg);
        self
    }

    pub fn args<I>(self, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        args.into_iter().fold(self, Self::arg)
    }

    /// Sets a variable for the child and shows it before the command.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        let value = value.as_ref();
        self.shown = format!("{key}='{}' {}", value.to_string_lossy(), self.shown);
        self.inner.env(key, value);
        self
    }

    /// Runs in `dir` instead of the repository root.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        self.inner.current_dir(&dir);
        self.dir = Some(dir);
        self
    }

    /// The command as it is shown to the reader (and recorded next to benchmark figures).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    fn announce(&self) {
        match &self.dir {
            Some(dir) => {
                let shown = dir.strip_prefix(root()).unwrap_or(dir);
                println!("$ (cd {}) {}", shown.display(), self.shown);
            }
            None => println!("$ {}", self.shown),
        }
    }

    /// Runs the command, its output going to ours; fails unless it exits with 0.
    pub fn run(mut self) -> Result<()> {
        self.announce();
        let status = self
            .inner
            .status()
            .with_context(|| format!("could not start `{}`: is it installed?", self.shown))?;
        if !status.success() {
            bail!("`{}` failed ({status})", self.shown);
        }
        Ok(())
    }

    /// Like [`Cmd::run`], but a failure's error ends with the last lines the command wrote to
    /// standard error (which still reaches ours as it comes): for reports that must say why.
    pub fn run_explained(mut self) -> Result<()> {
        use std::io::BufRead as _;
        self.announce();
        let mut child = self
            .inner
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start `{}`: is it installed?", self.shown))?;
        // The last lines that mention an error, else the last lines: stack traces and
        // runtimes' footers come after the message.
        let (mut errors, mut last) = (Vec::new(), Vec::new());
        if let Some(stderr) = child.stderr.take() {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("{line}");
                if line.to_lowercase().contains("error") {
                    errors.push(line.trim().to_owned());
                }
                if !line.trim().is_empty() {
                    last.push(line.trim().to_owned());
                }
            }
        }
        let status = child.wait()?;
        if !status.success() {
            let said = if errors.is_empty() { last } else { errors };
            let from = said.len().saturating_sub(2);
            let said = said.get(from..).unwrap_or_default().join(" / ");
            bail!("`{}` failed ({status}): {said}", self.shown);
        }
        Ok(())
    }

    /// Runs the command quietly and returns its trimmed standard output, or `None` when it
    /// cannot start or fails: for asking a tool its version.
    pub fn probe(mut self) -> Option<String> {
        let out = self
            .inner
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Runs the command (echoed, its errors shown) and returns its standard output.
    pub fn read(mut self) -> Result<String> {
        self.announce();
        let out = self
            .inner
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("could not start `{}`: is it installed?", self.shown))?;
        if !out.status.success() {
            bail!("`{}` failed ({})", self.shown, out.status);
        }
        String::from_utf8(out.stdout).with_context(|| format!("`{}` printed non-UTF-8", self.shown))
    }

    /// Replaces this process with the command, so that Ctrl-C and the exit code are the
    /// child's own. Returns only if the command could not be started.
    pub fn exec(mut self) -> anyhow::Error {
        use std::os::unix::process::CommandExt as _;
        self.announce();
        let err = self.inner.exec();
        anyhow::Error::new(err).context(format!("could not start `{}`", self.shown))
    }
}

/// Finds `program` on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Prints a step heading, so a long log shows where each part begins.
pub fn heading(text: &str) {
    println!("\n==> {text}");
}

/// Free bytes on the filesystem that holds `path`, as `df` reports them; `None` where `df` is
/// missing or says something unexpected (the figure only ever informs a message).
pub fn disk_free(path: &Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(path).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let kib: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}
