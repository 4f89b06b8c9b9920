//! Sign-In with Ethereum (EIP-4361): build, parse and verify the message a wallet signs to
//! sign in.
//!
//! The message is plain text, signed with EIP-191 `personal_sign`:
//!
//! ```text
//! [${scheme}://]${domain} wants you to sign in with your Ethereum account:
//! ${address}
//!
//! ${statement}
//!
//! URI: ${uri}
//! Version: 1
//! Chain ID: ${chain-id}
//! Nonce: ${nonce}
//! Issued At: ${issued-at}
//! Expiration Time: ${expiration-time}
//! Not Before: ${not-before}
//! Request ID: ${request-id}
//! Resources:
//! - ${resources[0]}
//! - ${resources[1]}
//! ```
//!
//! The statement (with the blank line after it) and the lines from `Expiration Time` on are
//! optional; lines are separated by a single `\n` and there is none at the end. Parsing follows
//! the EIP's ABNF strictly; see `docs/signatures.md` for the exact rules.
//!
//! [`SiweVerifier::verify`] checks a signed message against what the relying party expects: its
//! own domain, the current time (the caller's clock), the signature, and that the nonce has not
//! been used (the caller's [`NonceStore`]). The nonce is consumed only when everything else has
//! passed, so a forged message cannot burn a genuine nonce.

use core::fmt;
use std::collections::HashSet;

use super::{Address, ChainId, Signature, SignatureError, Timestamp, personal};

/// The longest message accepted, in bytes. EIP-4361 leaves maximum lengths to implementers.
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;
/// The most resources accepted in one message.
pub const MAX_RESOURCES: usize = 64;

const HEADER_SUFFIX: &str = " wants you to sign in with your Ethereum account:";

/// A Sign-In with Ethereum message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweMessage {
    /// The URI scheme of the origin (`https`), if the message names one.
    pub scheme: Option<String>,
    /// The RFC 3986 authority asking for the signature (`datahub.example:443`).
    pub domain: String,
    /// The account signing in.
    pub address: Address,
    /// A human-readable assertion, one line of RFC 3986 reserved/unreserved characters and spaces.
    pub statement: Option<String>,
    /// The RFC 3986 URI that is the subject of the signing.
    pub uri: String,
    /// The EIP-155 chain the session is bound to.
    pub chain_id: ChainId,
    /// At least 8 ASCII letters and digits, chosen by the relying party.
    pub nonce: String,
    /// When the message was made.
    pub issued_at: Timestamp,
    /// When the message stops being valid, if ever.
    pub expiration_time: Option<Timestamp>,
    /// When the message starts being valid, if not at once.
    pub not_before: Option<Timestamp>,
    /// A system-specific request id (RFC 3986 `pchar`s).
    pub request_id: Option<String>,
    /// RFC 3986 URIs the user authorizes; DataHub puts session-key grants here.
    pub resources: Vec<String>,
}

/// Why a sign-in message is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SiweError {
    /// The message does not follow the EIP-4361 format; `field` names the first part that is
    /// wrong.
    Malformed {
        /// The part of the message that is wrong (`"address"`, `"nonce"`, `"issued at"`, …).
        field: &'static str,
    },
    /// The message is longer than [`MAX_MESSAGE_LEN`] or has more than [`MAX_RESOURCES`]
    /// resources.
    TooLong,
    /// The message is for another site.
    WrongDomain {
        /// The domain the verifier serves.
        expected: String,
        /// The domain in the message.
        actual: String,
    },
    /// The message names another URI scheme than the verifier serves.
    WrongScheme,
    /// The message is bound to another chain.
    WrongChain {
        /// The chain the verifier accepts.
        expected: ChainId,
        /// The chain in the message.
        actual: ChainId,
    },
    /// The message's expiration time has passed.
    Expired,
    /// The message's not-before time has not come yet.
    NotYetValid,
    /// The nonce was used before: the message is a replay.
    NonceReused,
    /// The signature is invalid or not made by the message's address.
    Signature(SignatureError),
    /// The message's URI is not on an origin the verifier serves.
    WrongUri {
        /// The URI in the message.
        actual: String,
    },
    /// The message's issued-at time is later than the verifier's clock allows.
    IssuedInFuture,
    /// The message was issued longer ago than the verifier accepts.
    IssuedTooLongAgo,
}

