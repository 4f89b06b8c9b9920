//! Task dispatch and submissions: a contributor leases a task, answers it with a submission
//! signed by its session key (an EIP-712 `SubmissionReceipt` bound to the lease), and is
//! credited at once — or, for items answered by several people, as soon as they agree.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use datahub_core::eth::{
    Address, Eip712Domain, SessionError, Signature, SubmissionReceipt, Timestamp, TypedStruct,
    U256, keccak256,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;

use crate::auth::{Contributor, db_address};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ledger::{self, kind};
use crate::slots::{
    self, Credit, GiveBack, LeaseEnd, LeaseState, NewLease, Rejection, SubmissionStatus,
};
use crate::spec::{CampaignSpec, Settings, check_answer};
use crate::{AppState, ClientIp, Relay, clock, limits, params, quality};

/// The EIP-712 domain receipts are signed under, for a session's chain.
pub fn receipt_domain(relay: &Relay, chain_id: u64) -> ApiResult<Eip712Domain> {
    let chain = relay.config.chain(chain_id).ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::UnsupportedChain,
            format!("chain {chain_id} is not configured"),
        )
    })?;
    let contract = Address::parse(&chain.claim_contract).map_err(ApiError::internal)?;
    Ok(Eip712Domain {
        name: "DataHub".into(),
        version: "1".into(),
        chain_id: datahub_core::ChainId(chain_id),
        verifying_contract: contract,
    })
}

/// Moves leases past their time back into the pool (at most `limit` per call).
pub fn sweep_expired(conn: &mut dyn Conn, now: i64, limit: i64) -> ApiResult<usize> {
    let rows = conn.query(
        "SELECT id, campaign, idx, worker FROM leases WHERE state = 'active' AND expires_ms < $1 ORDER BY expires_ms LIMIT $2",
        params![now, limit],
    )?;
    for row in &rows {
        let lease = row.text(0)?;
        let (campaign, idx) = (row.text(1)?, row.int(2)?);
        let why = GiveBack::Lease {
            lease: &lease,
            end: LeaseEnd::Expired,
        };
        slots::give_back(conn, &campaign, idx, why, now)?;
        // Letting a golden item run out must cost what skipping it does.
        quality::note_unanswered(conn, &campaign, idx, &row.text(3)?, now)?;
    }
    Ok(rows.len())
}

/// A leased task, as the contributor sees it.
#[derive(Serialize)]
pub struct Task {
    lease: String,
    campaign: String,
    kind: String,
    item: Json_,
    expires_at: String,
    submit_after: String,
    reward: String,
    token: String,
    /// A pre-annotating model's prediction on the item (`{label, kind, model}`), when the
    /// campaign has one and its nodes agreed.
    #[serde(skip_serializing_if = "Option::is_none")]
    suggestion: Option<Json_>,
}

/// `POST /v1/campaigns/{id}/next`: leases the next task of the campaign to the contributor. A
/// contributor holds one lease per campaign: asking again returns the same one until it is
/// answered, skipped or expired.
pub async fn next(
    State(relay): State<AppState>,
    Path(campaign): Path<String>,
    client: Option<Extension<ClientIp>>,
    Contributor(info): Contributor,
) -> ApiResult<Json<Task>> {
    if !info.session.grant.campaigns.allows(&campaign) {
        return Err(ApiError::forbidden(
            ErrorCode::CampaignNotInSession,
            format!("this session may not work on campaign {campaign:?}; sign in for it"),
        ));
    }
    let worker = db_address(&info.session.wallet);
    let session = info.id.clone();
    let (settings, spec, golden_items) = match relay.campaigns.get(&relay, &campaign).await? {
        Some(info) => (
            Settings::of(&info.spec),
            info.spec.clone(),
            info.golden_items,
        ),
        None => {
            return Err(ApiError::not_found(
                ErrorCode::NoCampaign,
                format!("no campaign {campaign:?}"),
            ));
        }
    };
    let secret = quality::golden_secret(&relay.key);
    let limits_config = &relay.config.limits;
    let network = client.map(|Extension(ClientIp(ip))| {
        limits::network_key(
            ip,
            limits_config.sign_in_ipv4_prefix,
            limits_config.sign_in_ipv6_prefix,
        )
        .to_string()
    });
    let network_cap = i64::from(limits_config.leases_per_network);
    // Run again after a conflict (on PostgreSQL, writers in parallel may deadlock on the rows a
    // lease sweeps or reserves): asking again is safe, a lease already made is answered again.
    let task = relay
        .db
        .write_retrying(move |conn: &mut dyn Conn| -> ApiResult<Task> {
            let now = clock::now_ms();
            sweep_expired(conn, now, 100)?;
            let record = quality::gate(conn, &campaign, &worker, now)?;
            let campaign_row = conn
                .query_opt(
                    "SELECT status, kind, lease_ms, min_task_ms, reward, token FROM campaigns WHERE id = $1",
                    params![campaign.clone()],
                )?
                .ok_or_else(|| ApiError::not_found(ErrorCode::NoCampaign, format!("no campaign {campaign:?}")))?;
            let (lease_ms, min_ms) = (campaign_row.int(2)?, campaign_row.int(3)?);
            let task = |conn: &mut dyn Conn, lease: String, idx: i64, item: String, created: i64, expires: i64| -> ApiResult<Task> {
                Ok(Task {
                    suggestion: quality::suggestion(conn, &spec, idx)?,
                    lease,
                    campaign: campaign.clone(),
                    kind: campaign_row.text(1)?,
                    item: serde_json::from_str(&item).map_err(ApiError::internal)?,
                    expires_at: Timestamp::from_unix_millis(expires).to_string(),
                    submit_after: Timestamp::from_unix_millis(created + min_ms).to_string(),
                    reward: ledger::format_amount(campaign_row.int(4)?),
                    token: campaign_row.text(5)?,
                })
            };
            if let Some(held) = conn.query_opt(
                "SELECT l.id, i.payload, l.created_ms, l.expires_ms, l.idx FROM leases l JOIN items i ON i.campaign = l.campaign AND i.idx = l.idx WHERE l.worker = $1 AND l.campaign = $2 AND l.state = 'active'",
                params![worker.clone(), campaign.clone()],
            )? {
                return task(conn, held.text(0)?, held.int(4)?, held.text(1)?, held.int(2)?, held.int(3)?);
            }
            match campaign_row.text(0)?.as_str() {
                "active" => {}
                "paused" => return Err(ApiError::conflict(ErrorCode::CampaignPaused, "the campaign is paused; try again later")),
                _ => return Err(ApiError::conflict(ErrorCode::CampaignClosed, "the campaign is closed")),
            }
            quality::check_daily_cap(conn, &settings, &campaign, &worker, now)?;
            quality::check_probation(&settings, &record)?;
            check_network_leases(conn, &campaign, network.as_deref(), network_cap)?;
            if !slots::reserve(conn, &campaign)? {
                return Err(ApiError::conflict(ErrorCode::BudgetSpent, "the campaign has no paid tasks left"));
            }
            // Golden items when it is their turn (any number of people may get each one, but
            // nobody the same twice), otherwise the least-answered open item.
            let golden = quality::golden_turn(
                conn,
                &settings,
                &secret,
                &campaign,
                &worker,
                &record,
                golden_items,
            )?;
            let item = match golden.clone() {
                Some(item) => Some(item),
                None => conn.query_opt(
                    "SELECT idx, payload FROM items WHERE campaign = $1 AND golden IS NULL AND resolved = 0 AND taken < wanted AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.campaign = items.campaign AND l.idx = items.idx AND l.worker = $2) ORDER BY taken, idx LIMIT 1",
                    params![campaign.clone(), worker.clone()],
                )?
                .map(|r| Ok::<_, ApiError>((r.int(0)?, r.text(1)?)))
                .transpose()?,
            };
            // An `Err` below rolls the reservation back with everything else.
            let (idx, payload) = item.ok_or_else(|| {
                ApiError::not_found(ErrorCode::NoTask, "no task left for you in this campaign")
            })?;
            quality::note_lease(conn, &campaign, &worker, golden.is_some())?;
            let lease = clock::time_ordered_id(now);
            let expires = now + lease_ms;
            slots::lease(
                conn,
                &NewLease {
                    id: &lease,
                    campaign: &campaign,
                    idx,
                    worker: &worker,
                    session: &session,
                    created_ms: now,
                    expires_ms: expires,
                    network: network.as_deref(),
                },
            )?;
            task(conn, lease, idx, payload, now, expires)
        })
        .await?;
    relay
        .metrics
        .leases
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(Json(task))
}

