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
        "  at risk: {} segment(s) with fewer than {} healthy shards or reduced redundancy \
         ({} reduced: two shards on one node or in one region); unreadable: {unreadable}",
        status.at_risk,
        k + m,
        status.reduced,
    );
    for segment in &status.segments {
        let verdict = if segment.healthy < segment.k {
            "UNREADABLE"
        } else if segment.healthy < segment.k + segment.m {
            "at risk"
        } else if segment.state.as_deref() == Some("reduced") {
            "reduced redundancy"
        } else {
            "ok"
        };
        let spread = match (segment.nodes, segment.survives) {
            (Some(nodes), Some(survives)) => {
                format!(" on {nodes} node(s), survives {survives} node loss(es)")
            }
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "segment {}: {}/{} healthy{spread}, needs {} ({verdict})",
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn what_users_read() {
        let status: ObjectStatus = serde_json::from_str(
            r#"{"object": "ab", "size": 5001367, "complete": true, "at_risk": 3, "reduced": 1, "segments": [
                {"segment": 0, "k": 4, "m": 2, "healthy": 5, "nodes": 5, "survives": 1, "state": "at_risk", "shards": [
                    {"position": 0, "shard": "b04325bc922f6c46aaaa", "len": 1048576, "node": "0xFB67", "endpoint": "http://127.0.0.1:1", "alive": true},
                    {"position": 1, "shard": "fc6acd608c4598b7bbbb", "len": 1048576, "node": "0x03ad", "endpoint": "http://127.0.0.1:2", "alive": false},
                    {"position": 2, "shard": "a0d8e6fbd64758d4cccc", "len": 1048576, "node": null, "endpoint": null, "alive": false}
                ]},
                {"segment": 1, "k": 4, "m": 2, "healthy": 3, "shards": []},
                {"segment": 2, "k": 4, "m": 2, "healthy": 6, "nodes": 5, "survives": 1, "state": "reduced", "shards": []},
                {"segment": 3, "k": 4, "m": 2, "healthy": 6, "nodes": 6, "survives": 2, "state": "ok", "shards": []}
            ]}"#,
        )
        .unwrap();
        let nodes = vec![NodeInfo {
            address: "0xfb67".into(),
            region: "eu-1".into(),
            alive: true,
        }];
        assert_eq!(
            render("ab", &status, &nodes),
            "\
object ab
  5001367 bytes, 4 segment(s) of 4+2 shards, complete
  at risk: 3 segment(s) with fewer than 6 healthy shards or reduced redundancy (1 reduced: two shards on one node or in one region); unreadable: 1
segment 0: 5/6 healthy on 5 node(s), survives 1 node loss(es), needs 4 (at risk)
    0 b04325bc922f6c46…  1048576 B  0xFB67 eu-1 http://127.0.0.1:1 alive
    1 fc6acd608c4598b7…  1048576 B  0x03ad http://127.0.0.1:2 DEAD
    2 a0d8e6fbd64758d4…  1048576 B  not stored
segment 1: 3/6 healthy, needs 4 (UNREADABLE)
segment 2: 6/6 healthy on 5 node(s), survives 1 node loss(es), needs 4 (reduced redundancy)
segment 3: 6/6 healthy on 6 node(s), survives 2 node loss(es), needs 4 (ok)
"
        );
    }
}
