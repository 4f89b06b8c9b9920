//! Quality on the relay side: golden items mixed into each contributor's tasks, items decided
//! by Dawid–Skene (or majority) with adaptive overlap, a trust score per contributor and
//! campaign with restrictions, skip floods and daily caps, and the requester's views of it all
//! (`GET /v1/campaigns/{id}/quality` and `/results`).
//!
//! The aggregation itself is `datahub_core::quality` (pure). Here the relay keeps, per
//! contributor and campaign, the confusion counts Dawid–Skene learns from (golden truths and
//! accepted aggregates), so that an item is decided in the request that brings its last
//! answer: the E-step for that one item with the matrices known so far ("online" Dawid–Skene;
//! a contributor's matrix improves with every golden answer and decided item).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use datahub_core::eth::Timestamp;
use datahub_core::quality::{self as q, DsConfig, Span, TrustEvidence, TrustModel};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use crate::auth::{Signed, db_address};
use crate::db::{Conn, Row};
use crate::error::{ApiError, ApiResult};
use crate::slots::{self, GiveBack, LeaseEnd, SubmissionStatus};
pub use crate::spec::{Aggregation, Settings};
use crate::spec::{CampaignSpec, Kind};
use crate::{AppState, params};

/// What an answer is, for aggregation.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// One class out of these (a verdict, a label).
    Categorical(Vec<String>),
    /// Any subset of these flags (moderation flags, several image labels).
    Flags(Vec<String>),
    /// Sealed uploads: not aggregated.
    Upload,
}

impl Shape {
    /// The shape of `spec`'s answers.
    pub fn of(spec: &CampaignSpec) -> Self {
        match spec.kind {
            Kind::ContentVerification => {
                Self::Categorical(["true", "false", "unsure"].map(str::to_owned).to_vec())
            }
            Kind::ImageCategorization if spec.multi_label => Self::Flags(spec.labels.clone()),
            Kind::ImageCategorization | Kind::TextLabeling => {
                Self::Categorical(spec.labels.clone())
            }
            Kind::ContentModeration => Self::Flags(spec.labels.clone()),
            Kind::ImageUpload | Kind::VoiceRecording => Self::Upload,
        }
    }

    /// Classes per dimension: one dimension of `k` classes, or one yes/no per flag.
    fn dimensions(&self) -> Vec<usize> {
        match self {
            Self::Categorical(classes) => vec![classes.len()],
            Self::Flags(flags) => vec![2; flags.len()],
            Self::Upload => Vec::new(),
        }
    }

    /// An answer's agreement key (as `check_answer` makes it) as a class per dimension.
    fn encode(&self, key: &str) -> Option<Vec<usize>> {
        match self {
            Self::Categorical(classes) => classes.iter().position(|c| c == key).map(|i| vec![i]),
            Self::Flags(flags) => {
                let set: Vec<&str> = key.split('\u{1f}').filter(|s| !s.is_empty()).collect();
                Some(
                    flags
                        .iter()
                        .map(|f| usize::from(set.contains(&f.as_str())))
                        .collect(),
                )
            }
            Self::Upload => None,
        }
    }

    /// The agreement key of a class per dimension.
    fn key(&self, classes: &[usize]) -> String {
        match self {
            Self::Categorical(names) => classes
                .first()
                .and_then(|c| names.get(*c))
                .cloned()
                .unwrap_or_default(),
            Self::Flags(flags) => {
                let mut set: Vec<&str> = flags
                    .iter()
                    .zip(classes)
                    .filter(|(_, c)| **c == 1)
                    .map(|(f, _)| f.as_str())
                    .collect();
                set.sort_unstable();
                set.join("\u{1f}")
            }
            Self::Upload => String::new(),
        }
    }

    /// How often a contributor answering at random is right on one dimension.
    fn chance(&self) -> f64 {
        match self {
            Self::Categorical(classes) => 1.0 / classes.len().max(1) as f64,
            Self::Flags(_) | Self::Upload => 0.5,
        }
    }

    /// The share of dimensions on which two encoded answers agree.
    fn agreement(a: &[usize], b: &[usize]) -> f64 {
        if a.is_empty() {
            return 0.0;
        }
        let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
        same as f64 / a.len() as f64
    }
}

/// The Dawid–Skene settings the relay uses.
fn ds_config() -> DsConfig {
    DsConfig::default()
}

/// A contributor's record in a campaign.
#[derive(Debug, Clone, Default)]
struct Record {
    tasks: i64,
    golden_seen: i64,
    golden_right: i64,
    golden_wrong: i64,
    agreed: i64,
    disagreed: i64,
    too_fast: i64,
    skips: i64,
    skip_window_ms: i64,
    cooldown_until_ms: i64,
    score_right: i64,
    score_wrong: i64,
    trust_ppm: i64,
    /// `[dimension][true class][answered class]` counts.
    confusion: Vec<Vec<Vec<f64>>>,
    restricted: Option<String>,
    restricted_ms: Option<i64>,
}

const RECORD_COLUMNS: &str = "tasks, golden_seen, golden_right, golden_wrong, agreed, disagreed, too_fast, skips, skip_window_ms, cooldown_until_ms, score_right, score_wrong, trust_ppm, confusion, restricted, restricted_ms";

