//! Who is asking: contributors sign in once with SIWE (EIP-4361) and then carry a session token;
//! requesters (and storage nodes) sign every request with their key (`datahub_core::request`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, FromRequest, FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use datahub_core::eth::{
    Address, CampaignScope, ChainId, Session, SessionError, SessionGrant, Signature, SiweError,
    SiweMessage, SiweVerifier, Timestamp, U256,
};
use datahub_core::request::{self, SIGNATURE_HEADER, TIME_HEADER};
use serde::{Deserialize, Serialize};

use crate::db::Conn;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::{AppState, ClientIp, clock, limits, params, too_many};

/// An address as the database keys it: `0x` and lower-case hex.
pub fn db_address(address: &Address) -> String {
    format!("0x{}", hex::encode(address.as_bytes()))
}

/// A signed-in session, as the relay keeps it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The session's id: BLAKE3 of its token, hex.
    pub id: String,
    /// The verified session (wallet, grant, chain, expiry).
    pub session: Session,
}

/// What `POST /v1/auth/nonce` answers.
#[derive(Serialize)]
pub struct NonceResponse {
    nonce: String,
    expires_at: String,
    domains: Vec<String>,
    chains: Vec<u64>,
}

/// `POST /v1/auth/nonce`: a fresh nonce for a sign-in message.
pub async fn nonce(State(relay): State<AppState>) -> ApiResult<Json<NonceResponse>> {
    let nonce = clock::random_id();
    let now = clock::now_ms();
    let ttl = i64::try_from(relay.config.nonce_ttl_secs).unwrap_or(600) * 1000;
    let expires = now + ttl;
    let stored = nonce.clone();
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
            conn.execute(
                "DELETE FROM siwe_nonces WHERE expires_ms < $1",
                params![now],
            )?;
            conn.execute(
                "INSERT INTO siwe_nonces (nonce, expires_ms) VALUES ($1, $2)",
                params![stored, expires],
            )?;
            Ok(())
        })
        .await?;
    Ok(Json(NonceResponse {
        nonce,
        expires_at: Timestamp::from_unix_millis(expires).to_string(),
        domains: relay.siwe_domains.clone(),
        chains: relay.config.chains.iter().map(|c| c.id).collect(),
    }))
}

/// The body of `POST /v1/auth/session`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// The SIWE message, exactly as signed.
    message: String,
    /// The wallet's EIP-191 signature of it (`0x`, 65 bytes).
    signature: String,
}

/// What a sign-in returns.
#[derive(Serialize)]
pub struct SignInResponse {
    /// Bearer token for this session's requests.
    token: String,
    wallet: String,
    session_key: String,
    chain_id: u64,
    expires_at: String,
}

fn siwe_error(e: &SiweError) -> ApiError {
    match e {
        SiweError::NonceReused => ApiError::unauthorized(
            ErrorCode::NonceUsed,
            "this sign-in nonce was used or never issued; ask for a new one",
        ),
        SiweError::Signature(_) => ApiError::unauthorized(
            ErrorCode::BadSignature,
            "the signature does not match the sign-in message's address",
        ),
        SiweError::Expired => {
            ApiError::unauthorized(ErrorCode::Expired, "the sign-in message has expired")
        }
        SiweError::WrongUri { .. } => ApiError::bad_request(ErrorCode::WrongUri, e.to_string()),
        SiweError::IssuedInFuture => {
            ApiError::bad_request(ErrorCode::IssuedInFuture, e.to_string())
        }
        SiweError::IssuedTooLongAgo => {
            ApiError::unauthorized(ErrorCode::SignInTooOld, e.to_string())
        }
        other => ApiError::bad_request(ErrorCode::InvalidSignIn, other.to_string()),
    }
}

fn session_error(e: SessionError) -> ApiError {
    match e {
        SessionError::Siwe(e) => siwe_error(&e),
        SessionError::Expired => {
            ApiError::unauthorized(ErrorCode::Expired, "the session has expired")
        }
        other => ApiError::bad_request(ErrorCode::InvalidSignIn, other.to_string()),
    }
}