/// Refuses a new lease when the client's network already holds `cap` active leases in the
/// campaign: one wallet holds one lease per campaign, but a farm of wallets behind one address
/// could otherwise hold them all and starve everyone else.
fn check_network_leases(
    conn: &mut dyn Conn,
    campaign: &str,
    network: Option<&str>,
    cap: i64,
) -> ApiResult<()> {
    let Some(network) = network else {
        return Ok(());
    };
    let rows = conn.query(
        "SELECT COUNT(*) FROM leases WHERE campaign = $1 AND network = $2 AND state = 'active'",
        params![campaign, network],
    )?;
    let held = rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
    if held >= cap {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::NetworkLeaseCap,
            format!(
                "your network already holds {cap} tasks of this campaign, its limit; answer or skip one of them, then ask again"
            ),
        ));
    }
    Ok(())
}

/// `POST /v1/leases/{id}/skip`: gives a task back; it is not offered to this contributor again.
pub async fn skip(
    State(relay): State<AppState>,
    Path(lease): Path<String>,
    Contributor(info): Contributor,
) -> ApiResult<Json<Json_>> {
    let worker = db_address(&info.session.wallet);
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
            let row = conn
                .query_opt(
                    "SELECT campaign, idx, worker, state FROM leases WHERE id = $1",
                    params![lease.clone()],
                )?
                .filter(|r| r.text(2).is_ok_and(|w| w == worker))
                .ok_or_else(|| ApiError::not_found(ErrorCode::NoLease, "no such lease of yours"))?;
            let state = row.text(3)?;
            if LeaseState::parse(&state) != Some(LeaseState::Active) {
                return Err(ApiError::conflict(
                    ErrorCode::LeaseNotActive,
                    format!("the lease is {state}"),
                ));
            }
            let campaign = row.text(0)?;
            let now = clock::now_ms();
            let why = GiveBack::Lease {
                lease: &lease,
                end: LeaseEnd::Skipped,
            };
            let idx = row.int(1)?;
            slots::give_back(conn, &campaign, idx, why, now)?;
            // A skipped golden item costs what a wrong answer costs: otherwise wallets would
            // skip whatever they suspect is golden, for free.
            quality::note_unanswered(conn, &campaign, idx, &worker, now)?;
            let spec = conn
                .query_opt(
                    "SELECT spec FROM campaigns WHERE id = $1",
                    params![campaign.clone()],
                )?
                .ok_or_else(|| ApiError::internal("lease of a missing campaign"))?
                .text(0)?;
            let spec: CampaignSpec = serde_json::from_str(&spec).map_err(ApiError::internal)?;
            let settings = Settings::of(&spec);
            quality::note_skip(conn, &settings, &campaign, &worker, now)
        })
        .await?;
    Ok(Json(serde_json::json!({ "skipped": true })))
}

