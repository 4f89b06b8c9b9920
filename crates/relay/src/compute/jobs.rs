//! Compute jobs: one per upload to a campaign that declares one ([`enqueue`]), leased to nodes
//! ([`next_job`]), decided from their signed results ([`result`]).

use axum::Json;
use axum::extract::{Path, State};
use datahub_core::eth::Timestamp;
use datahub_protocol::{Capability, ComputeSpec, Prediction};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::fees::Payer;
use super::judge::{Judgement, judge};
use super::nodes::check_admitted;
use super::trust::{MIN_NODE_TRUST, node_trust};
use crate::auth::{Signed, SignedAsSent, db_address};
use crate::db::{Conn, Row};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::spec::{CampaignSpec, SpecRules, fee_units};
use crate::{AppState, clock, job_lease, params};

/// The oldest open jobs a lease chooses among.
const CANDIDATES: i64 = 64;
/// Expired leases given back per lease request (the rest on the next ones).
const EXPIRED_PER_CALL: i64 = 100;

/// The state of an assignment (one node's lease of one job), as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AssignmentState {
    /// Leased, no result yet.
    Leased,
    /// A result is in; the job is not decided.
    Answered,
    /// Paid: agreed with the decision, or passed a golden job.
    Paid,
    /// Not paid: outvoted, a golden job failed, the job decided or escalated without it.
    Unpaid,
    /// The lease ran out before a result.
    Expired,
    /// Its node was restricted before the job was decided.
    Voided,
}

impl AssignmentState {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Leased => "leased",
            Self::Answered => "answered",
            Self::Paid => "paid",
            Self::Unpaid => "unpaid",
            Self::Expired => "expired",
            Self::Voided => "voided",
        }
    }

    pub(super) fn parse(text: &str) -> ApiResult<Self> {
        [
            Self::Leased,
            Self::Answered,
            Self::Paid,
            Self::Unpaid,
            Self::Expired,
            Self::Voided,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| ApiError::internal(format!("compute assignment state {text:?}")))
    }
}

/// The state of a job, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobState {
    /// Waiting for results.
    Open,
    /// `k` results agreed (or, for a golden job, its one result was judged).
    Decided,
    /// Handed to the campaign's validators.
    Escalated,
    /// A golden job whose lease ran out.
    Expired,
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Decided => "decided",
            Self::Escalated => "escalated",
            Self::Expired => "expired",
        }
    }
}

/// Records the compute job of an upload submission just stored as `pending`. Runs in the
/// submission's transaction.
pub fn enqueue(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    submission: &str,
    idx: i64,
    object: &str,
    now: i64,
) -> ApiResult<()> {
    insert_job(conn, spec, Some(submission), idx, object, now)
}

/// Records one job per item (golden items included) with an object, for a labeling campaign
/// that declares a compute job (pre-annotation): its decided prediction becomes the item's
/// suggestion and the model's vote. Golden items get theirs too, or having a suggestion or
/// not would tell them apart. Runs in the campaign's creating transaction.
pub fn enqueue_items(conn: &mut dyn Conn, spec: &CampaignSpec, now: i64) -> ApiResult<()> {
    let items = spec.items.iter().chain(spec.golden.iter().map(|g| &g.item));
    for (idx, item) in (0_i64..).zip(items) {
        if let Some(object) = item.get("object").and_then(Json_::as_str) {
            insert_job(conn, spec, None, idx, object, now)?;
        }
    }
    Ok(())
}

/// An open job of `spec`'s compute job on `object`: of an upload `submission`, or of item
/// `idx` itself (pre-annotation) without one.
fn insert_job(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    submission: Option<&str>,
    idx: i64,
    object: &str,
    now: i64,
) -> ApiResult<()> {
    let compute = compute_of(spec)?;
    conn.execute(
        "INSERT INTO compute_jobs (id, campaign, submission, idx, object, kind, model, golden, wanted, state, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9, $10)",
        params![
            clock::time_ordered_id(now),
            spec.id.clone(),
            submission.map_or(crate::db::Value::Null, crate::db::Value::from),
            idx,
            object,
            compute.kind.clone(),
            compute.model.clone(),
            i64::from(compute.k),
            JobState::Open.as_str(),
            now
        ],
    )?;
    Ok(())
}

