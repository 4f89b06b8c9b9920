//! `datahub treasury audit`: a relay's solvency per chain and token, from its public
//! `GET /v1/treasury/audit`, printed as a table; the exit status is non-zero, with the reasons,
//! when an escrow holds less than the ledger owes or than deposits − redeemed, when a chain is
//! halted by a deep reorg, or when a chain cannot be read.

use anyhow::{Result, bail};
use serde_json::Value;

use crate::client::Relay;
use crate::object::RelayArg;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    relay: RelayArg,
    /// Print the relay's answer as JSON (the exit status is the same)
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args) -> Result<()> {
    let relay = Relay::new(&args.relay.relay)?;
    let audit = relay.get_json("v1/treasury/audit").await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&audit)?);
    } else {
        print!("{}", render(&audit));
    }
    let failures = failures(&audit);
    if !failures.is_empty() {
        bail!(
            "the treasury does not reconcile:\n  {}",
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// The value at a JSON pointer (`/liabilities/total`), `null` if absent.
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

/// The table people read.
pub fn render(audit: &Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let empty = Vec::new();
    let chains = at(audit, "/chains").as_array().unwrap_or(&empty);
    if chains.is_empty() {
        out.push_str("no chains configured\n");
    }
    for chain in chains {
        let _ = writeln!(
            out,
            "chain {} {} escrow {} at block {}",
            text(at(chain, "/chain_id")),
            text(at(chain, "/name")),
            text(at(chain, "/contract")),
            text(at(chain, "/block"))
        );
        if let Some(halted) = at(chain, "/halted").as_str() {
            let _ = writeln!(out, "  HALTED: {halted}");
        }
        if let Some(error) = at(chain, "/error").as_str() {
            let _ = writeln!(out, "  not read: {error}");
        }
        let _ = writeln!(
            out,
            "  {:<6} {:>16} {:>16} {:>16} {:>16} {:>16}  status",
            "token", "held", "deposits-redeem", "liabilities", "margin", "surplus"
        );
        for token in at(chain, "/tokens").as_array().unwrap_or(&empty) {
            let status = if *at(token, "/ok") == Value::Bool(true) {
                "ok"
            } else {
                "FAIL"
            };
            let _ = writeln!(
                out,
                "  {:<6} {:>16} {:>16} {:>16} {:>16} {:>16}  {status}",
                text(at(token, "/token")),
                text(at(token, "/held")),
                text(at(token, "/deposits_minus_redeemed")),
                text(at(token, "/liabilities/total")),
                text(at(token, "/margin")),
                text(at(token, "/surplus")),
            );
            let l = &at(token, "/liabilities");
            let _ = writeln!(
                out,
                "         liabilities: funding {}, campaigns {}, workers {}, vouchers {}",
                text(at(l, "/funding")),
                text(at(l, "/campaigns")),
                text(at(l, "/workers")),
                text(at(l, "/vouchers"))
            );
        }
    }
    out
}

/// Why the audit fails, one line each.
pub fn failures(audit: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let empty = Vec::new();
    for chain in at(audit, "/chains").as_array().unwrap_or(&empty) {
        let id = text(at(chain, "/chain_id"));
        if let Some(halted) = at(chain, "/halted").as_str() {
            out.push(format!("chain {id}: halted: {halted}"));
        }
        if let Some(error) = at(chain, "/error").as_str() {
            out.push(format!("chain {id}: {error}"));
        }
        for token in at(chain, "/tokens").as_array().unwrap_or(&empty) {
            for problem in at(token, "/problems").as_array().unwrap_or(&empty) {
                out.push(format!(
                    "chain {id} {}: {}",
                    text(at(token, "/token")),
                    text(problem)
                ));
            }
        }
    }
    if out.is_empty() && *at(audit, "/ok") != Value::Bool(true) {
        out.push("the relay says the audit failed".into());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(held: &str, ok: bool, problems: &[&str]) -> Value {
        json!({
            "token": "USDT", "held": held, "deposits_minus_redeemed": "100", "margin": "0",
            "surplus": "0", "ok": ok, "problems": problems,
            "liabilities": {"funding": "60", "campaigns": "30", "workers": "10", "vouchers": "0", "total": "100"},
        })
    }

    #[test]
    fn the_table_people_read_and_why_it_fails() {
        let good = json!({"ok": true, "chains": [{
            "chain_id": 31337, "name": "anvil", "contract": "0xE7", "block": 12,
            "halted": null, "error": null, "ok": true, "tokens": [token("100", true, &[])],
        }]});
        assert_eq!(
            render(&good),
            "\
chain 31337 anvil escrow 0xE7 at block 12
  token              held  deposits-redeem      liabilities           margin          surplus  status
  USDT                100              100              100                0                0  ok
         liabilities: funding 60, campaigns 30, workers 10, vouchers 0
"
        );
        assert!(failures(&good).is_empty());
        let bad = json!({"ok": false, "chains": [{
            "chain_id": 56, "name": "bsc", "contract": "0xE7", "block": null,
            "halted": "block 9 was 0xab…", "error": null, "ok": false,
            "tokens": [token("90", false, &["the escrow holds 10 USDT less than the ledger owes"])],
        }]});
        assert_eq!(
            failures(&bad),
            vec![
                "chain 56: halted: block 9 was 0xab…".to_owned(),
                "chain 56 USDT: the escrow holds 10 USDT less than the ledger owes".to_owned(),
            ]
        );
        assert!(render(&bad).contains("  HALTED: block 9"));
        assert_eq!(
            failures(&json!({"ok": false, "chains": []})),
            vec!["the relay says the audit failed".to_owned()]
        );
    }
}