/// `POST /v1/auth/session`: verifies a signed SIWE message and opens a session.
///
/// If the message grants a session key (see `datahub_core::eth::session`), that key signs the
/// submissions; otherwise the wallet itself must (a local key in the browser, or the CLI).
pub async fn sign_in(
    State(relay): State<AppState>,
    client: Option<Extension<ClientIp>>,
    body: Result<Json<SignInRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<SignInResponse>, Response> {
    // Every attempt counts, so a network cannot mint wallets (or spend the relay's signature
    // checks) faster than the cap.
    if let Some(Extension(ClientIp(ip))) = client {
        let limits = &relay.config.limits;
        let network =
            limits::network_key(ip, limits.sign_in_ipv4_prefix, limits.sign_in_ipv6_prefix);
        if let Err(wait) = relay.sign_in_limit.check(&network, clock::now_ms()) {
            relay
                .metrics
                .rate_limited
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(too_many(wait));
        }
    }
    open_session(&relay, body)
        .await
        .map_err(IntoResponse::into_response)
}

async fn open_session(
    relay: &AppState,
    body: Result<Json<SignInRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<SignInResponse>> {
    let Json(body) = body.map_err(|e| crate::error::from_rejection(e.status(), e.body_text()))?;
    let signature = Signature::from_hex(&body.signature)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidSignature, e.to_string()))?;
    let parsed = SiweMessage::parse(&body.message)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidSignIn, e.to_string()))?;
    if !relay.siwe_domains.contains(&parsed.domain) {
        return Err(ApiError::bad_request(
            ErrorCode::WrongDomain,
            format!(
                "the sign-in message is for {:?}; this relay is {:?}",
                parsed.domain, relay.siwe_domains
            ),
        ));
    }
    if relay.config.chain(parsed.chain_id.0).is_none() {
        return Err(ApiError::bad_request(
            ErrorCode::UnsupportedChain,
            format!("chain {} is not one this relay pays on", parsed.chain_id),
        ));
    }
    let now = clock::now();
    let mut verifier = SiweVerifier::new(&parsed.domain, now);
    // The message must be about this site (its URI on the origin the wallet was shown), and
    // fresh: issued no later than the clocks' skew allows, and no earlier than a nonce lives.
    verifier.uri_origins = vec![
        format!("https://{}", parsed.domain),
        format!("http://{}", parsed.domain),
    ];
    let skew_ms = i64::try_from(relay.config.max_clock_skew_secs)
        .unwrap_or(60)
        .saturating_mul(1000);
    let nonce_ms = i64::try_from(relay.config.nonce_ttl_secs)
        .unwrap_or(600)
        .saturating_mul(1000);
    verifier.max_issued_ahead_ms = Some(skew_ms);
    verifier.max_issued_age_ms = Some(nonce_ms.saturating_add(skew_ms));
    // The nonce is consumed in the database below, with the session's insertion; here it is
    // only noted, so a bad signature never burns one.
    let mut seen = String::new();
    let mut note = |_: &Address, nonce: &str| {
        seen = nonce.to_owned();
        true
    };
    let session = match Session::establish(&verifier, &body.message, &signature, &mut note) {
        Ok(session) => session,
        Err(SessionError::NotASession) => {
            let message = verifier
                .verify(&body.message, &signature, &mut note)
                .map_err(|e| siwe_error(&e))?;
            let max = Timestamp::from_unix_millis(now.unix_millis() + 24 * 3600 * 1000);
            let expires = message.expiration_time.map_or(max, |t| t.min(max));
            Session {
                wallet: message.address,
                grant: SessionGrant {
                    key: message.address,
                    expires,
                    campaigns: CampaignScope::Any,
                    reward_cap: U256::from_u128(u128::MAX),
                },
                chain_id: message.chain_id,
                expires,
                not_before: message.not_before,
            }
        }
        Err(e) => return Err(session_error(e)),
    };
    let longest = i64::try_from(relay.config.max_session_secs).unwrap_or(0) * 1000;
    let expires = session
        .expires
        .min(Timestamp::from_unix_millis(now.unix_millis() + longest));
    let session = Session { expires, ..session };

    let token = format!("dh_{}", hex::encode(clock::random::<32>()));
    let id = session_id(&token);
    let row = (
        id.clone(),
        db_address(&session.wallet),
        db_address(&session.grant.key),
        scope_text(&session.grant.campaigns),
        session.grant.reward_cap.to_string(),
        i64::try_from(session.chain_id.0).unwrap_or(i64::MAX),
        session.expires.unix_millis(),
        session.not_before.map(|t| t.unix_millis()),
    );
    let now_ms = now.unix_millis();
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
            let used = conn.execute(
                "DELETE FROM siwe_nonces WHERE nonce = $1 AND expires_ms >= $2",
                params![seen, now_ms],
            )?;
            if used != 1 {
                return Err(siwe_error(&SiweError::NonceReused));
            }
            conn.execute(
                "INSERT INTO sessions (id, wallet, session_key, campaigns, reward_cap, committed, chain_id, expires_ms, not_before_ms, created_ms) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9)",
                params![row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, now_ms],
            )?;
            Ok(())
        })
        .await?;
    relay
        .metrics
        .sessions
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let response = SignInResponse {
        token,
        wallet: session.wallet.to_checksum(),
        session_key: session.grant.key.to_checksum(),
        chain_id: session.chain_id.0,
        expires_at: session.expires.to_string(),
    };
    Ok(Json(response))
}