fn compute_of(spec: &CampaignSpec) -> ApiResult<&ComputeSpec> {
    spec.compute
        .as_ref()
        .ok_or_else(|| ApiError::internal(format!("campaign {} has no compute job", spec.id)))
}

/// A campaign as the compute side needs it.
struct Campaign {
    spec: CampaignSpec,
    payer: Payer,
}

fn load_campaign(conn: &mut dyn Conn, id: &str) -> ApiResult<Campaign> {
    let row = conn
        .query_opt(
            "SELECT owner, spec FROM campaigns WHERE id = $1",
            params![id],
        )?
        .ok_or_else(|| ApiError::internal(format!("a compute job of a missing campaign {id}")))?;
    let spec: CampaignSpec = serde_json::from_str(&row.text(1)?).map_err(ApiError::internal)?;
    let payer = Payer {
        campaign: id.to_owned(),
        owner: row.text(0)?,
        chain: spec.paying_chain()?,
        token: spec.token.clone(),
    };
    Ok(Campaign { spec, payer })
}

/// A compute node as a lease needs it.
struct Node {
    address: String,
    payout: String,
    /// `,hash,hash,`: the models it runs, for `LIKE`.
    models: String,
    restricted: bool,
}

fn load_node(conn: &mut dyn Conn, address: &str) -> ApiResult<Node> {
    let row = conn
        .query_opt(
            "SELECT capabilities, payout, restricted FROM compute_nodes WHERE address = $1",
            params![address],
        )?
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::UnknownNode,
                "register first with POST /v1/compute/register",
            )
        })?;
    let capabilities: Vec<Capability> =
        serde_json::from_str(&row.text(0)?).map_err(ApiError::internal)?;
    let models: Vec<&str> = capabilities.iter().map(|c| c.model.as_str()).collect();
    Ok(Node {
        address: address.to_owned(),
        payout: row.text(1)?,
        models: format!(",{},", models.join(",")),
        restricted: row.int(2)? != 0,
    })
}

fn restricted() -> ApiError {
    ApiError::forbidden(
        ErrorCode::Restricted,
        "this compute node is restricted: too many of its results were wrong",
    )
}

/// A leased job, as the node is told it.
struct Lease {
    assignment: String,
    campaign: String,
    kind: String,
    model: String,
    object: String,
    expires_ms: i64,
    /// The requester's grant for this lease (hex), once posted.
    grant: Option<String>,
}

/// `POST /v1/compute/jobs/next` (signed by a registered, admitted, unrestricted compute node):
/// the job it holds, or a new one for a model it runs. It learns the object and the model, not
/// whether the job is golden nor what other nodes said.
pub async fn next_job(State(relay): State<AppState>, signed: Signed) -> ApiResult<Json<Json_>> {
    let lease_ms = job_lease::requested_ms(&signed)?;
    let address = db_address(&signed.signer);
    let now = clock::now_ms();
    let relay2 = relay.clone();
    let lease = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<Option<Lease>> {
            check_admitted(&relay2, conn, &address)?;
            let node = load_node(conn, &address)?;
            if node.restricted {
                return Err(restricted());
            }
            conn.execute(
                "UPDATE compute_nodes SET last_seen_ms = $1 WHERE address = $2",
                params![now, address.clone()],
            )?;
            expire_leases(conn, now)?;
            if let Some(held) = held_lease(conn, &node)? {
                return Ok(Some(held));
            }
            lease_new(conn, &node, now, lease_ms)
        })
        .await?;
    let Some(lease) = lease else {
        return Err(ApiError::not_found(
            ErrorCode::NoJob,
            "no job is waiting for the models this node runs; ask again later",
        ));
    };
    Ok(Json(json!({
        "job": lease.assignment,
        "campaign": lease.campaign,
        "kind": lease.kind,
        "model": lease.model,
        "object": lease.object,
        "lease_expires_at": Timestamp::from_unix_millis(lease.expires_ms).to_string(),
        "grant": lease.grant,
    })))
}

