//! The relay's configuration: built-in defaults for one machine, a TOML file, then environment
//! variables (`DATAHUB_*`), each overriding the one before.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
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
    /// Writer connections on PostgreSQL, each running one write per transaction (SQLite has one
    /// writer whatever this says: its writes take one lock, and it commits them in groups).
    /// Writers in parallel overlap their round trips to the server and its commits; a
    /// submission or lease that deadlocks with another write is run again.
    pub db_writers: usize,
    /// Host names (with port) that sign-in messages may name, as browsers reach the relay.
    /// Empty means `127.0.0.1:<port>` and `localhost:<port>`. Env: `DATAHUB_SIWE_DOMAINS`
    /// (comma-separated).
    pub siwe_domains: Vec<String>,
    /// The web app's folder, served at `/` if set.
    pub www_dir: Option<PathBuf>,
    /// The npm package's folder, served at `/pkg/` if set.
    pub pkg_dir: Option<PathBuf>,
    /// Key file of the treasury that signs reward vouchers. Unset: `<data_dir>/treasury.key`,
    /// made on first start. A file named here must exist (a typo must not silently make a new
    /// treasury). Key files must be readable by their owner only (`chmod 600`).
    pub treasury_key_file: Option<PathBuf>,
    /// Addresses allowed to sign admin commands (operator grants of funding).
    pub operators: Vec<String>,
    /// Validator addresses the operator approved: a campaign may name only these as its
    /// `validators` (a requester could otherwise name itself, reject every upload unpaid and
    /// still decrypt it, or name a stranger's key to flood it).
    pub approved_validators: Vec<String>,
    /// Let a campaign name any validator key but its requester's own (development and tests).
    /// Env: `DATAHUB_OPEN_VALIDATORS` (`1`/`true`).
    pub open_validators: bool,
    /// Let an upload campaign name no validator, its uploads then paid at once unchecked: only
    /// on a development relay (`dev`), for the demo campaigns `datahub dev` seeds. Elsewhere an
    /// upload campaign without validators is refused. Env: `DATAHUB_UNCHECKED_UPLOADS`.
    pub unchecked_uploads: bool,
    /// A local network for development (`datahub dev`): placeholder contracts are accepted, and
    /// with no `chains` the relay pays on [`Config::dev_chains`]. Never on a relay that pays
    /// anyone.
    pub dev: bool,
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
    /// Chains on which rewards can be claimed, with their claim contract and tokens (none by
    /// default: a relay pays only where it is told to). Each chain id once.
    pub chains: Vec<ChainConfig>,
    /// Reverse proxies (addresses or CIDR networks, `10.0.0.0/8`, `::1`) whose
    /// `X-Forwarded-For` and `X-Forwarded-Proto` are believed. Empty: none, every client is the
    /// connection's peer. Env: `DATAHUB_TRUSTED_PROXIES` (comma-separated).
    pub trusted_proxies: Vec<String>,
    /// The storage network's defences against hostile nodes.
    pub storage: StorageConfig,
}