impl Record {
    fn from_row(row: &Row, offset: usize) -> ApiResult<Self> {
        let int = |i: usize| row.int(offset + i);
        Ok(Self {
            tasks: int(0)?,
            golden_seen: int(1)?,
            golden_right: int(2)?,
            golden_wrong: int(3)?,
            agreed: int(4)?,
            disagreed: int(5)?,
            too_fast: int(6)?,
            skips: int(7)?,
            skip_window_ms: int(8)?,
            cooldown_until_ms: int(9)?,
            score_right: int(10)?,
            score_wrong: int(11)?,
            trust_ppm: int(12)?,
            confusion: serde_json::from_str(&row.text(offset + 13)?).unwrap_or_default(),
            restricted: row.opt_text(offset + 14)?,
            restricted_ms: row.opt_int(offset + 15)?,
        })
    }

    fn load(conn: &mut dyn Conn, campaign: &str, worker: &str) -> ApiResult<Self> {
        let row = conn.query_opt(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM contributors WHERE campaign = $1 AND worker = $2"
            ),
            params![campaign, worker],
        )?;
        match row {
            Some(row) => Self::from_row(&row, 0),
            None => Ok(Self {
                trust_ppm: 900_000,
                ..Self::default()
            }),
        }
    }

    fn save(&self, conn: &mut dyn Conn, campaign: &str, worker: &str) -> ApiResult<()> {
        let confusion = serde_json::to_string(&self.confusion).map_err(ApiError::internal)?;
        conn.execute(
            &format!(
                "INSERT INTO contributors (campaign, worker, {RECORD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
                 ON CONFLICT (campaign, worker) DO UPDATE SET tasks = $3, golden_seen = $4, golden_right = $5, golden_wrong = $6, agreed = $7, disagreed = $8, too_fast = $9, skips = $10, skip_window_ms = $11, cooldown_until_ms = $12, score_right = $13, score_wrong = $14, trust_ppm = $15, confusion = $16, restricted = $17, restricted_ms = $18"
            ),
            params![
                campaign, worker, self.tasks, self.golden_seen, self.golden_right, self.golden_wrong,
                self.agreed, self.disagreed, self.too_fast, self.skips, self.skip_window_ms,
                self.cooldown_until_ms, self.score_right, self.score_wrong, self.trust_ppm,
                confusion, self.restricted.clone(), self.restricted_ms
            ],
        )?;
        Ok(())
    }

    /// The confusion matrices, as probabilities, one per dimension.
    fn matrices(&self, shape: &Shape) -> Vec<Vec<Vec<f64>>> {
        shape
            .dimensions()
            .iter()
            .enumerate()
            .map(|(d, k)| {
                let counts = self.confusion.get(d).map_or(&[][..], Vec::as_slice);
                q::confusion_from_counts(counts, *k, &ds_config())
            })
            .collect()
    }

    /// Counts one answer `answered` to an item whose truth (or accepted answer) is `truth`.
    fn learn(&mut self, shape: &Shape, truth: &[usize], answered: &[usize]) {
        let dims = shape.dimensions();
        self.confusion.resize_with(dims.len(), Vec::new);
        for ((matrix, k), (t, a)) in self
            .confusion
            .iter_mut()
            .zip(&dims)
            .zip(truth.iter().zip(answered))
        {
            matrix.resize_with(*k, Vec::new);
            for row in matrix.iter_mut() {
                row.resize(*k, 0.0);
            }
            if let Some(cell) = matrix.get_mut(*t).and_then(|row| row.get_mut(*a)) {
                *cell += 1.0;
            }
        }
    }

    /// Adds evidence (`agreement` is the share of dimensions right, 0 to 1) with `weight`.
    fn score(&mut self, agreement: f64, weight: f64) {
        // Thousandths: whole answers for one-class questions, shares of flags for flag sets.
        self.score_right += (1000.0 * weight * agreement).round() as i64;
        self.score_wrong += (1000.0 * weight * (1.0 - agreement)).round() as i64;
    }

    fn trust(&self, shape: &Shape) -> f64 {
        let model = TrustModel::for_chance(shape.chance());
        // Agreements are already weighed into the scores.
        let evidence = TrustEvidence {
            golden_right: self.score_right as f64 / 1000.0,
            golden_wrong: self.score_wrong as f64 / 1000.0 + self.too_fast as f64,
            ..TrustEvidence::default()
        };
        q::trust(&evidence, &model)
    }
}

/// Whether the contributor may lease a task now: not restricted, not cooling down after a
/// skip flood.
pub fn gate(conn: &mut dyn Conn, campaign: &str, worker: &str, now: i64) -> ApiResult<()> {
    let record = Record::load(conn, campaign, worker)?;
    check_restricted(&record)?;
    if record.cooldown_until_ms > now {
        let wait = (record.cooldown_until_ms - now + 999) / 1000;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "skip_cooldown",
            format!("too many tasks skipped; try again in {wait} s"),
        ));
    }
    Ok(())
}

/// Whether the contributor may have one more lease today (`max_tasks_per_day` over the last 24
/// hours). Checked only when a new lease is made: asking again for the one held is fine.
pub fn check_daily_cap(
    conn: &mut dyn Conn,
    settings: &Settings,
    campaign: &str,
    worker: &str,
    now: i64,
) -> ApiResult<()> {
    if let Some(cap) = settings.max_tasks_per_day {
        let rows = conn.query(
            "SELECT COUNT(*) FROM leases WHERE campaign = $1 AND worker = $2 AND created_ms > $3",
            params![campaign, worker, now - 86_400_000],
        )?;
        let count = rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
        if count >= cap {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "daily_cap",
                format!(
                    "you have had {cap} tasks of this campaign in the last 24 hours, its daily cap; come back later"
                ),
            ));
        }
    }
    Ok(())
}

