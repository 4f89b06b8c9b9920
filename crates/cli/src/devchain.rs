//! The chain of `datahub dev`: anvil with the escrow and mock tokens deployed (see `dev`), the
//! relay configured to watch it, and the demo requester funded by a real deposit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use datahub_core::eth::{Address, U256};
use datahub_keyfile as keyfile;
use datahub_relay::chain::dev::{self, Anvil, Deployment};
use serde_json::{Value, json};

use crate::client::Relay;

/// What the demo requester deposits, in whole mock USDT (the six demo budgets are 100 each).
const DEMO_DEPOSIT: u64 = 1000;
/// How long the relay may take to credit the deposit.
const CREDIT_TIMEOUT: Duration = Duration::from_secs(60);

/// A running development chain.
pub struct Chain {
    /// anvil (stopped when this is dropped).
    pub anvil: Anvil,
    /// The contracts on it.
    pub deployment: Deployment,
    /// Whether they were deployed by this run (a fresh chain) rather than found in its state.
    pub fresh: bool,
    log: PathBuf,
}

fn deployment_file(data: &Path) -> PathBuf {
    data.join("chain.json")
}

fn read_deployment(data: &Path) -> Option<Deployment> {
    let text = std::fs::read_to_string(deployment_file(data)).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    let address = |name: &str| Address::parse(v.get(name)?.as_str()?).ok();
    Some(Deployment {
        escrow: address("escrow")?,
        usdt: address("usdt")?,
        oort: address("oort")?,
        block: v.get("block")?.as_u64()?,
    })
}

async fn has_code(anvil: &Anvil, address: &Address) -> bool {
    anvil
        .rpc
        .request("eth_getCode", json!([address.to_checksum(), "latest"]))
        .await
        .ok()
        .and_then(|v| v.as_str().map(|s| s.len() > 2))
        .unwrap_or(false)
}

/// Makes sure anvil can read the state file it is about to be given. anvil rewrites the file in
/// place every second, so a `dev` stopped during a write leaves it cut short, and anvil then
/// refuses `--state` and exits (status 2) before it starts: seen once in CI on a restart. A
/// readable state is copied to `anvil-state.prev.json`; a torn one is replaced by that copy (at
/// most a moment older), or set aside when there is none, so the chain starts afresh.
fn keep_readable_state(state: &Path) {
    let readable = |path: &Path| {
        std::fs::read(path)
            .ok()
            .is_some_and(|bytes| serde_json::from_slice::<Value>(&bytes).is_ok())
    };
    if !state.exists() {
        return;
    }
    let previous = state.with_extension("prev.json");
    if readable(state) {
        let _ = std::fs::copy(state, &previous);
        return;
    }
    let torn = state.with_extension("torn.json");
    let _ = std::fs::rename(state, &torn);
    if readable(&previous) && std::fs::copy(&previous, state).is_ok() {
        eprintln!(
            "warning: {} was cut short (dev stopped while anvil wrote it); the chain starts from the copy before it",
            torn.display()
        );
    } else {
        eprintln!(
            "warning: {} was cut short and no earlier copy exists; the chain starts afresh",
            torn.display()
        );
    }
}