/// Gives back the fees of leases that ran out, so their jobs go to other nodes.
fn expire_leases(conn: &mut dyn Conn, now: i64) -> ApiResult<()> {
    let rows = conn.query(
        "SELECT a.id, a.job, a.fee, j.campaign, j.golden FROM compute_assignments a JOIN compute_jobs j ON j.id = a.job WHERE a.state = $1 AND a.lease_expires_ms < $2 ORDER BY a.lease_expires_ms LIMIT $3",
        params![AssignmentState::Leased.as_str(), now, EXPIRED_PER_CALL],
    )?;
    for row in &rows {
        let (id, job, fee, campaign) = (row.text(0)?, row.text(1)?, row.int(2)?, row.text(3)?);
        let changed = conn.execute(
            "UPDATE compute_assignments SET state = $1 WHERE id = $2 AND state = $3",
            params![
                AssignmentState::Expired.as_str(),
                id.clone(),
                AssignmentState::Leased.as_str()
            ],
        )?;
        if changed == 0 {
            continue;
        }
        load_campaign(conn, &campaign)?
            .payer
            .release(conn, &id, fee, now)?;
        // A golden job belongs to the one node it was made for.
        if row.opt_text(4)?.is_some() {
            conn.execute(
                "UPDATE compute_jobs SET state = $1 WHERE id = $2",
                params![JobState::Expired.as_str(), job],
            )?;
        }
    }
    Ok(())
}

/// `POST /v1/compute/jobs/{id}/release` (signed by the node holding the lease): gives a job
/// back before its lease runs out — a node that cannot open the object (its grant does not
/// open it) says so at once instead of holding it. The fee goes back to the requester and the
/// job to another node, exactly as when the lease runs out; the node never gets this job again.
pub async fn release(
    State(relay): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> ApiResult<Json<Json_>> {
    let node = db_address(&signed.signer);
    let now = clock::now_ms();
    let job = id.clone();
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
            let id = job;
            let row = conn
                .query_opt(
                    "SELECT a.node, a.state, a.fee, j.campaign, j.golden, j.id FROM compute_assignments a JOIN compute_jobs j ON j.id = a.job WHERE a.id = $1",
                    params![id.clone()],
                )?
                .ok_or_else(|| {
                    ApiError::not_found(ErrorCode::NoJob, format!("no compute job {id:?}"))
                })?;
            if row.text(0)? != node {
                return Err(ApiError::forbidden(
                    ErrorCode::NotYourJob,
                    "this job was leased to another node",
                ));
            }
            if AssignmentState::parse(&row.text(1)?)? != AssignmentState::Leased {
                return Err(ApiError::conflict(
                    ErrorCode::LeaseExpired,
                    "this lease is over already (answered, ran out or voided)",
                ));
            }
            set_state(conn, &id, AssignmentState::Expired)?;
            load_campaign(conn, &row.text(3)?)?
                .payer
                .release(conn, &id, row.int(2)?, now)?;
            // A golden job belongs to the one node it was made for.
            if row.opt_text(4)?.is_some() {
                conn.execute(
                    "UPDATE compute_jobs SET state = $1 WHERE id = $2",
                    params![JobState::Expired.as_str(), row.text(5)?],
                )?;
            }
            Ok(())
        })
        .await?;
    Ok(Json(json!({ "job": id, "released": true })))
}

/// The job `node` holds and may still answer, if any.
fn held_lease(conn: &mut dyn Conn, node: &Node) -> ApiResult<Option<Lease>> {
    let row = conn.query_opt(
        "SELECT a.id, j.campaign, j.kind, j.model, j.object, a.lease_expires_ms, a.grant_stanza FROM compute_assignments a JOIN compute_jobs j ON j.id = a.job WHERE a.node = $1 AND a.state = $2 ORDER BY a.created_ms LIMIT 1",
        params![node.address.clone(), AssignmentState::Leased.as_str()],
    )?;
    row.map(|r| lease_of(&r)).transpose()
}

fn lease_of(row: &Row) -> ApiResult<Lease> {
    Ok(Lease {
        assignment: row.text(0)?,
        campaign: row.text(1)?,
        kind: row.text(2)?,
        model: row.text(3)?,
        object: row.text(4)?,
        expires_ms: row.int(5)?,
        grant: row.opt_text(6)?,
    })
}

/// A uniformly random index below `len` (> 0).
fn random_below(len: usize) -> usize {
    let draw = u64::from_le_bytes(clock::random::<8>());
    usize::try_from(draw % u64::try_from(len.max(1)).unwrap_or(1)).unwrap_or(0)
}

