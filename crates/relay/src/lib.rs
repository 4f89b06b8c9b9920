//! The DataHub relay: campaigns, task leases, signed submissions, an instant-reward ledger with
//! EIP-712 claim vouchers, and (with the storage side) shard placement on nodes.
//!
//! [`Relay::open`] opens the database and keys, [`Relay::router`] is the whole HTTP API as an
//! axum `Router` (tests drive it without a socket), and [`server::serve`] runs it on a listener
//! with header and request timeouts and a graceful shutdown.

pub mod appeal_rows;
pub mod appeals;
pub mod auth;
pub mod campaigns;
pub mod chain;
pub mod clock;
pub mod compute;
pub mod config;
pub mod consent;
pub mod console;
pub mod db;
pub mod earnings;
pub mod error;
pub mod headers;
pub mod job_lease;
/// Key files, as every DataHub program keeps them (the relay's tests reach them here).
pub use datahub_keyfile as keyfile;
pub mod ledger;
pub mod limits;
pub mod listing;
pub mod maintenance;
pub mod metrics;
pub mod nodenet;
pub mod ops;
pub mod orphans;
pub mod pending_uploads;
pub mod quality;
pub mod rewards;
pub mod server;
pub mod slots;
pub mod spec;
pub mod standing;
pub mod storage;
pub mod tasks;
pub mod treasury;
pub mod validation;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use datahub_core::SecretKey;
use datahub_core::eth::Address;
use tower_http::timeout::TimeoutLayer;

pub use crate::config::Config;
use crate::db::Db;
use crate::error::{ApiError, ErrorCode};
use crate::limits::{RateLimiter, ReplayGuard};
use crate::metrics::Metrics;

/// The relay's shared state.
pub struct Relay {
    /// Its configuration.
    pub config: Config,
    /// The database.
    pub db: Db,
    /// The relay's own key: signs requests to storage nodes.
    pub key: SecretKey,
    /// The relay's address (of `key`).
    pub address: Address,
    /// The treasury key: signs reward vouchers.
    pub treasury: SecretKey,
    /// Host names sign-in messages may name.
    pub siwe_domains: Vec<String>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Requests per client network (an IPv4 address, an IPv6 /64).
    pub ip_limit: RateLimiter<IpAddr>,
    /// Sign-ins per client network (`limits.sign_in_ipv4_prefix`, `sign_in_ipv6_prefix`).
    pub sign_in_limit: RateLimiter<IpAddr>,
    /// Proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Vec<limits::IpNet>,
    /// The `Content-Security-Policy` every response carries.
    pub content_security_policy: HeaderValue,
    /// Requests per signed-in or signing address.
    pub address_limit: RateLimiter<Address>,
    /// Signed requests seen recently.
    pub replay: ReplayGuard,
    /// Campaign definitions, by id, as read from the database.
    pub campaigns: campaigns::CampaignCache,
    /// HTTP client for storage nodes.
    pub http: reqwest::Client,
    /// The last treasury audit served.
    pub audit_cache: chain::audit::Cache,
    /// Taken while one large manifest's shard rows are written (`storage::create_object`).
    pub manifest_rows: tokio::sync::Semaphore,
}

/// A handle to the relay for handlers.
pub type AppState = Arc<Relay>;

/// Why the relay could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

