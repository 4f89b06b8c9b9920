//! A relay and storage nodes as separate processes, and the little HTTP it takes to see them.

use std::ffi::OsString;
use std::io::{self, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::{Lines, Process, start_logged};

/// How long a relay or a node may take to print that it listens: a debug build opening a
/// database (or PostgreSQL's) on a busy machine.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A port on 127.0.0.1 that was free a moment ago (the kernel's pick), for a process that must
/// come back on the same port after a restart.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The URL after `on` in a ready line (`datahub-relay listening on http://127.0.0.1:1234
/// address 0x…`), without a trailing `/`.
pub fn url_in(line: &str) -> io::Result<String> {
    let mut words = line.split_whitespace();
    words
        .by_ref()
        .find(|w| *w == "on")
        .and(words.next())
        .filter(|u| u.starts_with("http://"))
        .map(|u| u.trim_end_matches('/').to_owned())
        .ok_or_else(|| io::Error::other(format!("no URL in {line:?}")))
}

/// A relay's command line: `--listen 127.0.0.1:PORT --config FILE --data DIR
/// [--database-url URL]`.
#[derive(Clone, Debug)]
pub struct RelayArgs {
    /// The port to listen on; 0 for any.
    pub port: u16,
    /// Its TOML settings.
    pub config: PathBuf,
    /// Its data folder (keys, and the SQLite database unless `database` is set).
    pub data: PathBuf,
    /// A PostgreSQL URL, if not SQLite.
    pub database: Option<String>,
}

impl RelayArgs {
    fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--listen".into(),
            format!("127.0.0.1:{}", self.port).into(),
            "--config".into(),
            self.config.clone().into(),
            "--data".into(),
            self.data.clone().into(),
        ];
        if let Some(url) = &self.database {
            args.extend(["--database-url".into(), url.into()]);
        }
        args
    }
}

/// Starts a relay: `command` is the program up to its arguments (`datahub relay`, or the
/// `datahub-relay` binary), `log` the file its standard error goes to. Returns once it listens:
/// the process, its URL and the rest of its output.
pub fn start_relay(
    command: Command,
    args: &RelayArgs,
    log: &Path,
) -> io::Result<(Process, String, Lines)> {
    start_listening(command, args.args(), log)
}

/// A storage node's command line: `--relay URL --listen 127.0.0.1:0 [--advertise URL]
/// --region R --heartbeat-secs S --data DIR [--capacity BYTES]`.
#[derive(Clone, Debug)]
pub struct NodeArgs {
    /// The relay it registers with.
    pub relay: String,
    /// What it tells the relay to reach it by (a proxy in front of it), if not where it listens.
    pub advertise: Option<String>,
    /// Its failure domain.
    pub region: String,
    /// Seconds between heartbeats (short in tests, so deaths and returns are seen soon).
    pub heartbeat_secs: u32,
    /// Its data folder: started again on it, a node keeps its key and its shards.
    pub data: PathBuf,
    /// `--capacity`, if not the default.
    pub capacity: Option<u64>,
}

impl NodeArgs {
    /// A node of `relay` in `region` keeping its data in `data`, heartbeating every 2 s.
    pub fn new(relay: &str, region: &str, data: &Path) -> Self {
        Self {
            relay: relay.to_owned(),
            advertise: None,
            region: region.to_owned(),
            heartbeat_secs: 2,
            data: data.to_owned(),
            capacity: None,
        }
    }

    fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--relay".into(),
            (&self.relay).into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        if let Some(url) = &self.advertise {
            args.extend(["--advertise".into(), url.into()]);
        }
        args.extend([
            "--region".into(),
            (&self.region).into(),
            "--heartbeat-secs".into(),
            self.heartbeat_secs.to_string().into(),
            "--data".into(),
            self.data.clone().into(),
        ]);
        if let Some(capacity) = self.capacity {
            args.extend(["--capacity".into(), capacity.to_string().into()]);
        }
        args
    }
}

/// Starts a storage node: `command` is the program up to its arguments (`datahub node`, maybe
/// behind a wrapper), `log` the file its standard error goes to. Returns once it listens: the
/// process, the URL it listens on and the rest of its output. To restart a node, kill it and
/// start it again with the same `args`.
pub fn start_node(
    command: Command,
    args: &NodeArgs,
    log: &Path,
) -> io::Result<(Process, String, Lines)> {
    start_listening(command, args.args(), log)
}

