//! `datahub object status`: where each shard of an object lives, and what is at risk.

use std::collections::HashMap;
use std::fmt::Write as _;

use anyhow::Result;

use super::RelayArg;
use crate::client::{NodeInfo, ObjectStatus, Relay, parse_object_id};

#[derive(clap::Args)]
pub struct Args {
    /// The object id
    id: String,
    /// Print the relay's status JSON as it came
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    relay: RelayArg,
}

pub async fn run(args: Args) -> Result<()> {
    let id = parse_object_id(&args.id)?;
    let relay = Relay::new(&args.relay.relay)?;
    if args.json {
        let raw = relay.status_raw(&id).await?;
        println!("{}", String::from_utf8_lossy(&raw).trim_end());
        return Ok(());
    }
    let status = relay.status(&id).await?;
    // Regions make the spread visible; the status works without them.
    let nodes = relay.nodes().await.unwrap_or_default();
    print!("{}", render(&id.to_string(), &status, &nodes));
    Ok(())
}

/// The text `status` prints.
pub fn render(id: &str, status: &ObjectStatus, nodes: &[NodeInfo]) -> String {
    let regions: HashMap<String, &str> = nodes
        .iter()
        .map(|n| (n.address.to_lowercase(), n.region.as_str()))
        .collect();
    let mut out = String::new();
    let (k, m) = status.segments.first().map_or((0, 0), |s| (s.k, s.m));
    let unreadable = status.segments.iter().filter(|s| s.healthy < s.k).count();
    let _ = writeln!(
        out,
        "object {id}\n  {} bytes, {} segment(s) of {k}+{m} shards, {}",
        status.size,
        status.segments.len(),
        if status.complete {
            "complete"
        } else {
            "incomplete (some shards were never stored)"
        }
    );
    let _ = writeln!(
        out,
        "  at risk: {} segment(s) with fewer than {} healthy shards; unreadable: {unreadable}",
        status.at_risk,
        k + m
    );
    for segment in &status.segments {
        let verdict = if segment.healthy < segment.k {
            "UNREADABLE"
        } else if segment.healthy < segment.k + segment.m {
            "at risk"
        } else {
            "ok"
        };
        let _ = writeln!(
            out,
            "segment {}: {}/{} healthy, needs {} ({verdict})",
            segment.segment,
            segment.healthy,
            segment.k + segment.m,
            segment.k
        );
        for shard in &segment.shards {
            let short = shard.shard.get(..16).unwrap_or(&shard.shard);
            let place = match (&shard.node, &shard.endpoint) {
                (Some(node), endpoint) => {
                    let region = regions
                        .get(&node.to_lowercase())
                        .map_or(String::new(), |r| format!(" {r}"));
                    format!(
                        "{node}{region} {} {}",
                        endpoint.as_deref().unwrap_or("-"),
                        if shard.alive { "alive" } else { "DEAD" }
                    )
                }
                (None, _) => "not stored".to_owned(),
            };
            let _ = writeln!(
                out,
                "  {:>3} {short}… {:>8} B  {place}",
                shard.position, shard.len
            );
        }
    }
    out
}
