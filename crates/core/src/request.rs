//! Signed HTTP requests between the relay and the storage nodes.
//!
//! The relay signs what it sends to a node (shard writes and deletes); a node signs what it sends
//! to the relay (registration and heartbeats). A request is signed over a canonical string:
//!
//! ```text
//! METHOD "\n" PATH_AND_QUERY "\n" hex(blake3(body)) "\n" time_ms "\n" audience
//! ```
//!
//! - `METHOD`: the HTTP method exactly as sent, upper case (`PUT`, `DELETE`, `POST`).
//! - `PATH_AND_QUERY`: the request target exactly as sent (`/v1/shards/ab…?x=1`), no scheme or
//!   host.
//! - `hex(blake3(body))`: 64 lower-case hex digits of the BLAKE3 hash of the raw body (of the
//!   empty string when there is none).
//! - `time_ms`: the `x-datahub-time` header, milliseconds since the Unix epoch, in decimal with
//!   no sign or leading zeros.
//! - `audience`: the lower-case `0x…` hex address of the party that must accept the request (the
//!   node's for relay → node, the relay's for node → relay), so a request signed for one node is
//!   refused by every other.
//!
//! The digest is `blake3::derive_key("DataHub request v1", canonical)`, signed as a prehash with
//! [`Signature::sign_prehash`] (65 bytes, low-s) and sent in `x-datahub-signature` as `0x` and
//! 130 hex digits. The receiver recovers the signer's address and checks the time against its
//! clock within a skew it chooses.
//!
//! Replay: a signed request can be replayed to the same audience, with the same method, target
//! and body, while its time is within the receiver's skew. The node's signed operations are
//! idempotent (a content-addressed put, a delete), so this is harmless there; a receiver that
//! needs more keeps the signatures it has seen for the skew window.

use core::fmt;

use crate::eth::{Address, Signature, Timestamp, to_hex};
use crate::keys::SecretKey;

/// The header that carries the request's time, Unix milliseconds in decimal.
pub const TIME_HEADER: &str = "x-datahub-time";
/// The header that carries the request's signature, `0x` and 130 hex digits.
pub const SIGNATURE_HEADER: &str = "x-datahub-signature";
/// The BLAKE3 `derive_key` context of request digests.
pub const CONTEXT: &str = "DataHub request v1";
/// A sensible clock skew to accept: five minutes.
pub const DEFAULT_MAX_SKEW_MS: i64 = 5 * 60 * 1000;

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// A header the scheme needs is absent (or empty).
    MissingHeader {
        /// The header's name.
        name: &'static str,
    },
    /// The time header is not a decimal count of milliseconds.
    MalformedTime,
    /// The signature header is not `0x` and 130 hex digits of a low-s signature.
    MalformedSignature,
    /// The request's time is further in the past than the skew allows.
    Stale {
        /// The request's time.
        time_ms: i64,
        /// The receiver's time.
        now_ms: i64,
    },
    /// The request's time is further in the future than the skew allows.
    FromFuture {
        /// The request's time.
        time_ms: i64,
        /// The receiver's time.
        now_ms: i64,
    },
    /// No signer can be recovered from the signature over this request.
    BadSignature,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHeader { name } => write!(f, "missing header {name}: sign the request"),
            Self::MalformedTime => write!(
                f,
                "malformed {TIME_HEADER} header: expected Unix milliseconds in decimal"
            ),
            Self::MalformedSignature => write!(
                f,
                "malformed {SIGNATURE_HEADER} header: expected 0x and 130 hex digits of a low-s signature"
            ),
            Self::Stale { time_ms, now_ms } => write!(
                f,
                "request time {time_ms} is too old (now {now_ms}): sign it again with the current time"
            ),
            Self::FromFuture { time_ms, now_ms } => write!(
                f,
                "request time {time_ms} is in the future (now {now_ms}): check the signer's clock"
            ),
            Self::BadSignature => f.write_str("signature does not match the request"),
        }
    }
}

impl core::error::Error for RequestError {}

/// The canonical string of a request (see the module documentation).
pub fn canonical(
    method: &str,
    path_and_query: &str,
    body: &[u8],
    time: Timestamp,
    audience: &Address,
) -> String {
    canonical_hashed(
        method,
        path_and_query,
        blake3::hash(body).as_bytes(),
        time,
        audience,
    )
}

/// [`canonical`] from the body's BLAKE3 hash rather than the body.
pub fn canonical_hashed(
    method: &str,
    path_and_query: &str,
    body_hash: &[u8; 32],
    time: Timestamp,
    audience: &Address,
) -> String {
    format!(
        "{method}\n{path_and_query}\n{}\n{}\n0x{}",
        to_hex(body_hash),
        time.unix_millis(),
        to_hex(audience.as_bytes()),
    )
}

