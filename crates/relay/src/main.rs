//! `datahub-relay`: runs one relay (also reachable as `datahub relay`).

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "datahub-relay", version, about = "Run a DataHub relay")]
struct Cli {
    #[command(flatten)]
    relay: datahub_relay::RelayArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    datahub_relay::init_tracing();
    match datahub_relay::run(cli.relay, datahub_relay::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
