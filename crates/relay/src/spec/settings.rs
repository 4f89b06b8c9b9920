//! A campaign's quality settings (docs/relay.md §4a): how answers are combined, when an item is
//! confident enough, how far overlap may grow, golden share, trust bar, skip and daily limits.

use serde_json::{Value as Json_, json};

use super::{Aggregation, CampaignSpec};

/// A campaign's quality settings with their defaults applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// How answers are combined.
    pub aggregation: Aggregation,
    /// The confidence at which an item is accepted.
    pub confidence: f64,
    /// Answers an item may get at most.
    pub max_overlap: i64,
    /// Share of a contributor's tasks that are golden.
    pub golden_share: f64,
    /// Trust below which a contributor is restricted.
    pub min_trust: f64,
    /// Skips allowed per window.
    pub max_skips: i64,
    /// The skip window and cool-down, in milliseconds.
    pub skip_window_ms: i64,
    /// Leases per wallet per 24 hours, if capped.
    pub max_tasks_per_day: Option<i64>,
    /// Leases a wallet may have in the campaign before one of its answers is confirmed right
    /// (probation; only when the campaign has golden items).
    pub probation_tasks: i64,
}

impl Settings {
    /// The settings of `spec`, defaults filled in: Dawid–Skene, confidence 0.9, at most twice
    /// the overlap (the overlap itself when it is 1: such items are decided by their one
    /// answer), golden share 0.1, minimum trust 0.05, 20 skips per 600 s, no daily cap, 20 tasks
    /// on probation.
    pub fn of(spec: &CampaignSpec) -> Self {
        let overlap = i64::from(spec.overlap);
        let default_max = if overlap <= 1 {
            1
        } else {
            (overlap * 2).min(100)
        };
        Self {
            aggregation: spec.aggregation.unwrap_or(Aggregation::DawidSkene),
            confidence: spec.confidence.unwrap_or(0.9),
            max_overlap: spec.max_overlap.map_or(default_max, i64::from).max(overlap),
            golden_share: spec.golden_share.unwrap_or(0.1),
            min_trust: spec.min_trust.unwrap_or(0.05),
            max_skips: spec.max_skips.map_or(20, i64::from),
            skip_window_ms: i64::from(spec.skip_window_seconds.unwrap_or(600)) * 1000,
            max_tasks_per_day: spec.max_tasks_per_day.map(i64::from),
            probation_tasks: spec.probation_tasks.map_or(20, i64::from),
        }
    }

    /// Checks the optional fields of a definition; the message names the field.
    pub fn check(spec: &CampaignSpec) -> Result<(), String> {
        let in_range = |v: Option<f64>, lo: f64, hi: f64| v.is_none_or(|v| v >= lo && v <= hi);
        if !in_range(spec.confidence, 0.5, 0.9999) {
            return Err("confidence: a probability from 0.5 to 0.9999".into());
        }
        if spec
            .max_overlap
            .is_some_and(|m| m < spec.overlap || m > 100)
        {
            return Err("max_overlap: from the overlap to 100".into());
        }
        if !in_range(spec.golden_share, 0.0, 1.0) {
            return Err("golden_share: from 0 to 1".into());
        }
        if spec.golden_share.is_some_and(|s| s > 0.0) && spec.golden.is_empty() {
            return Err("golden_share: the campaign has no golden items".into());
        }
        if !in_range(spec.min_trust, 0.0, 0.99) {
            return Err("min_trust: from 0 to 0.99".into());
        }
        if spec.max_skips.is_some_and(|m| m == 0 || m > 10_000) {
            return Err("max_skips: 1 to 10000".into());
        }
        if spec
            .skip_window_seconds
            .is_some_and(|s| !(10..=86_400).contains(&s))
        {
            return Err("skip_window_seconds: 10 to 86400".into());
        }
        if spec
            .max_tasks_per_day
            .is_some_and(|m| m == 0 || m > 1_000_000)
        {
            return Err("max_tasks_per_day: 1 to 1000000".into());
        }
        if spec
            .probation_tasks
            .is_some_and(|m| m == 0 || m > 1_000_000)
        {
            return Err("probation_tasks: 1 to 1000000".into());
        }
        if spec.kind.is_upload() && (spec.aggregation.is_some() || spec.confidence.is_some()) {
            return Err("aggregation, confidence: upload tasks are not aggregated".into());
        }
        Ok(())
    }

    /// The effective settings as JSON (in the campaign's summary and quality report).
    pub fn summary(&self) -> Json_ {
        json!({
            "aggregation": self.aggregation.as_str(),
            "confidence": self.confidence,
            "max_overlap": self.max_overlap,
            "golden_share": self.golden_share,
            "min_trust": self.min_trust,
            "max_skips": self.max_skips,
            "skip_window_seconds": self.skip_window_ms / 1000,
            "max_tasks_per_day": self.max_tasks_per_day,
            "probation_tasks": self.probation_tasks,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(kind: &str, overlap: u32) -> CampaignSpec {
        serde_json::from_value(json!({
            "id": "t-1", "kind": kind, "title": "t", "instructions": "", "items": [{ "text": "x" }],
            "reward": "1", "token": "USDT", "budget": "1", "overlap": overlap,
            "encryption_key": "", "chains": [56],
        }))
        .unwrap()
    }

    #[test]
    fn defaults_keep_overlap_one_at_once_and_double_otherwise() {
        let one = Settings::of(&spec("content_verification", 1));
        assert_eq!(one.max_overlap, 1);
        let three = Settings::of(&spec("content_verification", 3));
        assert_eq!((three.max_overlap, three.confidence), (6, 0.9));
        assert_eq!(three.aggregation, Aggregation::DawidSkene);
        let mut capped = spec("content_verification", 80);
        assert_eq!(Settings::of(&capped).max_overlap, 100);
        capped.max_overlap = Some(79);
        assert!(Settings::check(&capped).is_err());
    }
}
