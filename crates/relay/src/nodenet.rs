//! How the relay reaches storage nodes without becoming a tool against its own network.
//!
//! A node's endpoint is a URL that someone else chose and that the relay then fetches: left
//! unchecked, a "node" at `http://169.254.169.254/latest/meta-data#` turns every shard read into
//! a request to the cloud metadata service (server-side request forgery). So:
//!
//! - endpoints are parsed as URLs ([`parse_endpoint`]): `http`/`https` only, a host, no
//!   user-info, query or fragment, path empty or `/`;
//! - unless `storage.allow_private_nodes` is set (development, tests), a host that is or resolves
//!   to a non-public address ([`is_public`]) is refused at registration, and again on every
//!   connection by the client's resolver (so a name that later re-points to `127.0.0.1` — DNS
//!   rebinding — is not followed);
//! - URLs to nodes are built from the parsed URL ([`shard_url`]), never by pasting strings;
//! - the client follows no redirects and gives up after `storage.node_request_secs`, and every
//!   answer is read only up to the length expected ([`read_bounded`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::Config;

/// The longest endpoint accepted, in bytes.
pub const MAX_ENDPOINT_LEN: usize = 200;

/// Whether `ip` is a public unicast address: not loopback, private (RFC 1918, `fc00::/7`),
/// link-local (`169.254/16` — where cloud metadata services live — `fe80::/10`), unspecified,
/// multicast, broadcast, CGNAT (`100.64/10`), documentation, benchmarking or reserved. IPv4
/// addresses mapped or compatible in IPv6 are judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            let first = s.first().copied().unwrap_or(0);
            // ::/96 (IPv4-compatible, deprecated) and NAT64 64:ff9b::/96 reach IPv4 space.
            if s.iter().take(6).all(|x| *x == 0) || (first == 0x64 && s.get(1) == Some(&0xff9b)) {
                return v6
                    .octets()
                    .get(12..16)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .is_some_and(|b| is_public_v4(Ipv4Addr::from(b)));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
                || (first == 0x2001 && s.get(1) == Some(&0x0db8)) // documentation
                || first == 0x0100 // discard-only, 100::/64
                || first == 0x2002) // 6to4 (embeds any IPv4 address)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0/8
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT, 100.64/10 (Alibaba metadata at .100.200)
        || (a == 169 && b == 254) // link-local: AWS, GCP, Azure metadata at 169.254.169.254
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224) // multicast, reserved, broadcast
}

/// Parses a node endpoint: `http(s)://host[:port][/]`, nothing else. With `allow_private`
/// false, a host written as an IP address must be public (names are checked when resolved).
/// The error is a message for the node's operator.
pub fn parse_endpoint(text: &str, allow_private: bool) -> Result<Url, String> {
    if text.len() > MAX_ENDPOINT_LEN || text.contains(|c: char| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "endpoint must be an http(s) URL of at most {MAX_ENDPOINT_LEN} characters, without spaces"
        ));
    }
    let url = Url::parse(text).map_err(|e| format!("endpoint is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("endpoint must be an http:// or https:// URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("endpoint must not carry a user name or password".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("endpoint must not have a query (?) or a fragment (#)".into());
    }
    if !matches!(url.path(), "" | "/") {
        return Err("endpoint must be the node's root (http://host:port), without a path".into());
    }
    let ip = match url.host() {
        None => return Err("endpoint must name a host".into()),
        Some(url::Host::Domain(_)) => None,
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
    };
    if let Some(ip) = ip.filter(|ip| !allow_private && !is_public(*ip)) {
        return Err(format!(
            "endpoint address {ip} is not public (loopback, private, link-local or reserved); \
             nodes must be reachable on a public address"
        ));
    }
    Ok(url)
}

/// Resolves `url`'s host and refuses it unless every address it resolves to is public (or
/// `allow_private`). For registration, to tell the operator at once; the client's resolver
/// checks again on every connection.
pub async fn check_resolves_public(url: &Url, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let Some(url::Host::Domain(name)) = url.host() else {
        return Ok(()); // an IP address, checked by parse_endpoint
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host((name, port)),
    )
    .await
    .map_err(|_| format!("endpoint host {name} did not resolve in time"))?
    .map_err(|e| format!("endpoint host {name} does not resolve: {e}"))?
    .collect();
    if addrs.is_empty() {
        return Err(format!("endpoint host {name} has no address"));
    }
    if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(format!(
            "endpoint host {name} resolves to {}, which is not public; nodes must be reachable on a public address",
            bad.ip()
        ));
    }
    Ok(())
}

