//! A small Ethereum JSON-RPC client over the `reqwest` the relay already has: the five methods
//! the watcher and the audit use, and a generic [`Rpc::request`] for tools (`datahub dev`
//! deploys with it).
//!
//! Why not alloy: it is the well-kept Rust client, but it brings a dependency tree several times
//! the relay's own into a build that runs on two cores in CI, for five calls whose JSON is a few
//! lines each.
//!
//! The RPC endpoint is not trusted: answers are read up to a size limit, within a timeout, and
//! every field is checked (hex quantities fit their type, hashes are 32 bytes, a log's address
//! and block range are the ones asked for). A lying or broken endpoint gets an [`RpcError`],
//! never a panic and never a wrong credit.

use std::time::Duration;

use datahub_core::eth::Address;
use serde_json::{Value, json};

/// Largest answer read from an endpoint (a `eth_getLogs` over a batch of blocks fits easily).
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Longest one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RpcError {
    /// The endpoint could not be reached, timed out or answered with an HTTP error.
    Transport(String),
    /// The answer was longer than [`MAX_RESPONSE_BYTES`].
    TooLarge,
    /// The endpoint answered with a JSON-RPC error.
    Node {
        /// Its code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// The answer is not what the method returns (missing field, bad hex, wrong length, a log
    /// from another contract or block range).
    Invalid(String),
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "rpc unreachable: {e}"),
            Self::TooLarge => write!(f, "rpc answer larger than {MAX_RESPONSE_BYTES} bytes"),
            Self::Node { code, message } => write!(f, "rpc error {code}: {message}"),
            Self::Invalid(e) => write!(f, "rpc answer invalid: {e}"),
        }
    }
}

impl std::error::Error for RpcError {}

fn invalid(what: impl Into<String>) -> RpcError {
    RpcError::Invalid(what.into())
}

/// A block as the watcher needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: [u8; 32],
    /// Its parent's hash.
    pub parent_hash: [u8; 32],
    /// Its timestamp, Unix seconds.
    pub timestamp: u64,
}

/// One log entry, every field checked for form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// The contract that emitted it.
    pub address: Address,
    /// Its topics (0 to 4).
    pub topics: Vec<[u8; 32]>,
    /// Its data.
    pub data: Vec<u8>,
    /// The block it is in.
    pub block_number: u64,
    /// That block's hash.
    pub block_hash: [u8; 32],
    /// The transaction that emitted it.
    pub tx_hash: [u8; 32],
    /// Its index in the block.
    pub log_index: u64,
}

/// `0x…` hex quantity (no leading zeros required; `0x0` is zero) as a `u64`.
pub fn parse_quantity(value: &Value, what: &str) -> Result<u64, RpcError> {
    let text = value
        .as_str()
        .ok_or_else(|| invalid(format!("{what}: not a string")))?;
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| invalid(format!("{what}: no 0x prefix")))?;
    if digits.is_empty() || digits.len() > 16 {
        return Err(invalid(format!("{what}: not a 64-bit quantity")));
    }
    u64::from_str_radix(digits, 16).map_err(|_| invalid(format!("{what}: not hex")))
}

/// `0x…` hex of any even length as bytes, at most `max` of them.
pub fn parse_bytes(value: &Value, what: &str, max: usize) -> Result<Vec<u8>, RpcError> {
    let text = value
        .as_str()
        .ok_or_else(|| invalid(format!("{what}: not a string")))?;
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| invalid(format!("{what}: no 0x prefix")))?;
    if digits.len() > max.saturating_mul(2) {
        return Err(invalid(format!("{what}: longer than {max} bytes")));
    }
    hex::decode(digits).map_err(|_| invalid(format!("{what}: not hex")))
}

/// `0x` + 64 hex digits.
pub fn parse_hash(value: &Value, what: &str) -> Result<[u8; 32], RpcError> {
    let bytes = parse_bytes(value, what, 32)?;
    <[u8; 32]>::try_from(bytes).map_err(|_| invalid(format!("{what}: not 32 bytes")))
}

fn field<'a>(object: &'a Value, name: &str) -> Result<&'a Value, RpcError> {
    object
        .get(name)
        .ok_or_else(|| invalid(format!("missing field {name}")))
}

/// A quantity as JSON-RPC writes it.
pub fn quantity(n: u64) -> String {
    format!("0x{n:x}")
}