/// How the relay guards itself and its data against storage nodes (docs/relay.md, "Storage
/// nodes"). The defaults suit a public relay; `datahub dev` and the tests turn on
/// `allow_private_nodes` and `open_admission` to run nodes on 127.0.0.1.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Accept node endpoints on loopback, private, link-local, CGNAT and other non-public
    /// addresses. Off on a public relay: a node endpoint is a URL the relay fetches, so without
    /// this check anyone could make the relay reach its own network (SSRF).
    /// Env: `DATAHUB_ALLOW_PRIVATE_NODES` (`1`/`true`).
    pub allow_private_nodes: bool,
    /// Let any key register as a node. Off on a public relay: nodes must first be admitted by
    /// an operator (listed in `admitted_nodes` or `POST /v1/nodes/admit`), so one person cannot
    /// register enough nodes to hold whole segments. Env: `DATAHUB_OPEN_ADMISSION`.
    pub open_admission: bool,
    /// Let any key create objects. Off on a public relay: creating an object needs an active
    /// lease on an upload campaign or a requester's key (one with a campaign or funds), so a
    /// stranger cannot fill the nodes. Env: `DATAHUB_OPEN_UPLOADS`.
    pub open_uploads: bool,
    /// Nodes admitted by configuration: address → region (the failure domain placement spreads
    /// over, set by the operator, not by the node).
    pub admitted_nodes: BTreeMap<String, String>,
    /// The most capacity a node is believed to offer, in bytes, whatever it claims.
    pub max_node_capacity: u64,
    /// Longest the relay waits for one node request (connect to last byte), in seconds; kept
    /// below `limits.request_timeout_secs` so a slow node cannot eat a client's whole request.
    pub node_request_secs: u64,
    /// A node whose audits keep failing by timeout or 5xx for this long is judged failing (each
    /// such audit then costs reputation like a wrong proof), in seconds.
    pub audit_grace_secs: u64,
    /// Nodes are paid per epoch of this many seconds (docs/relay.md §7a): audits are counted
    /// per epoch, and each ended epoch is settled once.
    pub epoch_secs: u64,
    /// What a node earns for holding one GiB of a campaign's shards for 30 days, in tokens
    /// (`"0.002"`), pro rata per epoch; paid from the campaign's storage reservation.
    pub fee_per_gib_month: String,
    /// What a node earns per audit it passes on a campaign's shard, in tokens.
    pub fee_per_audit: String,
    /// Most shards one manifest may list: each is a row written in the single writer's
    /// transaction, so an endless manifest would stall every other write.
    pub max_manifest_shards: u64,
    /// Most sealed bytes of objects one wallet may have created.
    pub max_bytes_per_wallet: u64,
    /// Most shards the objects of one wallet may list in all. Bytes alone do not bound the
    /// rows: a manifest of 1 KiB segments lists up to 128 shards per KiB, so a wallet within its
    /// byte quota could still write hundreds of millions of rows.
    pub max_shards_per_wallet: u64,
    /// An object no submission names, uploaded by no requester, is deleted from the nodes once
    /// this old, in seconds (above the longest lease, so an upload in progress is kept).
    pub orphan_grace_secs: u64,
    /// Share of the shards a node holds that each audit round checks (at least one shard, at
    /// most `audit_max_per_node`): audits are proportional to what a node holds, so every
    /// shard is checked about once in `1 / audit_share` rounds whichever node holds it
    /// (docs/relay.md §7, "How soon a lost shard is found"). From 0 (exclusive) to 1.
    pub audit_share: f64,
    /// The most shards of one node checked in one audit round.
    pub audit_max_per_node: u64,
}

impl StorageConfig {
    /// `fee_per_gib_month` in ledger units (checked at start; 0 if it were not a number).
    pub fn fee_per_gib_month_units(&self) -> crate::ledger::Units {
        crate::ledger::parse_amount(&self.fee_per_gib_month).unwrap_or(0)
    }