/// The body of `POST /v1/submissions`: the answer and the receipt's fields, signed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionRequest {
    /// The campaign's id.
    pub campaign: String,
    /// The lease's id (the receipt's `task`).
    pub task: String,
    /// The answer, as JSON text; the receipt's `answerHash` is `keccak256` of these bytes.
    pub answer: String,
    /// The uploaded object's id (64 hex digits) for upload tasks; omitted otherwise.
    #[serde(default)]
    pub manifest_id: Option<String>,
    /// The receipt's nonce (decimal).
    pub nonce: String,
    /// The receipt's deadline, Unix seconds.
    pub deadline: u64,
    /// The session key's EIP-712 signature of the receipt.
    pub signature: String,
    /// The receipt's `licence`: the campaign's (`""` when it states none).
    #[serde(default)]
    pub licence: String,
    /// The receipt's `termsHash` (64 hex digits): the BLAKE3 of the campaign's terms as the
    /// contributor was shown them; omitted (zeros) for a campaign without terms.
    #[serde(default)]
    pub terms_hash: Option<String>,
}

/// What a submission came to.
#[derive(Serialize, Clone)]
pub struct SubmissionOutcome {
    /// The submission's id: the receipt's EIP-712 digest.
    pub submission: String,
    /// `accepted` (credited), `pending` (waiting for other answers) or `rejected`.
    pub status: SubmissionStatus,
    /// What was credited, in tokens.
    pub credited: String,
    /// The token.
    pub token: String,
    /// The contributor's balance of that token after this submission.
    pub balance: String,
    /// Whether this submission had been received before (a retry).
    pub duplicate: bool,
    /// Accepted, but its reward held until its author's record is known (`quality::hold`).
    pub held: bool,
}

