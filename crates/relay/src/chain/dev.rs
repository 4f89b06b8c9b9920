//! A development chain: anvil started on a free port of 127.0.0.1, and the committed contract
//! artifacts (`contracts/artifacts/*.json`) deployed and called through anvil's unlocked
//! accounts (`eth_sendTransaction`, no key signing). Used by `datahub dev` and the watcher's
//! tests (the one harness for both); the relay itself never runs it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use datahub_core::eth::{Address, U256, keccak256};
use serde_json::{Value, json};

use super::rpc::{Rpc, RpcError, parse_bytes, parse_quantity};

/// The chain id anvil is started with.
pub const CHAIN_ID: u64 = 31337;

/// Why the development chain could not be used.
#[derive(Debug)]
pub struct DevError(pub String);

impl std::fmt::Display for DevError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DevError {}

impl From<RpcError> for DevError {
    fn from(e: RpcError) -> Self {
        Self(e.to_string())
    }
}

/// The anvil binary: `$DATAHUB_ANVIL`, else `contracts/node_modules/.bin/anvil` of the checkout
/// around `near` (or the current folder), else `anvil` on `PATH`.
pub fn find_anvil(near: Option<&Path>) -> Result<PathBuf, DevError> {
    if let Some(path) = std::env::var_os("DATAHUB_ANVIL") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(DevError(format!(
                "DATAHUB_ANVIL names {}, which is not a file",
                path.display()
            )))
        };
    }
    let mut starts: Vec<PathBuf> = near.map(Path::to_path_buf).into_iter().collect();
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    for start in &starts {
        for dir in start.ancestors() {
            let candidate = dir.join("contracts/node_modules/.bin/anvil");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("anvil");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(DevError(
        "anvil not found: run `cargo xtask setup` (it installs anvil into contracts/node_modules), or set DATAHUB_ANVIL".into(),
    ))
}

/// A running anvil, killed when dropped.
pub struct Anvil {
    child: Child,
    /// Its JSON-RPC URL.
    pub url: String,
    /// Its client.
    pub rpc: Rpc,
    /// Its funded, unlocked accounts.
    pub accounts: Vec<Address>,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, DevError> {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| DevError(format!("no free port on 127.0.0.1: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| DevError(e.to_string()))
}

impl Anvil {
    /// Starts `bin` on a free port with chain id [`CHAIN_ID`] and `extra` arguments, its output
    /// in `log` (or discarded), and waits until it answers.
    pub async fn start(bin: &Path, extra: &[&str], log: Option<&Path>) -> Result<Self, DevError> {
        Self::start_via(None, bin, extra, log).await
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// As [`Anvil::start`], run through `wrapper` (a program and its first arguments, which
    /// execs anvil's command line after them) if given: `datahub dev` uses itself, so anvil
    /// dies with it (the parent-death signal survives `exec`).
    pub async fn start_via(
        wrapper: Option<(&Path, &[&str], (&str, &str))>,
        bin: &Path,
        extra: &[&str],
        log: Option<&Path>,
    ) -> Result<Self, DevError> {
        let mut last = String::new();
        for _attempt in 0..5 {
            let port = free_port()?;
            let out = match log {
                Some(log) => Stdio::from(
                    std::fs::File::create(log)
                        .map_err(|e| DevError(format!("cannot create {}: {e}", log.display())))?,
                ),
                None => Stdio::null(),
            };
            let mut command = match wrapper {
                Some((program, first, (key, value))) => {
                    let mut c = Command::new(program);
                    c.args(first).arg(bin).env(key, value);
                    c
                }
                None => Command::new(bin),
            };
            let child = command
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--chain-id", &CHAIN_ID.to_string()])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| DevError(format!("cannot run {}: {e}", bin.display())))?;
            let url = format!("http://127.0.0.1:{port}");
            let rpc = Rpc::new(&url)?;
            let mut anvil = Self {
                child,
                url,
                rpc,
                accounts: Vec::new(),
            };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = anvil.child.try_wait() {
                    last = format!("anvil exited with {status}");
                    break;
                }
                if let Ok(accounts) = anvil.rpc.request("eth_accounts", json!([])).await {
                    anvil.accounts = accounts
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| Address::parse(v.as_str()?).ok())
                                .collect()
                        })
                        .unwrap_or_default();
                    if anvil.accounts.is_empty() {
                        return Err(DevError("anvil has no unlocked accounts".into()));
                    }
                    return Ok(anvil);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if last.is_empty() {
                last = "anvil did not answer within 15 s".into();
            }
        }
        Err(DevError(last))
    }

    /// Account 0 (the deployer).
    pub fn deployer(&self) -> Address {
        self.accounts.first().copied().unwrap_or(Address::ZERO)
    }
}

/// Mines `n` blocks.
pub async fn mine(rpc: &Rpc, n: u64) -> Result<(), DevError> {
    rpc.request("anvil_mine", json!([super::rpc::quantity(n)]))
        .await?;
    Ok(())
}

/// One ABI value.
#[derive(Debug, Clone)]
pub enum Token {
    /// A static 32-byte word (address, uint, bool).
    Word([u8; 32]),
    /// `bytes` or `string`.
    Bytes(Vec<u8>),
    /// A dynamic array of static words (`address[]`).
    Words(Vec<[u8; 32]>),
}

impl Token {
    /// An address.
    pub fn address(a: &Address) -> Self {
        let mut w = [0; 32];
        w[12..].copy_from_slice(a.as_bytes());
        Self::Word(w)
    }

    /// A `uint256`.
    pub fn uint(v: U256) -> Self {
        Self::Word(v.to_be_bytes())
    }

    /// A string.
    pub fn string(s: &str) -> Self {
        Self::Bytes(s.as_bytes().to_vec())
    }
}

fn word_usize(n: usize) -> [u8; 32] {
    U256::from_u64(u64::try_from(n).unwrap_or(u64::MAX)).to_be_bytes()
}

/// Head-and-tail ABI encoding of a list of values (function arguments, constructor arguments;
/// a static tuple is its words in line).
pub fn encode(tokens: &[Token]) -> Vec<u8> {
    let mut head = Vec::new();
    let mut tail = Vec::new();
    let head_len = 32 * tokens.len();
    for token in tokens {
        match token {
            Token::Word(w) => head.extend_from_slice(w),
            Token::Bytes(b) => {
                head.extend_from_slice(&word_usize(head_len + tail.len()));
                tail.extend_from_slice(&word_usize(b.len()));
                tail.extend_from_slice(b);
                tail.resize(tail.len().div_ceil(32) * 32, 0);
            }
            Token::Words(ws) => {
                head.extend_from_slice(&word_usize(head_len + tail.len()));
                tail.extend_from_slice(&word_usize(ws.len()));
                for w in ws {
                    tail.extend_from_slice(w);
                }
            }
        }
    }
    head.extend_from_slice(&tail);
    head
}

/// Calldata of `signature` (`"mint(address,uint256)"`) with `args`.
pub fn calldata(signature: &str, args: &[Token]) -> Vec<u8> {
    let hash = keccak256(signature.as_bytes());
    let mut data = hash.get(..4).unwrap_or_default().to_vec();
    data.extend_from_slice(&encode(args));
    data
}

/// A committed artifact's creation bytecode, from `contracts/artifacts/<name>.json`.
pub fn artifact_bytecode(artifacts: &Path, name: &str) -> Result<Vec<u8>, DevError> {
    let path = artifacts.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| DevError(format!("cannot read {}: {e}", path.display())))?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| DevError(format!("{}: {e}", path.display())))?;
    let code = json
        .get("bytecode")
        .ok_or_else(|| DevError(format!("{}: no bytecode", path.display())))?;
    parse_bytes(code, "bytecode", 1 << 20).map_err(|e| DevError(format!("{}: {e}", path.display())))
}

/// `contracts/artifacts` of the checkout around `near` (or the current folder, or this crate).
pub fn find_artifacts(near: Option<&Path>) -> Result<PathBuf, DevError> {
    let mut starts: Vec<PathBuf> = near.map(Path::to_path_buf).into_iter().collect();
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    starts
        .iter()
        .flat_map(|s| s.ancestors().map(|d| d.join("contracts/artifacts")))
        .find(|d| d.join("DataHubEscrow.json").is_file())
        .ok_or_else(|| {
            DevError(
                "contracts/artifacts/DataHubEscrow.json not found: run from the DataHub checkout"
                    .into(),
            )
        })
}

/// A mined transaction.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// Its hash.
    pub tx_hash: [u8; 32],
    /// The block it is in.
    pub block_number: u64,
    /// The contract it created, if any.
    pub contract: Option<Address>,
    /// Gas it used.
    pub gas_used: u64,
}

