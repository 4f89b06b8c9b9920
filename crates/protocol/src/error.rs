//! The `error` codes of error answers (`{"error": code, "message": text}`): the relay's
//! ([`ErrorCode`]) and a storage node's ([`NodeErrorCode`]).

use serde::{Deserialize, Serialize};

macro_rules! codes {
    (
        $(#[doc = $enum_doc:literal])+
        $enum:ident {
            $($(#[doc = $doc:literal])+ $variant:ident = $name:literal,)+
        }
    ) => {
        $(#[doc = $enum_doc])+
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum $enum {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl $enum {
            /// Every code, in the order of the documentation.
            pub const ALL: &[$enum] = &[$(Self::$variant,)+];

            /// The code as it is sent.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }

            /// Reads a code as it is sent; `None` for one this version does not know (a server
            /// of another version, or no such server at all).
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($name => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $enum {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

codes! {
    /// Every `error` code the relay answers with: stable, snake_case, for clients to branch
    /// on (the `message` is for people). docs/openapi.json lists the same set in its
    /// `Error` schema; a relay test holds the two together.
    ErrorCode {
    // Requests the relay cannot read.
    /// The request is malformed in a way no other code names.
    BadRequest = "bad_request",
    /// The body is not the JSON the endpoint takes.
    InvalidBody = "invalid_body",
    /// The body is over the endpoint's limit.
    BodyTooLarge = "body_too_large",
    /// The body is not of the content type the endpoint takes.
    UnsupportedMediaType = "unsupported_media_type",
    /// A query parameter is out of range.
    InvalidQuery = "invalid_query",
    /// 400: `limit` is out of range.
    InvalidLimit = "invalid_limit",
    /// An id is not 64 lower-case hex digits.
    BadId = "bad_id",
    /// An address is not `0x` and 40 hex digits.
    InvalidAddress = "invalid_address",
    /// A token amount is not one the ledger can count.
    InvalidAmount = "invalid_amount",
    /// A `status` is not one the endpoint takes.
    InvalidStatus = "invalid_status",
    /// 400: `request_id` is not 1 to 64 of `A-Z a-z 0-9 - _`.
    InvalidRequestId = "invalid_request_id",
    /// 400: `requester` is not an address.
    InvalidRequester = "invalid_requester",
    /// 400: `region` is not 1 to 64 printable characters.
    InvalidRegion = "invalid_region",
    /// 400: `lease_seconds` is out of range.
    InvalidLease = "invalid_lease",
    /// A node's endpoint is not a URL the relay can use.
    InvalidEndpoint = "invalid_endpoint",
    /// No such endpoint.
    NotFound = "not_found",
    /// The request took longer than the relay allows.
    Timeout = "timeout",
    /// Too many requests from this client; `Retry-After` says when to try again.
    RateLimited = "rate_limited",
    /// The relay failed; the message says nothing more (the relay's log does).
    Internal = "internal",
    /// The relay is shutting down.
    ShuttingDown = "shutting_down",

    // Signatures, sign-in and sessions.
    /// A signed request lacks one of its signature headers.
    NotSigned = "not_signed",
    /// A signature is malformed or does not recover.
    InvalidSignature = "invalid_signature",
    /// A signed request was already received.
    Replayed = "replayed",
    /// A signed request's time is too far ahead of the relay's clock.
    IssuedInFuture = "issued_in_future",
    /// A signed request is signed for another method or path.
    WrongUri = "wrong_uri",
    /// The sign-in message is not one the relay issues.
    InvalidSignIn = "invalid_sign_in",
    /// The sign-in signature is not by the message's address.
    BadSignature = "bad_signature",
    /// The sign-in message is for another relay.
    WrongDomain = "wrong_domain",
    /// The sign-in nonce was used or never issued.
    NonceUsed = "nonce_used",
    /// The sign-in message has expired.
    Expired = "expired",
    /// The sign-in message was issued too long ago.
    SignInTooOld = "sign_in_too_old",
    /// No session token was sent.
    NotSignedIn = "not_signed_in",
    /// The session token is not known.
    UnknownSession = "unknown_session",
    /// The session was signed out.
    SignedOut = "signed_out",
    /// The session is for other campaigns.
    CampaignNotInSession = "campaign_not_in_session",
    /// The session has earned its reward cap.
    RewardCapReached = "reward_cap_reached",

    // Campaigns.
    /// The campaign definition is refused; the message names the field.
    InvalidCampaign = "invalid_campaign",
    /// A different campaign has this id.
    CampaignExists = "campaign_exists",
    /// The requester's funds on the campaign's chain are short of its budget.
    InsufficientFunds = "insufficient_funds",
    /// No such campaign.
    NoCampaign = "no_campaign",
    /// Only the campaign's requester may do this.
    NotOwner = "not_owner",
    /// The campaign is closed and cannot be reopened.
    Closed = "closed",
    /// The campaign is closed.
    CampaignClosed = "campaign_closed",
    /// The campaign is paused.
    CampaignPaused = "campaign_paused",
    /// The campaign has no paid tasks left.
    BudgetSpent = "budget_spent",

    // Tasks and submissions.
    /// No task left for this contributor in the campaign.
    NoTask = "no_task",
    /// No such lease of this contributor.
    NoLease = "no_lease",
    /// The task was leased to someone else.
    NotYourLease = "not_your_lease",
    /// The lease has ended; ask for a new task.
    LeaseExpired = "lease_expired",
    /// The lease was submitted, skipped or returned.
    LeaseNotActive = "lease_not_active",
    /// The answer does not fit the campaign.
    InvalidAnswer = "invalid_answer",
    /// A submission's `manifest_id` is not 64 hex digits.
    InvalidManifestId = "invalid_manifest_id",
    /// A submission's `nonce` is not a number.
    InvalidNonce = "invalid_nonce",
    /// A submission receipt names another campaign than its lease's.
    WrongCampaign = "wrong_campaign",
    /// An upload submission receipt names another object than its answer.
    WrongManifest = "wrong_manifest",
    /// Answered faster than the campaign's minimum time per task.
    TooFast = "too_fast",
    /// The contributor is restricted from the campaign (low trust).
    Restricted = "restricted",
    /// Too many tasks skipped; wait for the cool-down.
    SkipCooldown = "skip_cooldown",
    /// The contributor has had the campaign's daily cap of tasks.
    DailyCap = "daily_cap",
    /// The uploaded object is not complete.
    UploadIncomplete = "upload_incomplete",
    /// The object was uploaded by another wallet.
    NotYourUpload = "not_your_upload",
    /// The object was submitted before.
    ObjectAlreadySubmitted = "object_already_submitted",

    // Appeals.
    /// 404: no such submission of this wallet.
    NoSubmission = "no_submission",
    /// 409: only a rejected submission (or an upload its one validator rejected) is appealed.
    NotAppealable = "not_appealable",
    /// 409: the submission was appealed before; each submission is appealed once.
    AppealExists = "appeal_exists",
    /// 422: the appeal's reason is empty, too long or holds control characters.
    InvalidAppeal = "invalid_appeal",
    /// 429: the wallet has as many open appeals as it may; wait for their answers.
    TooManyAppeals = "too_many_appeals",
    /// 404: no such appeal.
    NoAppeal = "no_appeal",
    /// 409: the appeal was answered before, the other way.
    AppealDecided = "appeal_decided",

    // Validators.
    /// No upload is waiting for this validator.
    NoJob = "no_job",
    /// The key is not a validator of the job's campaign.
    NotAValidator = "not_a_validator",
    /// Another validator holds the job.
    JobLeased = "job_leased",
    /// The upload already has a verdict.
    JobDone = "job_done",
    /// The verdict is for another object.
    WrongObject = "wrong_object",
    /// The verdict is malformed.
    InvalidVerdict = "invalid_verdict",

    // Compute nodes.
    /// The capabilities a compute node registers are malformed.
    InvalidCapabilities = "invalid_capabilities",
    /// The compute job was leased to another node.
    NotYourJob = "not_your_job",
    /// The result of a compute job is malformed.
    InvalidResult = "invalid_result",
    /// The public key a compute node registers is malformed or not the signer's.
    InvalidNodeKey = "invalid_node_key",
    /// A grant is not 81 bytes starting with a compressed secp256k1 point.
    InvalidGrant = "invalid_grant",
    /// The compute job already has another grant.
    AlreadyGranted = "already_granted",

    // Money.
    /// The chain is not one the relay pays on.
    UnsupportedChain = "unsupported_chain",
    /// The token is not paid on that chain.
    UnsupportedToken = "unsupported_token",
    /// Nothing claimable in that token on that chain.
    NothingToClaim = "nothing_to_claim",
    /// No such voucher of this wallet.
    NoVoucher = "no_voucher",
    /// The `request_id` was used for another grant or claim.
    RequestIdUsed = "request_id_used",
    /// The amount would take a balance beyond what the ledger can count.
    AmountTooLarge = "amount_too_large",
    /// A deadline has passed.
    DeadlinePassed = "deadline_passed",
    /// A submission receipt is malformed or not the relay's.
    InvalidReceipt = "invalid_receipt",
    /// A receipt's licence or terms hash is not the campaign's: the contributor has not
    /// accepted the campaign's current terms.
    TermsNotAccepted = "terms_not_accepted",
    /// Only an operator of the relay may do this.
    NotOperator = "not_operator",

    // Storage.
    /// No such object.
    NoObject = "no_object",
    /// The object has no such shard.
    NoShard = "no_shard",
    /// The manifest is not a valid sealed-object manifest.
    InvalidManifest = "invalid_manifest",
    /// The bytes do not hash to the shard id.
    WrongShardId = "wrong_shard_id",
    /// No live storage node can take a shard now.
    NoNodes = "no_nodes",
    /// No node holding the shard answered with it.
    ShardUnavailable = "shard_unavailable",
    /// A node must register first.
    UnknownNode = "unknown_node",
    /// The node is not admitted to the network.
    NotAdmitted = "not_admitted",
    /// A node's payout address is not `0x` and 40 hex digits.
    InvalidPayout = "invalid_payout",
    /// 413: a manifest lists more shards than the relay stores for one object.
    TooManyShards = "too_many_shards",
    /// 403: only a contributor holding an upload lease or a requester may create objects.
    UploadNotAllowed = "upload_not_allowed",
    /// 403: the wallet's objects would exceed its storage quota.
    QuotaExceeded = "quota_exceeded",
    /// 429: a wallet new to the campaign has taken its probation tasks; one of its answers must be confirmed right first.
    Probation = "probation",
    /// 429: this network holds as many of the campaign's leases as it may.
    NetworkLeaseCap = "network_lease_cap",
    /// A validator rejected this upload; another validator must agree before it is rejected.
    SecondOpinion = "second_opinion",
    /// 409: the item is still collecting answers; only a decided item can be reviewed.
    ItemUndecided = "item_undecided",
    }
}

codes! {
    /// Every `error` code a storage node answers with (docs/storage-node.md §2 lists the same
    /// set with their statuses; a node test holds the two together). The relay reads them when
    /// it places, audits and deletes shards.
    NodeErrorCode {
    /// 400: the id in the path is not 64 lower-case hex digits.
    BadShardId = "bad_shard_id",
    /// 400: the `PUT` body does not hash to the id.
    WrongId = "wrong_id",
    /// 400: a malformed `Range` header.
    BadRange = "bad_range",
    /// 400: a malformed proof query.
    BadQuery = "bad_query",
    /// 400: the body could not be read.
    BadBody = "bad_body",
    /// 408: the body took too long to arrive.
    Timeout = "timeout",
    /// 409: a signed `DELETE` already accepted, sent again.
    Replayed = "replayed",
    /// 411: a `PUT` without `Content-Length`.
    LengthRequired = "length_required",
    /// 401: the time or signature header is missing.
    Unsigned = "unsigned",
    /// 401: a header is malformed.
    BadSignature = "bad_signature",
    /// 401: the request's time is too far from the node's clock.
    StaleRequest = "stale_request",
    /// 403: signed, but not by the relay for this node, method, path and body.
    Forbidden = "forbidden",
    /// 404: the node does not hold the shard.
    NotFound = "not_found",
    /// 404: the node's copy was corrupt and has been dropped.
    ShardCorrupt = "shard_corrupt",
    /// 404: no such endpoint.
    NoRoute = "no_route",
    /// 413: the body is over the node's largest shard.
    TooLarge = "too_large",
    /// 416: the range is outside the shard.
    RangeNotSatisfiable = "range_not_satisfiable",
    /// 503: the node has not learned its relay's address yet.
    RelayUnknown = "relay_unknown",
    /// 507: the node is full.
    InsufficientStorage = "insufficient_storage",
    /// 500: anything else.
    Internal = "internal",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_code_is_what_serde_writes_parses_back_and_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("network"), None);
        let mut seen = std::collections::HashSet::new();
        for &code in NodeErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert_eq!(NodeErrorCode::parse(code.as_str()), Some(code));
        }
    }
}
