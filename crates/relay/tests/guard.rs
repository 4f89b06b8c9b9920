//! Attacks on sessions, the page and the rate limits, each through a relay listening on a real
//! socket (the client address, `X-Forwarded-For` and the response headers are what is tested),
//! on SQLite and on PostgreSQL. Each failed against the relay before these holes were closed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use datahub_core::eth::{
    CampaignScope, ChainId, SessionGrant, SiweMessage, Timestamp, U256, personal,
};
use datahub_relay::{AppState, Config, Relay};
use serde_json::{Value, json};

/// A relay serving `Relay::router` on a loopback socket, and a client for it.
struct Served {
    net: Net,
    relay: AppState,
    base: String,
}

async fn serve(config: Config) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let relay = Relay::open(config, port).unwrap();
    tokio::spawn(datahub_relay::server::serve(
        listener,
        Relay::router(&relay),
        Duration::from_secs(10),
        Duration::from_secs(1),
        std::future::pending(),
    ));
    let base = format!("http://127.0.0.1:{port}");
    let net = Net::http(&base, tempfile::tempdir().unwrap()).await;
    Served { net, relay, base }
}

/// A configuration on `backend` (a fresh database), or `None` when PostgreSQL is not available
/// outside CI.
fn config(backend: &Backend, dir: &std::path::Path) -> Option<Config> {
    let mut config = test_config(dir);
    if let Backend::Postgres = backend {
        config.database_url = Some(fresh_postgres_db(&postgres_admin_url()?));
    }
    Some(config)
}

/// Runs `$body` with a fresh configuration `$config` (and its folder `$dir`), on SQLite and on
/// PostgreSQL.
macro_rules! both_http {
    ($name:ident, |$config:ident, $dir:ident| $body:block) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $dir = tempfile::tempdir().unwrap();
                let $config = config(&Backend::Sqlite, $dir.path()).unwrap();
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $dir = tempfile::tempdir().unwrap();
                let Some($config) = config(&Backend::Postgres, $dir.path()) else {
                    return;
                };
                $body
            }
        }
    };
}

