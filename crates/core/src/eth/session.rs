//! Session keys: one wallet signature authorizes a short-lived key made in the browser, which
//! then signs each submission, so there is no wallet pop-up per micro-task.
//!
//! The wallet signs a Sign-In with Ethereum message whose resources carry the grant:
//!
//! ```text
//! Resources:
//! - urn:datahub:session:key:0x5B38Da6a701c568545dCfcB03FcB875f56beddC4
//! - urn:datahub:session:expires:2026-11-25T18:00:00Z
//! - urn:datahub:session:campaign:cats-2026
//! - urn:datahub:session:campaign:birds-2026
//! - urn:datahub:session:reward-cap:5000000
//! ```
//!
//! - `key` (exactly one): the session key's address, EIP-55.
//! - `expires` (exactly one): when the key stops being valid (RFC 3339). The SIWE message's own
//!   `Expiration Time`, if earlier, wins.
//! - `campaign` (one or more): campaign ids the key may submit to, or `*` for any campaign.
//! - `reward-cap` (exactly one): the most the key may earn in total, in the ledger's smallest unit
//!   (decimal).
//!
//! Other resources are left alone; an unknown or repeated `urn:datahub:session:` resource is
//! refused, so a grant never means more than it says.
//!
//! The relay verifies the sign-in once ([`Session::establish`], which consumes the SIWE nonce)
//! and keeps the [`Session`]; each receipt is then checked with [`Session::verify_receipt`],
//! which traces the session key's signature back to the wallet.

use core::fmt;

use super::{
    Address, ChainId, Eip712Domain, NonceStore, Signature, SignatureError, SiweError, SiweMessage,
    SiweVerifier, SubmissionReceipt, Timestamp, TypedStruct, U256,
};

/// The prefix of every DataHub session resource.
pub const RESOURCE_PREFIX: &str = "urn:datahub:session:";

/// The longest campaign id a grant may name.
pub const MAX_CAMPAIGN_ID_LEN: usize = 64;

/// Which campaigns a session key may submit to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CampaignScope {
    /// Any campaign (`urn:datahub:session:campaign:*`).
    Any,
    /// Only these campaign ids.
    Only(Vec<String>),
}

impl CampaignScope {
    /// Whether `campaign` is in scope.
    pub fn allows(&self, campaign: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(ids) => ids.iter().any(|id| id == campaign),
        }
    }
}

/// What a wallet grants a session key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionGrant {
    /// The session key's address.
    pub key: Address,
    /// When the session key stops being valid.
    pub expires: Timestamp,
    /// The campaigns the key may submit to.
    pub campaigns: CampaignScope,
    /// The most the key may earn in total, in the ledger's smallest unit.
    pub reward_cap: U256,
}