impl Relay {
    /// Opens the database (applying migrations) and the keys (creating them on first start).
    /// `port` is the one browsers reach the relay at (for sign-in domains).
    pub fn open(config: Config, port: u16) -> Result<AppState, StartError> {
        let err = |what: &str, e: &dyn std::fmt::Display| StartError(format!("{what}: {e}"));
        config.validate().map_err(|e| StartError(e.to_string()))?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| err(&format!("cannot create {}", config.data_dir.display()), &e))?;
        let key = keyfile::load_or_create(&config.data_dir.join("relay.key"))
            .map_err(|e| err("relay key", &e))?;
        // Only the default treasury is made on first start: a configured file that is missing
        // is a mistake (a wrong path, a volume not mounted), and a fresh key would sign
        // vouchers no escrow honours.
        let treasury = match &config.treasury_key_file {
            Some(path) => keyfile::load(path),
            None => keyfile::load_or_create(&config.data_dir.join("treasury.key")),
        }
        .map_err(|e| err("treasury key", &e))?;
        let db = Db::open_with(&config.database(), config.db_readers, config.db_writers)
            .map_err(|e| err("cannot open the database", &e))?;
        let limits = &config.limits;
        let trusted_proxies = config
            .trusted_proxies()
            .map_err(|e| err("configuration", &e))?;
        let content_security_policy = HeaderValue::from_str(&headers::content_security_policy())
            .map_err(|e| err("content security policy", &e))?;
        let skew_ms = i64::try_from(config.max_clock_skew_secs)
            .unwrap_or(60)
            .saturating_mul(1000);
        Ok(Arc::new(Self {
            address: key.public_key().address(),
            key,
            treasury,
            siwe_domains: config.siwe_domains(port),
            metrics: Metrics::default(),
            ip_limit: RateLimiter::new(limits.ip_per_sec, limits.ip_burst),
            address_limit: RateLimiter::new(limits.address_per_sec, limits.address_burst),
            sign_in_limit: RateLimiter::new(
                limits.sign_ins_per_hour / 3600.0,
                limits.sign_ins_per_hour,
            ),
            trusted_proxies,
            content_security_policy,
            replay: ReplayGuard::new(skew_ms.saturating_mul(2)),
            campaigns: campaigns::CampaignCache::default(),
            audit_cache: chain::audit::Cache::default(),
            manifest_rows: tokio::sync::Semaphore::new(1),
            http: nodenet::client(&config).map_err(|e| err("http client", &e))?,
            db,
            config,
        }))
    }

    /// The whole HTTP API.
    pub fn router(state: &AppState) -> Router {
        let limits = &state.config.limits;
        let api = Router::new()
            .route("/v1/info", get(ops::info))
            .route("/v1/auth/nonce", post(auth::nonce))
            .route("/v1/auth/session", post(auth::sign_in))
            .route("/v1/auth/signout", post(auth::sign_out))
            .route(
                "/v1/campaigns",
                get(campaigns::list)
                    .post(campaigns::create)
                    .layer(DefaultBodyLimit::max(limits.campaign_body_bytes)),
            )
            .route("/v1/campaigns/{id}", get(campaigns::show))
            .route("/v1/campaigns/{id}/status", post(campaigns::set_status))
            .route("/v1/campaigns/{id}/next", post(tasks::next))
            .route("/v1/campaigns/{id}/quality", get(quality::report))
            .route("/v1/campaigns/{id}/results", get(quality::results))
            .route("/v1/campaigns/{id}/stats", get(console::stats))
            .route("/v1/campaigns/{id}/review", get(console::review_list))
            .route(
                "/v1/campaigns/{id}/items/{index}/answer",
                post(console::review_answer),
            )
            .route("/v1/leases/{id}/skip", post(tasks::skip))
            .route("/v1/submissions", post(tasks::submit))
            .route("/v1/campaigns/{id}/verdicts", get(validation::list))
            .route("/v1/validation/jobs/next", post(validation::next_job))
            .route(
                "/v1/validation/jobs/{id}/verdict",
                post(validation::verdict),
            )
            .route("/v1/compute/register", post(compute::nodes::register))
            .route("/v1/compute/heartbeat", post(compute::nodes::heartbeat))
            .route("/v1/compute/nodes", get(compute::nodes::list))
            .route("/v1/compute/jobs/next", post(compute::jobs::next_job))
            .route("/v1/compute/jobs/{id}/result", post(compute::jobs::result))
            .route("/v1/compute/jobs/{id}/grant", post(compute::grants::grant))
            .route(
                "/v1/compute/jobs/{id}/release",
                post(compute::jobs::release),
            )
            .route("/v1/campaigns/{id}/grants", get(compute::grants::waiting))
            .route("/v1/me/balances", get(rewards::balances))
            .route("/v1/me/history", get(rewards::history))
            .route("/v1/me/consent/withdraw", post(consent::withdraw))
            .route("/v1/me/standing", get(standing::standing))
            .route("/v1/appeals", post(appeals::open))
            .route("/v1/appeals/{id}", post(appeals::answer))
            .route("/v1/campaigns/{id}/appeals", get(appeals::queue))
            .route("/v1/claims", get(rewards::vouchers).post(rewards::claim))
            .route("/v1/claims/{id}", get(rewards::voucher))
            .route("/v1/treasury/grants", post(treasury::grant))
            .route("/v1/funds", get(treasury::funds))
            .route("/v1/treasury/audit", get(chain::audit::handler))
            .route("/v1/nodes", get(storage::nodes))
            .route("/v1/nodes/{address}", get(storage::node))
            .route("/v1/nodes/register", post(storage::register))
            .route("/v1/nodes/heartbeat", post(storage::heartbeat))
            .route("/v1/nodes/admit", post(storage::admit))
            .route(
                "/v1/objects",
                post(storage::create_object).layer(DefaultBodyLimit::max(8 * 1024 * 1024)),
            )
            .route("/v1/objects/{id}", get(storage::manifest))
            .route("/v1/objects/{id}/missing", get(storage::missing))
            .route("/v1/objects/{id}/status", get(storage::status))
            .route(
                "/v1/objects/{id}/shards/{shard}",
                get(storage::get_shard)
                    .put(storage::put_shard)
                    .layer(DefaultBodyLimit::max(limits.shard_bytes)),
            )
            .route("/healthz", get(ops::healthz))
            .route("/metrics", get(ops::metrics))
            .route("/openapi.json", get(ops::openapi))
            .layer(DefaultBodyLimit::max(limits.body_bytes));
        let mut router = api;
        // The page and the package go out gzipped when the browser accepts it: the .wasm is a
        // third of its size so, which is what a phone on a slow network waits for.
        let gzip = tower_http::compression::CompressionLayer::new();
        if let Some(pkg) = &state.config.pkg_dir {
            router = router.nest_service(
                "/pkg",
                tower::Layer::layer(&gzip, tower_http::services::ServeDir::new(pkg)),
            );
        }
        // The web app answers what the API does not; what neither has is a JSON 404.
        let router = match &state.config.www_dir {
            Some(www) => router.fallback_service(tower::Layer::layer(
                &gzip,
                tower_http::services::ServeDir::new(www).not_found_service(
                    axum::handler::HandlerWithoutStateExt::into_service(ops::not_found),
                ),
            )),
            None => router.fallback(ops::not_found),
        };
        router
            .layer(middleware::from_fn_with_state(state.clone(), guard))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(limits.request_timeout_secs),
            ))
            // Outermost, so every answer carries them: pages, assets, API errors, 408s, 429s.
            .layer(middleware::from_fn_with_state(
                state.clone(),
                headers::security_headers,
            ))
            .with_state(state.clone())
    }
}