fn bad(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

/// `POST /v1/submissions`.
pub async fn submit(
    State(relay): State<AppState>,
    Contributor(info): Contributor,
    body: Result<Json<SubmissionRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<SubmissionOutcome>> {
    let Json(body) = body.map_err(|e| crate::error::from_rejection(e.status(), e.body_text()))?;
    let manifest_id = match &body.manifest_id {
        None => [0u8; 32],
        Some(hex_id) => {
            let bytes = hex::decode(hex_id.trim_start_matches("0x")).map_err(|_| {
                bad(
                    ErrorCode::InvalidManifestId,
                    "manifest_id must be 64 hex digits",
                )
            })?;
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                bad(
                    ErrorCode::InvalidManifestId,
                    "manifest_id must be 64 hex digits",
                )
            })?
        }
    };
    if body.answer.len() > 16 * 1024 {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidAnswer,
            "the answer is over 16 KiB",
        ));
    }
    let answer: Json_ = serde_json::from_str(&body.answer).map_err(|e| {
        ApiError::unprocessable(
            ErrorCode::InvalidAnswer,
            format!("the answer is not JSON: {e}"),
        )
    })?;
    let terms_hash = match &body.terms_hash {
        None => [0u8; 32],
        Some(text) => hex::decode(text.trim_start_matches("0x"))
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .ok_or_else(|| {
                bad(
                    ErrorCode::InvalidReceipt,
                    "terms_hash must be 64 hex digits: the BLAKE3 of the campaign's terms",
                )
            })?,
    };
    if body.licence.len() > 64 {
        return Err(bad(
            ErrorCode::InvalidReceipt,
            "licence: at most 64 characters, the campaign's licence id",
        ));
    }
    let nonce =
        U256::parse(&body.nonce).map_err(|e| bad(ErrorCode::InvalidNonce, e.to_string()))?;
    let signature = Signature::from_hex(&body.signature)
        .map_err(|e| bad(ErrorCode::InvalidSignature, e.to_string()))?;
    let receipt = SubmissionReceipt {
        campaign: body.campaign.clone(),
        task: body.task.clone(),
        answer_hash: keccak256(body.answer.as_bytes()),
        manifest_id,
        nonce,
        deadline: body.deadline,
        licence: body.licence.clone(),
        terms_hash,
    };
    let session = &info.session;
    let domain = receipt_domain(&relay, session.chain_id.0)?;
    let now = clock::now();
    // The nonce is consumed by the database's UNIQUE (signer, nonce), with everything else.
    session
        .verify_receipt(
            &receipt,
            &domain,
            &signature,
            now,
            &mut |_: &Address, _: &str| true,
        )
        .map_err(|e| match e {
            SessionError::Signature(e) => ApiError::unauthorized(
                ErrorCode::BadSignature,
                format!("the receipt is not signed by this session's key: {e}"),
            ),
            SessionError::DeadlinePassed => {
                ApiError::unprocessable(ErrorCode::DeadlinePassed, e.to_string())
            }
            SessionError::CampaignNotInScope { .. } => {
                ApiError::forbidden(ErrorCode::CampaignNotInSession, e.to_string())
            }
            SessionError::Expired => {
                ApiError::unauthorized(ErrorCode::Expired, "the session has expired; sign in again")
            }
            other => ApiError::unprocessable(ErrorCode::InvalidReceipt, other.to_string()),
        })?;
    let id = format!("0x{}", hex::encode(receipt.signing_hash(&domain)));
    let campaign = relay
        .campaigns
        .get(&relay, &body.campaign)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::NoCampaign,
                format!("no campaign {:?}", body.campaign),
            )
        })?;
    check_consent(&campaign.spec, &receipt)?;
    let job = SubmitJob {
        id,
        session: info.id.clone(),
        cap: session.grant.reward_cap,
        worker: db_address(&session.wallet),
        signer: db_address(&session.grant.key),
        nonce: body.nonce,
        campaign: body.campaign,
        info: campaign,
        lease: body.task,
        answer_text: body.answer,
        answer,
        manifest: hex::encode(manifest_id),
        signature: signature.to_hex(),
        chain_id: i64::try_from(session.chain_id.0).unwrap_or(i64::MAX),
        deadline: i64::try_from(receipt.deadline).unwrap_or(i64::MAX),
        licence: receipt.licence.clone(),
        terms_hash: hex::encode(receipt.terms_hash),
        now: now.unix_millis(),
    };
    let (worker, campaign_id, spec_info) =
        (job.worker.clone(), job.campaign.clone(), job.info.clone());
    // Retried on a conflict: the same submission sent to another relay sharing the database
    // may have committed meanwhile, and the retry then answers as a duplicate.
    let outcome = relay
        .db
        .write_retrying(move |conn: &mut dyn Conn| job.clone().run(conn))
        .await;
    let outcome = match outcome {
        Err(e) if e.code == ErrorCode::TooFast => {
            // The refusal rolled back with its transaction; it still counts against trust.
            relay
                .db
                .write(move |conn: &mut dyn Conn| {
                    quality::note_too_fast(
                        conn,
                        &spec_info.spec,
                        spec_info.reward,
                        &campaign_id,
                        &worker,
                        clock::now_ms(),
                    )
                })
                .await?;
            return Err(e);
        }
        other => other?,
    };
    let counter = match outcome.status {
        _ if outcome.duplicate => None,
        SubmissionStatus::Accepted => Some(&relay.metrics.accepted),
        SubmissionStatus::Pending => Some(&relay.metrics.pending),
        SubmissionStatus::Rejected => Some(&relay.metrics.rejected),
    };
    if let Some(counter) = counter {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    if !outcome.duplicate && outcome.status == SubmissionStatus::Accepted {
        let units = ledger::parse_amount(&outcome.credited).unwrap_or(0);
        relay.metrics.credited_units.fetch_add(
            u64::try_from(units).unwrap_or(0),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    Ok(Json(outcome))
}

/// One submission, checked and settled in one write transaction: the phases of [`Self::run`].
#[derive(Clone)]
struct SubmitJob {
    id: String,
    session: String,
    cap: U256,
    worker: String,
    signer: String,
    nonce: String,
    campaign: String,
    info: std::sync::Arc<crate::campaigns::CampaignInfo>,
    lease: String,
    answer_text: String,
    answer: Json_,
    manifest: String,
    signature: String,
    chain_id: i64,
    deadline: i64,
    licence: String,
    terms_hash: String,
    now: i64,
}

/// A receipt signs the campaign's licence and the hash of its terms: one that signs others was
/// made without showing the contributor what the campaign asks them to accept (an old client,
/// or terms that changed since they were read), and its answer carries no consent.
fn check_consent(spec: &crate::spec::CampaignSpec, receipt: &SubmissionReceipt) -> ApiResult<()> {
    let terms = SubmissionReceipt::terms_hash(spec.terms.as_deref());
    if receipt.licence != spec.receipt_licence() || receipt.terms_hash != terms {
        return Err(ApiError::conflict(
            ErrorCode::TermsNotAccepted,
            format!(
                "the receipt does not sign this campaign's licence {:?} and terms hash 0x{}: show the contributor the campaign's terms (GET /v1/campaigns/{{id}}) and sign those",
                spec.receipt_licence(),
                hex::encode(terms)
            ),
        ));
    }
    Ok(())
}

/// The contributor's total balance of `token`, over all chain sets.
pub fn token_balance(conn: &mut dyn Conn, worker: &str, token: &str) -> ApiResult<i64> {
    let rows = conn.query(
        "SELECT balance FROM accounts WHERE owner = $1 AND token = $2 AND kind = 'worker'",
        params![worker, token],
    )?;
    rows.iter()
        .try_fold(0_i64, |sum, r| Ok(sum.saturating_add(r.int(0)?)))
}

/// A submission stored before under the same signer and nonce.
struct Previous {
    id: String,
    worker: String,
    status: SubmissionStatus,
    reward: i64,
    /// Whether its reward is held (`quality::hold`).
    held: bool,
}

/// The lease a submission answers.
struct LeaseRow {
    campaign: String,
    idx: i64,
    worker: String,
    state: LeaseState,
    created_ms: i64,
    expires_ms: i64,
}

/// The item a submission answers.
struct ItemRow {
    payload: Json_,
    /// The known answer's key, when the item is golden.
    golden: Option<String>,
    /// Answers the item wants now.
    wanted: i64,
}

/// A pending answer to an item being decided.
struct PendingAnswer {
    id: String,
    key: String,
    worker: String,
    session: String,
    answer: String,
}

/// What a new answer's fate depends on.
#[derive(Debug, Clone, Copy)]
struct Facts<'a> {
    /// The item's known answer key, when it is golden.
    golden: Option<&'a str>,
    /// The answer's key (`check_answer`).
    key: &'a str,
    /// Whether the campaign's answers are sealed uploads.
    upload: bool,
    /// Whether the campaign names validators.
    validators: bool,
    /// Whether the campaign declares a compute job.
    compute: bool,
    /// The most answers an item may get (`Settings::max_overlap`).
    max_overlap: i64,
}

/// What happens to a new answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// A golden item answered right: paid at once, and counted in the golden record.
    GoldenRight,
    /// A golden item answered wrong: unpaid, counted in the golden record, and the slot given
    /// back (`GiveBack::GoldenMissed`).
    GoldenWrong,
    /// Paid at once: an upload with no validators, or an item its one answer decides.
    AtOnce,
    /// Pending until a validator's verdict (uploads to a campaign with validators).
    AwaitValidator,
    /// Pending until compute nodes agree, or the validators decide (uploads to a campaign with
    /// a compute job).
    AwaitCompute,
    /// Pending until the item has the answers it wants; the last one decides it.
    AwaitVotes,
    /// A golden item's answer on a campaign whose items wait for several answers: pending like
    /// any other until the golden item has as many pending answers as an item wants, then each
    /// judged against the known answer (paid when right). From outside it looks like
    /// [`Self::AwaitVotes`].
    AwaitGolden,
}

