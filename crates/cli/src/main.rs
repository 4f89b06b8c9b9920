//! `datahub`: runs a DataHub network on one machine (`datahub dev`), a relay or a storage node
//! on their own (`datahub relay`, `datahub node`), and the requester's commands: keys
//! (`datahub keygen`, `datahub key show`), sealed objects (`datahub object put|get|status|resume`) and campaigns
//! (`datahub campaign create|list|show|quality|pause|resume|close|results|verify`), funds
//! (`datahub funds`, `datahub treasury funds`), answering tasks as a contributor (`datahub answer`) and the operator's grants (`datahub treasury grant`); and a
//! validator of uploads (`datahub validate`).
//!
//! What each command prints and how it fails is described in `docs/cli.md`.

mod answer;
mod audit;
mod campaign;
mod client;
mod compute;
mod dataset;
mod demo;
mod dev;
mod devchain;
mod export;
mod funds;
mod grant;
mod keygen;
mod node;
mod object;
mod progress;
mod treasury;
mod validate;
mod worker;

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
    /// Run a whole local network: the relay (API and web app) and storage nodes, until Ctrl-C
    Dev(dev::Args),
    /// Run one relay (for real deployments; `datahub dev` starts one for you)
    Relay(RelayCmd),
    /// Run one storage node (for real deployments; `datahub dev` starts some for you)
    Node(NodeCmd),
    /// Make a new secp256k1 key file and print its address and public key
    Keygen(keygen::Args),
    /// About key files: `key show FILE` prints its address and public key
    #[command(subcommand)]
    Key(keygen::KeyCommand),
    /// Your funds per chain and token: available, held by your campaigns, returned to you
    Funds(funds::Args),
    /// Answer a campaign's tasks in the terminal, as a contributor (how a requester tries its
    /// own campaign)
    Answer(answer::Args),
    /// Seal, upload, fetch and inspect objects
    #[command(subcommand)]
    Object(object::Command),
    /// Create, list, show, pause, resume and close campaigns
    #[command(subcommand)]
    Campaign(campaign::Command),
    /// Funds for campaign budgets: show yours, or grant some (operators)
    #[command(subcommand)]
    Treasury(treasury::Command),
    /// Run a compute node: register its models, take jobs, open, run, sign results
    Compute(compute::Args),
    /// Deprecated (use `datahub compute` for compute jobs): validate uploads for campaigns that
    /// name this key: take jobs, open, check, sign verdicts
    Validate(validate::Args),
    /// Run PROGRAM ARGS… so that it dies with `datahub dev` (how dev starts anvil)
    #[command(hide = true)]
    ExecChild {
        /// The program
        program: std::path::PathBuf,
        /// Its arguments
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(clap::Args)]
struct RelayCmd {
    #[command(flatten)]
    relay: datahub_relay::RelayArgs,
}

/// `datahub node --relay … --data …` runs a node; `datahub node status …` looks at one.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct NodeCmd {
    #[command(subcommand)]
    action: Option<node::Command>,
    #[command(flatten)]
    node: Option<datahub_node::NodeArgs>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Dev(args) => dev::run(args).await,
        Command::Relay(cmd) => {
            dev::follow_parent();
            datahub_relay::init_tracing();
            datahub_relay::run(cmd.relay, datahub_shutdown::shutdown_signal())
                .await
                .map_err(anyhow::Error::from)
        }
        Command::Node(NodeCmd {
            action: Some(action),
            ..
        }) => node::run(action).await,
        Command::Node(NodeCmd {
            node: Some(args), ..
        }) => {
            dev::follow_parent();
            datahub_relay::init_tracing();
            datahub_node::run(args, datahub_shutdown::shutdown_signal())
                .await
                .map_err(anyhow::Error::from)
        }
        Command::Node(_) => Err(anyhow::anyhow!(
            "run a node with --relay URL --data DIR, or look at one with `datahub node status`"
        )),
        Command::Keygen(args) => keygen::run(&args),
        Command::Key(cmd) => keygen::key(&cmd),
        Command::Funds(args) => funds::run(args).await,
        Command::Answer(args) => answer::run(args).await,
        Command::Object(cmd) => object::run(cmd).await,
        Command::Campaign(cmd) => campaign::run(cmd).await,
        Command::Treasury(cmd) => treasury::run(cmd).await,
        Command::Compute(args) => compute::run(args).await,
        Command::Validate(args) => {
            eprintln!(
                "note: `datahub validate` is deprecated; compute nodes (`datahub compute`) judge uploads for campaigns with a compute job"
            );
            validate::run(args).await
        }
        Command::ExecChild { program, args } => {
            dev::follow_parent();
            // exec keeps the parent-death signal follow_parent set; it returns only on failure.
            let error = std::os::unix::process::CommandExt::exec(
                std::process::Command::new(&program).args(&args),
            );
            Err(anyhow::anyhow!("cannot run {}: {error}", program.display()))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