/// What `POST /v1/auth/signout` answers.
#[derive(Serialize)]
pub struct SignOutResponse {
    signed_out: bool,
}

/// `POST /v1/auth/signout`: revokes the session whose token the request carries. The revocation
/// is a row in the database, so every relay sharing it refuses the token from now on.
pub async fn sign_out(
    State(relay): State<AppState>,
    Contributor(info): Contributor,
) -> ApiResult<Json<SignOutResponse>> {
    let id = info.id.clone();
    let now = clock::now_ms();
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
            conn.execute(
                "UPDATE sessions SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL",
                params![now, id],
            )?;
            Ok(())
        })
        .await?;
    Ok(Json(SignOutResponse { signed_out: true }))
}

fn session_id(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

fn scope_text(scope: &CampaignScope) -> String {
    match scope {
        CampaignScope::Any => "*".to_owned(),
        CampaignScope::Only(ids) => serde_json::to_string(ids).unwrap_or_default(),
    }
}

fn scope_parse(text: &str) -> Option<CampaignScope> {
    if text == "*" {
        Some(CampaignScope::Any)
    } else {
        serde_json::from_str(text).ok().map(CampaignScope::Only)
    }
}

/// A session as the database has it now: read on every request (no cache), so a sign-out on any
/// relay sharing the database takes effect everywhere at once.
async fn load_session(relay: &AppState, id: String) -> ApiResult<Option<Arc<SessionInfo>>> {
    let row = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<_> {
            Ok(conn.query_opt(
                "SELECT id, wallet, session_key, campaigns, reward_cap, chain_id, expires_ms, not_before_ms, revoked_ms FROM sessions WHERE id = $1",
                params![id],
            )?)
        })
        .await?;
    let Some(row) = row else { return Ok(None) };
    if row.opt_int(8)?.is_some() {
        return Err(ApiError::unauthorized(
            ErrorCode::SignedOut,
            "this session was signed out; sign in again",
        ));
    }
    let corrupt = |what: &str| ApiError::internal(format!("session row: bad {what}"));
    let address = |text: String| Address::parse(&text).map_err(|_| corrupt("address"));
    let expires = Timestamp::from_unix_millis(row.int(6)?);
    let session = Session {
        wallet: address(row.text(1)?)?,
        grant: SessionGrant {
            key: address(row.text(2)?)?,
            expires,
            campaigns: scope_parse(&row.text(3)?).ok_or_else(|| corrupt("scope"))?,
            reward_cap: U256::parse(&row.text(4)?).map_err(|_| corrupt("cap"))?,
        },
        chain_id: ChainId(u64::try_from(row.int(5)?).map_err(|_| corrupt("chain"))?),
        expires,
        not_before: row.opt_int(7)?.map(Timestamp::from_unix_millis),
    };
    Ok(Some(Arc::new(SessionInfo {
        id: row.text(0)?,
        session,
    })))
}