impl Verdict {
    /// The status the submission is stored with.
    fn status(self) -> SubmissionStatus {
        match self {
            Self::GoldenRight | Self::AtOnce => SubmissionStatus::Accepted,
            Self::GoldenWrong => SubmissionStatus::Rejected,
            Self::AwaitValidator | Self::AwaitCompute | Self::AwaitVotes | Self::AwaitGolden => {
                SubmissionStatus::Pending
            }
        }
    }
}

/// The rule for a new answer. A golden answer is settled on the schedule of the campaign's
/// other answers, so that nobody can tell golden items by how their answers come back: at once
/// when items are decided by one answer (`max_overlap` 1), against the known answer; otherwise
/// pending until the golden item has as many pending answers as an item wants. Campaigns with
/// validators have no golden items (those are uploads). Uploads wait for a validator when the
/// campaign names some and are accepted at once otherwise; any other answer is accepted at
/// once when its item is decided by one answer, and waits for the item's other answers
/// otherwise.
fn decide(facts: &Facts<'_>) -> Verdict {
    match facts.golden {
        Some(_) if facts.max_overlap > 1 => Verdict::AwaitGolden,
        Some(truth) if truth == facts.key => Verdict::GoldenRight,
        Some(_) => Verdict::GoldenWrong,
        None if facts.upload && facts.compute => Verdict::AwaitCompute,
        None if facts.upload && facts.validators => Verdict::AwaitValidator,
        None if facts.upload || facts.max_overlap <= 1 => Verdict::AtOnce,
        None => Verdict::AwaitVotes,
    }
}

impl SubmitJob {
    /// Checks and settles the submission: a retry answers what was stored; otherwise the lease,
    /// the item, the answer and the session's cap are checked, the answer's fate decided,
    /// recorded and settled.
    fn run(self, conn: &mut dyn Conn) -> ApiResult<SubmissionOutcome> {
        if let Some(previous) = self.find_retry(conn)? {
            let held = Some(previous.held);
            return self.outcome(conn, previous.status, held, previous.reward, true);
        }
        let lease = self.load_lease(conn)?;
        self.check_lease(conn, &lease)?;
        let item = self.load_item(conn, lease.idx)?;
        let key = self.check_answer(conn, &item)?;
        self.check_cap(conn)?;
        let spec = &self.info.spec;
        let verdict = decide(&Facts {
            golden: item.golden.as_deref(),
            key: &key,
            upload: spec.kind.is_upload(),
            validators: !spec.validators.is_empty(),
            compute: spec.compute.is_some(),
            max_overlap: Settings::of(spec).max_overlap,
        });
        self.record(conn, lease.idx, &key, verdict.status())?;
        let held = self.settle(conn, lease.idx, &item, &key, verdict)?;
        let (status, held) = match verdict.status() {
            // Resolving the item may have settled this very submission.
            SubmissionStatus::Pending => {
                let (status, held) = self.stored_status(conn)?;
                (status, Some(held))
            }
            status => (status, held),
        };
        self.outcome(conn, status, held, self.info.reward, false)
    }

    /// The submission stored before with this signer and nonce, if it is this one; an error if
    /// the nonce went to another submission or another wallet.
    fn find_retry(&self, conn: &mut dyn Conn) -> ApiResult<Option<Previous>> {
        let Some(row) = conn.query_opt(
            "SELECT id, worker, status, reward, held FROM submissions WHERE signer = $1 AND nonce = $2",
            params![self.signer.clone(), self.nonce.clone()],
        )?
        else {
            return Ok(None);
        };
        let previous = Previous {
            id: row.text(0)?,
            worker: row.text(1)?,
            status: stored_status(&row.text(2)?)?,
            reward: row.int(3)?,
            held: row.int(4)? != 0,
        };
        if previous.id != self.id {
            return Err(ApiError::conflict(
                ErrorCode::NonceUsed,
                "this nonce was used by another submission of this key; use a new nonce",
            ));
        }
        if previous.worker != self.worker {
            return Err(ApiError::conflict(
                ErrorCode::NonceUsed,
                "this receipt was submitted by another wallet",
            ));
        }
        Ok(Some(previous))
    }

    /// The lease answered, which must be this worker's and this campaign's.
    fn load_lease(&self, conn: &mut dyn Conn) -> ApiResult<LeaseRow> {
        let row = conn
            .query_opt(
                "SELECT campaign, idx, worker, state, created_ms, expires_ms FROM leases WHERE id = $1",
                params![self.lease.clone()],
            )?
            .ok_or_else(|| ApiError::not_found(ErrorCode::NoLease, "no such lease; ask for a task first"))?;
        let state = row.text(3)?;
        let lease = LeaseRow {
            campaign: row.text(0)?,
            idx: row.int(1)?,
            worker: row.text(2)?,
            state: LeaseState::parse(&state)
                .ok_or_else(|| ApiError::internal(format!("lease state {state:?}")))?,
            created_ms: row.int(4)?,
            expires_ms: row.int(5)?,
        };
        if lease.worker != self.worker {
            return Err(ApiError::forbidden(
                ErrorCode::NotYourLease,
                "this task was leased to someone else",
            ));
        }
        if lease.campaign != self.campaign {
            return Err(bad(
                ErrorCode::WrongCampaign,
                "the receipt's campaign is not the lease's",
            ));
        }
        Ok(lease)
    }

    /// The contributor may still answer, the lease is live, and the campaign's least time per
    /// task has passed.
    fn check_lease(&self, conn: &mut dyn Conn, lease: &LeaseRow) -> ApiResult<()> {
        // A restricted contributor's lease was taken back; say why rather than "expired".
        quality::check_allowed(conn, &self.campaign, &self.worker)?;
        if lease.state != LeaseState::Active || lease.expires_ms < self.now {
            let state = match lease.state {
                LeaseState::Active => LeaseState::Expired,
                other => other,
            };
            return Err(ApiError::conflict(
                ErrorCode::LeaseExpired,
                format!("the lease is {}; ask for a new task", state.as_str()),
            ));
        }
        if lease.created_ms + self.info.min_task_ms > self.now {
            return Err(ApiError::unprocessable(
                ErrorCode::TooFast,
                "answered faster than this campaign's minimum time per task",
            ));
        }
        Ok(())
    }