fn check_restricted(record: &Record) -> ApiResult<()> {
    match &record.restricted {
        Some(reason) => Err(ApiError::forbidden(
            "restricted",
            format!(
                "you may not work on this campaign any more ({reason}): too many of your answers disagreed with known or accepted answers"
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses answers from a contributor restricted in the campaign.
pub fn check_allowed(conn: &mut dyn Conn, campaign: &str, worker: &str) -> ApiResult<()> {
    check_restricted(&Record::load(conn, campaign, worker)?)
}

/// The key of the hash that places golden items: derived from the relay's own secret key, so
/// that nobody who knows this code can tell from an address when golden items come, while a
/// relay keeps placing them the same way across restarts.
pub fn golden_secret(relay_key: &datahub_core::SecretKey) -> [u8; 32] {
    blake3::derive_key(
        "DataHub relay 2026 golden item placement",
        relay_key.to_bytes().as_slice(),
    )
}

/// A number in [0, 1) from a keyed hash of `parts`.
fn unit_hash(secret: &[u8; 32], parts: &[&str]) -> f64 {
    let mut hasher = blake3::Hasher::new_keyed(secret);
    for p in parts {
        hasher.update(p.as_bytes());
        hasher.update(&[0]);
    }
    let bytes = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(bytes.as_bytes().get(..8).unwrap_or(&[0; 8]));
    (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether the next task of a contributor who had `tasks` tasks, `golden_seen` of them golden,
/// is golden: when `golden_seen + u ≤ share × (tasks + 1)`, `u` in [0, 1) keyed per contributor
/// and golden item.
fn golden_due(
    secret: &[u8; 32],
    campaign: &str,
    worker: &str,
    golden_seen: i64,
    tasks: i64,
    share: f64,
) -> bool {
    let u = unit_hash(secret, &[campaign, worker, &golden_seen.to_string()]);
    golden_seen as f64 + u <= share * (tasks + 1) as f64
}

/// The golden item to lease next to this contributor, if it is golden's turn and one is left
/// that they have not seen. The `g`-th golden item comes once `share × tasks` passes `g + u_g`
/// with `u_g` drawn per contributor: over time the share is exact, but where each one falls
/// is not predictable (the first within the first `1 / share` tasks). `secret` is
/// [`golden_secret`].
pub fn golden_turn(
    conn: &mut dyn Conn,
    settings: &Settings,
    secret: &[u8; 32],
    campaign: &str,
    worker: &str,
) -> ApiResult<Option<(i64, String)>> {
    if settings.golden_share <= 0.0 {
        return Ok(None);
    }
    let record = Record::load(conn, campaign, worker)?;
    let due = golden_due(
        secret,
        campaign,
        worker,
        record.golden_seen,
        record.tasks,
        settings.golden_share,
    );
    if !due {
        return Ok(None);
    }
    let unseen = "FROM items WHERE campaign = $1 AND golden IS NOT NULL AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.campaign = items.campaign AND l.idx = items.idx AND l.worker = $2)";
    let rows = conn.query(
        &format!("SELECT COUNT(*) {unseen}"),
        params![campaign, worker],
    )?;
    let count = rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
    if count == 0 {
        return Ok(None);
    }
    let pick = (unit_hash(
        secret,
        &[campaign, worker, "pick", &record.tasks.to_string()],
    ) * count as f64) as i64;
    let row = conn.query_opt(
        &format!("SELECT idx, payload {unseen} ORDER BY idx LIMIT 1 OFFSET $3"),
        params![campaign, worker, pick.clamp(0, count - 1)],
    )?;
    row.map(|r| Ok((r.int(0)?, r.text(1)?))).transpose()
}

/// Counts a lease handed to the contributor.
pub fn note_lease(
    conn: &mut dyn Conn,
    campaign: &str,
    worker: &str,
    golden: bool,
) -> ApiResult<()> {
    let mut record = Record::load(conn, campaign, worker)?;
    record.tasks += 1;
    record.golden_seen += i64::from(golden);
    record.save(conn, campaign, worker)
}

/// Counts a skip; past `max_skips` within the window, the contributor cools down for a window.
pub fn note_skip(
    conn: &mut dyn Conn,
    settings: &Settings,
    campaign: &str,
    worker: &str,
    now: i64,
) -> ApiResult<()> {
    let mut record = Record::load(conn, campaign, worker)?;
    if now - record.skip_window_ms > settings.skip_window_ms {
        record.skip_window_ms = now;
        record.skips = 0;
    }
    record.skips += 1;
    if record.skips > settings.max_skips {
        record.cooldown_until_ms = now + settings.skip_window_ms;
        record.skips = 0;
        record.skip_window_ms = now;
    }
    record.save(conn, campaign, worker)
}

/// Counts an answer refused as too fast against the contributor's trust.
pub fn note_too_fast(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    reward: i64,
    campaign: &str,
    worker: &str,
    now: i64,
) -> ApiResult<()> {
    let shape = Shape::of(spec);
    let mut record = Record::load(conn, campaign, worker)?;
    record.too_fast += 1;
    settle_trust(
        conn,
        spec,
        &shape,
        reward,
        campaign,
        worker,
        &mut record,
        now,
    )
}

/// Learns from a golden answer: `truth` is the known key, `answer` the contributor's.
#[allow(clippy::too_many_arguments)]
pub fn note_golden(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    reward: i64,
    campaign: &str,
    worker: &str,
    truth: &str,
    answer: &str,
    now: i64,
) -> ApiResult<()> {
    let shape = Shape::of(spec);
    let mut record = Record::load(conn, campaign, worker)?;
    if truth == answer {
        record.golden_right += 1;
    } else {
        record.golden_wrong += 1;
    }
    if let (Some(t), Some(a)) = (shape.encode(truth), shape.encode(answer)) {
        record.learn(&shape, &t, &a);
        record.score(Shape::agreement(&t, &a), 1.0);
    }
    settle_trust(
        conn,
        spec,
        &shape,
        reward,
        campaign,
        worker,
        &mut record,
        now,
    )
}

/// Recomputes trust, restricts below the threshold, and saves.
#[allow(clippy::too_many_arguments)]
fn settle_trust(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    shape: &Shape,
    reward: i64,
    campaign: &str,
    worker: &str,
    record: &mut Record,
    now: i64,
) -> ApiResult<()> {
    let trust = record.trust(shape);
    record.trust_ppm = (trust * 1e6).round() as i64;
    let settings = Settings::of(spec);
    let restrict = record.restricted.is_none() && trust < settings.min_trust;
    if restrict {
        record.restricted = Some("low_trust".into());
        record.restricted_ms = Some(now);
    }
    record.save(conn, campaign, worker)?;
    if restrict {
        void_pending(conn, campaign, worker, reward, now)?;
    }
    Ok(())
}

/// A restricted contributor's pending answers are not paid: each is rejected, its item wants
/// another answer, and its reserved reward returns to the campaign's open slots. Their active
/// lease is taken back.
fn void_pending(
    conn: &mut dyn Conn,
    campaign: &str,
    worker: &str,
    reward: i64,
    now: i64,
) -> ApiResult<()> {
    let pending = conn.query(
        "SELECT id, idx, session FROM submissions WHERE campaign = $1 AND worker = $2 AND status = 'pending'",
        params![campaign, worker],
    )?;
    for row in &pending {
        let (id, idx, session) = (row.text(0)?, row.int(1)?, row.text(2)?);
        conn.execute(
            "UPDATE submissions SET status = $1 WHERE campaign = $2 AND idx = $3 AND id = $4",
            params![
                SubmissionStatus::Rejected.as_str(),
                campaign,
                idx,
                id.clone()
            ],
        )?;
        let why = GiveBack::Rejected {
            submission: &id,
            session: &session,
            reward,
        };
        slots::give_back(conn, campaign, idx, why, now)?;
    }
    let leases = conn.query(
        "SELECT id, idx FROM leases WHERE campaign = $1 AND worker = $2 AND state = 'active'",
        params![campaign, worker],
    )?;
    for row in &leases {
        let lease = row.text(0)?;
        let why = GiveBack::Lease {
            lease: &lease,
            end: LeaseEnd::Revoked,
        };
        slots::give_back(conn, campaign, row.int(1)?, why, now)?;
    }
    Ok(())
}

/// One answer to an item being decided.
pub struct Vote {
    /// The contributor.
    pub worker: String,
    /// Its agreement key.
    pub key: String,
    /// The answer as sent (JSON text).
    pub answer: String,
}

/// What to do with an item whose answers are in.
pub enum Decision {
    /// Ask for one more answer.
    More,
    /// Accept this aggregate: answers with this key win.
    Accept {
        /// The winning agreement key.
        key: String,
        /// The aggregated answer, in the campaign's answer format.
        answer: Json_,
        /// The aggregate's confidence.
        confidence: f64,
        /// `dawid_skene`, `majority` or `single`.
        method: &'static str,
    },
}

/// The class prior per dimension: accepted classes so far, plus one of each.
fn class_prior(conn: &mut dyn Conn, campaign: &str, shape: &Shape) -> ApiResult<Vec<Vec<f64>>> {
    let counts: Vec<Vec<f64>> = conn
        .query_opt(
            "SELECT class_counts FROM campaigns WHERE id = $1",
            params![campaign],
        )?
        .map(|r| r.opt_text(0))
        .transpose()?
        .flatten()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    Ok(shape
        .dimensions()
        .iter()
        .enumerate()
        .map(|(d, k)| {
            let mut prior: Vec<f64> = (0..*k)
                .map(|c| 1.0 + counts.get(d).and_then(|r| r.get(c)).copied().unwrap_or(0.0))
                .collect();
            let total: f64 = prior.iter().sum();
            prior.iter_mut().for_each(|p| *p /= total);
            prior
        })
        .collect())
}

/// Decides an item from its answers: the aggregate per dimension and its confidence (the
/// least confident dimension's). Below the target, and while the item may have more answers
/// (`can_grow`: under `max_overlap` and budget left), asks for one more; otherwise accepts the
/// most probable aggregate, however unsure (its confidence says so in the results).
pub fn decide(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    campaign: &str,
    item: &Json_,
    votes: &[Vote],
    can_grow: bool,
) -> ApiResult<Decision> {
    let shape = Shape::of(spec);
    let settings = Settings::of(spec);
    let dims = shape.dimensions();
    let encoded: Vec<(usize, Vec<usize>)> = votes
        .iter()
        .enumerate()
        .filter_map(|(i, v)| shape.encode(&v.key).map(|e| (i, e)))
        .collect();
    let mut matrices = Vec::with_capacity(encoded.len());
    for (i, _) in &encoded {
        let worker = votes.get(*i).map_or("", |v| v.worker.as_str());
        matrices.push(Record::load(conn, campaign, worker)?.matrices(&shape));
    }
    let prior = class_prior(conn, campaign, &shape)?;
    let single = settings.max_overlap <= 1 && votes.len() == 1;
    let method = match (single, settings.aggregation) {
        (true, _) => "single",
        (false, Aggregation::DawidSkene) => "dawid_skene",
        (false, Aggregation::Majority) => "majority",
    };
    let mut classes = Vec::with_capacity(dims.len());
    let mut confidence = 1.0_f64;
    for (d, k) in dims.iter().enumerate() {
        let answered: Vec<usize> = encoded
            .iter()
            .filter_map(|(_, e)| e.get(d).copied())
            .collect();
        let p = match settings.aggregation {
            Aggregation::Majority if !single => {
                let mut counts = vec![0.0; *k];
                for a in &answered {
                    if let Some(c) = counts.get_mut(*a) {
                        *c += 1.0;
                    }
                }
                let total: f64 = counts.iter().sum::<f64>().max(1.0);
                counts.iter().map(|c| c / total).collect::<Vec<f64>>()
            }
            _ => {
                let dim_prior = prior.get(d).cloned().unwrap_or_default();
                let votes: Vec<(&[Vec<f64>], usize)> = matrices
                    .iter()
                    .zip(&answered)
                    .filter_map(|(m, a)| m.get(d).map(|m| (m.as_slice(), *a)))
                    .collect();
                q::posterior(&dim_prior, &votes)
            }
        };
        let (best, top) =
            p.iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (i, v)| if v > b.1 { (i, v) } else { b },
                );
        classes.push(best);
        confidence = confidence.min(top.max(0.0));
    }
    if confidence < settings.confidence && can_grow {
        return Ok(Decision::More);
    }
    let mut key = shape.key(&classes);
    // A flag set nobody sent exactly cannot pay anyone; a one-label image answer needs a label.
    if let Shape::Flags(_) = shape {
        let sent = votes.iter().any(|v| v.key == key);
        if !sent || (spec.kind == Kind::ImageCategorization && key.is_empty()) {
            key = closest_sent(&shape, &classes, votes).unwrap_or(key);
        }
    }
    let answer = aggregated_answer(spec, &key, item, votes);
    Ok(Decision::Accept {
        key,
        answer,
        confidence,
        method,
    })
}

/// The sent key that agrees with the aggregate on the most flags (the earliest on ties). Image
/// labels are never sent empty, so this also gives a one-label image answer a label.
fn closest_sent(shape: &Shape, classes: &[usize], votes: &[Vote]) -> Option<String> {
    votes
        .iter()
        .filter_map(|v| {
            shape
                .encode(&v.key)
                .map(|e| (Shape::agreement(&e, classes), v))
        })
        .fold(None::<(f64, &Vote)>, |best, (a, v)| match best {
            Some((b, _)) if b >= a => best,
            _ => Some((a, v)),
        })
        .map(|(_, v)| v.key.clone())
}

/// The accepted answer in the campaign's format; for text labeling the spans of the answers
/// that gave the accepted label, voted character by character.
fn aggregated_answer(spec: &CampaignSpec, key: &str, item: &Json_, votes: &[Vote]) -> Json_ {
    let set: Vec<&str> = key.split('\u{1f}').filter(|s| !s.is_empty()).collect();
    match spec.kind {
        Kind::ContentVerification => json!({ "verdict": key }),
        Kind::ImageCategorization => json!({ "labels": set }),
        Kind::ContentModeration => json!({ "flags": set }),
        Kind::TextLabeling => {
            let winners: Vec<Json_> = votes
                .iter()
                .filter(|v| v.key == key)
                .filter_map(|v| serde_json::from_str::<Json_>(&v.answer).ok())
                .collect();
            if !winners.iter().any(|a| a.get("spans").is_some()) {
                return json!({ "label": key });
            }
            let spans: Vec<Vec<Span>> = winners
                .iter()
                .map(|a| {
                    a.get("spans")
                        .and_then(Json_::as_array)
                        .map(|list| list.iter().filter_map(span_of).collect())
                        .unwrap_or_default()
                })
                .collect();
            let text_len = item
                .get("text")
                .and_then(Json_::as_str)
                .map_or(0, |t| t.chars().count());
            let spans: Vec<Json_> = q::aggregate_spans(&spans, text_len)
                .into_iter()
                .map(|s| json!({ "start": s.start, "end": s.end, "label": s.label }))
                .collect();
            json!({ "label": key, "spans": spans })
        }
        Kind::ImageUpload | Kind::VoiceRecording => json!({ "object": key }),
    }
}

fn span_of(value: &Json_) -> Option<Span> {
    Some(Span {
        start: usize::try_from(value.get("start")?.as_u64()?).ok()?,
        end: usize::try_from(value.get("end")?.as_u64()?).ok()?,
        label: value.get("label")?.as_str()?.to_owned(),
    })
}

/// Records an accepted item and learns from it: each contributor's confusion counts and
/// agreement, the class prior, and trust (restricting those who fall below the bar).
#[allow(clippy::too_many_arguments)]
pub fn accepted(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    reward: i64,
    campaign: &str,
    idx: i64,
    decision_key: &str,
    answer: &Json_,
    confidence: f64,
    method: &str,
    votes: &[Vote],
    now: i64,
) -> ApiResult<()> {
    conn.execute(
        "UPDATE items SET resolved = 1, answer = $1, confidence = $2, method = $3 WHERE campaign = $4 AND idx = $5",
        params![
            answer.to_string(),
            (confidence * 1e6).round() as i64,
            method,
            campaign,
            idx
        ],
    )?;
    let shape = Shape::of(spec);
    let Some(truth) = shape.encode(decision_key) else {
        return Ok(());
    };
    // One answer decides nothing about its author.
    if votes.len() < 2 {
        return Ok(());
    }
    // Leave-one-out evidence: how probable each answer is given everyone else's answers (the
    // E-step without it). A contributor's own answer cannot vouch for itself, and an item the
    // others disagree on says little either way.
    let prior = class_prior(conn, campaign, &shape)?;
    let mut matrices = Vec::with_capacity(votes.len());
    for vote in votes {
        matrices.push(Record::load(conn, campaign, &vote.worker)?.matrices(&shape));
    }
    let encoded: Vec<Option<Vec<usize>>> = votes.iter().map(|v| shape.encode(&v.key)).collect();
    let support = |me: usize, answered: &[usize]| -> f64 {
        let mut total = 0.0;
        for (d, a) in answered.iter().enumerate() {
            let others: Vec<(&[Vec<f64>], usize)> = encoded
                .iter()
                .zip(&matrices)
                .enumerate()
                .filter(|(j, _)| *j != me)
                .filter_map(|(_, (e, m))| Some((m.get(d)?.as_slice(), *e.as_ref()?.get(d)?)))
                .collect();
            let p = q::posterior(prior.get(d).map_or(&[][..], Vec::as_slice), &others);
            total += p.get(*a).copied().unwrap_or(0.0);
        }
        total / answered.len().max(1) as f64
    };
    let supports: Vec<Option<f64>> = encoded
        .iter()
        .enumerate()
        .map(|(i, e)| e.as_ref().map(|a| support(i, a)))
        .collect();
    let mut counts: Vec<Vec<f64>> = conn
        .query_opt(
            "SELECT class_counts FROM campaigns WHERE id = $1",
            params![campaign],
        )?
        .map(|r| r.opt_text(0))
        .transpose()?
        .flatten()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let dims = shape.dimensions();
    counts.resize_with(dims.len(), Vec::new);
    for ((row, k), t) in counts.iter_mut().zip(&dims).zip(&truth) {
        row.resize(*k, 0.0);
        if let Some(c) = row.get_mut(*t) {
            *c += 1.0;
        }
    }
    conn.execute(
        "UPDATE campaigns SET class_counts = $1 WHERE id = $2",
        params![
            serde_json::to_string(&counts).map_err(ApiError::internal)?,
            campaign
        ],
    )?;
    let weight = q::TrustModel::for_chance(shape.chance()).agreement_weight;
    for (vote, support) in votes.iter().zip(supports) {
        let (Some(answered), Some(support)) = (shape.encode(&vote.key), support) else {
            continue;
        };
        let mut record = Record::load(conn, campaign, &vote.worker)?;
        record.learn(&shape, &truth, &answered);
        if vote.key == decision_key {
            record.agreed += 1;
        } else {
            record.disagreed += 1;
        }
        record.score(support, weight);
        settle_trust(
            conn,
            spec,
            &shape,
            reward,
            campaign,
            &vote.worker,
            &mut record,
            now,
        )?;
    }
    Ok(())
}

/// Marks an item decided by its only answer (`single`) or accepted uploads (`upload`).
pub fn accepted_at_once(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    campaign: &str,
    idx: i64,
    item: &Json_,
    vote: &Vote,
) -> ApiResult<()> {
    if spec.kind.is_upload() {
        // Each accepted upload is its own record; the item is complete with its overlap.
        conn.execute(
            "UPDATE items SET method = 'upload', confidence = 1000000 WHERE campaign = $1 AND idx = $2",
            params![campaign, idx],
        )?;
        conn.execute(
            "UPDATE items SET resolved = 1 WHERE campaign = $1 AND idx = $2 AND (SELECT COUNT(*) FROM submissions s WHERE s.campaign = $1 AND s.idx = $2 AND s.status = 'accepted') >= wanted",
            params![campaign, idx],
        )?;
        return Ok(());
    }
    let decision = decide(
        conn,
        spec,
        campaign,
        item,
        std::slice::from_ref(vote),
        false,
    )?;
    if let Decision::Accept {
        answer, confidence, ..
    } = decision
    {
        conn.execute(
            "UPDATE items SET resolved = 1, answer = $1, confidence = $2, method = 'single' WHERE campaign = $3 AND idx = $4",
            params![answer.to_string(), (confidence * 1e6).round() as i64, campaign, idx],
        )?;
    }
    Ok(())
}

/// The owner of campaign `id`, checked against the signer of `signed`.
fn check_owner(conn: &mut dyn Conn, id: &str, signer: &str) -> ApiResult<Row> {
    let row = conn
        .query_opt(
            "SELECT owner, spec, kind FROM campaigns WHERE id = $1",
            params![id],
        )?
        .ok_or_else(|| ApiError::not_found("no_campaign", format!("no campaign {id:?}")))?;
    if row.text(0)? != signer {
        return Err(ApiError::forbidden(
            "not_owner",
            "only the campaign's requester may see its quality and results",
        ));
    }
    Ok(row)
}

fn ratio(a: i64, b: i64) -> Json_ {
    if a + b == 0 {
        Json_::Null
    } else {
        json!(a as f64 / (a + b) as f64)
    }
}

/// `GET /v1/campaigns/{id}/quality` (signed by the owner): per contributor their answers,
/// golden record, agreement, trust and restriction; per campaign the items accepted and
/// pending and the settings in force.
pub async fn report(
    State(relay): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> ApiResult<Json<Json_>> {
    let owner = db_address(&signed.signer);
    let body = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let row = check_owner(conn, &id, &owner)?;
            let spec: CampaignSpec = serde_json::from_str(&row.text(1)?).map_err(ApiError::internal)?;
            let settings = Settings::of(&spec);
            let count = |conn: &mut dyn Conn, sql: &str| -> ApiResult<i64> {
                let rows = conn.query(sql, params![id.clone()])?;
                Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0))
            };
            let total = count(conn, "SELECT COUNT(*) FROM items WHERE campaign = $1 AND golden IS NULL")?;
            let accepted = count(conn, "SELECT COUNT(*) FROM items WHERE campaign = $1 AND golden IS NULL AND resolved = 1")?;
            let pending = count(conn, "SELECT COUNT(DISTINCT s.idx) FROM submissions s JOIN items i ON i.campaign = s.campaign AND i.idx = s.idx WHERE s.campaign = $1 AND s.status = 'pending' AND i.resolved = 0")?;
            let golden = count(conn, "SELECT COUNT(*) FROM items WHERE campaign = $1 AND golden IS NOT NULL")?;
            let rows = conn.query(
                &format!("SELECT worker, {RECORD_COLUMNS} FROM contributors WHERE campaign = $1 ORDER BY worker"),
                params![id.clone()],
            )?;
            let mut by_worker: std::collections::HashMap<String, serde_json::Map<String, Json_>> =
                std::collections::HashMap::new();
            for s in conn.query(
                "SELECT worker, status, COUNT(*) FROM submissions WHERE campaign = $1 GROUP BY worker, status",
                params![id.clone()],
            )? {
                by_worker
                    .entry(s.text(0)?)
                    .or_default()
                    .insert(s.text(1)?, json!(s.int(2)?));
            }
            let mut contributors = Vec::with_capacity(rows.len());
            for row in &rows {
                let worker = row.text(0)?;
                let r = Record::from_row(row, 1)?;
                let statuses = by_worker.remove(&worker).unwrap_or_default();
                let answers: i64 = statuses.values().filter_map(Json_::as_i64).sum();
                contributors.push(json!({
                    "address": worker,
                    "tasks": r.tasks,
                    "answers": answers,
                    "accepted": statuses.get("accepted").cloned().unwrap_or(json!(0)),
                    "pending": statuses.get("pending").cloned().unwrap_or(json!(0)),
                    "rejected": statuses.get("rejected").cloned().unwrap_or(json!(0)),
                    "golden_right": r.golden_right,
                    "golden_wrong": r.golden_wrong,
                    "golden_accuracy": ratio(r.golden_right, r.golden_wrong),
                    "agreed": r.agreed,
                    "disagreed": r.disagreed,
                    "agreement": ratio(r.agreed, r.disagreed),
                    "too_fast": r.too_fast,
                    "trust": r.trust_ppm as f64 / 1e6,
                    "restricted": r.restricted.is_some(),
                    "reason": r.restricted,
                    "restricted_at": r.restricted_ms.map(|ms| Timestamp::from_unix_millis(ms).to_string()),
                    "cooldown_until": (r.cooldown_until_ms > 0).then(|| Timestamp::from_unix_millis(r.cooldown_until_ms).to_string()),
                }));
            }
            Ok(json!({
                "campaign": id,
                "kind": row.text(2)?,
                "method": if spec.kind.is_upload() { "upload" } else { settings.aggregation.as_str() },
                "settings": settings.summary(),
                "items": { "total": total, "accepted": accepted, "pending": pending, "golden": golden },
                "contributors": contributors,
            }))
        })
        .await?;
    Ok(Json(body))
}

/// The query of `GET /v1/campaigns/{id}/results`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsQuery {
    /// Only items with a larger index.
    after: Option<i64>,
    /// At most this many items (1 to 1000; default 100).
    limit: Option<i64>,
}

/// `GET /v1/campaigns/{id}/results?after=&limit=` (signed by the owner): accepted items in
/// index order with their aggregated answer, confidence, method and the contributors whose
/// answers were accepted; upload campaigns give one record per accepted upload (all of an
/// item's in the same page). `next` is the `after` of the next page, `null` at the end.
pub async fn results(
    State(relay): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<ResultsQuery>, axum::extract::rejection::QueryRejection>,
    signed: Signed,
) -> ApiResult<Json<Json_>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let after = query.after.unwrap_or(-1).max(-1);
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("invalid_query", "limit: 1 to 1000"));
    }
    let owner = db_address(&signed.signer);
    let body = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Json_> {
            let row = check_owner(conn, &id, &owner)?;
            let spec: CampaignSpec = serde_json::from_str(&row.text(1)?).map_err(ApiError::internal)?;
            let mut records = Vec::new();
            let more;
            if spec.kind.is_upload() {
                let idxs = conn.query(
                    "SELECT DISTINCT idx FROM submissions WHERE campaign = $1 AND status = 'accepted' AND idx > $2 ORDER BY idx LIMIT $3",
                    params![id.clone(), after, limit + 1],
                )?;
                more = idxs.len() > usize::try_from(limit).unwrap_or(usize::MAX);
                for r in idxs.iter().take(usize::try_from(limit).unwrap_or(0)) {
                    let idx = r.int(0)?;
                    let uploads = conn.query(
                        "SELECT i.payload, s.answer, s.worker, s.manifest FROM submissions s JOIN items i ON i.campaign = s.campaign AND i.idx = s.idx WHERE s.campaign = $1 AND s.idx = $2 AND s.status = 'accepted' ORDER BY s.created_ms",
                        params![id.clone(), idx],
                    )?;
                    for u in &uploads {
                        records.push(json!({
                            "index": idx,
                            "item": parse(&u.text(0)?)?,
                            "answer": parse(&u.text(1)?)?,
                            "confidence": 1.0,
                            "method": "upload",
                            "contributors": [u.text(2)?],
                            "object": u.text(3)?,
                        }));
                    }
                }
            } else {
                let items = conn.query(
                    "SELECT idx, payload, answer, confidence, method FROM items WHERE campaign = $1 AND golden IS NULL AND resolved = 1 AND idx > $2 ORDER BY idx LIMIT $3",
                    params![id.clone(), after, limit + 1],
                )?;
                more = items.len() > usize::try_from(limit).unwrap_or(usize::MAX);
                for r in items.iter().take(usize::try_from(limit).unwrap_or(0)) {
                    let idx = r.int(0)?;
                    let winners = conn.query(
                        "SELECT worker, answer FROM submissions WHERE campaign = $1 AND idx = $2 AND status = 'accepted' ORDER BY created_ms",
                        params![id.clone(), idx],
                    )?;
                    let contributors = winners.iter().map(|w| w.text(0)).collect::<Result<Vec<_>, _>>()?;
                    // Items decided before answers were stored with them: the winners' answer.
                    let answer = match r.opt_text(2)? {
                        Some(text) => parse(&text)?,
                        None => winners.first().map(|w| w.text(1)).transpose()?.map(|t| parse(&t)).transpose()?.unwrap_or(Json_::Null),
                    };
                    records.push(json!({
                        "index": idx,
                        "item": parse(&r.text(1)?)?,
                        "answer": answer,
                        "confidence": r.opt_int(3)?.map_or(1.0, |ppm| ppm as f64 / 1e6),
                        "method": r.opt_text(4)?.unwrap_or_else(|| "majority".into()),
                        "contributors": contributors,
                        "object": Json_::Null,
                    }));
                }
            }
            let next = if more {
                records.last().and_then(|r| r.get("index")).cloned().unwrap_or(Json_::Null)
            } else {
                Json_::Null
            };
            Ok(json!({
                "campaign": id,
                "kind": spec.kind,
                "labels": spec.labels,
                "records": records,
                "next": next,
            }))
        })
        .await?;
    Ok(Json(body))
}

