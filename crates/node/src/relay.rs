//! The node's side of its conversation with the relay: learning the relay's address
//! (`GET /v1/info`), registering (`POST /v1/nodes/register`) and heartbeats
//! (`POST /v1/nodes/heartbeat`), each signed with the node's key for the relay's address.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use datahub_core::request::{SIGNATURE_HEADER, TIME_HEADER, sign_request};
use datahub_core::{Address, SecretKey};
use serde::{Deserialize, Serialize};

use crate::api::{AppState, system_now};

/// The body of `POST /v1/nodes/register`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Registration {
    /// Where the relay reaches the node, like `http://10.0.0.5:7000`.
    pub endpoint: String,
    /// The node's region.
    pub region: String,
    /// Bytes the node offers.
    pub capacity: u64,
    /// Bytes of shards it holds.
    pub used: u64,
    /// The wallet its earnings are credited to (unset: the node's own address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout: Option<String>,
}

/// The body of `POST /v1/nodes/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Heartbeat {
    /// Bytes of shards held.
    pub used: u64,
    /// Bytes the node offers.
    pub capacity: u64,
    /// Shards held.
    pub shards: u64,
}

#[derive(Deserialize)]
struct Info {
    relay_address: String,
}

/// Why a call to the relay failed (the node retries; it never exits for these).
#[derive(Debug)]
#[non_exhaustive]
pub enum RelayError {
    /// The relay could not be reached or did not answer in time.
    Unreachable(String),
    /// The relay answered with an error status.
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The relay's `/v1/info` answer has no valid `relay_address`.
    BadInfo(String),
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(e) => write!(f, "relay unreachable: {e}"),
            Self::Status { status, body } => write!(f, "relay answered {status}: {body}"),
            Self::BadInfo(e) => write!(f, "relay info has no valid relay_address: {e}"),
        }
    }
}

impl std::error::Error for RelayError {}

/// A client for the relay's node endpoints.
#[derive(Clone)]
pub struct RelayClient {
    http: reqwest::Client,
    base: reqwest::Url,
    key: Arc<SecretKey>,
}

impl RelayClient {
    /// A client for the relay at `base` (an `http://` or `https://` URL), signing with `key`.
    pub fn new(base: &str, key: Arc<SecretKey>) -> Result<Self, crate::NodeError> {
        let bad = || crate::NodeError::BadRelayUrl(base.to_owned());
        let mut url = reqwest::Url::parse(base).map_err(|_| bad())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad());
        }
        // Paths below are appended to the relay's base path.
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| crate::NodeError::Http(e.to_string()))?;
        Ok(Self {
            http,
            base: url,
            key,
        })
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, RelayError> {
        self.base
            .join(path)
            .map_err(|e| RelayError::Unreachable(e.to_string()))
    }

    /// The relay's address, from `GET /v1/info`.
    pub async fn info(&self) -> Result<Address, RelayError> {
        let response = self
            .http
            .get(self.url("v1/info")?)
            .send()
            .await
            .map_err(|e| RelayError::Unreachable(e.to_string()))?;
        let body = checked(response).await?;
        let info: Info =
            serde_json::from_slice(&body).map_err(|e| RelayError::BadInfo(e.to_string()))?;
        Address::parse(&info.relay_address).map_err(|e| RelayError::BadInfo(e.to_string()))
    }

    /// Registers the node with the relay at `relay`.
    pub async fn register(
        &self,
        relay: &Address,
        registration: &Registration,
    ) -> Result<(), RelayError> {
        self.post_signed(relay, "v1/nodes/register", registration)
            .await
    }

    /// Tells the relay at `relay` that the node is alive and how full it is.
    pub async fn heartbeat(
        &self,
        relay: &Address,
        heartbeat: &Heartbeat,
    ) -> Result<(), RelayError> {
        self.post_signed(relay, "v1/nodes/heartbeat", heartbeat)
            .await
    }

    async fn post_signed(
        &self,
        relay: &Address,
        path: &str,
        body: &impl Serialize,
    ) -> Result<(), RelayError> {
        let url = self.url(path)?;
        let body = serde_json::to_vec(body).map_err(|e| RelayError::Unreachable(e.to_string()))?;
        let path_and_query = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let time = system_now();
        let signature = sign_request(&self.key, "POST", &path_and_query, &body, time, relay);
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(TIME_HEADER, time.unix_millis().to_string())
            .header(SIGNATURE_HEADER, signature.to_hex())
            .body(body)
            .send()
            .await
            .map_err(|e| RelayError::Unreachable(e.to_string()))?;
        checked(response).await.map(|_| ())
    }
}

async fn checked(response: reqwest::Response) -> Result<Vec<u8>, RelayError> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| RelayError::Unreachable(e.to_string()))?;
    if status.is_success() {
        Ok(body.to_vec())
    } else {
        let text = String::from_utf8_lossy(body.get(..200).unwrap_or(&body)).into_owned();
        Err(RelayError::Status {
            status: status.as_u16(),
            body: text,
        })
    }
}

/// Learns the relay's address, registers and heartbeats forever, retrying with backoff (up to
/// 30 s) whenever the relay is down or refuses; a failed heartbeat makes the node register again.
pub async fn maintain(
    client: RelayClient,
    state: AppState,
    endpoint: String,
    payout: Option<Address>,
    every: Duration,
) {
    let mut backoff = Backoff::new();
    let relay = loop {
        match client.info().await {
            Ok(relay) => break relay,
            Err(e) => {
                tracing::warn!(error = %e, "waiting for the relay");
                backoff.wait().await;
            }
        }
    };
    if !state.set_relay(relay) && state.relay() != Some(relay) {
        tracing::warn!(%relay, "the relay's address differs from the one already set; keeping that");
    }
    tracing::info!(%relay, "relay known; accepting its writes");
    let relay = state.relay().unwrap_or(relay);
    backoff = Backoff::new();
    let mut registered = false;
    loop {
        let (usage, offered) = match state.room().await {
            Ok(room) => room,
            Err(e) => {
                tracing::error!(error = ?e, "could not read the store's usage");
                backoff.wait().await;
                continue;
            }
        };
        let result = if registered {
            let heartbeat = Heartbeat {
                used: usage.bytes,
                capacity: offered,
                shards: usage.shards,
            };
            client.heartbeat(&relay, &heartbeat).await
        } else {
            let registration = Registration {
                endpoint: endpoint.clone(),
                region: state.region().to_owned(),
                capacity: offered,
                used: usage.bytes,
                payout: payout.map(|p| p.to_checksum()),
            };
            client.register(&relay, &registration).await
        };
        match result {
            Ok(()) => {
                if !registered {
                    tracing::info!(%endpoint, "registered with the relay");
                }
                registered = true;
                backoff = Backoff::new();
                tokio::time::sleep(every).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, registered, "relay call failed; retrying");
                registered = false;
                backoff.wait().await;
            }
        }
    }
}

struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(Duration::from_millis(250))
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(30));
    }
}