/// A sign-in message for `wallet` on `net`, with a fresh nonce; `edit` changes it before it is
/// signed. The request body.
async fn sign_in_body(net: &Net, label: &str, edit: impl FnOnce(&mut SiweMessage)) -> Value {
    let wallet = key(&format!("wallet {label}"));
    let session_key = key(&format!("session {label}"));
    let (status, nonce) = net.post("/v1/auth/nonce", None, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{nonce}");
    let now = Timestamp::from_unix_seconds(datahub_relay::clock::now_ms() / 1000);
    let grant = SessionGrant {
        key: session_key.public_key().address(),
        expires: Timestamp::from_unix_seconds(now.unix_seconds() + 3600),
        campaigns: CampaignScope::Any,
        reward_cap: U256::from_u64(1_000_000),
    };
    let mut message = grant.siwe_message(
        wallet.public_key().address(),
        &net.domain,
        &format!("http://{}/", net.domain),
        ChainId(CHAIN),
        nonce["nonce"].as_str().unwrap(),
        now,
        None,
    );
    edit(&mut message);
    let text = message.to_string();
    let signature = personal::sign_message(&wallet, text.as_bytes());
    json!({ "message": text, "signature": signature.to_hex() })
}

async fn post_from(
    net: &Net,
    path: &str,
    forwarded_for: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .header("x-forwarded-for", forwarded_for)
        .body(Body::from(body.to_string()))
        .unwrap();
    net.call(request).await
}

async fn get_from(net: &Net, path: &str, forwarded_for: &str) -> StatusCode {
    let request = Request::get(path)
        .header("x-forwarded-for", forwarded_for)
        .body(Body::empty())
        .unwrap();
    net.call(request).await.0
}

both_http!(a_revoked_token_is_refused_by_every_relay, |config, dir| {
    let second_config = config.clone();
    let first = serve(config).await;
    // A second relay on the same database, as behind a load balancer.
    let second = serve(second_config).await;
    let worker = Worker::sign_in(&first.net, "leaving").await;
    for relay in [&first.net, &second.net] {
        let (status, body) = relay.get("/v1/me/balances", Some(&worker.token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = first
        .net
        .post("/v1/auth/signout", Some(&worker.token), &json!({}))
        .await;
    assert_eq!(
        (status, &body),
        (StatusCode::OK, &json!({ "signed_out": true }))
    );
    for relay in [&first.net, &second.net] {
        let (status, body) = relay.get("/v1/me/balances", Some(&worker.token)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("signed_out")),
            "{body}"
        );
        let (status, _) = relay
            .post("/v1/campaigns/x/next", Some(&worker.token), &json!({}))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = second
        .net
        .post("/v1/auth/signout", Some(&worker.token), &json!({}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Signing in again is a new session.
    let again = Worker::sign_in(&second.net, "leaving").await;
    assert_eq!(
        first.net.get("/v1/me/balances", Some(&again.token)).await.0,
        StatusCode::OK
    );
    drop((first.relay, dir));
});

both_http!(a_grant_without_its_key_is_refused, |config, dir| {
    let served = serve(config).await;
    let net = &served.net;
    let mut nonce = String::new();
    let body = sign_in_body(net, "keyless", |m| {
        m.resources.retain(|r| !r.contains(":key:"));
        nonce.clone_from(&m.nonce);
    })
    .await;
    let (status, reply) = net.post("/v1/auth/session", None, &body).await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_sign_in")),
        "{reply}"
    );
    assert!(
        reply["message"].as_str().unwrap().contains("`key`"),
        "{reply}"
    );
    // Neither is a grant with only some of its parts, nor one with an unknown part.
    for edit in [
        (|m: &mut SiweMessage| m.resources.retain(|r| r.contains(":campaign:")))
            as fn(&mut SiweMessage),
        |m| m.resources.push("urn:datahub:session:admin:yes".into()),
    ] {
        let body = sign_in_body(net, "partial", edit).await;
        let (status, reply) = net.post("/v1/auth/session", None, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    }
    // The refused message did not burn its nonce: the wallet signs in with it, properly.
    let body = sign_in_body(net, "keyless", move |m| m.nonce = nonce).await;
    let (status, reply) = net.post("/v1/auth/session", None, &body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_ne!(reply["session_key"], reply["wallet"]);
    drop((served.relay, dir));
});

/// A change to a sign-in message before it is signed.
type Edit = Box<dyn FnOnce(&mut SiweMessage)>;

both_http!(the_sign_in_uri_and_time_are_checked, |config, dir| {
    let served = serve(config).await;
    let net = &served.net;
    let now_s = datahub_relay::clock::now_ms() / 1000;
    let domain = net.domain.clone();
    let cases: Vec<(Edit, StatusCode, &str)> = vec![
        (
            Box::new(|m| m.uri = "https://evil.example/claim".into()),
            StatusCode::BAD_REQUEST,
            "wrong_uri",
        ),
        (
            Box::new(move |m| m.uri = format!("http://{domain}.evil.example/")),
            StatusCode::BAD_REQUEST,
            "wrong_uri",
        ),
        (
            Box::new(move |m| m.issued_at = Timestamp::from_unix_seconds(now_s + 600)),
            StatusCode::BAD_REQUEST,
            "issued_in_future",
        ),
        (
            // Older than a nonce lives (600 s) plus the skew (60 s): signed long ago, kept.
            Box::new(move |m| m.issued_at = Timestamp::from_unix_seconds(now_s - 3600)),
            StatusCode::UNAUTHORIZED,
            "sign_in_too_old",
        ),
    ];
    for (edit, status, code) in cases {
        let body = sign_in_body(net, "timely", edit).await;
        let (got, reply) = net.post("/v1/auth/session", None, &body).await;
        assert_eq!(
            (got, reply["error"].as_str()),
            (status, Some(code)),
            "{reply}"
        );
    }
    // Within the skew, and on the https origin of the same domain, it is fine.
    let domain = net.domain.clone();
    let body = sign_in_body(net, "timely", move |m| {
        m.issued_at = Timestamp::from_unix_seconds(now_s + 30);
        m.uri = format!("https://{domain}/app?x=1");
    })
    .await;
    let (status, reply) = net.post("/v1/auth/session", None, &body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    drop((served.relay, dir));
});

/// The headers every response must carry.
fn assert_secured(response: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{what}: no {name}"))
    };
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "frame-ancestors 'none'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{what}: {directive} not in {csp}");
    }
    assert!(!csp.contains("unsafe-eval'") || csp.contains("'wasm-unsafe-eval'"));
    assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_asset_and_answer_carries_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    let pkg = dir.path().join("pkg");
    std::fs::create_dir_all(www.join("demo")).unwrap();
    std::fs::create_dir_all(pkg.join("web")).unwrap();
    std::fs::write(www.join("index.html"), "<!doctype html><p>hi</p>").unwrap();
    std::fs::write(
        www.join("demo/cat.svg"),
        "<svg xmlns='http://www.w3.org/2000/svg'/>",
    )
    .unwrap();
    std::fs::write(pkg.join("web/datahub_wasm.js"), "export default 1;").unwrap();
    let mut config = test_config(&dir.path().join("data"));
    config.www_dir = Some(www);
    config.pkg_dir = Some(pkg);
    config.limits.ip_burst = 30.0;
    config.limits.ip_per_sec = 0.001;
    let served = serve(config).await;
    let client = reqwest::Client::new();
    let mut last = StatusCode::OK;
    for path in [
        "/",
        "/index.html",
        "/demo/cat.svg",
        "/pkg/web/datahub_wasm.js",
        "/pkg/web/missing.wasm",
        "/v1/info",
        "/v1/nowhere",
        "/openapi.json",
        "/v1/me/balances",
    ] {
        let response = client
            .get(format!("{}{path}", served.base))
            .send()
            .await
            .unwrap();
        assert_secured(&response, path);
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none(),
            "{path}: HSTS over plain http"
        );
        last = StatusCode::from_u16(response.status().as_u16()).unwrap();
    }
    assert_eq!(last, StatusCode::UNAUTHORIZED);
    // A stranger saying it came over https gets no HSTS: only a trusted proxy is believed.
    let response = client
        .get(format!("{}/", served.base))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
    // Rate-limited answers are secured too.
    let mut limited = None;
    for _ in 0..40 {
        let response = client
            .get(format!("{}/", served.base))
            .send()
            .await
            .unwrap();
        if response.status().as_u16() == 429 {
            limited = Some(response);
            break;
        }
    }
    assert_secured(&limited.expect("never rate-limited"), "429");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_only_when_a_trusted_proxy_says_https() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.trusted_proxies = vec!["127.0.0.1".into()];
    let served = serve(config).await;
    let client = reqwest::Client::new();
    let get = |proto: Option<&'static str>| {
        let mut request = client.get(format!("{}/v1/info", served.base));
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        request.send()
    };
    let https = get(Some("https")).await.unwrap();
    assert_secured(&https, "https");
    let hsts = https.headers().get("strict-transport-security").unwrap();
    assert!(hsts.to_str().unwrap().starts_with("max-age="), "{hsts:?}");
    for proto in [None, Some("http")] {
        let response = get(proto).await.unwrap();
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none()
        );
    }
}

both_http!(
    clients_behind_a_trusted_proxy_get_their_own_buckets,
    |config, dir| {
        let mut config = config;
        config.trusted_proxies = vec!["127.0.0.1".into()];
        config.limits.ip_burst = 3.0;
        config.limits.ip_per_sec = 0.001;
        let served = serve(config).await;
        let net = &served.net;
        // (`Net::http` used one request of 127.0.0.1's bucket.)
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(get_from(net, "/v1/info", "203.0.113.5").await);
        }
        assert_eq!(
            statuses,
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::TOO_MANY_REQUESTS
            ]
        );
        // Another client of the same proxy is not held back by the first.
        assert_eq!(
            get_from(net, "/v1/info", "198.51.100.7").await,
            StatusCode::OK
        );
        // Whatever a client prepends, the proxy's right-most entry is who it is.
        assert_eq!(
            get_from(net, "/v1/info", "192.0.2.99, 203.0.113.5").await,
            StatusCode::TOO_MANY_REQUESTS
        );
        // IPv6: one /64 is one client, however many addresses it takes from it.
        for i in 1..=3 {
            assert_eq!(
                get_from(net, "/v1/info", &format!("2001:db8:0:7::{i}")).await,
                StatusCode::OK
            );
        }
        assert_eq!(
            get_from(net, "/v1/info", "2001:db8:0:7:ffff::1").await,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            get_from(net, "/v1/info", "2001:db8:0:8::1").await,
            StatusCode::OK
        );
        drop((served.relay, dir));
    }
);

