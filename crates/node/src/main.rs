//! `datahub-node`: one storage node (see `docs/storage-node.md`).

use clap::Parser;

/// A DataHub storage node: keeps shards by BLAKE3 id for the relay, proves it holds them, serves
/// them. Logs go to standard error (RUST_LOG=debug for more); standard output gets one line
/// once the node listens.
#[derive(Parser)]
#[command(name = "datahub-node", version)]
struct Cli {
    #[command(flatten)]
    node: datahub_node::NodeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing_subscriber::filter::LevelFilter>().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .init();
    let cli = Cli::parse();
    datahub_node::run(cli.node, shutdown_signal()).await?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM. The handlers are installed now, not when the future is first
/// polled, so a signal that arrives while the node is starting is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for {name}");
                None
            }
        };
        let term = listen(SignalKind::terminate(), "SIGTERM");
        let int = listen(SignalKind::interrupt(), "SIGINT");
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