/// A contributor's request: a valid `Authorization: Bearer <token>` of a session in force.
pub struct Contributor(pub Arc<SessionInfo>);

impl FromRequestParts<AppState> for Contributor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, relay: &AppState) -> Result<Self, Response> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized(
                    ErrorCode::NotSignedIn,
                    "sign in first: POST /v1/auth/session, then send Authorization: Bearer <token>",
                )
                .into_response()
            })?;
        let info = load_session(relay, session_id(token.trim()))
            .await
            .map_err(IntoResponse::into_response)?
            .ok_or_else(|| {
                ApiError::unauthorized(
                    ErrorCode::UnknownSession,
                    "this session token is not known; sign in again",
                )
                .into_response()
            })?;
        info.session
            .check_time(clock::now())
            .map_err(|e| session_error(e).into_response())?;
        limit_address(relay, &info.session.wallet)?;
        Ok(Self(info))
    }
}

#[allow(clippy::result_large_err)] // a Response is what extractors reject with
fn limit_address(relay: &AppState, address: &Address) -> Result<(), Response> {
    relay
        .address_limit
        .check(address, clock::now_ms())
        .map_err(|wait| {
            relay
                .metrics
                .rate_limited
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            too_many(wait)
        })
}

/// A request signed by its sender's key (`x-datahub-time`, `x-datahub-signature`), addressed to
/// this relay: the signer and the body that was signed.
pub struct Signed {
    /// Who signed.
    pub signer: Address,
    /// The body, exactly as signed.
    pub body: Bytes,
}

impl Signed {
    /// The body as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> ApiResult<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::unprocessable(ErrorCode::InvalidBody, format!("invalid JSON body: {e}"))
        })
    }
}

impl FromRequest<AppState> for Signed {
    type Rejection = Response;

    async fn from_request(request: Request, relay: &AppState) -> Result<Self, Response> {
        let signed = Self::verify(request, relay).await?;
        limit_address(relay, &signed.signer)?;
        Ok(signed)
    }
}

/// A signed request together with what its signature covers besides the body (the path with
/// its query, the time, the signature), for records that must be checkable again later:
/// validators' verdicts and compute nodes' results are kept exactly as signed.
pub struct SignedAsSent {
    /// The verified request.
    pub signed: Signed,
    /// The path and query it was signed for.
    pub path: String,
    /// Its signed time, in Unix milliseconds.
    pub time_ms: i64,
    /// Its signature, as sent.
    pub signature: String,
}

impl FromRequest<AppState> for SignedAsSent {
    type Rejection = Response;

    async fn from_request(request: Request, relay: &AppState) -> Result<Self, Response> {
        // Read before the await: a borrow of the request held across it would make the future
        // not `Send`.
        let (time, signature, path) = {
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            };
            let path = request.uri().path_and_query().map_or_else(
                || request.uri().path().to_owned(),
                |p| p.as_str().to_owned(),
            );
            (header(TIME_HEADER), header(SIGNATURE_HEADER), path)
        };
        let signed = Signed::from_request(request, relay).await?;
        // Verification parsed the time already: this cannot fail for a verified request.
        let time_ms = time.parse().map_err(|_| {
            ApiError::internal("a verified request without its time").into_response()
        })?;
        Ok(Self {
            signed,
            path,
            time_ms,
            signature,
        })
    }
}