/// A uniformly random number in [0, 1).
fn random_unit() -> f64 {
    #[allow(clippy::cast_precision_loss)] // 53 bits, exactly representable
    let draw = (u64::from_le_bytes(clock::random::<8>()) >> 11) as f64;
    draw / (1u64 << 53) as f64
}

/// Picks a job for `node` among the oldest open ones that run one of its models, still want a
/// node and have not had this one; at random, preferring jobs no node of the same operator
/// holds. Sometimes a golden job of the picked job's campaign takes its place. Holds the fee;
/// a campaign whose requester cannot pay it is passed over.
fn lease_new(
    conn: &mut dyn Conn,
    node: &Node,
    now: i64,
    lease_ms: i64,
) -> ApiResult<Option<Lease>> {
    let rows = conn.query(
        "SELECT j.id, j.campaign, j.kind, j.model, j.object, j.wanted, (SELECT COUNT(*) FROM compute_assignments a WHERE a.job = j.id AND (a.state = $1 OR a.state = $2)) FROM compute_jobs j WHERE j.state = $3 AND j.golden IS NULL AND $4 LIKE ('%,' || j.model || ',%') AND NOT EXISTS (SELECT 1 FROM compute_assignments b WHERE b.job = j.id AND b.node = $5) ORDER BY j.created_ms, j.id LIMIT $6",
        params![
            AssignmentState::Leased.as_str(),
            AssignmentState::Answered.as_str(),
            JobState::Open.as_str(),
            node.models.clone(),
            node.address.clone(),
            CANDIDATES
        ],
    )?;
    let mut open = Vec::new();
    for row in &rows {
        if row.int(6)? < row.int(5)? {
            open.push(row);
        }
    }
    if open.is_empty() {
        return Ok(None);
    }
    // Jobs a node of this operator works on already: another operator's node is wanted there.
    let mine: std::collections::HashSet<String> = conn
        .query(
            "SELECT job FROM compute_assignments WHERE payout = $1 AND (state = $2 OR state = $3)",
            params![
                node.payout.clone(),
                AssignmentState::Leased.as_str(),
                AssignmentState::Answered.as_str()
            ],
        )?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<_, _>>()?;
    let mut preferred = Vec::new();
    for row in &open {
        if !mine.contains(&row.text(0)?) {
            preferred.push(*row);
        }
    }
    let pool = if preferred.is_empty() {
        open
    } else {
        preferred
    };
    let start = random_below(pool.len());
    for offset in 0..pool.len() {
        let Some(row) = pool.get((start + offset) % pool.len()) else {
            continue;
        };
        let campaign = load_campaign(conn, &row.text(1)?)?;
        let compute = compute_of(&campaign.spec)?;
        let fee = fee_units(compute)?;
        let mut job = row.text(0)?;
        let mut object = row.text(4)?;
        if random_unit() < compute.golden_share()
            && let Some(golden) = compute.golden.get(random_below(compute.golden.len()))
        {
            let expected = serde_json::to_string(&golden.expected).map_err(ApiError::internal)?;
            job = clock::time_ordered_id(now);
            object = golden.object.clone();
            conn.execute(
                "INSERT INTO compute_jobs (id, campaign, submission, idx, object, kind, model, golden, wanted, state, created_ms) VALUES ($1, $2, NULL, -1, $3, $4, $5, $6, 1, $7, $8)",
                params![
                    job.clone(),
                    campaign.payer.campaign.clone(),
                    object.clone(),
                    compute.kind.clone(),
                    compute.model.clone(),
                    expected,
                    JobState::Open.as_str(),
                    now
                ],
            )?;
        }
        let assignment = clock::time_ordered_id(now);
        if !campaign.payer.hold(conn, &assignment, fee, now)? {
            tracing::warn!(campaign = %campaign.payer.campaign, "compute fee not held: the requester's funds are short");
            continue;
        }
        let expires_ms = now.saturating_add(lease_ms);
        conn.execute(
            "INSERT INTO compute_assignments (id, job, node, payout, state, lease_expires_ms, fee, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            params![
                assignment.clone(),
                job,
                node.address.clone(),
                node.payout.clone(),
                AssignmentState::Leased.as_str(),
                expires_ms,
                fee,
                now
            ],
        )?;
        return Ok(Some(Lease {
            assignment,
            campaign: campaign.payer.campaign.clone(),
            kind: row.text(2)?,
            model: row.text(3)?,
            object,
            expires_ms,
            grant: None,
        }));
    }
    Ok(None)
}