both_http!(a_stranger_cannot_choose_its_address, |config, dir| {
    let mut config = config;
    config.limits.ip_burst = 4.0;
    config.limits.ip_per_sec = 0.001;
    let served = serve(config).await;
    let net = &served.net;
    // No trusted proxies: the header is the client's own words and is ignored.
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(get_from(net, "/v1/info", &format!("198.51.100.{i}")).await);
    }
    assert_eq!(statuses[..3], [StatusCode::OK; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    drop((served.relay, dir));
});

both_http!(sign_ins_are_capped_per_network, |config, dir| {
    let mut config = config;
    config.trusted_proxies = vec!["127.0.0.1".into()];
    config.limits.sign_ins_per_hour = 2.0;
    let served = serve(config).await;
    let net = &served.net;
    // A wallet farm behind one /64: two sign-ins an hour, then none.
    let mut statuses = Vec::new();
    for i in 1..=3 {
        let body = sign_in_body(net, &format!("farm {i}"), |_| {}).await;
        let (status, reply) = post_from(
            net,
            "/v1/auth/session",
            &format!("2001:db8:5:5::{i:x}"),
            &body,
        )
        .await;
        statuses.push(status);
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(reply["error"], "rate_limited", "{reply}");
        }
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // Failed attempts count too: they cost a signature check.
    let body = json!({ "message": "nonsense", "signature": "0x00" });
    let (status, _) = post_from(net, "/v1/auth/session", "192.0.2.1", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // IPv4 is counted by its /24.
    let body = sign_in_body(net, "v4", |_| {}).await;
    assert_eq!(
        post_from(net, "/v1/auth/session", "192.0.2.200", &body)
            .await
            .0,
        StatusCode::OK
    );
    let body = sign_in_body(net, "v4 again", |_| {}).await;
    assert_eq!(
        post_from(net, "/v1/auth/session", "192.0.2.201", &body)
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another network signs in as usual.
    let body = sign_in_body(net, "neighbour", |_| {}).await;
    let (status, reply) = post_from(net, "/v1/auth/session", "2001:db8:5:6::1", &body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    drop((served.relay, dir));
});