fn parse(text: &str) -> ApiResult<Json_> {
    serde_json::from_str(text).map_err(ApiError::internal)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(kind: &str, labels: &[&str], multi: bool, overlap: u32) -> CampaignSpec {
        serde_json::from_value(json!({
            "id": "t-1", "kind": kind, "title": "t", "instructions": "", "labels": labels,
            "multi_label": multi, "items": [{ "text": "x" }], "reward": "1", "token": "USDT",
            "budget": "1", "overlap": overlap, "encryption_key": "", "chains": [56],
        }))
        .unwrap()
    }

    #[test]
    fn answers_encode_per_dimension_and_back() {
        let verdicts = Shape::of(&spec("content_verification", &[], false, 3));
        assert_eq!(verdicts.dimensions(), vec![3]);
        assert_eq!(verdicts.encode("false"), Some(vec![1]));
        assert_eq!(verdicts.encode("maybe"), None);
        assert_eq!(verdicts.key(&[2]), "unsure");
        let flags = Shape::of(&spec(
            "content_moderation",
            &["spam", "adult", "gore"],
            false,
            3,
        ));
        assert_eq!(flags.dimensions(), vec![2, 2, 2]);
        let key = "adult\u{1f}spam";
        assert_eq!(flags.encode(key), Some(vec![1, 1, 0]));
        assert_eq!(flags.key(&[1, 1, 0]), key);
        assert_eq!(flags.encode(""), Some(vec![0, 0, 0]));
        assert_eq!(Shape::agreement(&[1, 1, 0], &[1, 0, 0]), 2.0 / 3.0);
        let multi = Shape::of(&spec("image_categorization", &["cat", "dog"], true, 3));
        assert!(matches!(multi, Shape::Flags(_)));
        let single = Shape::of(&spec("image_categorization", &["cat", "dog"], false, 3));
        assert_eq!(single.encode("dog"), Some(vec![1]));
    }

    #[test]
    fn golden_turns_keep_the_share_and_differ_by_secret() {
        let turns = |secret: &[u8; 32]| -> Vec<i64> {
            let (mut g, mut out) = (0_i64, Vec::new());
            for n in 0..100 {
                if golden_due(secret, "c", "w", g, n, 0.2) {
                    g += 1;
                    out.push(n);
                }
            }
            out
        };
        let a = turns(&[1; 32]);
        let b = turns(&[2; 32]);
        assert!((19..=21).contains(&a.len()), "{a:?}");
        assert!(a.first().is_some_and(|n| *n < 5), "{a:?}");
        assert_ne!(a, b);
    }
}