/// The client's address as the rate limits see it (see [`limits::client_ip`]), for handlers.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// The client's address: the connection's peer, or what a trusted proxy forwarded.
fn client_ip(relay: &Relay, request: &Request) -> Option<IpAddr> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())?;
    let forwarded = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>();
    Some(limits::client_ip(
        peer,
        forwarded.into_iter(),
        &relay.trusted_proxies,
    ))
}

/// Per-network rate limit, metrics, and JSON bodies for the errors axum answers itself.
async fn guard(State(relay): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let ip = client_ip(&relay, &request);
    if let Some(ip) = ip {
        request.extensions_mut().insert(ClientIp(ip));
    }
    if let Some(ip) = ip
        && let Err(wait_ms) = relay
            .ip_limit
            .check(&limits::network_key(ip, 32, 64), clock::now_ms())
    {
        relay
            .metrics
            .rate_limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return too_many(wait_ms);
    }
    let response = next.run(request).await;
    let response = json_errors(response).await;
    relay
        .metrics
        .observe(response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// A 429 with `Retry-After`.
pub fn too_many(wait_ms: u64) -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        format!("too many requests; retry in {} ms", wait_ms.max(1)),
    )
    .into_response();
    let secs = wait_ms.div_ceil(1000).max(1);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// axum's extractors answer some errors in plain text (413 from the body limit, 408 from the
/// timeout); rewrite those into the API's JSON shape.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let is_static =
        response.headers().contains_key(header::CONTENT_TYPE) && status == StatusCode::NOT_FOUND;
    if is_static {
        return response;
    }
    let text = http_body_util::BodyExt::collect(response.into_body())
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let error = match status {
        StatusCode::REQUEST_TIMEOUT => {
            ApiError::new(status, ErrorCode::Timeout, "the request took too long")
        }
        _ => error::from_rejection(status, message),
    };
    error.into_response()
}

/// How to start a relay (`datahub relay`, `datahub-relay`).
#[derive(Debug, Clone, clap::Args)]
pub struct RelayArgs {
    /// A TOML configuration file (see docs/relay.md); environment variables override it
    #[arg(long, env = "DATAHUB_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Data folder (SQLite database, keys) [default: ./datahub-data]
    #[arg(long)]
    pub data: Option<std::path::PathBuf>,
    /// PostgreSQL URL (postgres://user@host:port/db) instead of SQLite
    #[arg(long)]
    pub database_url: Option<String>,
    /// Serve this folder (the web app) at /
    #[arg(long)]
    pub www: Option<std::path::PathBuf>,
    /// Serve this folder (the npm package) at /pkg/
    #[arg(long)]
    pub pkg: Option<std::path::PathBuf>,
    /// A development network (what `datahub dev` starts): placeholder contracts allowed, and a
    /// placeholder chain when none is configured
    #[arg(long)]
    pub dev: bool,
    /// An address allowed to sign admin commands, added to `operators` (repeatable)
    #[arg(long = "operator", value_name = "ADDRESS")]
    pub operators: Vec<String>,
}

