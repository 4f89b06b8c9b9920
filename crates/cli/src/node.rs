//! `datahub node status`: what the relay knows of one storage node — reputation, audits passed
//! and failed, and earnings (`GET /v1/nodes/{address}`).

use anyhow::{Context, Result, bail};
use datahub_core::Address;
use serde_json::Value;

use crate::client::Relay;
use crate::object::RelayArg;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Show a node's reputation, audits passed and failed, and earnings
    Status(StatusArgs),
}

#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    relay: RelayArg,
    /// The node's data folder (its address is read from its key there)
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "address",
        required_unless_present = "address"
    )]
    data: Option<std::path::PathBuf>,
    /// The node's address
    #[arg(long, value_name = "0x…")]
    address: Option<String>,
    /// Print the relay's answer as JSON
    #[arg(long)]
    json: bool,
}

pub async fn run(cmd: Command) -> Result<()> {
    let Command::Status(args) = cmd;
    let address = match (&args.address, &args.data) {
        (Some(text), _) => Address::parse(text)
            .map_err(|_| anyhow::anyhow!("--address {text:?}: expected 0x and 40 hex digits"))?,
        (None, Some(dir)) => {
            let path = dir.join(datahub_node::key::KEY_FILE);
            datahub_node::key::load(&path)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("reading the node's key in {}", dir.display()))?
                .address()
        }
        (None, None) => bail!("name the node: --data DIR or --address 0x…"),
    };
    let relay = Relay::new(&args.relay.relay)?;
    let node = relay
        .get_json(&format!("v1/nodes/{}", address.to_checksum()))
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&node)?);
    } else {
        print!("{}", render(&node));
    }
    Ok(())
}

/// The value at a JSON pointer (`/audits/passed`), `null` if absent.
fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or(&Value::Null)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// What people read.
pub fn render(node: &Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "node        {}", text(&node["address"]));
    let _ = writeln!(out, "payout      {}", text(&node["payout"]));
    let alive = if node["alive"] == true {
        "alive"
    } else {
        "silent"
    };
    let _ = writeln!(
        out,
        "state       {alive} (last seen {})",
        text(&node["last_seen"])
    );
    let _ = writeln!(out, "reputation  {}", text(&node["reputation"]));
    let _ = writeln!(
        out,
        "audits      {} passed, {} failed",
        text(at(node, "/audits/passed")),
        text(at(node, "/audits/failed"))
    );
    let _ = writeln!(
        out,
        "shards      {} ({} of {} bytes used)",
        text(&node["shards"]),
        text(&node["used"]),
        text(&node["capacity"])
    );
    let earnings = node["earnings"].as_array().map_or(&[][..], Vec::as_slice);
    if earnings.is_empty() {
        out.push_str("earnings    none yet\n");
    }
    for e in earnings {
        let _ = writeln!(
            out,
            "earnings    {} {} on chain {} ({} not claimed yet)",
            text(&e["earned"]),
            text(&e["token"]),
            text(&e["chain_id"]),
            text(&e["unclaimed"])
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_as_a_table() {
        let node = serde_json::json!({
            "address": "0xab", "payout": "0xcd", "alive": true, "last_seen": "2026-12-07T15:00:00Z",
            "reputation": 97, "audits": {"passed": 12, "failed": 1}, "shards": 4, "used": 100,
            "capacity": 1000,
            "earnings": [{"token": "USDT", "chain_id": 56, "earned": "0.5", "unclaimed": "0.25"}],
        });
        assert_eq!(
            render(&node),
            "node        0xab\n\
             payout      0xcd\n\
             state       alive (last seen 2026-12-07T15:00:00Z)\n\
             reputation  97\n\
             audits      12 passed, 1 failed\n\
             shards      4 (100 of 1000 bytes used)\n\
             earnings    0.5 USDT on chain 56 (0.25 not claimed yet)\n"
        );
    }
}