/// Why a session grant, or a submission under it, is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// The sign-in message was refused.
    Siwe(SiweError),
    /// The sign-in message has no `urn:datahub:session:key:` resource: it grants no session.
    NotASession,
    /// A `urn:datahub:session:` resource is not one DataHub knows, or its value is malformed.
    InvalidResource {
        /// The resource as written.
        resource: String,
    },
    /// A `urn:datahub:session:` resource that must appear once appears again.
    DuplicateResource {
        /// Which kind (`key`, `expires`, `reward-cap`).
        kind: &'static str,
    },
    /// A required session resource is missing.
    MissingResource {
        /// Which kind (`key`, `expires`, `campaign`, `reward-cap`).
        kind: &'static str,
    },
    /// The session has expired.
    Expired,
    /// The session is not valid yet (its sign-in message has a later not-before time).
    NotYetValid,
    /// The receipt's deadline has passed.
    DeadlinePassed,
    /// The receipt is for a campaign the session does not cover.
    CampaignNotInScope {
        /// The receipt's campaign.
        campaign: String,
    },
    /// Crediting this reward would take the session past its reward cap.
    RewardCapExceeded,
    /// The receipt's signature is invalid or not made by the session key.
    Signature(SignatureError),
    /// The receipt's nonce was used before: it is a replay.
    NonceReused,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Siwe(e) => e.fmt(f),
            Self::NotASession => f.write_str(
                "sign-in message grants no session key: add a urn:datahub:session:key: resource",
            ),
            Self::InvalidResource { resource } => {
                write!(
                    f,
                    "invalid session resource `{resource}`: see docs/signatures.md for the forms"
                )
            }
            Self::DuplicateResource { kind } => {
                write!(
                    f,
                    "session resource `{kind}` appears more than once; give it once"
                )
            }
            Self::MissingResource { kind } => {
                write!(f, "session grant lacks its `{kind}` resource")
            }
            Self::Expired => {
                f.write_str("session has expired: sign in again to make a new session key")
            }
            Self::NotYetValid => f.write_str("session is not valid yet: check the device clock"),
            Self::DeadlinePassed => {
                f.write_str("submission deadline has passed: fetch the task again")
            }
            Self::CampaignNotInScope { campaign } => write!(
                f,
                "session key may not submit to campaign `{campaign}`: sign in again including it"
            ),
            Self::RewardCapExceeded => {
                f.write_str("session reward cap reached: sign in again to grant a new session")
            }
            Self::Signature(e) => write!(f, "submission signature rejected: {e}"),
            Self::NonceReused => f.write_str(
                "submission nonce was already used: this submission was already received",
            ),
        }
    }
}

impl core::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Siwe(e) => Some(e),
            Self::Signature(e) => Some(e),
            _ => None,
        }
    }
}

fn is_campaign_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CAMPAIGN_ID_LEN
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~'))
}

impl SessionGrant {
    /// The grant as SIWE resources, in the order: key, expires, campaigns, reward-cap.
    pub fn to_resources(&self) -> Vec<String> {
        let mut out = vec![
            format!("{RESOURCE_PREFIX}key:{}", self.key.to_checksum()),
            format!(
                "{RESOURCE_PREFIX}expires:{}",
                Timestamp::from_unix_seconds(self.expires.unix_seconds())
            ),
        ];
        match &self.campaigns {
            CampaignScope::Any => out.push(format!("{RESOURCE_PREFIX}campaign:*")),
            CampaignScope::Only(ids) => {
                out.extend(
                    ids.iter()
                        .map(|id| format!("{RESOURCE_PREFIX}campaign:{id}")),
                );
            }
        }
        out.push(format!("{RESOURCE_PREFIX}reward-cap:{}", self.reward_cap));
        out
    }

    /// Checks that the grant can be written as resources and read back the same (campaign ids
    /// are 1 to 64 of `A-Z a-z 0-9 - . _ ~`, at least one campaign, expiry in whole seconds
    /// within the years 0000-9999).
    pub fn validate(&self) -> Result<(), SessionError> {
        let resources = self.to_resources();
        match Self::from_resources(&resources)? {
            Some(grant) if grant == *self => Ok(()),
            // Only the expiry can fail to round-trip: it is written in whole seconds, years
            // 0000-9999.
            _ => Err(SessionError::InvalidResource {
                resource: resources.get(1).cloned().unwrap_or_default(),
            }),
        }
    }