/// The URL of `shard` on the node at `endpoint` (as stored at registration), with `query` pairs.
/// The endpoint is parsed again, so a row written before these checks cannot smuggle a path.
pub fn shard_url(
    endpoint: &str,
    shard: &str,
    suffix: Option<&str>,
    query: &[(&str, String)],
    allow_private: bool,
) -> Result<Url, String> {
    let mut url = parse_endpoint(endpoint, allow_private)?;
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|()| "endpoint cannot take a path".to_owned())?;
        segments.clear().extend(["v1", "shards", shard]);
        if let Some(suffix) = suffix {
            segments.push(suffix);
        }
    }
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in query {
            pairs.append_pair(k, v);
        }
    }
    Ok(url)
}

/// Why a node's answer was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The body is longer than expected (declared or sent): the node is misbehaving.
    TooLong,
    /// The connection failed or timed out while reading.
    Broken(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLong => f.write_str("the node's answer is longer than expected"),
            Self::Broken(e) => write!(f, "reading the node's answer failed: {e}"),
        }
    }
}

/// Reads `response`'s body, but never more than `limit` bytes: a node that declares or streams
/// more is cut off (an endless body must not fill the relay's memory).
pub async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, ReadError> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(ReadError::TooLong);
    }
    let mut body = Vec::with_capacity(limit.min(1024 * 1024));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadError::Broken(e.to_string()))?
    {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(ReadError::TooLong);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// A resolver that drops every non-public address, so a node name that resolves (or later
/// re-resolves) to the relay's own network is never connected to.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client for nodes: no redirects, a whole-request timeout below the relay's own, and
/// (unless private nodes are allowed) only public addresses.
pub fn client(config: &Config) -> reqwest::Result<reqwest::Client> {
    let total = Duration::from_secs(config.storage.node_request_secs.max(1));
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(total.min(Duration::from_secs(3)))
        .timeout(total)
        .no_proxy();
    if !config.storage.allow_private_nodes {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    builder.build()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} taken for public");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} taken for private");
        }
    }

    #[test]
    fn endpoints_are_parsed_strictly() {
        for bad in [
            "http://169.254.169.254/latest/meta-data#",
            "http://169.254.169.254",
            "http://[::ffff:a9fe:a9fe]",
            "http://127.0.0.1:8080",
            "http://2130706433", // 127.0.0.1 as one number
            "http://0x7f.1",
            "ftp://8.8.8.8",
            "file:///etc/passwd",
            "http://user:pw@8.8.8.8",
            "http://8.8.8.8/x",
            "http://8.8.8.8/?a=b",
            "http://8.8.8.8/#x",
            "http://",
            "http://8.8.8.8 /",
        ] {
            assert!(parse_endpoint(bad, false).is_err(), "{bad} accepted");
        }
        for good in [
            "http://8.8.8.8:7000",
            "https://node.example.com/",
            "http://[2606:4700::1111]:1",
        ] {
            parse_endpoint(good, false).unwrap();
        }
        // In development loopback is fine, the rest of the rules stay.
        parse_endpoint("http://127.0.0.1:8080", true).unwrap();
        assert!(parse_endpoint("http://127.0.0.1:8080/a?b#", true).is_err());
    }

    #[test]
    fn shard_urls_are_built_not_pasted() {
        let url = shard_url(
            "http://8.8.8.8:7000",
            "ab",
            Some("proof"),
            &[("offset", "1".into()), ("len", "2".into())],
            false,
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "http://8.8.8.8:7000/v1/shards/ab/proof?offset=1&len=2"
        );
        // A stored endpoint that a pre-check relay accepted is refused when used.
        assert!(
            shard_url(
                "http://169.254.169.254/latest/meta-data#",
                "ab",
                None,
                &[],
                false
            )
            .is_err()
        );
        assert!(shard_url("http://8.8.8.8/x#", "ab", None, &[], true).is_err());
    }
}