    fn load_item(&self, conn: &mut dyn Conn, idx: i64) -> ApiResult<ItemRow> {
        let row = conn
            .query_opt(
                "SELECT payload, golden, wanted FROM items WHERE campaign = $1 AND idx = $2",
                params![self.campaign.clone(), idx],
            )?
            .ok_or_else(|| ApiError::internal("lease of a missing item"))?;
        Ok(ItemRow {
            payload: serde_json::from_str(&row.text(0)?).map_err(ApiError::internal)?,
            golden: row.opt_text(1)?,
            wanted: row.int(2)?,
        })
    }

    /// The answer's agreement key, once the answer fits the campaign (and, for an upload, names
    /// the object the receipt signed and that object is fully stored).
    fn check_answer(&self, conn: &mut dyn Conn, item: &ItemRow) -> ApiResult<String> {
        let spec = &self.info.spec;
        let key = check_answer(spec, &item.payload, &self.answer)?;
        if spec.kind.is_upload() {
            if key != self.manifest {
                return Err(bad(
                    ErrorCode::WrongManifest,
                    "the receipt's manifestId must be the uploaded object's id",
                ));
            }
            if !crate::storage::is_complete(conn, &key)? {
                return Err(ApiError::conflict(
                    ErrorCode::UploadIncomplete,
                    "the object is not fully uploaded; upload its missing shards, then submit",
                ));
            }
            // An upload is paid to the wallet that uploaded it, once, ever: otherwise anyone's
            // complete object could be submitted for every item, by every wallet.
            let uploader = conn
                .query_opt(
                    "SELECT uploader FROM objects WHERE id = $1",
                    params![key.clone()],
                )?
                .map(|r| r.text(0))
                .transpose()?;
            if uploader.as_deref() != Some(self.worker.as_str()) {
                return Err(ApiError::forbidden(
                    ErrorCode::NotYourUpload,
                    "this object was uploaded by another wallet: upload your own, then submit it",
                ));
            }
            if conn
                .query_opt(
                    "SELECT id FROM submissions WHERE manifest = $1 LIMIT 1",
                    params![key.clone()],
                )?
                .is_some()
            {
                return Err(ApiError::conflict(
                    ErrorCode::ObjectAlreadySubmitted,
                    "this object was submitted before; each upload counts once: upload a new one",
                ));
            }
        }
        Ok(key)
    }

    /// The session's reward cap counts everything credited or still possible.
    fn check_cap(&self, conn: &mut dyn Conn) -> ApiResult<()> {
        let committed = conn
            .query_opt(
                "SELECT committed FROM sessions WHERE id = $1",
                params![self.session.clone()],
            )?
            .map(|r| r.int(0))
            .transpose()?
            .unwrap_or(0);
        let total = u128::try_from(committed.saturating_add(self.info.reward)).unwrap_or(u128::MAX);
        if U256::from_u128(total) > self.cap {
            return Err(ApiError::forbidden(
                ErrorCode::RewardCapReached,
                "this session has earned its reward cap; sign in again to continue",
            ));
        }
        Ok(())
    }

    /// Stores the submission with its first status and marks the lease answered; the worker's
    /// account is opened whatever the status, so the balance answered is always there.
    fn record(
        &self,
        conn: &mut dyn Conn,
        idx: i64,
        key: &str,
        status: SubmissionStatus,
    ) -> ApiResult<()> {
        conn.execute(
            "INSERT INTO submissions (id, lease, signer, nonce, worker, campaign, idx, answer, answer_key, manifest, signature, session, status, reward, created_ms, chain_id, deadline, licence, terms_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
            params![
                self.id.clone(), self.lease.clone(), self.signer.clone(), self.nonce.clone(), self.worker.clone(),
                self.campaign.clone(), idx, self.answer_text.clone(), key, self.manifest.clone(), self.signature.clone(),
                self.session.clone(), status.as_str(), self.info.reward, self.now,
                self.chain_id, self.deadline, self.licence.clone(), self.terms_hash.clone()
            ],
        )?;
        conn.execute(
            "UPDATE leases SET state = $1 WHERE id = $2",
            params![LeaseState::Submitted.as_str(), self.lease.clone()],
        )?;
        let (token, chains) = (&self.info.token, &self.info.chains);
        let account = slots::worker_account(&self.worker, token, chains);
        ledger::ensure_account(conn, &account, kind::WORKER, &self.worker, token, chains)?;
        Ok(())
    }