impl fmt::Display for SiweError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { field } => write!(
                f,
                "invalid sign-in message: the {field} does not follow EIP-4361; rebuild the message with a SIWE library"
            ),
            Self::TooLong => write!(
                f,
                "sign-in message too long: at most {MAX_MESSAGE_LEN} bytes and {MAX_RESOURCES} resources"
            ),
            Self::WrongDomain { expected, actual } => write!(
                f,
                "sign-in message is for {actual}, not {expected}: sign in from {expected}"
            ),
            Self::WrongScheme => {
                f.write_str("sign-in message names another URI scheme than this site's")
            }
            Self::WrongChain { expected, actual } => write!(
                f,
                "sign-in message is for chain {actual}, not chain {expected}: switch the wallet to chain {expected}"
            ),
            Self::Expired => f.write_str("sign-in message has expired: sign in again"),
            Self::NotYetValid => f.write_str(
                "sign-in message is not valid yet: check the device clock and sign in again",
            ),
            Self::NonceReused => f.write_str(
                "sign-in message nonce was already used: request a new nonce and sign in again",
            ),
            Self::Signature(e) => write!(f, "sign-in signature rejected: {e}"),
            Self::WrongUri { actual } => write!(
                f,
                "sign-in message URI {actual} is not on this site: sign in from the site itself"
            ),
            Self::IssuedInFuture => f.write_str(
                "sign-in message is issued in the future: check the device clock and sign in again",
            ),
            Self::IssuedTooLongAgo => f.write_str(
                "sign-in message was issued too long ago: request a new nonce and sign in again",
            ),
        }
    }
}

impl core::error::Error for SiweError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Signature(e) => Some(e),
            _ => None,
        }
    }
}

/// Where used nonces are remembered. The core gives the check; the store is the caller's (a
/// database table in the relay).
///
/// A closure `FnMut(&Address, &str) -> bool` is a `NonceStore`.
pub trait NonceStore {
    /// Records that `signer` used `nonce`. Returns `true` if this is the first use, `false` if the
    /// nonce was used before (or, for stores that hand out nonces, was never handed out).
    fn consume(&mut self, signer: &Address, nonce: &str) -> bool;
}

impl<F: FnMut(&Address, &str) -> bool> NonceStore for F {
    fn consume(&mut self, signer: &Address, nonce: &str) -> bool {
        self(signer, nonce)
    }
}

/// A [`NonceStore`] in memory, for tests and single-process tools.
#[derive(Debug, Default, Clone)]
pub struct MemoryNonceStore {
    used: HashSet<(Address, String)>,
}

impl MemoryNonceStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl NonceStore for MemoryNonceStore {
    fn consume(&mut self, signer: &Address, nonce: &str) -> bool {
        self.used.insert((*signer, nonce.to_owned()))
    }
}

fn malformed(field: &'static str) -> SiweError {
    SiweError::Malformed { field }
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(c: u8) -> bool {
    matches!(
        c,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

fn is_reserved(c: u8) -> bool {
    is_sub_delim(c) || matches!(c, b':' | b'/' | b'?' | b'#' | b'[' | b']' | b'@')
}

/// Percent-encodings are complete (`%` followed by two hex digits).
fn pct_ok(text: &[u8]) -> bool {
    let mut i = text.iter();
    while let Some(&c) = i.next() {
        if c == b'%' {
            let hex = |d: Option<&u8>| d.is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i.next()) && hex(i.next())) {
                return false;
            }
        }
    }
    true
}

fn is_scheme(text: &str) -> bool {
    let mut bytes = text.bytes();
    matches!(bytes.next(), Some(c) if c.is_ascii_alphabetic())
        && bytes.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

/// An RFC 3986 URI: a scheme, `:`, then URI characters with complete percent-encodings.
/// (A character-level check, not the full grammar.)
pub(crate) fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    is_scheme(scheme)
        && rest
            .bytes()
            .all(|c| is_unreserved(c) || is_reserved(c) || c == b'%')
        && pct_ok(rest.as_bytes())
}

/// An RFC 3986 authority: `[userinfo@]host[:port]`, host a reg-name, IPv4 or `[IPv6]`.
fn is_authority(text: &str) -> bool {
    if text.is_empty() {
        return false;
    }
    let (userinfo, hostport) = match text.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, text),
    };
    if let Some(u) = userinfo
        && (!u
            .bytes()
            .all(|c| is_unreserved(c) || is_sub_delim(c) || c == b':' || c == b'%')
            || !pct_ok(u.as_bytes()))
    {
        return false;
    }
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return false;
        };
        if ip.is_empty()
            || !ip
                .bytes()
                .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
        {
            return false;
        }
        match after {
            "" => ("[]", None),
            _ => match after.strip_prefix(':') {
                Some(port) => ("[]", Some(port)),
                None => return false,
            },
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if let Some(port) = port
        && !port.bytes().all(|c| c.is_ascii_digit())
    {
        return false;
    }
    host == "[]"
        || (!host.is_empty()
            && host
                .bytes()
                .all(|c| is_unreserved(c) || is_sub_delim(c) || c == b'%')
            && pct_ok(host.as_bytes()))
}