    /// Reads a grant from SIWE resources. `Ok(None)` if there is no DataHub session resource at
    /// all; with any, all four kinds must be there (a grant without its key is an error, not a
    /// sign-in without a session).
    pub fn from_resources(resources: &[String]) -> Result<Option<Self>, SessionError> {
        let mut key = None;
        let mut expires = None;
        let mut campaigns: Option<CampaignScope> = None;
        let mut reward_cap = None;
        let mut any = false;
        for resource in resources {
            let Some(rest) = resource.strip_prefix(RESOURCE_PREFIX) else {
                continue;
            };
            any = true;
            let invalid = || SessionError::InvalidResource {
                resource: resource.clone(),
            };
            let (kind, value) = rest.split_once(':').ok_or_else(invalid)?;
            match kind {
                "key" => {
                    let address = Address::parse_checksummed(value).map_err(|_| invalid())?;
                    set_once(&mut key, address, "key")?;
                }
                "expires" => {
                    let at = Timestamp::parse_rfc3339(value).map_err(|_| invalid())?;
                    set_once(&mut expires, at, "expires")?;
                }
                "reward-cap" => {
                    if value.is_empty() || !value.bytes().all(|c| c.is_ascii_digit()) {
                        return Err(invalid());
                    }
                    let cap = U256::parse(value).map_err(|_| invalid())?;
                    set_once(&mut reward_cap, cap, "reward-cap")?;
                }
                "campaign" => {
                    let scope = campaigns.get_or_insert_with(|| CampaignScope::Only(Vec::new()));
                    match (value, scope) {
                        ("*", scope @ CampaignScope::Only(_)) => {
                            if matches!(scope, CampaignScope::Only(ids) if !ids.is_empty()) {
                                return Err(SessionError::DuplicateResource { kind: "campaign" });
                            }
                            *scope = CampaignScope::Any;
                        }
                        (_, CampaignScope::Any) => {
                            return Err(SessionError::DuplicateResource { kind: "campaign" });
                        }
                        (id, CampaignScope::Only(ids)) => {
                            if !is_campaign_id(id) {
                                return Err(invalid());
                            }
                            if ids.iter().any(|known| known == id) {
                                return Err(SessionError::DuplicateResource { kind: "campaign" });
                            }
                            ids.push(id.to_owned());
                        }
                    }
                }
                _ => return Err(invalid()),
            }
        }
        if !any {
            return Ok(None);
        }
        // Any session resource makes this a grant: one without its key is malformed, never a
        // plain sign-in (which would be an unlimited wallet session).
        Ok(Some(Self {
            key: key.ok_or(SessionError::MissingResource { kind: "key" })?,
            expires: expires.ok_or(SessionError::MissingResource { kind: "expires" })?,
            campaigns: campaigns.ok_or(SessionError::MissingResource { kind: "campaign" })?,
            reward_cap: reward_cap.ok_or(SessionError::MissingResource { kind: "reward-cap" })?,
        }))
    }

    /// A sign-in message for `wallet` carrying this grant (and no other resources).
    #[allow(clippy::too_many_arguments)]
    pub fn siwe_message(
        &self,
        wallet: Address,
        domain: &str,
        uri: &str,
        chain_id: ChainId,
        nonce: &str,
        issued_at: Timestamp,
        statement: Option<&str>,
    ) -> SiweMessage {
        SiweMessage {
            scheme: None,
            domain: domain.to_owned(),
            address: wallet,
            statement: statement.map(str::to_owned),
            uri: uri.to_owned(),
            chain_id,
            nonce: nonce.to_owned(),
            issued_at,
            expiration_time: Some(self.expires),
            not_before: None,
            request_id: None,
            resources: self.to_resources(),
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, kind: &'static str) -> Result<(), SessionError> {
    if slot.is_some() {
        return Err(SessionError::DuplicateResource { kind });
    }
    *slot = Some(value);
    Ok(())
}

/// A verified session: the wallet that signed in and what it granted its session key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The wallet that signed the sign-in message; submissions are credited to it.
    pub wallet: Address,
    /// What the wallet granted.
    pub grant: SessionGrant,
    /// The chain the sign-in was bound to.
    pub chain_id: ChainId,
    /// When the session ends: the earlier of the grant's expiry and the message's expiration.
    pub expires: Timestamp,
    /// When the session starts, if the message has a not-before time.
    pub not_before: Option<Timestamp>,
}

impl Session {
    /// Verifies a signed sign-in message that grants a session key (see [`SiweVerifier::verify`];
    /// this consumes its nonce) and returns the session.
    pub fn establish(
        verifier: &SiweVerifier,
        text: &str,
        wallet_signature: &Signature,
        nonces: &mut impl NonceStore,
    ) -> Result<Self, SessionError> {
        // Read the grant before verifying, so a message that grants nothing never burns a nonce.
        let message = SiweMessage::parse(text).map_err(SessionError::Siwe)?;
        let grant =
            SessionGrant::from_resources(&message.resources)?.ok_or(SessionError::NotASession)?;
        if verifier.now >= grant.expires {
            return Err(SessionError::Expired);
        }
        let message = verifier
            .verify(text, wallet_signature, nonces)
            .map_err(SessionError::Siwe)?;
        let expires = match message.expiration_time {
            Some(at) if at < grant.expires => at,
            _ => grant.expires,
        };
        Ok(Self {
            wallet: message.address,
            grant,
            chain_id: message.chain_id,
            expires,
            not_before: message.not_before,
        })
    }

