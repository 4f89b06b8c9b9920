//! A DataHub storage node: keeps shards by BLAKE3 id, proves it holds them, serves them.
//!
//! - [`store`]: the [`ShardStore`](store::ShardStore) trait, [`DiskStore`]
//!   (content-addressed files, atomic writes) and [`MemoryStore`](store::MemoryStore).
//! - [`api`]: the HTTP API, [`app`](api::app) over an [`AppState`].
//! - [`relay`]: registration and heartbeats with the relay.
//! - [`key`]: the node's own secp256k1 key file.
//!
//! [`run`] starts a whole node from [`NodeArgs`]; the `datahub-node` binary and `datahub node`
//! are thin wrappers around it. The HTTP API, the request signatures and the on-disk layout are
//! specified in `docs/storage-node.md`.
//!
//! **Invariant:** only requests signed by the relay write or delete; reads are public, and every
//! read is checked against the shard's id before a byte is served.

pub mod api;
pub mod key;
pub mod relay;
pub mod server;
pub mod store;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datahub_core::{Address, SecretKey};

use crate::api::AppState;
use crate::relay::RelayClient;
use crate::store::DiskStore;

/// A node's settings, as command-line flags (flatten into any clap command).
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// The relay's base URL, like http://127.0.0.1:8080
    #[arg(long, value_name = "URL")]
    pub relay: String,
    /// The folder for the node's key and shards (created if missing)
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The region the node reports, used by placement to spread shards
    #[arg(long, value_name = "R", default_value = "local")]
    pub region: String,
    /// Where to listen for HTTP (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Bytes of shards the node offers to hold
    #[arg(long, value_name = "BYTES", default_value_t = 10 * 1024 * 1024 * 1024)]
    pub capacity: u64,
    /// The URL the relay should use to reach this node (default: http:// and the bound address)
    #[arg(long, value_name = "URL")]
    pub advertise: Option<String>,
    /// Seconds between heartbeats to the relay
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub heartbeat_secs: u64,
    /// The largest shard the node takes, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = api::DEFAULT_MAX_SHARD_SIZE)]
    pub max_shard_size: u64,
    /// Most connections served at once (more wait until one closes)
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_connections: usize,
    /// The operator's wallet the relay credits this node's earnings to (default: the node's
    /// own address); claimed from the relay with `POST /v1/claims` by that wallet
    #[arg(long, value_name = "0x…")]
    pub payout: Option<String>,
}

/// Why a node could not start or stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum NodeError {
    /// A file or socket operation failed.
    Io {
        /// What the node was doing.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// The key file exists but does not hold a key.
    BadKeyFile(PathBuf),
    /// The relay URL is not an http:// or https:// URL with a host.
    BadRelayUrl(String),
    /// The payout address is not an address.
    BadPayout(String),
    /// The HTTP client could not be set up.
    Http(String),
    /// The shard store could not be opened.
    Store(store::StoreError),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { context, source } => write!(f, "{context}: {source}"),
            Self::BadKeyFile(path) => write!(
                f,
                "{} does not hold a node key (64 hex digits, 0x optional); move it away to make a new key",
                path.display()
            ),
            Self::BadRelayUrl(url) => {
                write!(
                    f,
                    "invalid relay URL {url:?}: expected http://host:port or https://host"
                )
            }
            Self::BadPayout(text) => write!(
                f,
                "invalid --payout {text:?}: expected the wallet's address, 0x and 40 hex digits"
            ),
            Self::Http(e) => write!(f, "could not set up the HTTP client: {e}"),
            Self::Store(e) => write!(f, "could not open the shard store: {e}"),
        }
    }
}

impl std::error::Error for NodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

fn task_failed(context: &str, error: tokio::task::JoinError) -> NodeError {
    NodeError::Io {
        context: context.to_owned(),
        source: std::io::Error::other(error.to_string()),
    }
}

/// A node bound to its socket, not yet serving.
pub struct Node {
    listener: tokio::net::TcpListener,
    state: AppState,
    client: RelayClient,
    endpoint: String,
    heartbeat: Duration,
    max_connections: usize,
    payout: Option<Address>,
}

impl Node {
    /// Opens the data folder (key and store) and binds the listening socket.
    pub async fn bind(args: NodeArgs) -> Result<Self, NodeError> {
        std::fs::create_dir_all(&args.data).map_err(|source| NodeError::Io {
            context: format!("creating {}", args.data.display()),
            source,
        })?;
        let key_path = args.data.join(key::KEY_FILE);
        let secret: SecretKey = {
            let path = key_path.clone();
            tokio::task::spawn_blocking(move || key::load_or_create(&path))
                .await
                .map_err(|e| task_failed("reading the node key", e))??
        };
        let payout = args
            .payout
            .as_deref()
            .map(|p| Address::parse(p).map_err(|_| NodeError::BadPayout(p.to_owned())))
            .transpose()?;
        let address = secret.address();
        let client = RelayClient::new(&args.relay, Arc::new(secret))?;
        let data = args.data.clone();
        let store = tokio::task::spawn_blocking(move || DiskStore::open(&data))
            .await
            .map_err(|e| task_failed("opening the shard store", e))?
            .map_err(NodeError::Store)?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|source| NodeError::Io {
                context: format!("listening on {}", args.listen),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| NodeError::Io {
            context: "reading the bound address".into(),
            source,
        })?;
        let endpoint = args
            .advertise
            .clone()
            .unwrap_or_else(|| format!("http://{local}"));
        let state = AppState::new(Arc::new(store), address, args.region.clone(), args.capacity)
            .with_max_shard_size(args.max_shard_size);
        tracing::info!(%address, %local, data = %args.data.display(), region = %args.region, "node ready");
        Ok(Self {
            listener,
            state,
            client,
            endpoint,
            heartbeat: Duration::from_secs(args.heartbeat_secs.max(1)),
            max_connections: args.max_connections,
            payout,
        })
    }

    /// The address the node listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// The node's Ethereum address (from its key).
    pub fn address(&self) -> Address {
        self.state.address()
    }

    /// Serves until `shutdown` completes, registering and heartbeating with the relay meanwhile.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        let maintainer = tokio::spawn(relay::maintain(
            self.client,
            self.state.clone(),
            self.endpoint,
            self.payout,
            self.heartbeat,
        ));
        let served = server::serve(
            self.listener,
            api::app(self.state),
            self.max_connections,
            shutdown,
        )
        .await;
        maintainer.abort();
        tracing::info!("node stopped");
        served.map_err(|source| NodeError::Io {
            context: "serving HTTP".into(),
            source,
        })
    }
}

/// Runs a node until `shutdown` completes. Once the socket is bound it prints one line on
/// standard output, which `datahub dev` and the tests read:
///
/// ```text
/// datahub-node listening on http://127.0.0.1:40123 address 0x…
/// ```
pub async fn run(
    args: NodeArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    let node = Node::bind(args).await?;
    if let Some(local) = node.local_addr() {
        println!(
            "datahub-node listening on http://{local} address {}",
            node.address().to_checksum()
        );
    }
    node.serve(shutdown).await
}
