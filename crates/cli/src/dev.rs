//! `datahub dev`: everything DataHub needs, on 127.0.0.1, until Ctrl-C.
//!
//! Today that is the web app: `www/` (the host page) and `pkg/` (the client built by
//! `cargo xtask pkg`) over HTTP. The relay and the storage nodes join when they exist.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use axum::Router;
use tower_http::services::ServeDir;

#[derive(clap::Args)]
pub struct Args {
    /// Port of the web app on 127.0.0.1
    #[arg(long, default_value_t = 8040)]
    port: u16,
    /// How many storage nodes to start (once nodes exist)
    #[arg(long, default_value_t = 6)]
    nodes: u16,
    /// Where the relay and the nodes keep their data (once they exist)
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The host page's folder [default: www/ of the checkout around the current folder]
    #[arg(long, env = "DATAHUB_WWW", value_name = "DIR")]
    www: Option<PathBuf>,
    /// The built client package [default: pkg/ beside www/]
    #[arg(long, env = "DATAHUB_PKG", value_name = "DIR")]
    pkg: Option<PathBuf>,
}

pub async fn run(args: Args) -> Result<()> {
    let www = match args.www {
        Some(www) => www,
        None => find_www()?,
    };
    if !www.join("index.html").is_file() {
        bail!(
            "{} has no index.html: pass the host page's folder with --www",
            www.display()
        );
    }
    let pkg = match args.pkg {
        Some(pkg) => pkg,
        None => www.parent().unwrap_or(Path::new(".")).join("pkg"),
    };
    check_pkg(&pkg)?;

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("could not listen on {addr}: is another datahub dev running? pick one with --port")
    })?;

    println!("datahub dev");
    println!("  web app   http://{addr}/");
    println!("            www: {}", www.display());
    println!("            pkg: {}", pkg.display());
    println!("  relay     not there yet (a later issue)");
    println!(
        "  nodes     {} requested, not there yet (a later issue)",
        args.nodes
    );
    match &args.data {
        Some(dir) => println!(
            "  data      {} (unused until the relay and nodes exist)",
            dir.display()
        ),
        None => println!("  data      none yet (the relay and nodes will keep theirs here)"),
    }
    println!("Ctrl-C stops it.");

    axum::serve(listener, app(&www, &pkg))
        .with_graceful_shutdown(stopped())
        .await
        .context("the web server failed")?;
    println!("datahub dev: stopped");
    Ok(())
}

/// The web app: the client package under /pkg, the host page everywhere else.
pub fn app(www: &Path, pkg: &Path) -> Router {
    Router::new()
        .nest_service("/pkg", ServeDir::new(pkg))
        .fallback_service(ServeDir::new(www))
}

/// www/ of the checkout: in the current folder or the nearest one above that has it.
fn find_www() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("could not read the current folder")?;
    cwd.ancestors()
        .map(|dir| dir.join("www"))
        .find(|www| www.join("index.html").is_file())
        .with_context(|| {
            format!(
                "found no www/index.html in {} or above: run from the DataHub checkout or pass --www",
                cwd.display()
            )
        })
}

fn check_pkg(pkg: &Path) -> Result<()> {
    for file in ["web/datahub_wasm.js", "web/datahub_wasm_bg.wasm"] {
        if !pkg.join(file).is_file() {
            bail!(
                "{} is missing: pkg/ is not built, run `cargo xtask pkg` (or `cargo xtask dev`)",
                pkg.join(file).display()
            );
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            // Without a SIGTERM handler, Ctrl-C still stops us.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::app;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt as _;

    /// A throwaway www/ and pkg/ under the system's temporary folder.
    fn site(name: &str) -> std::io::Result<std::path::PathBuf> {
        let dir = std::env::temp_dir().join(format!("datahub-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("www"))?;
        std::fs::create_dir_all(dir.join("pkg/web"))?;
        std::fs::write(dir.join("www/index.html"), "<!doctype html>")?;
        std::fs::write(dir.join("pkg/web/datahub_wasm_bg.wasm"), b"\0asm\x01\0\0\0")?;
        Ok(dir)
    }

    async fn content_type(
        dir: &std::path::Path,
        uri: &str,
    ) -> anyhow::Result<(StatusCode, String)> {
        let app = app(&dir.join("www"), &dir.join("pkg"));
        let response = app.oneshot(Request::get(uri).body(Body::empty())?).await?;
        let kind = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .unwrap_or_default();
        Ok((response.status(), kind))
    }

    #[tokio::test]
    async fn serves_the_page_and_wasm_with_their_types() -> anyhow::Result<()> {
        let dir = site("types")?;
        assert_eq!(
            content_type(&dir, "/").await?,
            (StatusCode::OK, "text/html".into())
        );
        assert_eq!(
            content_type(&dir, "/pkg/web/datahub_wasm_bg.wasm").await?,
            (StatusCode::OK, "application/wasm".into())
        );
        assert_eq!(
            content_type(&dir, "/pkg/nothing.js").await?.0,
            StatusCode::NOT_FOUND
        );
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }
}
