//! Task dispatch and submissions: a contributor leases a task, answers it with a submission
//! signed by its session key (an EIP-712 `SubmissionReceipt` bound to the lease), and is
//! credited at once — or, for items answered by several people, as soon as they agree.

use axum::Json;
use axum::extract::{Path, State};
use datahub_core::eth::{
    Address, Eip712Domain, SessionError, Signature, SubmissionReceipt, Timestamp, TypedStruct,
    U256, keccak256,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;

use crate::auth::{Contributor, db_address};
use crate::campaigns::{CampaignSpec, campaign_account, check_answer};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::ledger::{self, Transfer, kind};
use crate::{AppState, Relay, clock, params, quality};

/// The EIP-712 domain receipts are signed under, for a session's chain.
pub fn receipt_domain(relay: &Relay, chain_id: u64) -> ApiResult<Eip712Domain> {
    let chain = relay.config.chain(chain_id).ok_or_else(|| {
        ApiError::bad_request(
            "unsupported_chain",
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
        "SELECT id, campaign, idx FROM leases WHERE state = 'active' AND expires_ms < $1 ORDER BY expires_ms LIMIT $2",
        params![now, limit],
    )?;
    for row in &rows {
        release_lease(conn, &row.text(0)?, &row.text(1)?, row.int(2)?, "expired")?;
    }
    Ok(rows.len())
}

pub(crate) fn release_lease(
    conn: &mut dyn Conn,
    lease: &str,
    campaign: &str,
    idx: i64,
    state: &str,
) -> ApiResult<()> {
    conn.execute(
        "UPDATE leases SET state = $1 WHERE id = $2 AND state = 'active'",
        params![state, lease],
    )?;
    conn.execute(
        "UPDATE items SET taken = taken - 1 WHERE campaign = $1 AND idx = $2 AND taken > 0",
        params![campaign, idx],
    )?;
    conn.execute(
        "UPDATE campaigns SET open_slots = open_slots + 1 WHERE id = $1 AND status <> 'closed'",
        params![campaign],
    )?;
    Ok(())
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
}

/// `POST /v1/campaigns/{id}/next`: leases the next task of the campaign to the contributor. A
/// contributor holds one lease per campaign: asking again returns the same one until it is
/// answered, skipped or expired.
pub async fn next(
    State(relay): State<AppState>,
    Path(campaign): Path<String>,
    Contributor(info): Contributor,
) -> ApiResult<Json<Task>> {
    if !info.session.grant.campaigns.allows(&campaign) {
        return Err(ApiError::forbidden(
            "campaign_not_in_session",
            format!("this session may not work on campaign {campaign:?}; sign in for it"),
        ));
    }
    let worker = db_address(&info.session.wallet);
    let session = info.id.clone();
    let settings = match relay.campaigns.get(&relay, &campaign).await? {
        Some(info) => quality::Settings::of(&info.spec),
        None => {
            return Err(ApiError::not_found(
                "no_campaign",
                format!("no campaign {campaign:?}"),
            ));
        }
    };
    let secret = quality::golden_secret(&relay.key);
    let task = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<Task> {
            let now = clock::now_ms();
            sweep_expired(conn, now, 100)?;
            quality::gate(conn, &campaign, &worker, now)?;
            let campaign_row = conn
                .query_opt(
                    "SELECT status, kind, lease_ms, min_task_ms, reward, token FROM campaigns WHERE id = $1",
                    params![campaign.clone()],
                )?
                .ok_or_else(|| ApiError::not_found("no_campaign", format!("no campaign {campaign:?}")))?;
            let (lease_ms, min_ms) = (campaign_row.int(2)?, campaign_row.int(3)?);
            let task = |lease: String, item: String, created: i64, expires: i64| -> ApiResult<Task> {
                Ok(Task {
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
                "SELECT l.id, i.payload, l.created_ms, l.expires_ms FROM leases l JOIN items i ON i.campaign = l.campaign AND i.idx = l.idx WHERE l.worker = $1 AND l.campaign = $2 AND l.state = 'active'",
                params![worker.clone(), campaign.clone()],
            )? {
                return task(held.text(0)?, held.text(1)?, held.int(2)?, held.int(3)?);
            }
            match campaign_row.text(0)?.as_str() {
                "active" => {}
                "paused" => return Err(ApiError::conflict("campaign_paused", "the campaign is paused; try again later")),
                _ => return Err(ApiError::conflict("campaign_closed", "the campaign is closed")),
            }
            quality::check_daily_cap(conn, &settings, &campaign, &worker, now)?;
            let reserved = conn.execute(
                "UPDATE campaigns SET open_slots = open_slots - 1 WHERE id = $1 AND status = 'active' AND open_slots > 0",
                params![campaign.clone()],
            )?;
            if reserved == 0 {
                return Err(ApiError::conflict("budget_spent", "the campaign has no paid tasks left"));
            }
            // Golden items when it is their turn (any number of people may get each one, but
            // nobody the same twice), otherwise the least-answered open item.
            let golden = quality::golden_turn(conn, &settings, &secret, &campaign, &worker)?;
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
                ApiError::not_found("no_task", "no task left for you in this campaign")
            })?;
            quality::note_lease(conn, &campaign, &worker, golden.is_some())?;
            let lease = clock::time_ordered_id(now);
            let expires = now + lease_ms;
            conn.execute(
                "INSERT INTO leases (id, campaign, idx, worker, session, state, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7)",
                params![lease.clone(), campaign.clone(), idx, worker, session, now, expires],
            )?;
            conn.execute(
                "UPDATE items SET taken = taken + 1 WHERE campaign = $1 AND idx = $2",
                params![campaign.clone(), idx],
            )?;
            task(lease, payload, now, expires)
        })
        .await?;
    relay
        .metrics
        .leases
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(Json(task))
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
                .ok_or_else(|| ApiError::not_found("no_lease", "no such lease of yours"))?;
            if row.text(3)? != "active" {
                return Err(ApiError::conflict(
                    "lease_not_active",
                    format!("the lease is {}", row.text(3)?),
                ));
            }
            let campaign = row.text(0)?;
            release_lease(conn, &lease, &campaign, row.int(1)?, "skipped")?;
            let spec = conn
                .query_opt(
                    "SELECT spec FROM campaigns WHERE id = $1",
                    params![campaign.clone()],
                )?
                .ok_or_else(|| ApiError::internal("lease of a missing campaign"))?
                .text(0)?;
            let spec: CampaignSpec = serde_json::from_str(&spec).map_err(ApiError::internal)?;
            let settings = quality::Settings::of(&spec);
            quality::note_skip(conn, &settings, &campaign, &worker, clock::now_ms())
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
}

/// What a submission came to.
#[derive(Serialize, Clone)]
pub struct SubmissionOutcome {
    /// The submission's id: the receipt's EIP-712 digest.
    pub submission: String,
    /// `accepted` (credited), `pending` (waiting for other answers) or `rejected`.
    pub status: String,
    /// What was credited, in tokens.
    pub credited: String,
    /// The token.
    pub token: String,
    /// The contributor's balance of that token after this submission.
    pub balance: String,
    /// Whether this submission had been received before (a retry).
    pub duplicate: bool,
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
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
            let bytes = hex::decode(hex_id.trim_start_matches("0x"))
                .map_err(|_| bad("invalid_manifest_id", "manifest_id must be 64 hex digits"))?;
            <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| bad("invalid_manifest_id", "manifest_id must be 64 hex digits"))?
        }
    };
    if body.answer.len() > 16 * 1024 {
        return Err(ApiError::unprocessable(
            "invalid_answer",
            "the answer is over 16 KiB",
        ));
    }
    let answer: Json_ = serde_json::from_str(&body.answer).map_err(|e| {
        ApiError::unprocessable("invalid_answer", format!("the answer is not JSON: {e}"))
    })?;
    let nonce = U256::parse(&body.nonce).map_err(|e| bad("invalid_nonce", e.to_string()))?;
    let signature = Signature::from_hex(&body.signature)
        .map_err(|e| bad("invalid_signature", e.to_string()))?;
    let receipt = SubmissionReceipt {
        campaign: body.campaign.clone(),
        task: body.task.clone(),
        answer_hash: keccak256(body.answer.as_bytes()),
        manifest_id,
        nonce,
        deadline: body.deadline,
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
                "bad_signature",
                format!("the receipt is not signed by this session's key: {e}"),
            ),
            SessionError::DeadlinePassed => {
                ApiError::unprocessable("deadline_passed", e.to_string())
            }
            SessionError::CampaignNotInScope { .. } => {
                ApiError::forbidden("campaign_not_in_session", e.to_string())
            }
            SessionError::Expired => {
                ApiError::unauthorized("expired", "the session has expired; sign in again")
            }
            other => ApiError::unprocessable("invalid_receipt", other.to_string()),
        })?;
    let id = format!("0x{}", hex::encode(receipt.signing_hash(&domain)));
    let campaign = relay
        .campaigns
        .get(&relay, &body.campaign)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("no_campaign", format!("no campaign {:?}", body.campaign))
        })?;
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
        now: now.unix_millis(),
    };
    let (worker, campaign_id, spec_info) =
        (job.worker.clone(), job.campaign.clone(), job.info.clone());
    let outcome = relay
        .db
        .write(move |conn: &mut dyn Conn| job.run(conn))
        .await;
    let outcome = match outcome {
        Err(e) if e.code == "too_fast" => {
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
    let counter = match outcome.status.as_str() {
        _ if outcome.duplicate => None,
        "accepted" => Some(&relay.metrics.accepted),
        "pending" => Some(&relay.metrics.pending),
        _ => Some(&relay.metrics.rejected),
    };
    if let Some(counter) = counter {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    if !outcome.duplicate && outcome.status == "accepted" {
        let units = ledger::parse_amount(&outcome.credited).unwrap_or(0);
        relay.metrics.credited_units.fetch_add(
            u64::try_from(units).unwrap_or(0),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    Ok(Json(outcome))
}

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
    now: i64,
}

/// The worker's ledger account for a campaign's token and chains.
fn worker_account(worker: &str, token: &str, chains: &str) -> String {
    format!("worker:{worker}:{token}:{chains}")
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

impl SubmitJob {
    fn outcome(
        &self,
        conn: &mut dyn Conn,
        status: String,
        reward: i64,
        duplicate: bool,
    ) -> ApiResult<SubmissionOutcome> {
        let token = self.info.token.clone();
        let credited = if status == "accepted" { reward } else { 0 };
        Ok(SubmissionOutcome {
            submission: self.id.clone(),
            status,
            credited: ledger::format_amount(credited),
            balance: ledger::format_amount(token_balance(conn, &self.worker, &token)?),
            token,
            duplicate,
        })
    }

    fn run(self, conn: &mut dyn Conn) -> ApiResult<SubmissionOutcome> {
        if let Some(row) = conn.query_opt(
            "SELECT id, worker, status, reward FROM submissions WHERE signer = $1 AND nonce = $2",
            params![self.signer.clone(), self.nonce.clone()],
        )? {
            if row.text(0)? != self.id {
                return Err(ApiError::conflict(
                    "nonce_used",
                    "this nonce was used by another submission of this key; use a new nonce",
                ));
            }
            if row.text(1)? != self.worker {
                return Err(ApiError::conflict(
                    "nonce_used",
                    "this receipt was submitted by another wallet",
                ));
            }
            return self.outcome(conn, row.text(2)?, row.int(3)?, true);
        }
        let lease = conn
            .query_opt(
                "SELECT campaign, idx, worker, state, created_ms, expires_ms FROM leases WHERE id = $1",
                params![self.lease.clone()],
            )?
            .ok_or_else(|| ApiError::not_found("no_lease", "no such lease; ask for a task first"))?;
        if lease.text(2)? != self.worker {
            return Err(ApiError::forbidden(
                "not_your_lease",
                "this task was leased to someone else",
            ));
        }
        if lease.text(0)? != self.campaign {
            return Err(bad(
                "wrong_campaign",
                "the receipt's campaign is not the lease's",
            ));
        }
        // A restricted contributor's lease was taken back; say why rather than "expired".
        quality::check_allowed(conn, &self.campaign, &self.worker)?;
        let state = lease.text(3)?;
        if state != "active" || lease.int(5)? < self.now {
            return Err(ApiError::conflict(
                "lease_expired",
                format!(
                    "the lease is {}; ask for a new task",
                    if state == "active" { "expired" } else { &state }
                ),
            ));
        }
        let idx = lease.int(1)?;
        if lease.int(4)? + self.info.min_task_ms > self.now {
            return Err(ApiError::unprocessable(
                "too_fast",
                "answered faster than this campaign's minimum time per task",
            ));
        }
        let spec: &CampaignSpec = &self.info.spec;
        let (token, reward, chains) = (
            self.info.token.clone(),
            self.info.reward,
            self.info.chains.clone(),
        );
        let item = conn
            .query_opt(
                "SELECT payload, golden, wanted FROM items WHERE campaign = $1 AND idx = $2",
                params![self.campaign.clone(), idx],
            )?
            .ok_or_else(|| ApiError::internal("lease of a missing item"))?;
        let payload: Json_ = serde_json::from_str(&item.text(0)?).map_err(ApiError::internal)?;
        let key = check_answer(spec, &payload, &self.answer)?;
        if spec.kind.is_upload() {
            if key != self.manifest {
                return Err(bad(
                    "wrong_manifest",
                    "the receipt's manifestId must be the uploaded object's id",
                ));
            }
            if !crate::storage::is_complete(conn, &key)? {
                return Err(ApiError::conflict(
                    "upload_incomplete",
                    "the object is not fully uploaded; upload its missing shards, then submit",
                ));
            }
        }
        // The session's reward cap counts everything credited or still possible.
        let committed = conn
            .query_opt(
                "SELECT committed FROM sessions WHERE id = $1",
                params![self.session.clone()],
            )?
            .map(|r| r.int(0))
            .transpose()?
            .unwrap_or(0);
        let total = u128::try_from(committed.saturating_add(reward)).unwrap_or(u128::MAX);
        if U256::from_u128(total) > self.cap {
            return Err(ApiError::forbidden(
                "reward_cap_reached",
                "this session has earned its reward cap; sign in again to continue",
            ));
        }
        let golden = item.opt_text(1)?;
        let settings = quality::Settings::of(spec);
        // Uploads to a campaign with validators wait for a validator's verdict.
        let validated = spec.kind.is_upload() && !spec.validators.is_empty();
        let status = match &golden {
            Some(golden) => {
                if *golden == key {
                    "accepted"
                } else {
                    "rejected"
                }
            }
            None if validated => "pending",
            None if spec.kind.is_upload() || settings.max_overlap <= 1 => "accepted",
            None => "pending",
        };
        conn.execute(
            "INSERT INTO submissions (id, lease, signer, nonce, worker, campaign, idx, answer, answer_key, manifest, signature, session, status, reward, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            params![
                self.id.clone(), self.lease.clone(), self.signer.clone(), self.nonce.clone(), self.worker.clone(),
                self.campaign.clone(), idx, self.answer_text.clone(), key.clone(), self.manifest.clone(), self.signature.clone(),
                self.session.clone(), status, reward, self.now
            ],
        )?;
        conn.execute(
            "UPDATE leases SET state = 'submitted' WHERE id = $1",
            params![self.lease.clone()],
        )?;
        let account = worker_account(&self.worker, &token, &chains);
        ledger::ensure_account(conn, &account, kind::WORKER, &self.worker, &token, &chains)?;
        let vote = quality::Vote {
            worker: self.worker.clone(),
            key: key.clone(),
            answer: self.answer_text.clone(),
        };
        match status {
            "accepted" => {
                self.credit(conn, &self.id, &account, reward, &token)?;
                conn.execute(
                    "UPDATE sessions SET committed = committed + $1 WHERE id = $2",
                    params![reward, self.session.clone()],
                )?;
                match &golden {
                    Some(truth) => quality::note_golden(
                        conn,
                        spec,
                        reward,
                        &self.campaign,
                        &self.worker,
                        truth,
                        &key,
                        self.now,
                    )?,
                    None => {
                        quality::accepted_at_once(
                            conn,
                            spec,
                            &self.campaign,
                            idx,
                            &payload,
                            &vote,
                        )?;
                    }
                }
            }
            "pending" => {
                conn.execute(
                    "UPDATE sessions SET committed = committed + $1 WHERE id = $2",
                    params![reward, self.session.clone()],
                )?;
                if validated {
                    crate::validation::enqueue(
                        conn,
                        spec,
                        &self.id,
                        idx,
                        &self.manifest,
                        self.now,
                    )?;
                } else {
                    self.resolve(conn, idx, item.int(2)?, &payload, reward, &token, &chains)?;
                }
            }
            _ => {
                if let Some(truth) = &golden {
                    quality::note_golden(
                        conn,
                        spec,
                        reward,
                        &self.campaign,
                        &self.worker,
                        truth,
                        &key,
                        self.now,
                    )?;
                }
                // A wrong golden answer: unpaid, and the item and the slot go back to the pool.
                conn.execute(
                    "UPDATE items SET taken = taken - 1 WHERE campaign = $1 AND idx = $2 AND taken > 0",
                    params![self.campaign.clone(), idx],
                )?;
                conn.execute(
                    "UPDATE campaigns SET open_slots = open_slots + 1 WHERE id = $1 AND status <> 'closed'",
                    params![self.campaign.clone()],
                )?;
            }
        }
        // Resolving the item may have settled this very submission.
        let status = if status == "pending" {
            conn.query_opt(
                "SELECT status FROM submissions WHERE signer = $1 AND nonce = $2",
                params![self.signer.clone(), self.nonce.clone()],
            )?
            .map(|r| r.text(0))
            .transpose()?
            .unwrap_or_else(|| status.to_owned())
        } else {
            status.to_owned()
        };
        self.outcome(conn, status, reward, false)
    }

    fn credit(
        &self,
        conn: &mut dyn Conn,
        submission: &str,
        account: &str,
        reward: i64,
        token: &str,
    ) -> ApiResult<()> {
        credit_to_account(
            conn,
            &self.campaign,
            submission,
            account,
            reward,
            token,
            self.now,
        )
    }

    /// Once an item has the answers it wants, it is decided (`quality::decide`): if its
    /// aggregate is not confident yet and it may grow (under `max_overlap`, budget left), one
    /// more answer is asked for; otherwise the answers that agree with the aggregate are
    /// accepted and credited in this request, the others rejected.
    #[allow(clippy::too_many_arguments)]
    fn resolve(
        &self,
        conn: &mut dyn Conn,
        idx: i64,
        wanted: i64,
        payload: &Json_,
        reward: i64,
        token: &str,
        chains: &str,
    ) -> ApiResult<()> {
        let answers = conn.query(
            "SELECT id, answer_key, worker, session, answer FROM submissions WHERE campaign = $1 AND idx = $2 AND status = 'pending' ORDER BY created_ms",
            params![self.campaign.clone(), idx],
        )?;
        let count = i64::try_from(answers.len()).unwrap_or(i64::MAX);
        if count < wanted {
            return Ok(());
        }
        let spec = &self.info.spec;
        let settings = quality::Settings::of(spec);
        let open_slots = conn
            .query_opt(
                "SELECT open_slots FROM campaigns WHERE id = $1 AND status = 'active'",
                params![self.campaign.clone()],
            )?
            .map(|r| r.int(0))
            .transpose()?
            .unwrap_or(0);
        let can_grow = wanted < settings.max_overlap && open_slots > 0;
        let mut votes = Vec::with_capacity(answers.len());
        for row in &answers {
            votes.push(quality::Vote {
                worker: row.text(2)?,
                key: row.text(1)?,
                answer: row.text(4)?,
            });
        }
        let decision = quality::decide(conn, spec, &self.campaign, payload, &votes, can_grow)?;
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
        for row in &answers {
            let (id, key, worker, session) =
                (row.text(0)?, row.text(1)?, row.text(2)?, row.text(3)?);
            let wins = key == winner;
            let status = if wins { "accepted" } else { "rejected" };
            conn.execute(
                "UPDATE submissions SET status = $1 WHERE campaign = $2 AND idx = $3 AND id = $4",
                params![status, self.campaign.clone(), idx, id.clone()],
            )?;
            if wins {
                let account = worker_account(&worker, token, chains);
                ledger::ensure_account(conn, &account, kind::WORKER, &worker, token, chains)?;
                self.credit(conn, &id, &account, reward, token)?;
            } else {
                conn.execute(
                    "UPDATE sessions SET committed = committed - $1 WHERE id = $2",
                    params![reward, session],
                )?;
                conn.execute(
                    "UPDATE campaigns SET open_slots = open_slots + 1 WHERE id = $1 AND status <> 'closed'",
                    params![self.campaign.clone()],
                )?;
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

/// Credits an accepted submission's reward from the campaign's budget to `account`, once (the
/// transfer's id is `sub:<submission>`).
fn credit_to_account(
    conn: &mut dyn Conn,
    campaign: &str,
    submission: &str,
    account: &str,
    reward: i64,
    token: &str,
    now: i64,
) -> ApiResult<()> {
    let applied = ledger::transfer(
        conn,
        &format!("sub:{submission}"),
        &campaign_account(campaign),
        account,
        reward,
        token,
        &format!("task {campaign}"),
        now,
    )?;
    match applied {
        Transfer::Applied | Transfer::AlreadyApplied => Ok(()),
        // Leases reserve budget, so this means the ledger and the slots disagree.
        Transfer::Insufficient | Transfer::Overflow => Err(ApiError::internal(format!(
            "campaign {campaign} reward not credited: {applied:?}"
        ))),
    }
}

/// Credits a submission accepted later (by a validator's verdict) to its worker's account for
/// the campaign's token and chains, exactly as submissions accepted at once are.
#[allow(clippy::too_many_arguments)]
pub fn credit_submission(
    conn: &mut dyn Conn,
    campaign: &str,
    submission: &str,
    worker: &str,
    token: &str,
    chains: &str,
    reward: i64,
    now: i64,
) -> ApiResult<()> {
    let account = worker_account(worker, token, chains);
    ledger::ensure_account(conn, &account, kind::WORKER, worker, token, chains)?;
    credit_to_account(conn, campaign, submission, &account, reward, token, now)
}
