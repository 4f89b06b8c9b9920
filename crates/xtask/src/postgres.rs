//! A throwaway PostgreSQL cluster for the relay's tests: made in a temporary folder, listening on
//! 127.0.0.1 at a free port, trusted local connections, with and without TLS (a certificate from
//! a CA made for it), stopped and deleted afterwards.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cmd::Cmd;

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` in it.
pub fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

/// A running cluster; stopped and removed on drop.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub url: String,
    /// The PEM certificate of the CA that signed the server's: `sslrootcert` for TLS.
    pub ca: PathBuf,
}

impl Cluster {
    pub fn start() -> Result<Self> {
        let bin =
            bin_dir().context("PostgreSQL is not installed (cargo xtask setup installs it)")?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = std::env::temp_dir().join(format!("datahub-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        // PostgreSQL refuses to run as root: run it as the `postgres` user Debian creates.
        let as_postgres = Cmd::new("id").arg("-u").probe().as_deref() == Some("0");
        if as_postgres {
            Cmd::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .run()?;
        }
        let cluster = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            ca: dir.join("ca.crt"),
            bin,
            dir,
            as_postgres,
        };
        cluster.certificates()?;
        let data = cluster.dir.join("data");
        cluster
            .pg("initdb")
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
                "-D",
            ])
            .arg(&data)
            .run()?;
        let options = format!(
            "-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c max_connections=300 \
             -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key",
            dir = cluster.dir.display()
        );
        cluster
            .pg("pg_ctl")
            .args(["-w", "-t", "60", "-l"])
            .arg(cluster.dir.join("log"))
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "start"])
            .run()?;
        if Cmd::new(cluster.bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .probe()
            .is_none()
        {
            bail!(
                "PostgreSQL did not come up; see {}",
                cluster.dir.join("log").display()
            );
        }
        println!("PostgreSQL for the tests: {}", cluster.url);
        Ok(cluster)
    }

    /// The server's process id (its `postmaster.pid`): the bench adds the CPU time of it and its
    /// backends to what a submission costs.
    pub fn pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// A CA and a server certificate it signs for 127.0.0.1 and localhost, as a real deployment
    /// has (webpki refuses a self-signed certificate used as its own CA).
    fn certificates(&self) -> Result<()> {
        let dir = &self.dir;
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        Cmd::new("openssl")
            .args(["req", "-x509", "-days", "2", "-subj", "/CN=datahub test CA"])
            .args(ec)
            .arg("-keyout")
            .arg(dir.join("ca.key"))
            .arg("-out")
            .arg(&self.ca)
            .run()?;
        Cmd::new("openssl")
            .args(["req", "-subj", "/CN=127.0.0.1"])
            .args(ec)
            .arg("-keyout")
            .arg(dir.join("server.key"))
            .arg("-out")
            .arg(dir.join("server.csr"))
            .run()?;
        let extensions = dir.join("server.ext");
        std::fs::write(
            &extensions,
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )?;
        Cmd::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in"])
            .arg(dir.join("server.csr"))
            .arg("-CA")
            .arg(&self.ca)
            .arg("-CAkey")
            .arg(dir.join("ca.key"))
            .arg("-CAcreateserial")
            .arg("-extfile")
            .arg(&extensions)
            .arg("-out")
            .arg(dir.join("server.crt"))
            .run()?;
        // PostgreSQL refuses a key others can read, or one it does not own.
        let key = dir.join("server.key");
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        if self.as_postgres {
            Cmd::new("chown")
                .args(["postgres:postgres"])
                .arg(&key)
                .arg(dir.join("server.crt"))
                .run()?;
        }
        Ok(())
    }

    fn pg(&self, program: &str) -> Cmd {
        let program = self.bin.join(program);
        if self.as_postgres {
            Cmd::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(program)
        } else {
            Cmd::new(program)
        }
        .dir(Path::new("/"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .pg("pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(self.dir.join("data"))
            .arg("stop")
            .run();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
