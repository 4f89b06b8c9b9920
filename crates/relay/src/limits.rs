//! Rate limits (token buckets per IP address and per signed-in address) and the memory of
//! recently seen signed requests that stops their replay.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

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
/// only once. (Per relay process: replicas over PostgreSQL each keep their own, so a replay
/// across replicas within the skew window is possible for requests that are not otherwise
/// idempotent; every such request — campaign creation, claims — carries its own id.)
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
    fn replay_guard_refuses_second_use_within_window() {
        let guard = ReplayGuard::new(1000);
        assert!(guard.first_use([1; 32], 0));
        assert!(!guard.first_use([1; 32], 999));
        assert!(guard.first_use([1; 32], 2000));
    }
}
