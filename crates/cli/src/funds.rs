//! `datahub funds`: a requester's money on a relay, per chain and token: what is available for
//! new campaigns (`GET /v1/funds`), what the campaigns hold (not yet spent, some of it reserved
//! for tasks under way), what they spent and what closing them returned (from the campaigns'
//! progress, `GET /v1/campaigns?status=all&owner=`).

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::campaign::{KeyArg, load_key, refused};
use crate::client::Relay;
use crate::object::RelayArg;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    key: KeyArg,
    #[command(flatten)]
    relay: RelayArg,
    /// Print the table as JSON
    #[arg(long)]
    json: bool,
}

/// One chain and token's figures, in millionths of a token.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// Funds not in any campaign: what new campaigns can draw on.
    pub available: i64,
    /// Held by the requester's campaigns (their budgets not yet spent).
    pub in_campaigns: i64,
    /// Of `in_campaigns`, owed for leased tasks and pending answers.
    pub reserved: i64,
    /// Paid to contributors.
    pub spent: i64,
    /// Returned by closed campaigns (already part of `available`).
    pub returned: i64,
}

pub async fn run(args: Args) -> Result<()> {
    let key = load_key(&args.key.key)?;
    let relay = Relay::new(&args.relay.relay)?;
    let audience = relay.address().await?;
    let funds = relay
        .funds(&key, &audience)
        .await
        .map_err(|e| refused(e, "the funds request"))?;
    let campaigns = relay.campaigns_filtered(true, Some(&key.address())).await?;
    let rows = tally(&funds, &campaigns)?;
    let who = key.address().to_checksum();
    if args.json {
        let list: Vec<Value> = rows
            .iter()
            .map(|((chain, token), r)| {
                json!({
                    "chain_id": chain,
                    "token": token,
                    "available": format_amount(r.available),
                    "in_campaigns": format_amount(r.in_campaigns),
                    "reserved": format_amount(r.reserved),
                    "spent": format_amount(r.spent),
                    "returned": format_amount(r.returned),
                })
            })
            .collect();
        println!("{:#}", json!({ "requester": who, "funds": list }));
        return Ok(());
    }
    print!("{}", table(&who, &rows));
    Ok(())
}

/// The figures per (chain, token) from the relay's funds and the requester's campaigns.
pub fn tally(funds: &Value, campaigns: &[Value]) -> Result<BTreeMap<(u64, String), Row>> {
    let Some(list) = funds.get("funds").and_then(Value::as_array) else {
        bail!("the relay's list of funds has no `funds`");
    };
    let mut rows: BTreeMap<(u64, String), Row> = BTreeMap::new();
    for entry in list {
        let chain = entry.get("chain_id").and_then(Value::as_u64).unwrap_or(0);
        let token = text(entry, "token");
        rows.entry((chain, token)).or_default().available = amount(entry, "amount")?;
    }
    for c in campaigns {
        // A campaign pays on one chain; older ones may list several and drew on none of them.
        let chain = c
            .get("chains")
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let progress = c.get("progress").cloned().unwrap_or(Value::Null);
        let row = rows.entry((chain, text(c, "token"))).or_default();
        row.in_campaigns += amount(c, "budget_left")?;
        row.reserved += amount(&progress, "reserved")?;
        row.spent += amount(&progress, "spent")?;
        row.returned += amount(&progress, "refunded")?;
    }
    Ok(rows)
}

/// What users read.
pub fn table(who: &str, rows: &BTreeMap<(u64, String), Row>) -> String {
    if rows.is_empty() {
        return format!(
            "{who} has no funds on this relay: deposit to a chain's escrow or ask the operator for a grant\n"
        );
    }
    let mut out = format!(
        "funds of {who}:\n{:>10}  {:<6}  {:>14}  {:>14}  {:>14}  {:>14}  {:>14}\n",
        "chain", "token", "available", "in campaigns", "reserved", "spent", "returned"
    );
    for ((chain, token), r) in rows {
        out.push_str(&format!(
            "{chain:>10}  {token:<6}  {:>14}  {:>14}  {:>14}  {:>14}  {:>14}\n",
            format_amount(r.available),
            format_amount(r.in_campaigns),
            format_amount(r.reserved),
            format_amount(r.spent),
            format_amount(r.returned),
        ));
    }
    out.push_str("available: what new campaigns can draw on; in campaigns: budgets not yet spent (reserved: owed for tasks under way); returned: given back by closed campaigns, already in available\n");
    out
}

fn text(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned()
}

/// A relay amount (`"1.95"`, at most 6 decimals) in millionths; absent is 0.
fn amount(v: &Value, field: &str) -> Result<i64> {
    let Some(text) = v.get(field).and_then(Value::as_str) else {
        return Ok(0);
    };
    parse_amount(text)
        .ok_or_else(|| anyhow::anyhow!("the relay sent {field} {text:?}, which is not an amount"))
}

fn parse_amount(text: &str) -> Option<i64> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = match text.split_once('.') {
        // A point needs decimals after it: "1." is not an amount.
        Some((_, fraction)) if !digits(fraction) => return None,
        Some(split) => split,
        None => (text, ""),
    };
    if !digits(whole) || fraction.len() > 6 {
        return None;
    }
    let units = whole
        .parse::<i64>()
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(format!("{fraction:0<6}").parse::<i64>().ok()?)?;
    Some(if negative { -units } else { units })
}

fn format_amount(units: i64) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let units = units.unsigned_abs();
    let (whole, fraction) = (units / 1_000_000, units % 1_000_000);
    if fraction == 0 {
        return format!("{sign}{whole}");
    }
    let fraction = format!("{fraction:06}");
    format!("{sign}{whole}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_and_refuse_what_is_not_one() {
        for (text, units) in [
            ("0", 0),
            ("1.95", 1_950_000),
            ("0.000001", 1),
            ("-2", -2_000_000),
        ] {
            assert_eq!(parse_amount(text), Some(units), "{text}");
            assert_eq!(format_amount(units), text);
        }
        for bad in ["", ".5", "1.", "1.0000001", "1e3", "x"] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
    }

    #[test]
    fn campaigns_are_counted_on_their_chain() {
        let funds = json!({"funds": [{"chain_id": 31337, "token": "USDT", "amount": "1.9"}]});
        let campaigns = [
            json!({"chains": [31337], "token": "USDT", "budget_left": "0.05",
                   "progress": {"reserved": "0.05", "spent": "0", "refunded": "1.9"}}),
            json!({"chains": [56], "token": "OORT", "budget_left": "3",
                   "progress": {"reserved": "0", "spent": "1", "refunded": "0"}}),
        ];
        let rows = tally(&funds, &campaigns).unwrap();
        let usdt = rows[&(31337, "USDT".to_owned())];
        assert_eq!(
            usdt,
            Row {
                available: 1_900_000,
                in_campaigns: 50_000,
                reserved: 50_000,
                spent: 0,
                returned: 1_900_000
            }
        );
        assert_eq!(rows[&(56, "OORT".to_owned())].spent, 1_000_000);
    }
}