impl BlockRef {
    /// Reads a block object of `eth_getBlockByNumber`.
    pub fn parse(block: &Value) -> Result<Self, RpcError> {
        Ok(Self {
            number: parse_quantity(field(block, "number")?, "block number")?,
            hash: parse_hash(field(block, "hash")?, "block hash")?,
            parent_hash: parse_hash(field(block, "parentHash")?, "parent hash")?,
            timestamp: parse_quantity(field(block, "timestamp")?, "block timestamp")?,
        })
    }
}

impl Log {
    /// Reads one entry of `eth_getLogs`. A log flagged `removed` (an endpoint reporting a reorg)
    /// is refused: the watcher only reads blocks it believes final.
    pub fn parse(log: &Value) -> Result<Self, RpcError> {
        if log.get("removed").and_then(Value::as_bool) == Some(true) {
            return Err(invalid("a log marked removed"));
        }
        let address = field(log, "address")?
            .as_str()
            .and_then(|a| Address::parse(a).ok())
            .ok_or_else(|| invalid("log address"))?;
        let topics = field(log, "topics")?
            .as_array()
            .ok_or_else(|| invalid("log topics: not an array"))?;
        if topics.len() > 4 {
            return Err(invalid("log with more than 4 topics"));
        }
        let topics = topics
            .iter()
            .map(|t| parse_hash(t, "log topic"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            address,
            topics,
            data: parse_bytes(field(log, "data")?, "log data", 64 * 1024)?,
            block_number: parse_quantity(field(log, "blockNumber")?, "log block number")?,
            block_hash: parse_hash(field(log, "blockHash")?, "log block hash")?,
            tx_hash: parse_hash(field(log, "transactionHash")?, "log transaction hash")?,
            log_index: parse_quantity(field(log, "logIndex")?, "log index")?,
        })
    }
}

/// A JSON-RPC endpoint.
#[derive(Clone)]
pub struct Rpc {
    http: reqwest::Client,
    url: String,
}

impl std::fmt::Debug for Rpc {
    // The URL may carry an API key: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rpc")
    }
}

