//! `datahub object`: seal and upload (`put`, `resume`), fetch and open (`get`), and inspect
//! (`status`) sealed objects through a relay.

pub mod get;
pub mod put;
mod status;

use std::path::PathBuf;

use anyhow::Result;

/// Where `datahub dev` puts its relay.
pub const DEFAULT_RELAY: &str = "http://127.0.0.1:8080";

#[derive(clap::Subcommand)]
pub enum Command {
    /// Seal FILE to the recipients, upload it, print its object id
    Put(put::PutArgs),
    /// Finish an interrupted `put` from the sealed shards it kept
    Resume(put::ResumeArgs),
    /// Fetch an object, check every shard, decrypt it to OUT
    Get(get::Args),
    /// Where each shard of an object lives and whether its node is alive
    Status(status::Args),
}

/// The relay flag every object command takes.
#[derive(clap::Args, Clone)]
pub struct RelayArg {
    /// The relay's URL
    #[arg(long, value_name = "URL", env = "DATAHUB_RELAY", default_value = DEFAULT_RELAY)]
    pub relay: String,
}

/// The identity flag: the key that signs uploads and opens objects.
#[derive(clap::Args, Clone)]
pub struct IdentityArg {
    /// Your key file (from `datahub keygen`); `--key`/`-k` as in the other commands
    #[arg(
        long,
        short = 'i',
        visible_alias = "key",
        visible_short_alias = 'k',
        value_name = "KEYFILE",
        env = "DATAHUB_IDENTITY",
        default_value = "datahub.key"
    )]
    pub identity: PathBuf,
}

pub async fn run(command: Command) -> Result<()> {
    match command {
        Command::Put(args) => put::put(args).await,
        Command::Resume(args) => put::resume(args).await,
        Command::Get(args) => get::run(args).await,
        Command::Status(args) => status::run(args).await,
    }
}
