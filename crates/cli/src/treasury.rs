//! `datahub treasury`: a requester's funds (`funds`), and the operator's grants of funding
//! (`grant`) for requesters who pay off chain. Both are requests signed with `--key`: the
//! requester's key for `funds`, an operator's (one listed in the relay's `operators`) for
//! `grant`.

use anyhow::{Context as _, Result, bail};
use datahub_core::Address;
use serde_json::{Value, json};

use crate::campaign::{KeyArg, load_key, refused};
use crate::client::{Relay, SendError};
use crate::object::RelayArg;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Grant funds to a requester (an operator's admin command): they can then create
    /// campaigns paying up to that much on that chain
    Grant(GrantArgs),
    /// Show your funds per chain and token: what your campaign budgets can draw on
    Funds(FundsArgs),
    /// Reconcile each escrow with the ledger (per chain and token); exits non-zero if it does
    /// not hold
    Audit(crate::audit::Args),
}

#[derive(clap::Args)]
pub struct GrantArgs {
    #[command(flatten)]
    key: KeyArg,
    #[command(flatten)]
    relay: RelayArg,
    /// Who receives the funds (0x address)
    #[arg(long, value_name = "0x…")]
    requester: String,
    /// The chain whose campaigns the funds pay for
    #[arg(long, value_name = "ID")]
    chain: u64,
    /// The token (as the relay's /v1/info names it)
    #[arg(long, default_value = "USDT")]
    token: String,
    /// How much, in tokens (`100`, `0.5`; at most 6 decimals)
    #[arg(long)]
    amount: String,
    /// This grant's id (1–64 of A-Z a-z 0-9 - _): sending the same grant again with the same
    /// id grants once [default: a new random id, printed]
    #[arg(long, value_name = "ID")]
    request_id: Option<String>,
    /// Print the relay's answer as JSON
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct FundsArgs {
    #[command(flatten)]
    key: KeyArg,
    #[command(flatten)]
    relay: RelayArg,
    /// Print the relay's answer as JSON
    #[arg(long)]
    json: bool,
}

pub async fn run(command: Command) -> Result<()> {
    match command {
        Command::Grant(args) => grant(args).await,
        Command::Funds(args) => funds(args).await,
        Command::Audit(args) => crate::audit::run(args).await,
    }
}

async fn grant(args: GrantArgs) -> Result<()> {
    let requester = Address::parse(&args.requester).map_err(|_| {
        anyhow::anyhow!(
            "--requester {:?} is not an address: 0x and 40 hex digits",
            args.requester
        )
    })?;
    let request_id = match args.request_id {
        Some(id) => id,
        None => {
            let mut bytes = [0u8; 12];
            getrandom::fill(&mut bytes).context("no randomness for a request id")?;
            format!("grant-{}", hex::encode(bytes))
        }
    };
    let key = crate::keygen::load_as(&args.key.key, crate::keygen::Role::Operator)?;
    let relay = Relay::new(&args.relay.relay)?;
    let audience = relay.address().await?;
    let body = json!({
        "request_id": request_id,
        "requester": requester.to_checksum(),
        "chain_id": args.chain,
        "token": args.token,
        "amount": args.amount,
    });
    let (answer, created) = match relay.grant(&key, &audience, &body).await {
        Ok(answer) => answer,
        // The relay may have applied it: the same id again is safe, a new one would not be.
        Err(SendError::Network(e)) => {
            return Err(e.context(format!(
                "the grant may or may not have been made: run the command again with --request-id {request_id} (never a new id), which grants at most once"
            )));
        }
        Err(e) => return Err(refused(e, &format!("the grant {request_id}"))),
    };
    if args.json {
        println!("{answer:#}");
        return Ok(());
    }
    let text = |key: &str| answer.get(key).and_then(Value::as_str).unwrap_or("?");
    let done = if created {
        "granted"
    } else {
        "already granted (nothing changed)"
    };
    println!(
        "{done}: {} {} on chain {} to {} ({})",
        text("amount"),
        args.token,
        args.chain,
        text("requester"),
        text("id")
    );
    println!("their funds there now: {} {}", text("funds"), args.token);
    Ok(())
}

async fn funds(args: FundsArgs) -> Result<()> {
    let key = load_key(&args.key.key)?;
    let relay = Relay::new(&args.relay.relay)?;
    let audience = relay.address().await?;
    let answer = relay
        .funds(&key, &audience)
        .await
        .map_err(|e| refused(e, "the funds request"))?;
    if args.json {
        println!("{answer:#}");
        return Ok(());
    }
    let Some(list) = answer.get("funds").and_then(Value::as_array) else {
        bail!("the relay's list of funds has no `funds`");
    };
    let who = answer
        .get("requester")
        .and_then(Value::as_str)
        .unwrap_or("?");
    if list.is_empty() {
        println!(
            "{who} has no funds on this relay: deposit to a chain's escrow or ask the operator for a grant"
        );
        return Ok(());
    }
    println!("funds of {who}:");
    println!("{:>10}  {:<6}  {:>24}", "chain", "token", "amount");
    for entry in list {
        let chain = entry.get("chain_id").and_then(Value::as_u64).unwrap_or(0);
        let token = entry.get("token").and_then(Value::as_str).unwrap_or("?");
        let amount = entry.get("amount").and_then(Value::as_str).unwrap_or("?");
        println!("{chain:>10}  {token:<6}  {amount:>24}");
    }
    Ok(())
}