/// The body of `POST /v1/compute/jobs/{id}/result`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultBody {
    /// The object judged (must be the job's: the signature binds the result to the content).
    object: String,
    /// What the model said.
    prediction: Prediction,
}

/// `POST /v1/compute/jobs/{id}/result` (signed by the node holding the job): records the
/// node's prediction as signed and judges the job. The same result sent again gets the stored
/// outcome.
pub async fn result(
    State(relay): State<AppState>,
    Path(id): Path<String>,
    sent: SignedAsSent,
) -> ApiResult<Json<Json_>> {
    record(relay, id, sent).await
}

/// One assignment as the result handler reads it.
struct Assignment {
    id: String,
    job: String,
    node: String,
    payout: String,
    state: AssignmentState,
    lease_expires_ms: i64,
    fee: i64,
    body: Option<String>,
}

const ASSIGNMENT_COLUMNS: &str = "id, job, node, payout, state, lease_expires_ms, fee, body";

fn assignment_of(row: &Row) -> ApiResult<Assignment> {
    Ok(Assignment {
        id: row.text(0)?,
        job: row.text(1)?,
        node: row.text(2)?,
        payout: row.text(3)?,
        state: AssignmentState::parse(&row.text(4)?)?,
        lease_expires_ms: row.int(5)?,
        fee: row.int(6)?,
        body: row.opt_text(7)?,
    })
}

/// A job as judging needs it.
struct Job {
    id: String,
    campaign: String,
    submission: Option<String>,
    idx: i64,
    object: String,
    golden: Option<Prediction>,
    wanted: i64,
}

fn load_job(conn: &mut dyn Conn, id: &str) -> ApiResult<Job> {
    let row = conn
        .query_opt(
            "SELECT id, campaign, submission, idx, object, golden, wanted FROM compute_jobs WHERE id = $1",
            params![id],
        )?
        .ok_or_else(|| ApiError::internal(format!("an assignment of a missing job {id}")))?;
    let golden = row
        .opt_text(5)?
        .map(|g| serde_json::from_str(&g))
        .transpose()
        .map_err(ApiError::internal)?;
    Ok(Job {
        id: row.text(0)?,
        campaign: row.text(1)?,
        submission: row.opt_text(2)?,
        idx: row.int(3)?,
        object: row.text(4)?,
        golden,
        wanted: row.int(6)?,
    })
}

async fn record(relay: AppState, id: String, as_signed: SignedAsSent) -> ApiResult<Json<Json_>> {
    let signed = &as_signed.signed;
    let body: ResultBody = signed.json()?;
    body.prediction.check().map_err(|e| {
        ApiError::unprocessable(ErrorCode::InvalidResult, format!("prediction.{e}"))
    })?;
    let body_text = String::from_utf8(signed.body.to_vec()).map_err(|_| {
        ApiError::unprocessable(ErrorCode::InvalidBody, "the body must be UTF-8 JSON")
    })?;
    let node = db_address(&signed.signer);
    let now = clock::now_ms();
    let relay2 = relay.clone();
    let outcome = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let assignment = conn
                .query_opt(
                    &format!("SELECT {ASSIGNMENT_COLUMNS} FROM compute_assignments WHERE id = $1"),
                    params![id.clone()],
                )?
                .map(|r| assignment_of(&r))
                .transpose()?
                .ok_or_else(|| ApiError::not_found(ErrorCode::NoJob, format!("no compute job {id:?}")))?;
            if assignment.node != node {
                return Err(ApiError::forbidden(
                    ErrorCode::NotYourJob,
                    "this job was leased to another node; take jobs with POST /v1/compute/jobs/next",
                ));
            }
            match assignment.state {
                AssignmentState::Leased => {}
                AssignmentState::Answered | AssignmentState::Paid | AssignmentState::Unpaid
                    if assignment.body.as_deref() == Some(body_text.as_str()) =>
                {
                    return Ok(outcome(&assignment.id, true));
                }
                AssignmentState::Expired => {
                    return Err(ApiError::conflict(
                        ErrorCode::LeaseExpired,
                        "the lease of this job ran out and it went to another node; take a new one",
                    ));
                }
                _ => {
                    return Err(ApiError::conflict(
                        ErrorCode::JobDone,
                        "this job already has this node's result, or was decided without it",
                    ));
                }
            }
            if assignment.lease_expires_ms < now {
                return Err(ApiError::conflict(
                    ErrorCode::LeaseExpired,
                    "the lease of this job ran out; take a new one with POST /v1/compute/jobs/next",
                ));
            }
            // A restricted node's leases were voided; this catches one restricted meanwhile.
            check_admitted(&relay2, conn, &node)?;
            let job = load_job(conn, &assignment.job)?;
            if body.object != job.object {
                return Err(ApiError::unprocessable(
                    ErrorCode::WrongObject,
                    format!("this job is about object {}", job.object),
                ));
            }
            let prediction = serde_json::to_string(&body.prediction).map_err(ApiError::internal)?;
            conn.execute(
                "UPDATE compute_assignments SET state = $1, prediction = $2, path = $3, body = $4, time_ms = $5, signature = $6 WHERE id = $7",
                params![
                    AssignmentState::Answered.as_str(),
                    prediction,
                    as_signed.path.clone(),
                    body_text.clone(),
                    as_signed.time_ms,
                    as_signed.signature.clone(),
                    assignment.id.clone()
                ],
            )?;
            let campaign = load_campaign(conn, &job.campaign)?;
            match &job.golden {
                Some(expected) => {
                    judge_golden(conn, &campaign, &job, &assignment, expected, &body.prediction, now)?;
                }
                None => judge_job(conn, &campaign, &job, now)?,
            }
            Ok(outcome(&assignment.id, false))
        })
        .await?;
    Ok(Json(outcome))
}

