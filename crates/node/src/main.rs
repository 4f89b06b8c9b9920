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
    datahub_node::run(cli.node, datahub_shutdown::shutdown_signal()).await?;
    Ok(())
}