    /// Does what the verdict says: pays, counts the session's commitment, records what quality
    /// learns, queues a validation job or decides the item, or gives the slot back. Whether this
    /// submission's reward was held, when it was paid or held here (`None` otherwise).
    fn settle(
        &self,
        conn: &mut dyn Conn,
        idx: i64,
        item: &ItemRow,
        key: &str,
        verdict: Verdict,
    ) -> ApiResult<Option<bool>> {
        let (spec, reward) = (&self.info.spec, self.info.reward);
        let note_golden = |conn: &mut dyn Conn, truth: &str| {
            quality::note_golden(
                conn,
                spec,
                reward,
                &self.campaign,
                &self.worker,
                truth,
                key,
                self.now,
            )
        };
        let truth = item.golden.as_deref().unwrap_or_default();
        match verdict {
            Verdict::GoldenRight => {
                let held = self.pay(conn, &self.id, &self.worker)?;
                slots::commit(conn, &self.session, reward)?;
                note_golden(conn, truth)?;
                Ok(Some(held))
            }
            Verdict::GoldenWrong => {
                let (status, why) = (SubmissionStatus::Rejected, Some(Rejection::Disagreed));
                slots::set_status(conn, &self.campaign, idx, &self.id, status, why)?;
                note_golden(conn, truth)?;
                let why = GiveBack::GoldenMissed {
                    submission: &self.id,
                };
                slots::give_back(conn, &self.campaign, idx, why, self.now)?;
                Ok(None)
            }
            Verdict::AtOnce => {
                let held = self.pay(conn, &self.id, &self.worker)?;
                slots::commit(conn, &self.session, reward)?;
                let vote = quality::Vote {
                    worker: self.worker.clone(),
                    key: key.to_owned(),
                    answer: self.answer_text.clone(),
                };
                quality::accepted_at_once(conn, spec, &self.campaign, idx, &item.payload, &vote)?;
                Ok(Some(held))
            }
            Verdict::AwaitValidator => {
                slots::commit(conn, &self.session, reward)?;
                crate::pending_uploads::enqueue(
                    conn,
                    spec,
                    &self.id,
                    idx,
                    &self.manifest,
                    self.now,
                )?;
                Ok(None)
            }
            Verdict::AwaitCompute => {
                slots::commit(conn, &self.session, reward)?;
                crate::compute::jobs::enqueue(conn, spec, &self.id, idx, &self.manifest, self.now)?;
                Ok(None)
            }
            Verdict::AwaitVotes => {
                slots::commit(conn, &self.session, reward)?;
                self.resolve(conn, idx, item)?;
                Ok(None)
            }
            Verdict::AwaitGolden => {
                slots::commit(conn, &self.session, reward)?;
                self.resolve_golden(conn, idx, item, truth)?;
                Ok(None)
            }
        }
    }

    /// The pending answers to item `idx`, oldest first.
    fn pending_answers(&self, conn: &mut dyn Conn, idx: i64) -> ApiResult<Vec<PendingAnswer>> {
        let rows = conn.query(
            "SELECT id, answer_key, worker, session, answer FROM submissions WHERE campaign = $1 AND idx = $2 AND status = 'pending' ORDER BY created_ms",
            params![self.campaign.clone(), idx],
        )?;
        let mut answers = Vec::with_capacity(rows.len());
        for row in &rows {
            answers.push(PendingAnswer {
                id: row.text(0)?,
                key: row.text(1)?,
                worker: row.text(2)?,
                session: row.text(3)?,
                answer: row.text(4)?,
            });
        }
        Ok(answers)
    }

    /// Once a golden item has as many pending answers as an item wants (its `wanted`, the
    /// campaign's overlap), they are all settled in this request, as an ordinary item's are by
    /// its last answer: right ones paid, wrong ones rejected and their slots given back, and
    /// each counted in its author's golden record. The item then takes a new group.
    fn resolve_golden(
        &self,
        conn: &mut dyn Conn,
        idx: i64,
        item: &ItemRow,
        truth: &str,
    ) -> ApiResult<()> {
        let answers = self.pending_answers(conn, idx)?;
        if i64::try_from(answers.len()).unwrap_or(i64::MAX) < item.wanted {
            return Ok(());
        }
        let (spec, reward) = (&self.info.spec, self.info.reward);
        for a in &answers {
            let status = if a.key == truth {
                SubmissionStatus::Accepted
            } else {
                SubmissionStatus::Rejected
            };
            let reason = (status == SubmissionStatus::Rejected).then_some(Rejection::Disagreed);
            slots::set_status(conn, &self.campaign, idx, &a.id, status, reason)?;
            if status == SubmissionStatus::Accepted {
                self.pay(conn, &a.id, &a.worker)?;
            } else {
                let why = GiveBack::Rejected {
                    submission: &a.id,
                    session: &a.session,
                    reward,
                };
                slots::give_back(conn, &self.campaign, idx, why, self.now)?;
            }
            quality::note_golden(
                conn,
                spec,
                reward,
                &self.campaign,
                &a.worker,
                truth,
                &a.key,
                self.now,
            )?;
        }
        Ok(())
    }

    /// The submission's status as stored now, and whether its reward is held.
    fn stored_status(&self, conn: &mut dyn Conn) -> ApiResult<(SubmissionStatus, bool)> {
        let row = conn
            .query_opt(
                "SELECT status, held FROM submissions WHERE signer = $1 AND nonce = $2",
                params![self.signer.clone(), self.nonce.clone()],
            )?
            .ok_or_else(|| ApiError::internal("a submission missing in its own transaction"))?;
        Ok((stored_status(&row.text(0)?)?, row.int(1)? != 0))
    }

    /// What the contributor is told. `held`: whether the reward is held, when the caller knows
    /// (read otherwise).
    fn outcome(
        &self,
        conn: &mut dyn Conn,
        status: SubmissionStatus,
        held: Option<bool>,
        reward: i64,
        duplicate: bool,
    ) -> ApiResult<SubmissionOutcome> {
        let token = self.info.token.clone();
        let held = status == SubmissionStatus::Accepted
            && match held {
                Some(held) => held,
                None => quality::is_held(conn, &self.id)?,
            };
        let credited = if status == SubmissionStatus::Accepted && !held {
            reward
        } else {
            0
        };
        Ok(SubmissionOutcome {
            submission: self.id.clone(),
            status,
            credited: ledger::format_amount(credited),
            balance: ledger::format_amount(token_balance(conn, &self.worker, &token)?),
            token,
            duplicate,
            held,
        })
    }

    /// Pays an accepted `submission` of `worker`, or holds its reward until the worker's record
    /// is known (`quality::credit_or_hold`): every accepted answer of this request goes here.
    /// Whether it was held.
    fn pay(&self, conn: &mut dyn Conn, submission: &str, worker: &str) -> ApiResult<bool> {
        let credit = self.credit(submission, worker);
        let golden = Some(self.info.golden_items);
        quality::credit_or_hold(conn, &self.info.spec, &credit, golden, self.now)
    }