/// What a result came to, as its node is told: not the job's decision (that would tell it what
/// other nodes said while it could still answer other jobs on the same object), only whether it
/// was recorded.
fn outcome(assignment: &str, duplicate: bool) -> Json_ {
    json!({ "job": assignment, "recorded": true, "duplicate": duplicate })
}

/// Judges a golden job's one result against its known prediction: paid when it agrees (within
/// the campaign's tolerance), unpaid otherwise; either way counted in the node's record.
fn judge_golden(
    conn: &mut dyn Conn,
    campaign: &Campaign,
    job: &Job,
    assignment: &Assignment,
    expected: &Prediction,
    got: &Prediction,
    now: i64,
) -> ApiResult<()> {
    let tolerance = compute_of(&campaign.spec)?.tolerance;
    let right = got.agrees_with(expected, tolerance);
    let (state, column) = if right {
        campaign.payer.pay(
            conn,
            &assignment.id,
            &assignment.node,
            &assignment.payout,
            assignment.fee,
            now,
        )?;
        (AssignmentState::Paid, "golden_right")
    } else {
        campaign
            .payer
            .release(conn, &assignment.id, assignment.fee, now)?;
        (AssignmentState::Unpaid, "golden_wrong")
    };
    set_state(conn, &assignment.id, state)?;
    conn.execute(
        "UPDATE compute_jobs SET state = $1, decided_ms = $2 WHERE id = $3",
        params![JobState::Decided.as_str(), now, job.id.clone()],
    )?;
    count(conn, &assignment.node, column)?;
    check_trust(conn, &assignment.node, now)
}

fn set_state(conn: &mut dyn Conn, assignment: &str, state: AssignmentState) -> ApiResult<()> {
    conn.execute(
        "UPDATE compute_assignments SET state = $1 WHERE id = $2",
        params![state.as_str(), assignment],
    )?;
    Ok(())
}

/// Adds one to a node's `column` (one of the four evidence counters, never from input).
fn count(conn: &mut dyn Conn, node: &str, column: &str) -> ApiResult<()> {
    debug_assert!(["golden_right", "golden_wrong", "agreed", "disagreed"].contains(&column));
    conn.execute(
        &format!("UPDATE compute_nodes SET {column} = {column} + 1 WHERE address = $1"),
        params![node],
    )?;
    Ok(())
}

