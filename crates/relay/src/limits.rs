//! Rate limits (token buckets per client network and per signed-in address), who the client is
//! behind a reverse proxy, and the memory of recently seen signed requests that stops their
//! replay.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

// Networks are configuration (`trusted_proxies`), so their type lives with the config, the
// layer below this one.
pub use crate::config::{IpNet, canonical, mask};

/// The network a client's requests are counted against: an IPv4 address's first `v4_prefix`
/// bits, an IPv6 address's first `v6_prefix` bits. One IPv6 subscriber is given at least a /64
/// and its hosts pick any of the 2^64 addresses in it, so keying IPv6 by the full address
/// would give one machine unlimited buckets.
pub fn network_key(ip: IpAddr, v4_prefix: u8, v6_prefix: u8) -> IpAddr {
    let ip = canonical(ip);
    match ip {
        IpAddr::V4(_) => mask(ip, v4_prefix),
        IpAddr::V6(_) => mask(ip, v6_prefix),
    }
}

/// The client's address. `peer` is who opened the connection; only when it is a trusted proxy
/// is `X-Forwarded-For` read, right to left (each proxy appends who connected to it), skipping
/// trusted proxies: the first address not trusted is the client. Whatever a client writes to
/// the left of that is never read, so a client cannot choose its own address.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = canonical(peer);
    if !is_trusted(client) {
        return client;
    }
    let hops = forwarded_for.rev().flat_map(|value| value.rsplit(','));
    for hop in hops {
        let Some(ip) = parse_hop(hop) else {
            // Not an address: the chain is broken here; the last trusted hop is all we know.
            break;
        };
        client = canonical(ip);
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, with a port some proxies add (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// Token buckets, one per key, refilled continuously.
pub struct RateLimiter<K> {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, (f64, i64)>>,
}

/// Buckets idle this long are forgotten.
const IDLE_MS: i64 = 10 * 60 * 1000;

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// Allows `per_sec` requests per second per key on average, `burst` at once.
    pub fn new(per_sec: f64, burst: f64) -> Self {
        Self {
            per_sec,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`; `Err(ms)` with the wait until one is available.
    pub fn check(&self, key: &K, now_ms: i64) -> Result<(), u64> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 100_000 {
            buckets.retain(|_, (_, at)| now_ms - *at < IDLE_MS);
        }
        let (tokens, at) = buckets.entry(key.clone()).or_insert((self.burst, now_ms));
        let elapsed = (now_ms - *at).max(0) as f64 / 1000.0;
        *tokens = (*tokens + elapsed * self.per_sec).min(self.burst);
        *at = now_ms;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_sec * 1000.0).ceil() as u64)
        }
    }
}

/// Digests of signed requests seen within the accepted clock skew; a signed request is valid
/// only once. Per relay process: the quick answer to a replay sent to the same relay. On
/// PostgreSQL, where replicas share the database, the digest is also recorded there
/// (`auth::Signed::verify`), so a replay sent to another replica is refused too.
pub struct ReplayGuard {
    window_ms: i64,
    seen: Mutex<HashMap<[u8; 32], i64>>,
}

impl ReplayGuard {
    /// Remembers digests for `window_ms` (twice the allowed skew covers both directions).
    pub fn new(window_ms: i64) -> Self {
        Self {
            window_ms,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Records `digest`; `false` if it was seen within the window.
    pub fn first_use(&self, digest: [u8; 32], now_ms: i64) -> bool {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() > 10_000 {
            let window = self.window_ms;
            seen.retain(|_, at| now_ms - *at < window);
        }
        match seen.get(&digest) {
            Some(at) if now_ms - *at < self.window_ms => false,
            _ => {
                seen.insert(digest, now_ms);
                true
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let limiter = RateLimiter::new(2.0, 3.0);
        for _ in 0..3 {
            limiter.check(&"a", 0).unwrap();
        }
        assert_eq!(limiter.check(&"a", 0), Err(500));
        limiter.check(&"b", 0).unwrap();
        limiter.check(&"a", 500).unwrap();
        assert!(limiter.check(&"a", 500).is_err());
    }

    #[test]
    fn ipv6_is_keyed_by_its_64_and_ipv4_by_its_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let key = |s: &str| network_key(ip(s), 32, 64);
        assert_eq!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_eq!(network_key(ip("192.0.2.1"), 24, 64), ip("192.0.2.0"));
        assert_eq!(network_key(ip("192.0.2.1"), 0, 0), ip("0.0.0.0"));
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted = [
            IpNet::parse("10.0.0.0/8").unwrap(),
            IpNet::parse("::1").unwrap(),
        ];
        // A stranger's header is ignored.
        assert_eq!(
            client_ip(ip("198.51.100.9"), ["1.2.3.4"].into_iter(), &trusted),
            ip("198.51.100.9")
        );
        // Behind two proxies: the right-most untrusted hop, whatever the client prepended.
        let headers = ["6.6.6.6, 203.0.113.7", "10.1.1.1"];
        assert_eq!(
            client_ip(ip("10.0.0.2"), headers.into_iter(), &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_ip(ip("::1"), ["[2001:db8::5]:443"].into_iter(), &trusted),
            ip("2001:db8::5")
        );
        // Nothing forwarded, or garbage: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.2"), [].into_iter(), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["nonsense"].into_iter(), &trusted),
            ip("10.0.0.2")
        );
        assert!(IpNet::parse("10.0.0.0/33").is_err());
        assert!(IpNet::parse("proxy.local").is_err());
        assert!(
            IpNet::parse("10.0.0.0/8")
                .unwrap()
                .contains(ip("::ffff:10.9.9.9"))
        );
    }

    #[test]
    fn replay_guard_refuses_second_use_within_window() {
        let guard = ReplayGuard::new(1000);
        assert!(guard.first_use([1; 32], 0));
        assert!(!guard.first_use([1; 32], 999));
        assert!(guard.first_use([1; 32], 2000));
    }
}
