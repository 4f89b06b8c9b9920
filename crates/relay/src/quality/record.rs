//! A contributor's record in a campaign (table `contributors`): tasks, golden answers,
//! agreement, skips, the confusion counts Dawid–Skene learns from, trust and restriction.

use datahub_core::quality::{self as q, DsConfig, TrustEvidence, TrustModel};

use super::shape::Shape;
use crate::db::{Conn, Row};
use crate::error::{ApiError, ApiResult};
use crate::params;

/// The Dawid–Skene settings the relay uses.
pub(super) fn ds_config() -> DsConfig {
    DsConfig::default()
}

/// A contributor's record in a campaign.
#[derive(Debug, Clone, Default)]
pub(super) struct Record {
    pub(super) tasks: i64,
    pub(super) golden_seen: i64,
    pub(super) golden_right: i64,
    pub(super) golden_wrong: i64,
    pub(super) agreed: i64,
    pub(super) disagreed: i64,
    pub(super) too_fast: i64,
    pub(super) skips: i64,
    pub(super) skip_window_ms: i64,
    pub(super) cooldown_until_ms: i64,
    pub(super) score_right: i64,
    pub(super) score_wrong: i64,
    pub(super) trust_ppm: i64,
    /// `[dimension][true class][answered class]` counts.
    pub(super) confusion: Vec<Vec<Vec<f64>>>,
    pub(super) restricted: Option<String>,
    pub(super) restricted_ms: Option<i64>,
    /// Answers to decided items that everyone else's answers backed (leave-one-out support of
    /// at least one half), and those they did not: unlike `agreed`, not swayed by the answer
    /// itself (see `hold`).
    pub(super) backed: i64,
    pub(super) unbacked: i64,
}

pub(super) const RECORD_COLUMNS: &str = "tasks, golden_seen, golden_right, golden_wrong, agreed, disagreed, too_fast, skips, skip_window_ms, cooldown_until_ms, score_right, score_wrong, trust_ppm, confusion, restricted, restricted_ms, backed, unbacked";

impl Record {
    pub(super) fn from_row(row: &Row, offset: usize) -> ApiResult<Self> {
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
            backed: int(16)?,
            unbacked: int(17)?,
        })
    }

    pub(super) fn load(conn: &mut dyn Conn, campaign: &str, worker: &str) -> ApiResult<Self> {
        let row = conn.query_opt(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM contributors WHERE campaign = $1 AND worker = $2"
            ),
            params![campaign, worker],
        )?;
        match row {
            Some(row) => Self::from_row(&row, 0),
            None => Ok(Self::new()),
        }
    }

    /// A contributor's record before their first lease.
    fn new() -> Self {
        Self {
            trust_ppm: 900_000,
            ..Self::default()
        }
    }

    /// Adds a lease (`golden`: 1 for a golden item) to the stored record, or stores a new
    /// contributor's record with it.
    pub(super) fn count_lease(
        conn: &mut dyn Conn,
        campaign: &str,
        worker: &str,
        golden: i64,
    ) -> ApiResult<()> {
        let first = Self {
            tasks: 1,
            golden_seen: golden,
            ..Self::new()
        };
        first.upsert(
            conn,
            campaign,
            worker,
            "tasks = contributors.tasks + 1, golden_seen = contributors.golden_seen + $4",
        )
    }

    pub(super) fn save(&self, conn: &mut dyn Conn, campaign: &str, worker: &str) -> ApiResult<()> {
        self.upsert(
            conn,
            campaign,
            worker,
            "tasks = $3, golden_seen = $4, golden_right = $5, golden_wrong = $6, agreed = $7, disagreed = $8, too_fast = $9, skips = $10, skip_window_ms = $11, cooldown_until_ms = $12, score_right = $13, score_wrong = $14, trust_ppm = $15, confusion = $16, restricted = $17, restricted_ms = $18, backed = $19, unbacked = $20",
        )
    }

    /// Stores this record as a new contributor's, or sets `update` (over the parameters of the
    /// insert: `$3` is `tasks`, and so on in [`RECORD_COLUMNS`]' order) on the stored one.
    fn upsert(
        &self,
        conn: &mut dyn Conn,
        campaign: &str,
        worker: &str,
        update: &str,
    ) -> ApiResult<()> {
        let confusion = serde_json::to_string(&self.confusion).map_err(ApiError::internal)?;
        conn.execute(
            &format!(
                "INSERT INTO contributors (campaign, worker, {RECORD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
                 ON CONFLICT (campaign, worker) DO UPDATE SET {update}"
            ),
            params![
                campaign, worker, self.tasks, self.golden_seen, self.golden_right, self.golden_wrong,
                self.agreed, self.disagreed, self.too_fast, self.skips, self.skip_window_ms,
                self.cooldown_until_ms, self.score_right, self.score_wrong, self.trust_ppm,
                confusion, self.restricted.clone(), self.restricted_ms, self.backed,
                self.unbacked
            ],
        )?;
        Ok(())
    }

    /// The confusion matrices, as probabilities, one per dimension.
    pub(super) fn matrices(&self, shape: &Shape) -> Vec<Vec<Vec<f64>>> {
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
    pub(super) fn learn(&mut self, shape: &Shape, truth: &[usize], answered: &[usize]) {
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
    pub(super) fn score(&mut self, agreement: f64, weight: f64) {
        // Thousandths: whole answers for one-class questions, shares of flags for flag sets.
        self.score_right += (1000.0 * weight * agreement).round() as i64;
        self.score_wrong += (1000.0 * weight * (1.0 - agreement)).round() as i64;
    }

    pub(super) fn trust(&self, shape: &Shape) -> f64 {
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
