//! Security headers on everything the relay serves: the mini-app's page (`/`), its package
//! (`/pkg/`) and the API. The page holds a wallet connection and the claim screen, so it must not
//! be framed (clickjacking), must run no script but its own, and must not leak where a
//! contributor came from.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;

use crate::AppState;

/// What the mini-app needs and nothing else:
/// - scripts only from the relay, plus `'wasm-unsafe-eval'` to compile its WebAssembly (no
///   `eval`, no inline script);
/// - styles from the relay and inline: the app injects its stylesheet as a `<style>` element
///   and the page's loading placeholder is styled inline (CSS cannot run script);
/// - images from the relay, `blob:`/`data:` (previews of a chosen photo) and `https:` (a
///   campaign's images may live on another https host; never plain http);
/// - audio and video from the relay and `blob:` (previews of a recording);
/// - fetches only to the relay (the API and the package) and to `blob:` URLs the page made
///   itself (reading back a recording); the wallet's provider sends transactions from the
///   extension, not from the page, so no RPC URL is needed here;
/// - no plugins, no `<base>`, no form posts, and no framing by anyone.
pub fn content_security_policy() -> String {
    [
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' blob: data: https:",
        "media-src 'self' blob:",
        "connect-src 'self' blob:",
        "font-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
    .join("; ")
}

/// HSTS for a year, sent only to a browser that reached the relay over https.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Adds the security headers to every response.
pub async fn security_headers(
    State(relay): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let https = reached_over_https(&relay, &request);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        relay.content_security_policy.clone(),
    );
    // For browsers that predate `frame-ancestors`.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

/// The relay speaks plain HTTP itself; https ends at a reverse proxy, which says so with
/// `X-Forwarded-Proto: https`. Only a trusted proxy is believed: HSTS sent over plain http
/// (where a stranger could add the header) would be ignored by browsers anyway, but a relay
/// that is reached over http must not claim otherwise.
fn reached_over_https(relay: &AppState, request: &Request) -> bool {
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return false;
    };
    let trusted = relay
        .trusted_proxies
        .iter()
        .any(|net| net.contains(peer.ip()));
    trusted
        && request
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            // A chain of proxies lists one protocol each; the first is what the browser used.
            .and_then(|v| v.split(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}
