//! TLS to PostgreSQL, with rustls (the TLS stack the relay already has for its HTTP client), for
//! the `postgres` client.
//!
//! The URL's `sslmode` says whether: `disable`, `allow` and `prefer` (libpq's default) connect
//! without TLS, as the relay always has; `require`, `verify-ca` and `verify-full` connect only
//! over TLS and always verify the server's certificate and host name. libpq's `require` does not
//! verify; here it does, because an unverified TLS connection stops no one who can answer in the
//! server's place. `sslrootcert` names a PEM file of the certificates to trust (a private CA or
//! the server's own); without it, the Mozilla roots built into the binary (`webpki-roots`).
//! `sslrootcert=system` is refused: the binary reads no system store.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How to reach the server: the URL the `postgres` client reads (without the parameters it does
/// not know) and the TLS it needs, if any.
#[derive(Debug)]
pub struct Target {
    pub url: String,
    pub tls: Option<Tls>,
}

/// What a TLS connection trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// The certificates in this PEM file.
    RootCert(std::path::PathBuf),
    /// The Mozilla roots built in.
    WebPki,
}

/// Reads `sslmode` and `sslrootcert` off a `postgres://` URL. A key=value connection string is
/// passed on as it is (the `postgres` client reads its `sslmode`, and refuses `require`
/// without a TLS connector, as before).
pub fn target(url: &str) -> Result<Target, String> {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return Ok(Target {
            url: url.to_owned(),
            tls: None,
        });
    };
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Ok(Target {
            url: url.to_owned(),
            tls: None,
        });
    }
    let mut mode = None;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "sslmode" => mode = Some(value.into_owned()),
            "sslrootcert" => root_cert = Some(value.into_owned()),
            "sslcert" | "sslkey" | "sslcrl" | "sslpassword" => {
                return Err(format!(
                    "the database URL's `{key}` is not supported: the relay connects with TLS but without a client certificate"
                ));
            }
            _ => kept.push((key.into_owned(), value.into_owned())),
        }
    }
    let tls = match mode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => None,
        Some("require" | "verify-ca" | "verify-full") => Some(match root_cert.as_deref() {
            Some("system") => {
                return Err(
                    "sslrootcert=system is not supported: name a PEM file of the certificates to trust, or leave it out for the Mozilla roots built in"
                        .into(),
                );
            }
            Some(path) => Tls::RootCert(path.into()),
            None => Tls::WebPki,
        }),
        Some(other) => {
            return Err(format!(
                "the database URL's sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ));
        }
    };
    if tls.is_some() {
        // The `postgres` client then insists on TLS through the connector given to it.
        kept.push(("sslmode".into(), "require".into()));
    } else if mode.is_some() {
        // Without a connector `prefer` already meant no TLS; `allow` the client does not know.
        kept.push(("sslmode".into(), "disable".into()));
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok(Target {
        url: parsed.into(),
        tls,
    })
}

impl Tls {
    /// The connector for the `postgres` client: reads the root certificates now, so that a
    /// certificate replaced on disk is used from the next connection on.
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        let mut roots = rustls::RootCertStore::empty();
        match self {
            Tls::WebPki => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Tls::RootCert(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?;
                if certs.is_empty() {
                    return Err(format!(
                        "sslrootcert {} holds no PEM certificate",
                        path.display()
                    ));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        format!("a certificate in sslrootcert {}: {e}", path.display())
                    })?;
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(MakeRustlsConnect(Arc::new(config)))
    }
}

/// Makes a TLS connection per database connection, for the host name in the URL.
#[derive(Clone)]
pub struct MakeRustlsConnect(Arc<rustls::ClientConfig>);

impl<S> MakeTlsConnect<S> for MakeRustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, Self::Error> {
        // An IP address is a valid server name too; its certificate must name the address.
        let name = ServerName::try_from(domain.to_owned())?;
        Ok(RustlsConnect {
            name,
            connector: tokio_rustls::TlsConnector::from(self.0.clone()),
        })
    }
}

pub struct RustlsConnect {
    name: ServerName<'static>,
    connector: tokio_rustls::TlsConnector,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let stream = self.connector.connect(self.name, stream).await?;
            Ok(RustlsStream(stream))
        })
    }
}

pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // No SCRAM channel binding: the certificate check above is what binds the server.
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::{Tls, target};

    #[test]
    fn tls_parameters_are_taken_off_the_url() {
        let t = target("postgres://u@db.example:5432/relay?sslmode=verify-full&sslrootcert=/ca.pem&application_name=r")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.tls, Some(Tls::RootCert("/ca.pem".into())));
        assert_eq!(
            t.url,
            "postgres://u@db.example:5432/relay?application_name=r&sslmode=require"
        );
        let t = target("postgres://u@db/relay?sslmode=require").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.tls, Some(Tls::WebPki));
    }

    #[test]
    fn without_sslmode_nothing_changes() {
        for url in [
            "postgres://u@127.0.0.1:5432/relay",
            "postgres://u@db/relay?sslmode=prefer",
            "host=db user=u",
        ] {
            let t = target(url).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(t.tls, None, "{url}");
        }
        let t = target("postgres://u@db/relay?sslmode=disable").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.url, "postgres://u@db/relay?sslmode=disable");
    }

    #[test]
    fn what_cannot_be_honoured_is_refused() {
        for (url, says) in [
            ("postgres://u@db/r?sslmode=verify", "sslmode `verify`"),
            (
                "postgres://u@db/r?sslmode=require&sslcert=/c.pem",
                "`sslcert`",
            ),
            (
                "postgres://u@db/r?sslmode=require&sslrootcert=system",
                "sslrootcert=system",
            ),
        ] {
            let err = target(url).err().unwrap_or_default();
            assert!(err.contains(says), "{url}: {err}");
        }
    }
}