fn is_statement(text: &str) -> bool {
    text.bytes()
        .all(|c| is_reserved(c) || is_unreserved(c) || c == b' ')
}

fn is_nonce(text: &str) -> bool {
    text.len() >= 8 && text.bytes().all(|c| c.is_ascii_alphanumeric())
}

fn is_request_id(text: &str) -> bool {
    text.bytes()
        .all(|c| is_unreserved(c) || is_sub_delim(c) || matches!(c, b':' | b'@' | b'%'))
        && pct_ok(text.as_bytes())
}

/// Reads `prefix` then the rest of the line from `line`.
fn field<'a>(
    line: Option<&'a str>,
    prefix: &str,
    name: &'static str,
) -> Result<&'a str, SiweError> {
    line.and_then(|l| l.strip_prefix(prefix))
        .ok_or(malformed(name))
}

fn time(text: &str, name: &'static str) -> Result<Timestamp, SiweError> {
    Timestamp::parse_rfc3339(text).map_err(|_| malformed(name))
}

impl SiweMessage {
    /// Reads a message, checking it against the EIP-4361 ABNF.
    pub fn parse(text: &str) -> Result<Self, SiweError> {
        if text.len() > MAX_MESSAGE_LEN {
            return Err(SiweError::TooLong);
        }
        let mut lines = text.split('\n');

        let header = lines.next().ok_or(malformed("header"))?;
        let origin = header
            .strip_suffix(HEADER_SUFFIX)
            .ok_or(malformed("header"))?;
        let (scheme, domain) = match origin.split_once("://") {
            Some((scheme, domain)) => {
                if !is_scheme(scheme) {
                    return Err(malformed("scheme"));
                }
                (Some(scheme.to_owned()), domain)
            }
            None => (None, origin),
        };
        if !is_authority(domain) {
            return Err(malformed("domain"));
        }

        let address = lines.next().ok_or(malformed("address"))?;
        let address = Address::parse_checksummed(address).map_err(|_| malformed("address"))?;

        if lines.next() != Some("") {
            return Err(malformed("blank line after the address"));
        }
        let statement = match lines.next() {
            Some("") => None,
            Some(statement) => {
                if !is_statement(statement) {
                    return Err(malformed("statement"));
                }
                if lines.next() != Some("") {
                    return Err(malformed("blank line after the statement"));
                }
                Some(statement.to_owned())
            }
            None => return Err(malformed("statement")),
        };

        let uri = field(lines.next(), "URI: ", "uri")?;
        if !is_uri(uri) {
            return Err(malformed("uri"));
        }
        if field(lines.next(), "Version: ", "version")? != "1" {
            return Err(malformed("version"));
        }
        let chain_id = field(lines.next(), "Chain ID: ", "chain id")?;
        if chain_id.is_empty() || !chain_id.bytes().all(|c| c.is_ascii_digit()) {
            return Err(malformed("chain id"));
        }
        let chain_id = ChainId(chain_id.parse().map_err(|_| malformed("chain id"))?);
        let nonce = field(lines.next(), "Nonce: ", "nonce")?;
        if !is_nonce(nonce) {
            return Err(malformed("nonce"));
        }
        let issued_at = time(
            field(lines.next(), "Issued At: ", "issued at")?,
            "issued at",
        )?;

        let mut message = Self {
            scheme,
            domain: domain.to_owned(),
            address,
            statement,
            uri: uri.to_owned(),
            chain_id,
            nonce: nonce.to_owned(),
            issued_at,
            expiration_time: None,
            not_before: None,
            request_id: None,
            resources: Vec::new(),
        };

        let mut next = lines.next();
        if let Some(value) = next.and_then(|l| l.strip_prefix("Expiration Time: ")) {
            message.expiration_time = Some(time(value, "expiration time")?);
            next = lines.next();
        }
        if let Some(value) = next.and_then(|l| l.strip_prefix("Not Before: ")) {
            message.not_before = Some(time(value, "not before")?);
            next = lines.next();
        }
        if let Some(value) = next.and_then(|l| l.strip_prefix("Request ID: ")) {
            if !is_request_id(value) {
                return Err(malformed("request id"));
            }
            message.request_id = Some(value.to_owned());
            next = lines.next();
        }
        if next == Some("Resources:") {
            for line in lines.by_ref() {
                let resource = line.strip_prefix("- ").ok_or(malformed("resources"))?;
                if !is_uri(resource) {
                    return Err(malformed("resources"));
                }
                if message.resources.len() >= MAX_RESOURCES {
                    return Err(SiweError::TooLong);
                }
                message.resources.push(resource.to_owned());
            }
            next = None;
        }
        if next.is_some() {
            return Err(malformed("end of the message"));
        }
        Ok(message)
    }