    /// `fee_per_audit` in ledger units (checked at start).
    pub fn fee_per_audit_units(&self) -> crate::ledger::Units {
        crate::ledger::parse_amount(&self.fee_per_audit).unwrap_or(0)
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            allow_private_nodes: false,
            open_admission: false,
            open_uploads: false,
            admitted_nodes: BTreeMap::new(),
            max_node_capacity: 16 * 1024 * 1024 * 1024 * 1024,
            node_request_secs: 10,
            audit_grace_secs: 60,
            epoch_secs: 3600,
            fee_per_gib_month: "0.002".into(),
            fee_per_audit: "0.000001".into(),
            // 4 + 2 over 4 MiB segments: objects up to about 10 GiB.
            max_manifest_shards: 16_384,
            max_bytes_per_wallet: 10 * 1024 * 1024 * 1024,
            // About 170,000 photos of one segment each (six shards at 4 + 2).
            max_shards_per_wallet: 1_048_576,
            orphan_grace_secs: 2 * 24 * 3600,
            audit_share: 0.01,
            audit_max_per_node: 32,
        }
    }
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
    /// Sign-ins allowed per hour from one network (see `sign_in_ipv4_prefix`); as many may come
    /// at once, then one every `3600 / sign_ins_per_hour` seconds.
    pub sign_ins_per_hour: f64,
    /// The IPv4 network sign-ins are counted by, as a prefix length (24: a /24).
    pub sign_in_ipv4_prefix: u8,
    /// The IPv6 network sign-ins are counted by, as a prefix length (64: one subscriber's /64).
    pub sign_in_ipv6_prefix: u8,
    /// Active leases one network (the sign-in networks above) may hold in one campaign at once,
    /// so that a farm of wallets behind one address cannot take a campaign's tasks from everyone
    /// else.
    pub leases_per_network: u32,
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
            sign_ins_per_hour: 60.0,
            sign_in_ipv4_prefix: 24,
            sign_in_ipv6_prefix: 64,
            leases_per_network: 20,
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
            db_writers: 8,
            siwe_domains: Vec::new(),
            www_dir: None,
            pkg_dir: None,
            treasury_key_file: None,
            operators: Vec::new(),
            approved_validators: Vec::new(),
            open_validators: false,
            unchecked_uploads: false,
            dev: false,
            voucher_ttl_secs: 7 * 24 * 3600,
            voucher_return_margin_secs: 3600,
            nonce_ttl_secs: 600,
            max_session_secs: 7 * 24 * 3600,
            max_clock_skew_secs: 60,
            node_timeout_secs: 15,
            audit_interval_secs: 10,
            repair_interval_secs: 5,
            limits: Limits::default(),
            chains: Vec::new(),
            storage: StorageConfig::default(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Whether `address` is one of the made-up addresses that stand in for contracts not deployed
/// (`0x00000000000000000000000000000000da7a0056`): sixteen or more leading zero bytes. No
/// deployed contract or token has such an address (they are hashes), so a relay that names one
/// would sign vouchers nobody can redeem, or pay in a token that does not exist.
pub fn is_placeholder(address: &Address) -> bool {
    address.as_bytes().iter().take(16).all(|b| *b == 0)
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
    /// The chain a development network (`dev = true`) pays on when none is configured: BNB
    /// Smart Chain's id with a placeholder claim contract and tokens (18 decimals, as there).
    /// Vouchers signed for it cannot be redeemed anywhere.
    pub fn dev_chains() -> Vec<ChainConfig> {
        let token = |address: &str| TokenConfig {
            address: address.to_owned(),
            decimals: 18,
        };
        vec![ChainConfig {
            id: 56,
            name: "BNB Smart Chain (development placeholders)".into(),
            claim_contract: "0x00000000000000000000000000000000da7a0056".into(),
            tokens: BTreeMap::from([
                (
                    "USDT".into(),
                    token("0x00000000000000000000000000000000000b0056"),
                ),
                (
                    "OORT".into(),
                    token("0x00000000000000000000000000000000000a0056"),
                ),
            ]),
            ..unwatched()
        }]
    }

    /// Fills in what follows from other settings (the development chain), then validates.
    pub fn finish(mut self) -> Result<Self, ConfigError> {
        if self.dev && self.chains.is_empty() {
            self.chains = Self::dev_chains();
        }
        self.validate()?;
        Ok(self)
    }

    /// Defaults, then `file` if given, then the environment; not yet [finished](Self::finish).
    pub fn load_unfinished(file: Option<&Path>) -> Result<Self, ConfigError> {
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
        Ok(config)
    }

    /// Defaults, then `file` if given, then the environment; [finished](Self::finish).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_unfinished(file)?.finish()
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
        let switch = |name: &str, v: String| match v.as_str() {
            "1" | "true" => Ok(true),
            "0" | "false" => Ok(false),
            _ => Err(ConfigError(format!(
                "{name}: expected 1, 0, true or false, not {v}"
            ))),
        };
        if let Some(v) = var("DATAHUB_ALLOW_PRIVATE_NODES") {
            self.storage.allow_private_nodes = switch("DATAHUB_ALLOW_PRIVATE_NODES", v)?;
        }
        if let Some(v) = var("DATAHUB_OPEN_VALIDATORS") {
            self.open_validators = switch("DATAHUB_OPEN_VALIDATORS", v)?;
        }
        if let Some(v) = var("DATAHUB_UNCHECKED_UPLOADS") {
            self.unchecked_uploads = switch("DATAHUB_UNCHECKED_UPLOADS", v)?;
        }
        if let Some(v) = var("DATAHUB_OPEN_ADMISSION") {
            self.storage.open_admission = switch("DATAHUB_OPEN_ADMISSION", v)?;
        }
        if let Some(v) = var("DATAHUB_OPEN_UPLOADS") {
            self.storage.open_uploads = switch("DATAHUB_OPEN_UPLOADS", v)?;
        }
        if let Some(v) = var("DATAHUB_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        Ok(())
    }

    /// Checks what serde cannot: addresses, decimals, each chain once, no placeholder contract
    /// outside development, sane limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |what: String| Err(ConfigError(what));
        let placeholder = |what: String| {
            ConfigError(format!(
                "{what} is a placeholder address, not a deployed contract: set the real one (placeholders are only for `datahub dev`, dev = true)"
            ))
        };
        let mut seen = std::collections::BTreeSet::new();
        for chain in &self.chains {
            if !seen.insert(chain.id) {
                return bad(format!(
                    "chain {} is configured twice: list each chain id once",
                    chain.id
                ));
            }
            let Ok(contract) = Address::parse(&chain.claim_contract) else {
                return bad(format!(
                    "chain {}: claim_contract is not an address",
                    chain.id
                ));
            };
            if is_placeholder(&contract) && !self.dev {
                return Err(placeholder(format!("chain {}: claim_contract", chain.id)));
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
                let Ok(address) = Address::parse(&token.address) else {
                    return bad(format!("chain {} token {symbol}: not an address", chain.id));
                };
                if is_placeholder(&address) && !self.dev {
                    return Err(placeholder(format!("chain {} token {symbol}", chain.id)));
                }
                if !(6..=36).contains(&token.decimals) {
                    return bad(format!(
                        "chain {} token {symbol}: decimals must be 6..=36 (the ledger counts millionths)",
                        chain.id
                    ));
                }
            }
        }
        for validator in &self.approved_validators {
            if Address::parse(validator).is_err() {
                return bad(format!(
                    "approved_validators: {validator:?} is not an address (0x and 40 hex digits)"
                ));
            }
        }
        for operator in &self.operators {
            if Address::parse(operator).is_err() {
                return bad(format!(
                    "operators: {operator:?} is not an address (0x and 40 hex digits)"
                ));
            }
        }
        for (node, region) in &self.storage.admitted_nodes {
            if Address::parse(node).is_err() {
                return bad(format!("storage.admitted_nodes: {node} is not an address"));
            }
            if region.is_empty() || region.len() > 64 || region.contains(char::is_control) {
                return bad(format!(
                    "storage.admitted_nodes: {node}: region must be 1 to 64 characters"
                ));
            }
        }
        if self.storage.node_request_secs == 0
            || self.storage.node_request_secs >= self.limits.request_timeout_secs
        {
            return bad(
                "storage.node_request_secs must be at least 1 and below limits.request_timeout_secs"
                    .into(),
            );
        }
        if self.storage.max_manifest_shards == 0
            || self.storage.max_bytes_per_wallet == 0
            || self.storage.max_shards_per_wallet == 0
        {
            return bad(
                "storage.max_manifest_shards, storage.max_bytes_per_wallet and storage.max_shards_per_wallet must be at least 1"
                    .into(),
            );
        }
        if self.storage.epoch_secs == 0 {
            return bad("storage.epoch_secs must be at least 1".into());
        }
        for (name, fee) in [
            ("fee_per_gib_month", &self.storage.fee_per_gib_month),
            ("fee_per_audit", &self.storage.fee_per_audit),
        ] {
            if crate::ledger::parse_amount(fee).is_none() {
                return bad(format!(
                    "storage.{name}: a token amount with at most 6 decimals (\"0.002\"), not {fee:?}"
                ));
            }
        }
        if !(self.storage.audit_share > 0.0 && self.storage.audit_share <= 1.0)
            || self.storage.audit_max_per_node == 0
        {
            return bad(
                "storage.audit_share must be above 0 and at most 1, and storage.audit_max_per_node at least 1"
                    .into(),
            );
        }
        if self.limits.ip_per_sec <= 0.0
            || self.limits.address_per_sec <= 0.0
            || self.limits.sign_ins_per_hour.is_nan()
            || self.limits.sign_ins_per_hour <= 0.0
        {
            return bad("limits: rates must be positive".into());
        }
        if self.limits.sign_in_ipv4_prefix > 32 || self.limits.sign_in_ipv6_prefix > 128 {
            return bad(
                "limits: sign_in_ipv4_prefix is 0 to 32, sign_in_ipv6_prefix 0 to 128".into(),
            );
        }
        if self.limits.leases_per_network == 0 {
            return bad("limits: leases_per_network is at least 1".into());
        }
        if !(1..=64).contains(&self.db_writers) {
            return bad("db_writers: 1 to 64 writer connections".into());
        }
        self.trusted_proxies()?;
        if self.unchecked_uploads && !self.dev {
            return bad(
                "unchecked_uploads: only on a development relay (dev = true); name validators in upload campaigns instead".into(),
            );
        }
        Ok(())
    }

    /// The trusted proxies as networks.
    pub fn trusted_proxies(&self) -> Result<Vec<IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|p| IpNet::parse(p).map_err(|e| ConfigError(format!("trusted_proxies: {e}"))))
            .collect()
    }

    /// Whether `address` may sign admin commands.
    pub fn is_operator(&self, address: &Address) -> bool {
        self.operators
            .iter()
            .any(|o| Address::parse(o).is_ok_and(|o| o == *address))
    }

    /// Whether a campaign may name the validator at `address`.
    pub fn is_approved_validator(&self, address: &Address) -> bool {
        self.open_validators
            || self
                .approved_validators
                .iter()
                .any(|v| Address::parse(v).is_ok_and(|v| v == *address))
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

/// An IP network in CIDR form: `10.0.0.0/8`, `2001:db8::/32`, or one address (`127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    network: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Reads `ADDRESS` or `ADDRESS/PREFIX`; the address is masked to the prefix.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or network (10.0.0.0/8)"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix must be 0 to {max}"))?,
        };
        Ok(Self {
            network: mask(address, prefix),
            prefix,
        })
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

