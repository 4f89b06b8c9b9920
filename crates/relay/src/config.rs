//! The relay's configuration: built-in defaults for one machine, a TOML file, then environment
//! variables (`DATAHUB_*`), each overriding the one before.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use datahub_core::eth::Address;
use serde::Deserialize;

/// Everything the relay can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where to listen. Env: `DATAHUB_LISTEN`.
    pub listen: SocketAddr,
    /// Folder for the SQLite database, the relay's keys and logs. Env: `DATAHUB_DATA`.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; unset means SQLite at `<data_dir>/relay.db`.
    /// Env: `DATAHUB_DATABASE_URL`.
    pub database_url: Option<String>,
    /// Reader connections to the database.
    pub db_readers: usize,
    /// Host names (with port) that sign-in messages may name, as browsers reach the relay.
    /// Empty means `127.0.0.1:<port>` and `localhost:<port>`. Env: `DATAHUB_SIWE_DOMAINS`
    /// (comma-separated).
    pub siwe_domains: Vec<String>,
    /// The web app's folder, served at `/` if set.
    pub www_dir: Option<PathBuf>,
    /// The npm package's folder, served at `/pkg/` if set.
    pub pkg_dir: Option<PathBuf>,
    /// Key file of the treasury that signs reward vouchers; default `<data_dir>/treasury.key`.
    pub treasury_key_file: Option<PathBuf>,
    /// How long a claim voucher can be redeemed, in seconds.
    pub voucher_ttl_secs: u64,
    /// How long after a voucher's deadline the watcher waits before it credits an unredeemed
    /// voucher back to the contributor, in seconds (clocks differ; chains lag).
    pub voucher_return_margin_secs: u64,
    /// How long a sign-in nonce stays usable, in seconds.
    pub nonce_ttl_secs: u64,
    /// The longest a session may last, in seconds, whatever the wallet grants.
    pub max_session_secs: u64,
    /// Allowed clock difference for signed requests, in seconds.
    pub max_clock_skew_secs: u64,
    /// A node silent for this long is taken for dead, in seconds.
    pub node_timeout_secs: u64,
    /// Seconds between two audit rounds (0: no audits).
    pub audit_interval_secs: u64,
    /// Seconds between two repair rounds (0: no repair).
    pub repair_interval_secs: u64,
    /// Request limits.
    pub limits: Limits,
    /// Chains on which rewards can be claimed, with their claim contract and tokens.
    pub chains: Vec<ChainConfig>,
}

/// Sizes, times and rates that protect the relay.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest JSON body, in bytes (campaign creation has its own limit).
    pub body_bytes: usize,
    /// Largest campaign definition, in bytes.
    pub campaign_body_bytes: usize,
    /// Largest shard upload, in bytes.
    pub shard_bytes: usize,
    /// Longest a request may take, headers to response, in seconds.
    pub request_timeout_secs: u64,
    /// Longest a client may take to send its request headers, in seconds.
    pub header_timeout_secs: u64,
    /// Requests per second allowed from one IP address (sustained).
    pub ip_per_sec: f64,
    /// Burst allowed from one IP address.
    pub ip_burst: f64,
    /// Requests per second allowed for one signed-in address (sustained).
    pub address_per_sec: f64,
    /// Burst allowed for one address.
    pub address_burst: f64,
    /// Most items in one campaign.
    pub max_items: usize,
}

/// One chain where rewards are claimed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// EIP-155 chain id.
    pub id: u64,
    /// A name for people.
    pub name: String,
    /// The claim contract that redeems vouchers (the EIP-712 domain's `verifyingContract`).
    pub claim_contract: String,
    /// Tokens payable on this chain, by symbol (`USDT`, `OORT`).
    pub tokens: BTreeMap<String, TokenConfig>,
    /// JSON-RPC endpoint the relay watches the escrow (`claim_contract`) through; unset: the
    /// chain is not watched (no deposits credited, no claims seen, no expiry).
    #[serde(default)]
    pub rpc_url: Option<String>,
    /// An RPC endpoint for wallets, shown in `/v1/info` (never `rpc_url`, which may carry a
    /// key).
    #[serde(default)]
    pub public_rpc_url: Option<String>,
    /// Blocks a log must be buried under before it counts (default 12).
    #[serde(default = "default_confirmations")]
    pub confirmations: u64,
    /// First block to read the escrow's logs from (its deployment block).
    #[serde(default)]
    pub start_block: u64,
    /// Milliseconds between two polls of the endpoint (default 2000).
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
}

fn default_confirmations() -> u64 {
    12
}

fn default_poll_interval_ms() -> u64 {
    2000
}

/// A token on one chain.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The ERC-20 contract.
    pub address: String,
    /// The token's decimals (the ledger counts millionths, so at least 6).
    pub decimals: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 64 * 1024,
            campaign_body_bytes: 32 * 1024 * 1024,
            shard_bytes: 16 * 1024 * 1024,
            request_timeout_secs: 30,
            header_timeout_secs: 10,
            ip_per_sec: 200.0,
            ip_burst: 400.0,
            address_per_sec: 20.0,
            address_burst: 60.0,
            max_items: 100_000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("datahub-data"),
            database_url: None,
            db_readers: 4,
            siwe_domains: Vec::new(),
            www_dir: None,
            pkg_dir: None,
            treasury_key_file: None,
            voucher_ttl_secs: 7 * 24 * 3600,
            voucher_return_margin_secs: 3600,
            nonce_ttl_secs: 600,
            max_session_secs: 7 * 24 * 3600,
            max_clock_skew_secs: 60,
            node_timeout_secs: 15,
            audit_interval_secs: 10,
            repair_interval_secs: 5,
            limits: Limits::default(),
            chains: default_chains(),
        }
    }
}