impl Rpc {
    /// A client for `url` (`http://` or `https://`). Redirects are not followed.
    pub fn new(url: &str) -> Result<Self, RpcError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(RpcError::Transport(
                "the rpc url must start with http:// or https://".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| RpcError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            url: url.to_owned(),
        })
    }

    /// Calls `method` with `params` and returns its `result` (which may be `null`).
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let mut response = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| RpcError::Transport(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(RpcError::Transport(format!("http {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(RpcError::TooLarge);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| RpcError::Transport(e.without_url().to_string()))?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(RpcError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        let answer: Value =
            serde_json::from_slice(&bytes).map_err(|_| invalid("not a JSON-RPC answer"))?;
        if let Some(error) = answer.get("error") {
            return Err(RpcError::Node {
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .chars()
                    .take(300)
                    .collect(),
            });
        }
        answer
            .get("result")
            .cloned()
            .ok_or_else(|| invalid("no result"))
    }

    /// `eth_chainId`.
    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        parse_quantity(&self.request("eth_chainId", json!([])).await?, "chain id")
    }

    /// `eth_blockNumber`: the head.
    pub async fn block_number(&self) -> Result<u64, RpcError> {
        parse_quantity(
            &self.request("eth_blockNumber", json!([])).await?,
            "block number",
        )
    }

    /// `eth_getBlockByNumber(number, false)`: `None` if the endpoint has no such block.
    pub async fn block(&self, number: u64) -> Result<Option<BlockRef>, RpcError> {
        let block = self
            .request("eth_getBlockByNumber", json!([quantity(number), false]))
            .await?;
        if block.is_null() {
            return Ok(None);
        }
        let block = BlockRef::parse(&block)?;
        if block.number != number {
            return Err(invalid(format!(
                "asked for block {number}, got {}",
                block.number
            )));
        }
        Ok(Some(block))
    }

    /// `eth_getLogs` of `address` from `from` to `to` (inclusive) whose topic 0 is one of
    /// `events`. Every log is checked to come from `address` within the range and to carry one
    /// of `events`; they come back in (block, log index) order.
    pub async fn logs(
        &self,
        address: &Address,
        events: &[[u8; 32]],
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, RpcError> {
        let topics: Vec<String> = events
            .iter()
            .map(|t| format!("0x{}", hex::encode(t)))
            .collect();
        let filter = json!({
            "address": address.to_checksum(),
            "fromBlock": quantity(from),
            "toBlock": quantity(to),
            "topics": [topics],
        });
        let answer = self.request("eth_getLogs", json!([filter])).await?;
        let entries = answer
            .as_array()
            .ok_or_else(|| invalid("logs: not an array"))?;
        let mut logs = entries
            .iter()
            .map(Log::parse)
            .collect::<Result<Vec<_>, _>>()?;
        for log in &logs {
            if log.address != *address {
                return Err(invalid("a log from another contract than asked"));
            }
            if log.block_number < from || log.block_number > to {
                return Err(invalid("a log outside the block range asked"));
            }
            if !log.topics.first().is_some_and(|t| events.contains(t)) {
                return Err(invalid("a log of another event than asked"));
            }
        }
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        if logs
            .windows(2)
            .any(|w| matches!(w, [a, b] if (a.block_number, a.log_index) == (b.block_number, b.log_index)))
        {
            return Err(invalid("two logs at the same position"));
        }
        Ok(logs)
    }

    /// `eth_call` of `data` on `to` at block `block`; returns the output (at most 64 KiB).
    pub async fn call(&self, to: &Address, data: &[u8], block: u64) -> Result<Vec<u8>, RpcError> {
        let call = json!({ "to": to.to_checksum(), "data": format!("0x{}", hex::encode(data)) });
        let answer = self
            .request("eth_call", json!([call, quantity(block)]))
            .await?;
        parse_bytes(&answer, "call output", 64 * 1024)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn log_json() -> Value {
        json!({
            "address": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
            "topics": [format!("0x{}", "11".repeat(32))],
            "data": "0x00ff",
            "blockNumber": "0x1b4",
            "blockHash": format!("0x{}", "22".repeat(32)),
            "transactionHash": format!("0x{}", "33".repeat(32)),
            "logIndex": "0x0",
            "removed": false,
        })
    }

    #[test]
    fn quantities_are_strict() {
        assert_eq!(parse_quantity(&json!("0x0"), "q"), Ok(0));
        assert_eq!(parse_quantity(&json!("0x1b4"), "q"), Ok(436));
        assert_eq!(
            parse_quantity(&json!("0xffffffffffffffff"), "q"),
            Ok(u64::MAX)
        );
        for bad in [
            json!("0x"),
            json!("1b4"),
            json!("0x1ffffffffffffffff"),
            json!("0xzz"),
            json!(436),
            json!(null),
            json!("0x-1"),
        ] {
            assert!(parse_quantity(&bad, "q").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_log_parses_and_every_bad_field_is_refused() {
        let log = Log::parse(&log_json()).unwrap();
        assert_eq!(log.block_number, 436);
        assert_eq!(log.data, vec![0, 255]);
        assert_eq!(log.topics, vec![[0x11; 32]]);
        let cases: [(&str, Value); 9] = [
            ("address", json!("0x1234")),
            ("topics", json!("0x11")),
            ("topics", json!(vec![format!("0x{}", "11".repeat(32)); 5])),
            ("topics", json!(["0x11"])),
            ("data", json!("0x0")),
            ("blockNumber", json!(null)),
            ("blockHash", json!(format!("0x{}", "22".repeat(31)))),
            ("transactionHash", json!(format!("0x{}", "33".repeat(33)))),
            ("removed", json!(true)),
        ];
        for (name, value) in cases {
            let mut bad = log_json();
            bad[name] = value.clone();
            assert!(Log::parse(&bad).is_err(), "{name} = {value}");
            let mut missing = log_json();
            if name != "removed" {
                missing.as_object_mut().unwrap().remove(name);
                assert!(Log::parse(&missing).is_err(), "without {name}");
            }
        }
    }

    #[test]
    fn a_block_parses() {
        let block = json!({
            "number": "0x10",
            "hash": format!("0x{}", "aa".repeat(32)),
            "parentHash": format!("0x{}", "bb".repeat(32)),
            "timestamp": "0x6553f100",
        });
        let b = BlockRef::parse(&block).unwrap();
        assert_eq!(
            (b.number, b.hash, b.timestamp),
            (16, [0xaa; 32], 0x6553_f100)
        );
        let mut bad = block.clone();
        bad["hash"] = json!("0xaa");
        assert!(BlockRef::parse(&bad).is_err());
    }

    #[test]
    fn only_http_urls() {
        assert!(Rpc::new("file:///etc/passwd").is_err());
        assert!(Rpc::new("http://127.0.0.1:8545").is_ok());
    }
}