    /// Checks that the session is in force at `now`.
    pub fn check_time(&self, now: Timestamp) -> Result<(), SessionError> {
        if now >= self.expires {
            return Err(SessionError::Expired);
        }
        if self.not_before.is_some_and(|t| now < t) {
            return Err(SessionError::NotYetValid);
        }
        Ok(())
    }

    /// Checks that crediting `reward` on top of `credited` (what the session has earned so far)
    /// stays within the reward cap.
    pub fn check_reward(&self, credited: &U256, reward: &U256) -> Result<(), SessionError> {
        match credited.checked_add(reward) {
            Some(total) if total <= self.grant.reward_cap => Ok(()),
            _ => Err(SessionError::RewardCapExceeded),
        }
    }

    /// Verifies a submission receipt signed by the session key and returns the wallet to credit.
    ///
    /// Checks, in order: the session is in force at `now`; the receipt's deadline is not past;
    /// its campaign is in scope; the session key signed it under `domain`; and last, that its
    /// nonce is new for the session key (consumed in `nonces`).
    pub fn verify_receipt(
        &self,
        receipt: &SubmissionReceipt,
        domain: &Eip712Domain,
        signature: &Signature,
        now: Timestamp,
        nonces: &mut impl NonceStore,
    ) -> Result<Address, SessionError> {
        self.check_time(now)?;
        check_deadline(receipt.deadline, now)?;
        if !self.grant.campaigns.allows(&receipt.campaign) {
            return Err(SessionError::CampaignNotInScope {
                campaign: receipt.campaign.clone(),
            });
        }
        signature
            .verify_address_prehash(&receipt.signing_hash(domain), &self.grant.key)
            .map_err(SessionError::Signature)?;
        if !nonces.consume(&self.grant.key, &receipt.nonce.to_string()) {
            return Err(SessionError::NonceReused);
        }
        Ok(self.wallet)
    }
}

fn check_deadline(deadline: u64, now: Timestamp) -> Result<(), SessionError> {
    let now = u64::try_from(now.unix_seconds()).unwrap_or(0);
    if now > deadline {
        Err(SessionError::DeadlinePassed)
    } else {
        Ok(())
    }
}

/// Verifies a receipt signed directly by `signer` (a wallet or a local key, no session):
/// deadline, signature, then nonce.
pub fn verify_receipt_direct(
    receipt: &SubmissionReceipt,
    domain: &Eip712Domain,
    signature: &Signature,
    signer: &Address,
    now: Timestamp,
    nonces: &mut impl NonceStore,
) -> Result<(), SessionError> {
    check_deadline(receipt.deadline, now)?;
    signature
        .verify_address_prehash(&receipt.signing_hash(domain), signer)
        .map_err(SessionError::Signature)?;
    if !nonces.consume(signer, &receipt.nonce.to_string()) {
        return Err(SessionError::NonceReused);
    }
    Ok(())
}