    /// This submission's campaign paying `submission` of `worker`.
    fn credit<'a>(&'a self, submission: &'a str, worker: &'a str) -> Credit<'a> {
        Credit {
            campaign: &self.campaign,
            submission,
            worker,
            token: &self.info.token,
            chains: &self.info.chains,
            reward: self.info.reward,
        }
    }

    /// Once an item has the answers it wants, it is decided (`quality::decide`): if its
    /// aggregate is not confident yet and it may grow (under `max_overlap`, budget left), one
    /// more answer is asked for; otherwise the answers that agree with the aggregate are
    /// accepted and credited in this request, the others rejected and their slots given back.
    fn resolve(&self, conn: &mut dyn Conn, idx: i64, item: &ItemRow) -> ApiResult<()> {
        let answers = self.pending_answers(conn, idx)?;
        let count = i64::try_from(answers.len()).unwrap_or(i64::MAX);
        if count < item.wanted {
            return Ok(());
        }
        let (spec, reward) = (&self.info.spec, self.info.reward);
        let settings = Settings::of(spec);
        let open_slots = conn
            .query_opt(
                "SELECT open_slots FROM campaigns WHERE id = $1 AND status = 'active'",
                params![self.campaign.clone()],
            )?
            .map(|r| r.int(0))
            .transpose()?
            .unwrap_or(0);
        let can_grow = item.wanted < settings.max_overlap && open_slots > 0;
        let votes: Vec<quality::Vote> = answers
            .iter()
            .map(|a| quality::Vote {
                worker: a.worker.clone(),
                key: a.key.clone(),
                answer: a.answer.clone(),
            })
            .collect();
        let decision = quality::decide(
            conn,
            spec,
            &self.campaign,
            idx,
            &item.payload,
            &votes,
            can_grow,
        )?;
        let quality::Decision::Accept {
            key: winner,
            answer,
            confidence,
            method,
        } = decision
        else {
            conn.execute(
                "UPDATE items SET wanted = wanted + 1 WHERE campaign = $1 AND idx = $2",
                params![self.campaign.clone(), idx],
            )?;
            return Ok(());
        };
        for a in &answers {
            let status = if a.key == winner {
                SubmissionStatus::Accepted
            } else {
                SubmissionStatus::Rejected
            };
            let reason = (status == SubmissionStatus::Rejected).then_some(Rejection::Disagreed);
            slots::set_status(conn, &self.campaign, idx, &a.id, status, reason)?;
            if status == SubmissionStatus::Accepted {
                self.pay(conn, &a.id, &a.worker)?;
            } else {
                let why = GiveBack::Outvoted {
                    submission: &a.id,
                    session: &a.session,
                    reward,
                };
                slots::give_back(conn, &self.campaign, idx, why, self.now)?;
            }
        }
        quality::accepted(
            conn,
            spec,
            reward,
            &self.campaign,
            idx,
            &winner,
            &answer,
            confidence,
            method,
            &votes,
            self.now,
        )
    }
}

/// A status read from the database.
fn stored_status(text: &str) -> ApiResult<SubmissionStatus> {
    SubmissionStatus::parse(text)
        .ok_or_else(|| ApiError::internal(format!("submission status {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(golden: Option<&'static str>, key: &'static str) -> Facts<'static> {
        Facts {
            golden,
            key,
            upload: false,
            validators: false,
            compute: false,
            max_overlap: 3,
        }
    }

    #[test]
    fn golden_items_are_settled_on_the_schedule_of_ordinary_ones() {
        // Where answers wait for others, a golden answer waits too, right or wrong.
        assert_eq!(decide(&facts(Some("true"), "true")), Verdict::AwaitGolden);
        assert_eq!(decide(&facts(Some("true"), "false")), Verdict::AwaitGolden);
        assert_eq!(Verdict::AwaitGolden.status(), SubmissionStatus::Pending);
        // Where one answer decides an item, a golden one is judged at once.
        let single = |key| Facts {
            max_overlap: 1,
            ..facts(Some("a"), key)
        };
        assert_eq!(decide(&single("b")), Verdict::GoldenWrong);
        assert_eq!(decide(&single("a")), Verdict::GoldenRight);
        assert_eq!(Verdict::GoldenRight.status(), SubmissionStatus::Accepted);
        assert_eq!(Verdict::GoldenWrong.status(), SubmissionStatus::Rejected);
    }

    #[test]
    fn uploads_wait_for_validators_only_when_the_campaign_names_some() {
        let upload = Facts {
            upload: true,
            ..facts(None, "ab12")
        };
        assert_eq!(decide(&upload), Verdict::AtOnce);
        let validated = Facts {
            validators: true,
            ..upload
        };
        assert_eq!(decide(&validated), Verdict::AwaitValidator);
        assert_eq!(Verdict::AwaitValidator.status(), SubmissionStatus::Pending);
        // Compute nodes judge first; the validators get what the nodes disagree on.
        let computed = Facts {
            compute: true,
            ..validated
        };
        assert_eq!(decide(&computed), Verdict::AwaitCompute);
        assert_eq!(Verdict::AwaitCompute.status(), SubmissionStatus::Pending);
    }

    #[test]
    fn answers_wait_for_votes_unless_one_answer_decides_the_item() {
        assert_eq!(decide(&facts(None, "true")), Verdict::AwaitVotes);
        let single = Facts {
            max_overlap: 1,
            ..facts(None, "true")
        };
        assert_eq!(decide(&single), Verdict::AtOnce);
        assert_eq!(Verdict::AtOnce.status(), SubmissionStatus::Accepted);
        assert_eq!(Verdict::AwaitVotes.status(), SubmissionStatus::Pending);
    }
}