/// Sends a transaction from an unlocked account and waits for its receipt; a reverted
/// transaction is an error.
pub async fn send(
    rpc: &Rpc,
    from: &Address,
    to: Option<&Address>,
    data: &[u8],
) -> Result<Receipt, DevError> {
    let data = format!("0x{}", hex::encode(data));
    let tx = match to {
        Some(to) => json!({ "from": from.to_checksum(), "to": to.to_checksum(), "data": data }),
        None => json!({ "from": from.to_checksum(), "data": data }),
    };
    let hash = rpc.request("eth_sendTransaction", json!([tx])).await?;
    let hash_text = hash.as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let receipt = rpc
            .request("eth_getTransactionReceipt", json!([hash_text]))
            .await?;
        if !receipt.is_null() {
            let status = receipt.get("status").map(|s| parse_quantity(s, "status"));
            if !matches!(status, Some(Ok(1))) {
                return Err(DevError(format!("transaction {hash_text} reverted")));
            }
            let field = |name: &str| receipt.get(name).cloned().unwrap_or(Value::Null);
            return Ok(Receipt {
                tx_hash: super::rpc::parse_hash(&hash, "tx hash")?,
                block_number: parse_quantity(&field("blockNumber"), "block number")?,
                contract: field("contractAddress")
                    .as_str()
                    .and_then(|a| Address::parse(a).ok()),
                gas_used: parse_quantity(&field("gasUsed"), "gas used")?,
            });
        }
        if Instant::now() > deadline {
            return Err(DevError(format!(
                "transaction {hash_text} not mined within 30 s (is anvil mining?)"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Deploys `bytecode` with constructor `args`; returns the contract's address.
pub async fn deploy(
    rpc: &Rpc,
    from: &Address,
    bytecode: &[u8],
    args: &[Token],
) -> Result<Address, DevError> {
    let mut data = bytecode.to_vec();
    data.extend_from_slice(&encode(args));
    send(rpc, from, None, &data)
        .await?
        .contract
        .ok_or_else(|| DevError("the deployment created no contract".into()))
}

/// The contracts a development chain runs.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The escrow.
    pub escrow: Address,
    /// Mock USDT (18 decimals, as on BNB Smart Chain).
    pub usdt: Address,
    /// Mock OORT (18 decimals).
    pub oort: Address,
    /// The block the escrow was deployed in (where the watcher starts).
    pub block: u64,
}

/// Deploys mock USDT and OORT and the escrow with `signer` as its voucher signer, from account
/// `from` (admin and guardian too).
pub async fn deploy_all(
    rpc: &Rpc,
    artifacts: &Path,
    from: &Address,
    signer: &Address,
) -> Result<Deployment, DevError> {
    let token = artifact_bytecode(artifacts, "MockERC20")?;
    let escrow_code = artifact_bytecode(artifacts, "DataHubEscrow")?;
    let mock = |name: &'static str, symbol: &'static str| {
        [
            Token::string(name),
            Token::string(symbol),
            Token::uint(U256::from_u64(18)),
        ]
    };
    let usdt = deploy(rpc, from, &token, &mock("Mock Tether USD", "USDT")).await?;
    let oort = deploy(rpc, from, &token, &mock("Mock OORT", "OORT")).await?;
    let escrow_args = [
        Token::address(from),
        Token::address(from),
        Token::Words(vec![word(signer)]),
    ];
    let mut data = escrow_code;
    data.extend_from_slice(&encode(&escrow_args));
    let receipt = send(rpc, from, None, &data).await?;
    let escrow = receipt
        .contract
        .ok_or_else(|| DevError("the escrow deployment created no contract".into()))?;
    Ok(Deployment {
        escrow,
        usdt,
        oort,
        block: receipt.block_number,
    })
}

fn word(a: &Address) -> [u8; 32] {
    let mut w = [0; 32];
    w[12..].copy_from_slice(a.as_bytes());
    w
}

/// Mints `amount` of `token` to `payer` and approves the escrow to take it.
pub async fn mint_and_approve(
    rpc: &Rpc,
    deployment: &Deployment,
    token: &Address,
    payer: &Address,
    amount: U256,
) -> Result<(), DevError> {
    let mint = calldata(
        "mint(address,uint256)",
        &[Token::address(payer), Token::uint(amount)],
    );
    send(rpc, payer, Some(token), &mint).await?;
    let approve = calldata(
        "approve(address,uint256)",
        &[Token::address(&deployment.escrow), Token::uint(amount)],
    );
    send(rpc, payer, Some(token), &approve).await?;
    Ok(())
}

/// `payer` deposits `amount` of `token` (approved before) for `requester`.
pub async fn deposit(
    rpc: &Rpc,
    deployment: &Deployment,
    token: &Address,
    payer: &Address,
    requester: &Address,
    amount: U256,
) -> Result<Receipt, DevError> {
    let deposit = calldata(
        "deposit(address,address,uint256)",
        &[
            Token::address(requester),
            Token::address(token),
            Token::uint(amount),
        ],
    );
    send(rpc, payer, Some(&deployment.escrow), &deposit).await
}

/// Mints, approves and deposits `amount` of `token` from `payer` for `requester`.
pub async fn mint_and_deposit(
    rpc: &Rpc,
    deployment: &Deployment,
    token: &Address,
    payer: &Address,
    requester: &Address,
    amount: U256,
) -> Result<Receipt, DevError> {
    mint_and_approve(rpc, deployment, token, payer, amount).await?;
    deposit(rpc, deployment, token, payer, requester, amount).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// The encoding of `(string "USDT", uint8 18)` is the one solc expects (offsets, padding).
    #[test]
    fn dynamic_values_encode_head_and_tail() {
        let out = encode(&[Token::string("USDT"), Token::uint(U256::from_u64(18))]);
        assert_eq!(out.len(), 4 * 32);
        assert_eq!(out[31], 64); // offset of the string
        assert_eq!(out[63], 18);
        assert_eq!(out[95], 4); // its length
        assert_eq!(&out[96..100], b"USDT");
        assert!(out[100..].iter().all(|b| *b == 0));
        let arr = encode(&[Token::Words(vec![[1; 32], [2; 32]])]);
        assert_eq!(arr.len(), 32 * 4);
        assert_eq!(arr[31], 32);
        assert_eq!(arr[63], 2);
    }
}