/// Command-line flags over the configuration file and environment.
pub fn load_config(args: &RelayArgs) -> Result<Config, StartError> {
    let mut config =
        Config::load_unfinished(args.config.as_deref()).map_err(|e| StartError(e.to_string()))?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(data) = &args.data {
        config.data_dir.clone_from(data);
    }
    if let Some(url) = &args.database_url {
        config.database_url = Some(url.clone());
    }
    if let Some(www) = &args.www {
        config.www_dir = Some(www.clone());
    }
    if let Some(pkg) = &args.pkg {
        config.pkg_dir = Some(pkg.clone());
    }
    config.dev |= args.dev;
    config.operators.extend(args.operators.iter().cloned());
    config.finish().map_err(|e| StartError(e.to_string()))
}

/// Runs a relay until `shutdown` completes. Prints one line,
/// `datahub-relay listening on http://ADDR address 0x…`, once it accepts connections.
pub async fn run(args: RelayArgs, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
    let config = load_config(&args)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError(format!("cannot listen on {}: {e}", config.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| StartError(e.to_string()))?;
    let relay = tokio::task::spawn_blocking(move || Relay::open(config, local.port()))
        .await
        .map_err(|e| StartError(e.to_string()))??;
    // On a shared PostgreSQL database other relays may have placements in flight right now;
    // the leader's reaper forgets the ones left by a dead relay once they are old enough.
    let forgotten = if relay.db.backend() == "sqlite" {
        storage::forget_unfinished_placements(&relay)
            .await
            .map_err(|e| StartError(format!("clearing unfinished placements: {}", e.message)))?
    } else {
        0
    };
    if forgotten > 0 {
        tracing::info!(
            forgotten,
            "placements left unfinished by the last run forgotten; their shards can be sent again"
        );
    }
    let leadership = db::Leadership::start(&relay.config.database(), LEADER_CHECK)
        .map_err(|e| StartError(format!("leader election: {e}")))?;
    let background = tokio::spawn(lead(relay.clone(), leadership));
    let router = Relay::router(&relay);
    println!(
        "datahub-relay listening on http://{local} address {} database {}",
        relay.address,
        relay.db.backend()
    );
    tracing::info!(%local, address = %relay.address, "relay started");
    let limits = &relay.config.limits;
    let result = server::serve(
        listener,
        router,
        Duration::from_secs(limits.header_timeout_secs),
        Duration::from_secs(10),
        shutdown,
    )
    .await;
    background.abort();
    tracing::info!("relay stopped");
    result.map_err(|e| StartError(e.to_string()))
}

/// How often a relay that does not lead tries to, and one that leads checks it still does.
const LEADER_CHECK: Duration = Duration::from_secs(1);

/// Runs the background work (lease sweeps, audits, repair, pay, the chain watcher) while this
/// relay leads, and stops it when it no longer does (`db::Leadership`). Dropping this task
/// gives up the lead.
pub async fn lead(relay: AppState, mut leadership: db::Leadership) {
    loop {
        leadership.wait_for(true).await;
        relay
            .metrics
            .leader
            .store(1, std::sync::atomic::Ordering::Relaxed);
        let tasks = [
            tokio::spawn(sweep_leases(relay.clone())),
            tokio::spawn(maintenance::run(relay.clone())),
            tokio::spawn(chain::run(relay.clone())),
        ];
        let _stop = AbortOnDrop(tasks);
        leadership.wait_for(false).await;
        relay
            .metrics
            .leader
            .store(0, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!("background work stopped: another relay may lead now");
    }
}

/// Aborts its tasks when dropped (also when the task holding it is aborted).
struct AbortOnDrop<const N: usize>([tokio::task::JoinHandle<()>; N]);

impl<const N: usize> Drop for AbortOnDrop<N> {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Returns expired leases to the pool every second.
async fn sweep_leases(relay: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let swept = relay
            .db
            .write(|conn: &mut dyn db::Conn| tasks::sweep_expired(conn, clock::now_ms(), 1000))
            .await;
        if let Err(e) = swept {
            tracing::warn!(error = %e.message, "lease sweep failed");
        }
    }
}

// The one shutdown helper; re-exported here because `datahub relay` callers have always found
// it in this crate.
pub use datahub_shutdown::shutdown_signal;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