/// The chains a local network starts with. The token addresses are the real BEP-20 USDT on BNB
/// Smart Chain and placeholders elsewhere; the claim contracts are placeholders until one is
/// deployed: set real ones in the config file before paying anyone.
fn default_chains() -> Vec<ChainConfig> {
    let token = |address: &str, decimals| TokenConfig {
        address: address.to_owned(),
        decimals,
    };
    vec![
        ChainConfig {
            id: 56,
            name: "BNB Smart Chain".into(),
            claim_contract: "0x00000000000000000000000000000000da7a0056".into(),
            tokens: BTreeMap::from([
                (
                    "USDT".into(),
                    token("0x55d398326f99059fF775485246999027B3197955", 18),
                ),
                (
                    "OORT".into(),
                    token("0x00000000000000000000000000000000000a0056", 18),
                ),
            ]),
            ..unwatched()
        },
        ChainConfig {
            id: 1,
            name: "Ethereum".into(),
            claim_contract: "0x00000000000000000000000000000000da7a0001".into(),
            tokens: BTreeMap::from([
                (
                    "USDT".into(),
                    token("0xdAC17F958D2ee523a2206206994597C13D831ec7", 6),
                ),
                (
                    "OORT".into(),
                    token("0x00000000000000000000000000000000000a0001", 18),
                ),
            ]),
            ..unwatched()
        },
    ]
}

/// The watcher's settings of a chain that is not watched (no RPC endpoint), to fill in the rest
/// of a built-in chain.
fn unwatched() -> ChainConfig {
    ChainConfig {
        id: 0,
        name: String::new(),
        claim_contract: String::new(),
        tokens: BTreeMap::new(),
        rpc_url: None,
        public_rpc_url: None,
        confirmations: default_confirmations(),
        start_block: 0,
        poll_interval_ms: default_poll_interval_ms(),
    }
}

/// Why the configuration cannot be used.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?
            }
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("DATAHUB_LISTEN") {
            self.listen = v
                .parse()
                .map_err(|_| ConfigError(format!("DATAHUB_LISTEN: not an address: {v}")))?;
        }
        if let Some(v) = var("DATAHUB_DATA") {
            self.data_dir = v.into();
        }
        if let Some(v) = var("DATAHUB_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = var("DATAHUB_SIWE_DOMAINS") {
            self.siwe_domains = v.split(',').map(|s| s.trim().to_owned()).collect();
        }
        Ok(())
    }

    /// Checks what serde cannot: addresses, decimals, sane limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |what: String| Err(ConfigError(what));
        for chain in &self.chains {
            if Address::parse(&chain.claim_contract).is_err() {
                return bad(format!(
                    "chain {}: claim_contract is not an address",
                    chain.id
                ));
            }
            for url in [&chain.rpc_url, &chain.public_rpc_url]
                .into_iter()
                .flatten()
            {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return bad(format!(
                        "chain {}: rpc urls must start with http:// or https://",
                        chain.id
                    ));
                }
            }
            if chain.confirmations > 100_000 {
                return bad(format!(
                    "chain {}: confirmations must be at most 100000",
                    chain.id
                ));
            }
            if chain.poll_interval_ms < 100 {
                return bad(format!(
                    "chain {}: poll_interval_ms must be at least 100",
                    chain.id
                ));
            }
            for (symbol, token) in &chain.tokens {
                if Address::parse(&token.address).is_err() {
                    return bad(format!("chain {} token {symbol}: not an address", chain.id));
                }
                if !(6..=36).contains(&token.decimals) {
                    return bad(format!(
                        "chain {} token {symbol}: decimals must be 6..=36 (the ledger counts millionths)",
                        chain.id
                    ));
                }
            }
        }
        if self.limits.ip_per_sec <= 0.0 || self.limits.address_per_sec <= 0.0 {
            return bad("limits: rates must be positive".into());
        }
        Ok(())
    }

    /// The chain with this id.
    pub fn chain(&self, id: u64) -> Option<&ChainConfig> {
        self.chains.iter().find(|c| c.id == id)
    }

    /// Host names sign-in messages may name.
    pub fn siwe_domains(&self, port: u16) -> Vec<String> {
        if self.siwe_domains.is_empty() {
            vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")]
        } else {
            self.siwe_domains.clone()
        }
    }

    /// Where the database is.
    pub fn database(&self) -> crate::db::Location {
        match &self.database_url {
            Some(url) => crate::db::Location::parse(url),
            None => crate::db::Location::Sqlite(self.data_dir.join("relay.db")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_env_overrides() {
        let mut config = Config::default();
        config.validate().unwrap();
        config
            .apply_env(|name| match name {
                "DATAHUB_LISTEN" => Some("127.0.0.1:9999".into()),
                "DATAHUB_DATABASE_URL" => Some("postgres://x@127.0.0.1/db".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.listen.port(), 9999);
        assert_eq!(config.database().backend(), "postgres");
    }

    #[test]
    fn file_with_unknown_field_is_refused() {
        let err = toml::from_str::<Config>("listn = \"127.0.0.1:1\"").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