/// `command` with `args`, started and read until its first line, which must say where it
/// listens.
fn start_listening(
    mut command: Command,
    args: Vec<OsString>,
    log: &Path,
) -> io::Result<(Process, String, Lines)> {
    command.args(args);
    let (process, line, lines) = start_logged(command, log, READY_WITHIN)?;
    Ok((process, url_in(&line)?, lines))
}

/// `GET path` from 127.0.0.1:`port` over plain HTTP/1.0, with a session token if given: the body
/// of a 200, or an error with the status line and the body. Plain TCP, so that a caller needs no
/// async runtime and an HTTP client's retries hide nothing.
pub fn http_get(port: u16, path: &str, token: Option<&str>) -> io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    // One write: `write!` on the bare stream sends each piece as it is formatted, and a server
    // that answers after its first read and closes with the rest unread resets the connection.
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other(format!("GET {path}: no end of headers in the reply")))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(io::Error::other(format!(
            "GET {path}: {} {body}",
            head.lines().next().unwrap_or("")
        )));
    }
    Ok(body.to_owned())
}

/// How many nodes the relay on `port` lists as alive (`GET /v1/nodes`), if it answers.
pub fn live_nodes(port: u16) -> Option<usize> {
    let body = http_get(port, "/v1/nodes", None).ok()?;
    let list: serde_json::Value = serde_json::from_str(&body).ok()?;
    let nodes = list.get("nodes")?.as_array()?;
    Some(
        nodes
            .iter()
            .filter(|n| n.get("alive").and_then(serde_json::Value::as_bool) == Some(true))
            .count(),
    )
}

/// Waits until the relay on `port` lists at least `n` live nodes, up to `within`.
pub fn wait_for_nodes(port: u16, n: usize, within: Duration) -> io::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let alive = live_nodes(port);
        if alive.is_some_and(|a| a >= n) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the relay did not see {n} live nodes within {} s (saw {alive:?})",
                    within.as_secs()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_read_from_a_ready_line() -> io::Result<()> {
        assert_eq!(
            url_in("datahub-node listening on http://127.0.0.1:4242/ address 0xAb")?,
            "http://127.0.0.1:4242"
        );
        assert!(url_in("listening on 127.0.0.1:4242").is_err());
        assert!(url_in("datahub-relay listening on").is_err());
        Ok(())
    }

    #[test]
    fn arguments_are_what_the_relay_and_node_take() {
        let relay = RelayArgs {
            port: 7,
            config: "r.toml".into(),
            data: "d".into(),
            database: Some("postgres://x".into()),
        };
        assert_eq!(
            relay.args(),
            [
                "--listen",
                "127.0.0.1:7",
                "--config",
                "r.toml",
                "--data",
                "d",
                "--database-url",
                "postgres://x"
            ]
        );
        let mut node = NodeArgs::new("http://127.0.0.1:7", "eu", Path::new("n"));
        node.advertise = Some("http://127.0.0.1:8".into());
        node.capacity = Some(65536);
        assert_eq!(
            node.args(),
            [
                "--relay",
                "http://127.0.0.1:7",
                "--listen",
                "127.0.0.1:0",
                "--advertise",
                "http://127.0.0.1:8",
                "--region",
                "eu",
                "--heartbeat-secs",
                "2",
                "--data",
                "n",
                "--capacity",
                "65536"
            ]
        );
    }

    /// A one-shot HTTP server on loopback: what `http_get` makes of its reply.
    fn served(reply: &'static str) -> io::Result<u16> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                // The whole request, so that closing leaves nothing unread (which resets).
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(buf.get(..n).unwrap_or_default()),
                    }
                }
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Ok(port)
    }

    #[test]
    fn live_nodes_are_counted_and_errors_carry_the_status() -> io::Result<()> {
        let port = served(
            "HTTP/1.1 200 OK\r\n\r\n{\"nodes\":[{\"alive\":true},{\"alive\":false},{\"alive\":true}]}",
        )?;
        assert_eq!(live_nodes(port), Some(2));
        let port = served("HTTP/1.1 404 Not Found\r\n\r\n{\"error\":\"not_found\"}")?;
        let err = http_get(port, "/v1/x", None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "GET /v1/x: HTTP/1.1 404 Not Found {\"error\":\"not_found\"}"
        );
        Ok(())
    }
}
