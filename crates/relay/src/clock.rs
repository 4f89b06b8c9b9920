//! The relay's clock and randomness: the core takes both as arguments; this is where they come
//! from.

use std::time::{SystemTime, UNIX_EPOCH};

use datahub_core::eth::Timestamp;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now, as the core's [`Timestamp`].
pub fn now() -> Timestamp {
    Timestamp::from_unix_millis(now_ms())
}

/// `N` bytes from the operating system's generator.
pub fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS generator failing is unrecoverable for a service that issues nonces and keys.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    bytes
}

/// A random identifier: 16 bytes, lower-case hex.
pub fn random_id() -> String {
    hex::encode(random::<16>())
}

/// A random identifier that sorts by creation time: 12 hex digits of `now_ms`, then 16 random
/// ones. Rows keyed by it are written next to their contemporaries, which keeps the database's
/// pages (and its write-ahead log) small under load.
pub fn time_ordered_id(now_ms: i64) -> String {
    format!("{:012x}{}", now_ms.max(0), hex::encode(random::<8>()))
}