    /// Checks that every field can be written as EIP-4361 requires (what [`SiweMessage::parse`]
    /// would accept back), so that a message built field by field is sound before it is shown to
    /// a wallet.
    pub fn validate(&self) -> Result<(), SiweError> {
        if self.statement.as_deref() == Some("") {
            // An empty statement cannot be written: leave it out instead.
            return Err(malformed("statement"));
        }
        let parsed = Self::parse(&self.to_string())?;
        // Times are written in canonical form, so a round trip gives the same fields unless a
        // time is outside the years 0000-9999 that RFC 3339 can write.
        let times = [
            ("issued at", Some(self.issued_at), Some(parsed.issued_at)),
            (
                "expiration time",
                self.expiration_time,
                parsed.expiration_time,
            ),
            ("not before", self.not_before, parsed.not_before),
        ];
        if let Some((field, _, _)) = times.iter().find(|(_, a, b)| a != b) {
            return Err(malformed(field));
        }
        if parsed != *self {
            return Err(malformed("message"));
        }
        Ok(())
    }

    /// The digest a wallet signs for this message as [`fmt::Display`] writes it (EIP-191 over
    /// the text). To verify a message received as text, use [`SiweVerifier::verify`], which
    /// hashes the text exactly as signed.
    pub fn signing_hash(&self) -> [u8; 32] {
        personal::hash_message(self.to_string().as_bytes())
    }
}

impl fmt::Display for SiweMessage {
    /// The message text, with times in canonical RFC 3339 UTC form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        writeln!(f, "{}{HEADER_SUFFIX}", self.domain)?;
        writeln!(f, "{}", self.address.to_checksum())?;
        writeln!(f)?;
        if let Some(statement) = &self.statement {
            writeln!(f, "{statement}")?;
        }
        writeln!(f)?;
        writeln!(f, "URI: {}", self.uri)?;
        writeln!(f, "Version: 1")?;
        writeln!(f, "Chain ID: {}", self.chain_id)?;
        writeln!(f, "Nonce: {}", self.nonce)?;
        write!(f, "Issued At: {}", self.issued_at)?;
        if let Some(at) = &self.expiration_time {
            write!(f, "\nExpiration Time: {at}")?;
        }
        if let Some(at) = &self.not_before {
            write!(f, "\nNot Before: {at}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, "\nRequest ID: {id}")?;
        }
        if !self.resources.is_empty() {
            write!(f, "\nResources:")?;
            for resource in &self.resources {
                write!(f, "\n- {resource}")?;
            }
        }
        Ok(())
    }
}