/// Judges a real job from its results so far: decided (settle the upload, pay the agreeing
/// nodes), ask one more node, or hand it to the validators.
fn judge_job(conn: &mut dyn Conn, campaign: &Campaign, job: &Job, now: i64) -> ApiResult<()> {
    let compute = compute_of(&campaign.spec)?;
    let rows = conn.query(
        &format!("SELECT {ASSIGNMENT_COLUMNS}, prediction FROM compute_assignments WHERE job = $1 AND state = $2 ORDER BY created_ms, id"),
        params![job.id.clone(), AssignmentState::Answered.as_str()],
    )?;
    let mut answered = Vec::with_capacity(rows.len());
    let mut predictions = Vec::with_capacity(rows.len());
    for row in &rows {
        answered.push(assignment_of(row)?);
        let prediction: Prediction =
            serde_json::from_str(&row.text(8)?).map_err(ApiError::internal)?;
        predictions.push(prediction);
    }
    let as_usize = |v: i64| usize::try_from(v).unwrap_or(0);
    let judgement = judge(
        &predictions,
        as_usize(i64::from(compute.k)),
        as_usize(i64::from(compute.n)),
        as_usize(job.wanted),
        compute.tolerance,
    );
    match judgement {
        Judgement::Wait => Ok(()),
        Judgement::AskMore => {
            conn.execute(
                "UPDATE compute_jobs SET wanted = wanted + 1 WHERE id = $1",
                params![job.id.clone()],
            )?;
            Ok(())
        }
        Judgement::Decided { agreeing } => {
            let decision = agreeing
                .first()
                .and_then(|i| predictions.get(*i))
                .ok_or_else(|| ApiError::internal("a decision without a result"))?;
            let accepted = compute.accept.accepts(decision);
            conn.execute(
                "UPDATE compute_jobs SET state = $1, decision = $2, accepted = $3, decided_ms = $4 WHERE id = $5",
                params![
                    JobState::Decided.as_str(),
                    serde_json::to_string(decision).map_err(ApiError::internal)?,
                    i64::from(accepted),
                    now,
                    job.id.clone()
                ],
            )?;
            for (i, assignment) in answered.iter().enumerate() {
                if agreeing.contains(&i) {
                    campaign.payer.pay(
                        conn,
                        &assignment.id,
                        &assignment.node,
                        &assignment.payout,
                        assignment.fee,
                        now,
                    )?;
                    set_state(conn, &assignment.id, AssignmentState::Paid)?;
                    count(conn, &assignment.node, "agreed")?;
                } else {
                    campaign
                        .payer
                        .release(conn, &assignment.id, assignment.fee, now)?;
                    set_state(conn, &assignment.id, AssignmentState::Unpaid)?;
                    count(conn, &assignment.node, "disagreed")?;
                }
            }
            close_leases(conn, campaign, job, now)?;
            match &job.submission {
                Some(submission) => {
                    crate::pending_uploads::settle(
                        conn,
                        &job.campaign,
                        job.idx,
                        submission,
                        accepted,
                        now,
                    )?;
                }
                // Pre-annotation: a golden item's known answer is what the model is judged on.
                None => crate::quality::model_on_golden(conn, &campaign.spec, job.idx, decision)?,
            }
            for assignment in &answered {
                check_trust(conn, &assignment.node, now)?;
            }
            Ok(())
        }
        Judgement::Escalate => {
            conn.execute(
                "UPDATE compute_jobs SET state = $1, decided_ms = $2 WHERE id = $3",
                params![JobState::Escalated.as_str(), now, job.id.clone()],
            )?;
            // The answered fees stay held: the human verdict says which nodes were right
            // (`settle_escalated`). Leases still out are no longer wanted.
            close_leases(conn, campaign, job, now)?;
            if let Some(submission) = &job.submission {
                crate::pending_uploads::enqueue(
                    conn,
                    &campaign.spec,
                    submission,
                    job.idx,
                    &job.object,
                    now,
                )?;
            }
            Ok(())
        }
    }
}