/// The 32-byte digest that is signed: `derive_key("DataHub request v1", canonical)`.
pub fn digest(
    method: &str,
    path_and_query: &str,
    body: &[u8],
    time: Timestamp,
    audience: &Address,
) -> [u8; 32] {
    let text = canonical(method, path_and_query, body, time, audience);
    blake3::derive_key(CONTEXT, text.as_bytes())
}

/// Signs a request for `audience`. Send `time` in [`TIME_HEADER`] (as
/// `time.unix_millis()` in decimal) and the signature's `to_hex()` in [`SIGNATURE_HEADER`].
pub fn sign_request(
    key: &SecretKey,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    time: Timestamp,
    audience: &Address,
) -> Signature {
    Signature::sign_prehash(key, &digest(method, path_and_query, body, time, audience))
}

/// Checks a signed request addressed to `audience` and returns its signer's address. The caller
/// decides whether that signer may do what it asks.
///
/// `time_header` and `signature_header` are the headers' values (empty when absent); the
/// request's time must be within `max_skew_ms` of `now`.
#[allow(clippy::too_many_arguments)]
pub fn verify_request(
    method: &str,
    path_and_query: &str,
    body: &[u8],
    time_header: &str,
    signature_header: &str,
    audience: &Address,
    now: Timestamp,
    max_skew_ms: i64,
) -> Result<Address, RequestError> {
    verify_request_hashed(
        method,
        path_and_query,
        blake3::hash(body).as_bytes(),
        time_header,
        signature_header,
        audience,
        now,
        max_skew_ms,
    )
}

/// [`verify_request`] given the body's BLAKE3 hash, for a receiver that knows what the hash must
/// be before reading the body (a shard's id is its hash): the signature is checked first, and
/// the body, once read, must still be checked against that hash.
#[allow(clippy::too_many_arguments)]
pub fn verify_request_hashed(
    method: &str,
    path_and_query: &str,
    body_hash: &[u8; 32],
    time_header: &str,
    signature_header: &str,
    audience: &Address,
    now: Timestamp,
    max_skew_ms: i64,
) -> Result<Address, RequestError> {
    if time_header.is_empty() {
        return Err(RequestError::MissingHeader { name: TIME_HEADER });
    }
    if signature_header.is_empty() {
        return Err(RequestError::MissingHeader {
            name: SIGNATURE_HEADER,
        });
    }
    let time_ms = parse_millis(time_header).ok_or(RequestError::MalformedTime)?;
    let signature =
        Signature::from_hex(signature_header).map_err(|_| RequestError::MalformedSignature)?;
    let now_ms = now.unix_millis();
    if time_ms < now_ms.saturating_sub(max_skew_ms) {
        return Err(RequestError::Stale { time_ms, now_ms });
    }
    if time_ms > now_ms.saturating_add(max_skew_ms) {
        return Err(RequestError::FromFuture { time_ms, now_ms });
    }
    let time = Timestamp::from_unix_millis(time_ms);
    let text = canonical_hashed(method, path_and_query, body_hash, time, audience);
    signature
        .recover_address_prehash(&blake3::derive_key(CONTEXT, text.as_bytes()))
        .map_err(|_| RequestError::BadSignature)
}

