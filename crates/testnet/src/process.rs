//! Child processes that cannot outlive their owner, and their output read as it comes.

use std::io::{self, BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A child process, killed (SIGKILL) and reaped when dropped: a test or case that fails half-way
/// leaves no relay or node running.
#[derive(Debug)]
pub struct Process {
    child: Child,
}

impl Process {
    /// Starts `command` as it is set up (arguments, folder, standard streams).
    pub fn spawn(mut command: Command) -> io::Result<Self> {
        let child = command.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "could not start {}: {e}",
                    command.get_program().to_string_lossy()
                ),
            )
        })?;
        Ok(Self { child })
    }

    /// Its pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child itself, for its standard streams.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// SIGKILL, then reaped; nothing if it had exited already.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Waits for it to exit.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait()
    }

    /// SIGTERM, then waits up to `within` for it to exit: its status, or `None` if it still
    /// runs (the caller decides whether to kill it).
    pub fn terminate(&mut self, within: Duration) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(Some(status));
        }
        signal(self.id(), rustix::process::Signal::TERM)?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A process's standard output, line by line, read on a thread of its own. The thread reads to
/// the end even when nobody listens any more, so the process never blocks on a full pipe.
#[derive(Debug)]
pub struct Lines {
    lines: Receiver<String>,
}

impl Lines {
    /// Starts reading `stdout`.
    pub fn read(stdout: ChildStdout) -> Self {
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Nobody listening: keep draining all the same.
                let _ = tx.send(line);
            }
        });
        Self { lines }
    }

    /// The next line, waiting up to `within`; `None` if none came by then or the output ended.
    pub fn next_within(&self, within: Duration) -> Option<String> {
        self.lines.recv_timeout(within).ok()
    }

    /// Reads until a line starts with `prefix`, pushing every line read on `seen`; that line,
    /// or an error saying whether time ran out or the output ended.
    pub fn wait_for(
        &self,
        prefix: &str,
        within: Duration,
        seen: &mut Vec<String>,
    ) -> io::Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return Ok(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no line starting {prefix:?} within {within:?}"),
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the output ended before a line starting {prefix:?}"),
                    ));
                }
            }
        }
    }

    /// Every line still to come, until the output ends or `quiet` passes without one.
    pub fn rest(&self, quiet: Duration) -> Vec<String> {
        std::iter::from_fn(|| self.lines.recv_timeout(quiet).ok()).collect()
    }
}

/// Starts `command` with no standard input, its standard error appended to the file `log` (made
/// new) and its standard output read by [`Lines`]; then waits up to `within` for its first line,
/// which servers print once they listen. The process, its first line and the lines after.
pub fn start_logged(
    mut command: Command,
    log: &Path,
    within: Duration,
) -> io::Result<(Process, String, Lines)> {
    let log_file = std::fs::File::create(log).map_err(|e| {
        io::Error::new(e.kind(), format!("creating the log {}: {e}", log.display()))
    })?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file);
    let shown = format!(
        "{} {}",
        command.get_program().to_string_lossy(),
        command
            .get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut process = Process::spawn(command)?;
    let stdout = process
        .child_mut()
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("the child has no standard output"))?;
    let lines = Lines::read(stdout);
    let first = lines.next_within(within).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "`{shown}` printed nothing within {within:?}; see {}",
                log.display()
            ),
        )
    })?;
    Ok((process, first, lines))
}

/// Sends `signal` to `pid`.
fn signal(pid: u32, signal: rustix::process::Signal) -> io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| io::Error::other(format!("{pid} is not a process id")))?;
    rustix::process::kill_process(pid, signal).map_err(io::Error::from)
}

/// SIGKILL to a process this one did not start itself (a node or relay `datahub dev` started).
pub fn kill_pid(pid: u32) -> io::Result<()> {
    signal(pid, rustix::process::Signal::KILL)
}

/// Whether process `pid` runs; a zombie (exited, not yet reaped) counts as gone.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        // The state follows the command name in parentheses, which may hold spaces.
        s.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn a_dropped_process_is_killed_and_reaped() -> io::Result<()> {
        let process = Process::spawn(sh("exec sleep 600"))?;
        let pid = process.id();
        assert!(alive(pid));
        drop(process);
        assert!(!alive(pid), "sleep {pid} outlived its Process");
        Ok(())
    }

    #[test]
    fn the_first_line_comes_back_and_the_rest_is_read() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("testnet-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let log = dir.join("log");
        let (mut process, first, lines) = start_logged(
            sh("echo listening on http://127.0.0.1:9; echo oops >&2; echo ready: x; echo after"),
            &log,
            Duration::from_secs(10),
        )?;
        assert_eq!(first, "listening on http://127.0.0.1:9");
        let mut seen = Vec::new();
        assert_eq!(
            lines.wait_for("ready: ", Duration::from_secs(10), &mut seen)?,
            "ready: x"
        );
        assert_eq!(seen, ["ready: x"]);
        assert_eq!(lines.rest(Duration::from_secs(10)), ["after"]);
        assert!(process.wait()?.success());
        assert_eq!(std::fs::read_to_string(&log)?, "oops\n");
        let err = lines
            .wait_for("never", Duration::from_secs(10), &mut seen)
            .err()
            .map(|e| e.kind());
        assert_eq!(err, Some(io::ErrorKind::UnexpectedEof));
        std::fs::remove_dir_all(&dir)
    }

    #[test]
    fn a_silent_process_is_an_error_naming_its_log() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("testnet-silent-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let log = dir.join("log");
        let err = start_logged(sh("exec sleep 600"), &log, Duration::from_millis(200))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("printed nothing"), "{err}");
        assert!(err.contains(&log.display().to_string()), "{err}");
        std::fs::remove_dir_all(&dir)
    }

    #[test]
    fn terminate_waits_for_the_exit() -> io::Result<()> {
        let mut command = sh("trap 'exit 3' TERM; echo armed; while :; do sleep 0.05; done");
        command.stdout(Stdio::piped());
        let mut process = Process::spawn(command)?;
        let stdout = process.child_mut().stdout.take();
        let lines = Lines::read(stdout.ok_or_else(|| io::Error::other("no stdout"))?);
        assert_eq!(
            lines.next_within(Duration::from_secs(10)).as_deref(),
            Some("armed")
        );
        let status = process.terminate(Duration::from_secs(10))?;
        assert_eq!(status.and_then(|s| s.code()), Some(3));
        Ok(())
    }
}