/// Settles an upload's escalated compute job once a human verdict decided the upload (a
/// validator's, or the appeal queue's): each node whose prediction the campaign's `accept`
/// rule judges as the verdict did is paid its held fee and counted as agreeing; every other
/// node's fee goes back to the requester and it counts as disagreeing. Nothing when the
/// upload's job was not escalated or is settled already. Runs in the verdict's transaction.
pub fn settle_escalated(
    conn: &mut dyn Conn,
    submission: &str,
    accepted: bool,
    now: i64,
) -> ApiResult<()> {
    let Some(row) = conn.query_opt(
        "SELECT id FROM compute_jobs WHERE submission = $1 AND state = $2 AND accepted IS NULL",
        params![submission, JobState::Escalated.as_str()],
    )?
    else {
        return Ok(());
    };
    let job = load_job(conn, &row.text(0)?)?;
    let campaign = load_campaign(conn, &job.campaign)?;
    let compute = compute_of(&campaign.spec)?;
    conn.execute(
        "UPDATE compute_jobs SET accepted = $1, decided_ms = $2 WHERE id = $3",
        params![i64::from(accepted), now, job.id.clone()],
    )?;
    let rows = conn.query(
        &format!("SELECT {ASSIGNMENT_COLUMNS}, prediction FROM compute_assignments WHERE job = $1 AND state = $2 ORDER BY created_ms, id"),
        params![job.id.clone(), AssignmentState::Answered.as_str()],
    )?;
    let mut nodes = Vec::with_capacity(rows.len());
    for row in &rows {
        let assignment = assignment_of(row)?;
        let prediction: Prediction =
            serde_json::from_str(&row.text(8)?).map_err(ApiError::internal)?;
        if compute.accept.accepts(&prediction) == accepted {
            campaign.payer.pay(
                conn,
                &assignment.id,
                &assignment.node,
                &assignment.payout,
                assignment.fee,
                now,
            )?;
            set_state(conn, &assignment.id, AssignmentState::Paid)?;
            count(conn, &assignment.node, "agreed")?;
        } else {
            campaign
                .payer
                .release(conn, &assignment.id, assignment.fee, now)?;
            set_state(conn, &assignment.id, AssignmentState::Unpaid)?;
            count(conn, &assignment.node, "disagreed")?;
        }
        nodes.push(assignment.node);
    }
    for node in &nodes {
        check_trust(conn, node, now)?;
    }
    Ok(())
}

/// Leases still out on a job that was just decided or escalated: their results are no longer
/// wanted, so their fees go back.
fn close_leases(conn: &mut dyn Conn, campaign: &Campaign, job: &Job, now: i64) -> ApiResult<()> {
    let rows = conn.query(
        &format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM compute_assignments WHERE job = $1 AND state = $2"
        ),
        params![job.id.clone(), AssignmentState::Leased.as_str()],
    )?;
    for row in &rows {
        let assignment = assignment_of(row)?;
        campaign
            .payer
            .release(conn, &assignment.id, assignment.fee, now)?;
        set_state(conn, &assignment.id, AssignmentState::Unpaid)?;
    }
    Ok(())
}

/// Restricts `node` once its trust is below [`MIN_NODE_TRUST`], and voids its undecided work:
/// its leases and its results on jobs not decided yet go back (fees to their requesters, the
/// jobs to other nodes).
fn check_trust(conn: &mut dyn Conn, node: &str, now: i64) -> ApiResult<()> {
    let Some(row) = conn.query_opt(
        "SELECT golden_right, golden_wrong, agreed, disagreed, restricted FROM compute_nodes WHERE address = $1",
        params![node],
    )?
    else {
        return Ok(());
    };
    let trust = node_trust(row.int(0)?, row.int(1)?, row.int(2)?, row.int(3)?);
    if row.int(4)? != 0 || trust >= MIN_NODE_TRUST {
        return Ok(());
    }
    conn.execute(
        "UPDATE compute_nodes SET restricted = 1 WHERE address = $1",
        params![node],
    )?;
    let rows = conn.query(
        "SELECT a.id, a.fee, j.campaign, j.golden, j.id FROM compute_assignments a JOIN compute_jobs j ON j.id = a.job WHERE a.node = $1 AND (a.state = $2 OR a.state = $3)",
        params![
            node,
            AssignmentState::Leased.as_str(),
            AssignmentState::Answered.as_str()
        ],
    )?;
    for row in &rows {
        let (id, fee, campaign) = (row.text(0)?, row.int(1)?, row.text(2)?);
        load_campaign(conn, &campaign)?
            .payer
            .release(conn, &id, fee, now)?;
        set_state(conn, &id, AssignmentState::Voided)?;
        if row.opt_text(3)?.is_some() {
            conn.execute(
                "UPDATE compute_jobs SET state = $1 WHERE id = $2",
                params![JobState::Expired.as_str(), row.text(4)?],
            )?;
        }
    }
    tracing::warn!(node, trust, voided = rows.len(), "compute node restricted");
    Ok(())
}