impl Signed {
    /// Verifies a signed request without counting it against the signer's rate limit (shard
    /// uploads: many per object, bounded by their size and the per-IP limit instead).
    pub async fn verify(request: Request, relay: &AppState) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let (time, signature) = (header(TIME_HEADER), header(SIGNATURE_HEADER));
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        let method = parts.method.as_str().to_owned();
        let body = Bytes::from_request(Request::from_parts(parts, body), relay)
            .await
            .map_err(IntoResponse::into_response)?;
        let now = clock::now();
        let skew = i64::try_from(relay.config.max_clock_skew_secs).unwrap_or(60) * 1000;
        let signer = request::verify_request(
            &method,
            &path,
            &body,
            &time,
            &signature,
            &relay.address,
            now,
            skew,
        )
        .map_err(|e| {
            let code = match e {
                request::RequestError::MissingHeader { .. } => ErrorCode::NotSigned,
                request::RequestError::BadSignature => ErrorCode::BadSignature,
                _ => ErrorCode::InvalidSignature,
            };
            ApiError::unauthorized(code, e.to_string()).into_response()
        })?;
        let digest = request::digest(
            &method,
            &path,
            &body,
            Timestamp::from_unix_millis(time.parse().unwrap_or(0)),
            &relay.address,
        );
        let replayed = || {
            ApiError::conflict(
                ErrorCode::Replayed,
                "this signed request was already received; sign a new one",
            )
            .into_response()
        };
        if !relay.replay.first_use(digest, now.unix_millis()) {
            return Err(replayed());
        }
        if !first_use_anywhere(relay, digest, now.unix_millis(), skew)
            .await
            .map_err(IntoResponse::into_response)?
        {
            return Err(replayed());
        }
        Ok(Self { signer, body })
    }
}

/// A requester's request: signed by the requester's key (`x-datahub-time`,
/// `x-datahub-signature`, as the CLI sends), or carrying the bearer token of a session the
/// requester's wallet signed in (the console in the browser, which holds no key of the
/// requester's: one wallet signature grants the session, as it does for contributors).
///
/// A session counts only if it was granted for every campaign: a session scoped to some
/// campaigns was asked for to work on them, and does not speak for the wallet as a requester.
pub struct Requester {
    /// The requester: the signer, or the session's wallet.
    pub signer: Address,
    /// The body, exactly as received.
    pub body: Bytes,
}

impl Requester {
    /// The body as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> ApiResult<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::unprocessable(ErrorCode::InvalidBody, format!("invalid JSON body: {e}"))
        })
    }
}

impl FromRequest<AppState> for Requester {
    type Rejection = Response;

    async fn from_request(request: Request, relay: &AppState) -> Result<Self, Response> {
        if !request.headers().contains_key(AUTHORIZATION) {
            let Signed { signer, body } = Signed::from_request(request, relay).await?;
            return Ok(Self { signer, body });
        }
        let (mut parts, body) = request.into_parts();
        // Reads the session (refusing one signed out, expired or unknown) and counts the
        // request against the wallet's rate limit.
        let Contributor(info) = Contributor::from_request_parts(&mut parts, relay).await?;
        if info.session.grant.campaigns != CampaignScope::Any {
            return Err(ApiError::forbidden(
                ErrorCode::CampaignNotInSession,
                "this session was granted for some campaigns only; sign in again for all campaigns to act as their requester",
            )
            .into_response());
        }
        let body = Bytes::from_request(Request::from_parts(parts, body), relay)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            signer: info.session.wallet,
            body,
        })
    }
}

/// Records a signed request's digest in the database; `false` if it was there already. On
/// PostgreSQL several relays may share the database, and a request one of them accepted must be
/// refused by the others: the in-memory [`crate::limits::ReplayGuard`] only knows this process.
/// A SQLite database has one relay, whose guard is enough.
async fn first_use_anywhere(
    relay: &AppState,
    digest: [u8; 32],
    now_ms: i64,
    skew_ms: i64,
) -> ApiResult<bool> {
    if relay.db.backend() != "postgres" {
        return Ok(true);
    }
    // A request is accepted while its time is within the skew of the clock, in either direction.
    let expires = now_ms.saturating_add(skew_ms.saturating_mul(2));
    let digest = hex::encode(digest);
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<bool> {
            let inserted = conn.execute(
                "INSERT INTO signed_requests (digest, expires_ms) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
                params![digest, expires],
            )?;
            Ok(inserted == 1)
        })
        .await
}
