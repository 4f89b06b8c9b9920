//! `datahub`: runs a DataHub network on one machine (`datahub dev`); later also the
//! requester's commands (campaigns, results, fetch and decrypt, export).

mod dev;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "datahub",
    version,
    about = "DataHub: labelled AI training data, end-to-end encrypted"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a whole local network: the web app now; the relay and storage nodes once they exist
    Dev(dev::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Dev(args) => dev::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