/// What a relying party expects of a sign-in message.
#[derive(Debug, Clone)]
pub struct SiweVerifier {
    /// The domain (RFC 3986 authority) this service is reached at; messages for any other
    /// domain are refused.
    pub domain: String,
    /// The URI scheme this service is reached by; if set, a message naming another scheme is
    /// refused (a message naming none is accepted).
    pub scheme: Option<String>,
    /// The chain accepted, if only one is.
    pub chain_id: Option<ChainId>,
    /// The current time, from the caller's clock.
    pub now: Timestamp,
    /// Origins (`https://relay.example`) the message's URI must be on: the origin itself or a
    /// path, query or fragment under it. Empty: any URI.
    pub uri_origins: Vec<String>,
    /// How far after `now` the issued-at time may be (the clocks' skew), in milliseconds.
    /// `None`: not checked.
    pub max_issued_ahead_ms: Option<i64>,
    /// How long before `now` the message may have been issued, in milliseconds. `None`: not
    /// checked.
    pub max_issued_age_ms: Option<i64>,
}

/// Whether `uri` is `origin` or under it (the next character starts a path, query or fragment),
/// comparing the origin case-insensitively as RFC 3986 compares schemes and hosts.
fn is_on_origin(uri: &str, origin: &str) -> bool {
    let Some(head) = uri.get(..origin.len()) else {
        return false;
    };
    head.eq_ignore_ascii_case(origin)
        && matches!(
            uri.as_bytes().get(origin.len()),
            None | Some(b'/' | b'?' | b'#')
        )
}

impl SiweVerifier {
    /// A verifier for `domain` at time `now`, accepting any chain and scheme.
    pub fn new(domain: &str, now: Timestamp) -> Self {
        Self {
            domain: domain.to_owned(),
            scheme: None,
            chain_id: None,
            now,
            uri_origins: Vec::new(),
            max_issued_ahead_ms: None,
            max_issued_age_ms: None,
        }
    }

    /// Checks everything but the signature and the nonce: domain, scheme, URI, chain and times.
    pub fn check_fields(&self, message: &SiweMessage) -> Result<(), SiweError> {
        if message.domain != self.domain {
            return Err(SiweError::WrongDomain {
                expected: self.domain.clone(),
                actual: message.domain.clone(),
            });
        }
        if let (Some(expected), Some(actual)) = (&self.scheme, &message.scheme)
            && expected != actual
        {
            return Err(SiweError::WrongScheme);
        }
        if let Some(expected) = self.chain_id
            && message.chain_id != expected
        {
            return Err(SiweError::WrongChain {
                expected,
                actual: message.chain_id,
            });
        }
        if message.expiration_time.is_some_and(|t| self.now >= t) {
            return Err(SiweError::Expired);
        }
        if message.not_before.is_some_and(|t| self.now < t) {
            return Err(SiweError::NotYetValid);
        }
        if !self.uri_origins.is_empty()
            && !self
                .uri_origins
                .iter()
                .any(|origin| is_on_origin(&message.uri, origin))
        {
            return Err(SiweError::WrongUri {
                actual: message.uri.clone(),
            });
        }
        let issued = message.issued_at.unix_millis();
        let now = self.now.unix_millis();
        if self
            .max_issued_ahead_ms
            .is_some_and(|ahead| issued > now.saturating_add(ahead))
        {
            return Err(SiweError::IssuedInFuture);
        }
        if self
            .max_issued_age_ms
            .is_some_and(|age| issued < now.saturating_sub(age))
        {
            return Err(SiweError::IssuedTooLongAgo);
        }
        Ok(())
    }

    /// Verifies a signed message: parses `text` (exactly as signed), checks its fields, that
    /// its address made `signature` over it (EIP-191), and finally consumes its nonce.
    pub fn verify(
        &self,
        text: &str,
        signature: &Signature,
        nonces: &mut impl NonceStore,
    ) -> Result<SiweMessage, SiweError> {
        let message = SiweMessage::parse(text)?;
        self.check_fields(&message)?;
        personal::verify_message(text.as_bytes(), signature, &message.address)
            .map_err(SiweError::Signature)?;
        if !nonces.consume(&message.address, &message.nonce) {
            return Err(SiweError::NonceReused);
        }
        Ok(message)
    }
}