/// `::ffff:a.b.c.d` is the IPv4 client `a.b.c.d` (a dual-stack socket reports them so).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// `ip` with all but its first `prefix` bits cleared.
pub fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & kept))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & kept))
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
    fn placeholders_and_duplicate_chains_are_refused_outside_dev() {
        let mut config = Config {
            chains: Config::dev_chains(),
            ..Config::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("placeholder"), "{err}");
        config.dev = true;
        config.validate().unwrap();
        let mut real = Config::dev_chains().remove(0);
        real.claim_contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3".into();
        real.tokens.values_mut().for_each(|t| {
            t.address = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512".into();
        });
        config.dev = false;
        config.chains = vec![real.clone()];
        config.validate().unwrap();
        config.chains.push(real);
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("chain 56 is configured twice"), "{err}");
    }

    #[test]
    fn dev_without_chains_gets_the_dev_chain() {
        let config = Config {
            dev: true,
            ..Config::default()
        }
        .finish()
        .unwrap();
        assert_eq!(config.chains.len(), 1);
        assert!(Config::default().finish().unwrap().chains.is_empty());
        let bad = Config {
            operators: vec!["0x12".into()],
            ..Config::default()
        };
        assert!(bad.finish().unwrap_err().to_string().contains("operators"));
    }

    #[test]
    fn file_with_unknown_field_is_refused() {
        let err = toml::from_str::<Config>("listn = \"127.0.0.1:1\"").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