/// Starts anvil on the state kept in `DIR/anvil-state.json` and deploys the contracts unless
/// that state has them.
pub async fn start(data: &Path, near: Option<&Path>) -> Result<Chain> {
    let bin = dev::find_anvil(near).map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = data.join("anvil-state.json");
    let log = data.join("anvil.log");
    keep_readable_state(&state);
    let state_arg = state.display().to_string();
    // The state is written every second (and read back on the next start), so the chain, and
    // the deposits the relay's ledger credited, survive a restart, even a SIGKILL.
    // Through `datahub exec-child`, so that anvil gets SIGTERM when `dev` dies, even by SIGKILL.
    let exe = std::env::current_exe().context("cannot find the datahub executable")?;
    let parent = std::process::id().to_string();
    let anvil = Anvil::start_via(
        Some((&exe, &["exec-child"], (crate::dev::PARENT_ENV, &parent))),
        &bin,
        &["--state", &state_arg, "--state-interval", "1"],
        Some(&log),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e} (anvil {}, log {})", bin.display(), log.display()))?;
    if let Some(deployment) = read_deployment(data)
        && has_code(&anvil, &deployment.escrow).await
    {
        // anvil answers calls only at blocks made since it loaded its state: two new blocks
        // put the relay's confirmed head (one confirmation) where the audit can read balances.
        dev::mine(&anvil.rpc, 2)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(Chain {
            anvil,
            deployment,
            fresh: false,
            log,
        });
    }
    // The relay's treasury key, made now if the relay has not made it yet: the escrow must
    // know its signer from the start.
    let relay_dir = data.join("relay");
    std::fs::create_dir_all(&relay_dir)
        .with_context(|| format!("cannot create {}", relay_dir.display()))?;
    let treasury = keyfile::load_or_create(&relay_dir.join("treasury.key"))
        .context("cannot read or make the relay's treasury key")?;
    let artifacts = dev::find_artifacts(near).map_err(|e| anyhow::anyhow!("{e}"))?;
    let deployment = dev::deploy_all(
        &anvil.rpc,
        &artifacts,
        &anvil.deployer(),
        &treasury.public_key().address(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("deploying the contracts: {e}"))?;
    let record = json!({
        "escrow": deployment.escrow.to_checksum(),
        "usdt": deployment.usdt.to_checksum(),
        "oort": deployment.oort.to_checksum(),
        "block": deployment.block,
    });
    let file = deployment_file(data);
    std::fs::write(&file, format!("{record:#}\n"))
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(Chain {
        anvil,
        deployment,
        fresh: true,
        log,
    })
}

/// The relay's configuration for this run: `base` (the kept `relay.toml`) with the chain added,
/// in `DIR/relay-run.toml` (anvil's port changes from run to run), and `true`. A `base` that
/// names its own `[[chains]]` is used as it is, and `false` (the chain is not watched).
pub fn with_chain(data: &Path, base: &Path, chain: &Chain) -> Result<(PathBuf, bool)> {
    let text =
        std::fs::read_to_string(base).with_context(|| format!("cannot read {}", base.display()))?;
    if text.contains("[[chains]]") {
        return Ok((base.to_owned(), false));
    }
    let d = &chain.deployment;
    let url = &chain.anvil.url;
    let chain_toml = format!(
        "
# Added by `datahub dev` for this run: the local anvil chain.
[[chains]]
id = {id}
name = \"Anvil (datahub dev)\"
claim_contract = \"{escrow}\"
rpc_url = \"{url}\"
public_rpc_url = \"{url}\"
confirmations = 1
start_block = {block}
poll_interval_ms = 500

[chains.tokens.USDT]
address = \"{usdt}\"
decimals = 18

[chains.tokens.OORT]
address = \"{oort}\"
decimals = 18
",
        id = dev::CHAIN_ID,
        escrow = d.escrow.to_checksum(),
        block = d.block,
        usdt = d.usdt.to_checksum(),
        oort = d.oort.to_checksum(),
    );
    let path = data.join("relay-run.toml");
    std::fs::write(&path, format!("{text}{chain_toml}"))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok((path, true))
}

/// What `dev` prints about the chain.
pub fn summary(chain: &Chain) -> String {
    let d = &chain.deployment;
    format!(
        "  anvil   pid {:<7} {}  chain {}  escrow {}  USDT {}  OORT {}  log {}\n",
        chain.anvil.pid(),
        chain.anvil.url,
        dev::CHAIN_ID,
        d.escrow.to_checksum(),
        d.usdt.to_checksum(),
        d.oort.to_checksum(),
        chain.log.display()
    )
}

/// On a fresh chain, account 0 mints mock USDT, approves the escrow and deposits it for the demo
/// requester; then waits until the relay has credited it (whatever the chain, fresh or kept).
pub async fn fund_demo(client: &Relay, chain: &Chain, data: &Path) -> Result<String> {
    let (_, requester) = crate::demo::requester_key(data)?;
    let requester = requester.public_key().address();
    let amount = U256::parse(&format!("{DEMO_DEPOSIT}000000000000000000"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if chain.fresh {
        dev::mint_and_deposit(
            &chain.anvil.rpc,
            &chain.deployment,
            &chain.deployment.usdt,
            &chain.anvil.deployer(),
            &requester,
            amount,
        )
        .await
        .map_err(|e| anyhow::anyhow!("the demo deposit failed: {e}"))?;
        // One confirmation: the block on top of the deposit.
        dev::mine(&chain.anvil.rpc, 1)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let deadline = tokio::time::Instant::now() + CREDIT_TIMEOUT;
    loop {
        let last = match client.get_json("v1/treasury/audit").await {
            Ok(audit) => match credited(&audit) {
                Some(deposits) if deposits > 0.0 => {
                    return Ok(format!(
                        "demo requester {} funded on chain {} by a deposit of {DEMO_DEPOSIT} mock USDT (credited: {deposits} USDT in the escrow's books)",
                        requester.to_checksum(),
                        dev::CHAIN_ID
                    ));
                }
                _ => "the relay has not credited the deposit yet".to_owned(),
            },
            Err(e) => format!("{e:#}"),
        };
        if tokio::time::Instant::now() > deadline {
            bail!(
                "the relay did not credit the demo deposit within {} s ({last}); see the relay's log, and the chain's in {}",
                CREDIT_TIMEOUT.as_secs(),
                chain.log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// USDT deposits credited on the dev chain, from the audit.
fn credited(audit: &Value) -> Option<f64> {
    let chain = audit["chains"]
        .as_array()?
        .iter()
        .find(|c| c["chain_id"].as_u64() == Some(dev::CHAIN_ID))?;
    let usdt = chain["tokens"]
        .as_array()?
        .iter()
        .find(|t| t["token"] == "USDT")?;
    usdt["deposits"].as_str()?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::keep_readable_state;

    /// A state file cut short by a stop mid-write is replaced by the last readable copy, or set
    /// aside; a readable one is kept and copied.
    #[test]
    fn a_torn_state_file_is_replaced_by_the_last_readable_copy() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("anvil-state.json");
        let previous = dir.path().join("anvil-state.prev.json");
        keep_readable_state(&state);
        assert!(!state.exists());
        std::fs::write(&state, br#"{"block": 7}"#).unwrap();
        keep_readable_state(&state);
        assert_eq!(std::fs::read(&previous).unwrap(), br#"{"block": 7}"#);
        std::fs::write(&state, br#"{"block": 9, "acc"#).unwrap();
        keep_readable_state(&state);
        assert_eq!(std::fs::read(&state).unwrap(), br#"{"block": 7}"#);
        let torn = dir.path().join("anvil-state.torn.json");
        assert_eq!(std::fs::read(torn).unwrap(), br#"{"block": 9, "acc"#);
        std::fs::remove_file(&previous).unwrap();
        std::fs::write(&state, b"").unwrap();
        keep_readable_state(&state);
        assert!(!state.exists(), "no copy: the chain starts afresh");
    }
}