/// Decimal digits only, no sign, no leading zero (but "0"), at most 18 digits (fits i64).
fn parse_millis(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.is_empty()
        || bytes.len() > 18
        || !bytes.iter().all(u8::is_ascii_digit)
        || (bytes.len() > 1 && bytes.first() == Some(&b'0'))
    {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn key(n: u8) -> SecretKey {
        SecretKey::derive(&[n; 32])
    }

    const NOW: Timestamp = Timestamp::from_unix_millis(1_790_000_000_000);

    #[test]
    fn canonical_is_byte_exact() {
        let audience = Address::from_bytes([0xab; 20]);
        let text = canonical(
            "PUT",
            "/v1/shards/00?x=1",
            b"",
            Timestamp::from_unix_millis(1_700_000_000_123),
            &audience,
        );
        assert_eq!(
            text,
            "PUT\n/v1/shards/00?x=1\naf1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262\n1700000000123\n0xabababababababababababababababababababab"
        );
    }

    /// The example in `docs/storage-node.md`: pinned so the relay and the node cannot drift.
    #[test]
    fn documented_example() {
        let relay = key(1);
        let node = key(2).address();
        assert_eq!(
            relay.address().to_checksum(),
            "0x58c8DF2c84b6b2C35e17fdAc1F1309b064Af2993"
        );
        assert_eq!(
            node.to_checksum(),
            "0xeAA34975C255FC88af2Dc35A967276Cee4cD17DC"
        );
        let body = b"hello shard";
        let path = "/v1/shards/5f7fed87eb0685fc7b7c02e8a66aadb433309153fce889e389a5ca9a575b5450";
        assert_eq!(blake3::hash(body).to_hex().as_str(), &path[11..]);
        let time = Timestamp::from_unix_millis(1_790_000_000_000);
        assert_eq!(
            to_hex(&digest("PUT", path, body, time, &node)),
            "683767b5119fbf043485e3bb84145c7f65abd4b255c78418247f1ec390ccf6fd"
        );
        let signature = sign_request(&relay, "PUT", path, body, time, &node);
        assert_eq!(
            signature.to_hex(),
            "0x778defce4dc0ad3263dfe8d7d14e4c736f34d053809bf2739e3342d4388635d81e8d4854a5bed027bbff9a90b10d365374fdf1117effb0efdab41e97bbe0e0ec1b"
        );
        assert_eq!(
            verify_request(
                "PUT",
                path,
                body,
                "1790000000000",
                &signature.to_hex(),
                &node,
                time,
                DEFAULT_MAX_SKEW_MS
            ),
            Ok(relay.address())
        );
    }

    #[test]
    fn round_trip_and_refusals() {
        let relay = key(1);
        let node = key(2).address();
        let other_node = key(3).address();
        let body = b"shard bytes";
        let sig = sign_request(&relay, "PUT", "/v1/shards/aa", body, NOW, &node);
        let time = NOW.unix_millis().to_string();
        let hex = sig.to_hex();
        let check = |method: &str, path: &str, body: &[u8], t: &str, s: &str, aud: &Address| {
            verify_request(method, path, body, t, s, aud, NOW, DEFAULT_MAX_SKEW_MS)
        };
        assert_eq!(
            check("PUT", "/v1/shards/aa", body, &time, &hex, &node),
            Ok(relay.address())
        );
        // Cross-audience replay: another node recovers some other signer, never the relay.
        assert_ne!(
            check("PUT", "/v1/shards/aa", body, &time, &hex, &other_node),
            Ok(relay.address())
        );
        for (m, p, b) in [
            ("DELETE", "/v1/shards/aa", &body[..]),
            ("PUT", "/v1/shards/ab", &body[..]),
            ("PUT", "/v1/shards/aa", b"other"),
        ] {
            assert_ne!(check(m, p, b, &time, &hex, &node), Ok(relay.address()));
        }
        let later = (NOW.unix_millis() + 1).to_string();
        assert_ne!(
            check("PUT", "/v1/shards/aa", body, &later, &hex, &node),
            Ok(relay.address())
        );
        assert_eq!(
            check("PUT", "/v1/shards/aa", body, "", &hex, &node),
            Err(RequestError::MissingHeader { name: TIME_HEADER })
        );
        assert_eq!(
            check("PUT", "/v1/shards/aa", body, &time, "", &node),
            Err(RequestError::MissingHeader {
                name: SIGNATURE_HEADER
            })
        );
        for bad in ["-1", "01", "1e3", " 1", "12345678901234567890", "x"] {
            assert_eq!(
                check("PUT", "/v1/shards/aa", body, bad, &hex, &node),
                Err(RequestError::MalformedTime),
                "{bad}"
            );
        }
        for bad in ["0x", "zz", &hex[2..], &hex[..100]] {
            assert_eq!(
                check("PUT", "/v1/shards/aa", body, &time, bad, &node),
                Err(RequestError::MalformedSignature)
            );
        }
    }

    #[test]
    fn skew() {
        let relay = key(1);
        let node = key(2).address();
        for (offset, ok) in [
            (0, true),
            (-DEFAULT_MAX_SKEW_MS, true),
            (DEFAULT_MAX_SKEW_MS, true),
            (-DEFAULT_MAX_SKEW_MS - 1, false),
            (DEFAULT_MAX_SKEW_MS + 1, false),
        ] {
            let t = Timestamp::from_unix_millis(NOW.unix_millis() + offset);
            let sig = sign_request(&relay, "DELETE", "/v1/shards/aa", b"", t, &node);
            let result = verify_request(
                "DELETE",
                "/v1/shards/aa",
                b"",
                &t.unix_millis().to_string(),
                &sig.to_hex(),
                &node,
                NOW,
                DEFAULT_MAX_SKEW_MS,
            );
            match (ok, result) {
                (true, Ok(a)) => assert_eq!(a, relay.address()),
                (false, Err(RequestError::Stale { .. })) => assert!(offset < 0),
                (false, Err(RequestError::FromFuture { .. })) => assert!(offset > 0),
                (ok, other) => panic!("offset {offset}: expected ok={ok}, got {other:?}"),
            }
        }
    }
}
