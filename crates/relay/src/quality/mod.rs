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
//!
//! In parts: `shape` (answers as classes per dimension), `record` (a contributor's record in a
//! campaign), `contributor` (gates before a lease, counts after, trust and restriction),
//! `golden` (when golden items come), `decide` (an item decided from its answers, and what is
//! learnt from it), `model` (a pre-annotating model's suggestion and vote) and `report` (the requester's quality report and results).

mod contributor;
mod decide;
mod golden;
mod hold;
mod model;
mod receipts;
mod record;
mod report;
mod shape;

pub use crate::spec::{Aggregation, Settings};
pub use contributor::{
    LeaseRecord, check_allowed, check_daily_cap, check_probation, gate, note_golden, note_lease,
    note_overturned, note_skip, note_too_fast, note_unanswered,
};
pub use decide::{Decision, Vote, accepted, accepted_at_once, decide};
pub use golden::{golden_secret, golden_turn};
pub use hold::{KNOWN_AFTER_GOLDEN, PAY_TRUST, credit_or_hold, is_held, settle_at_close};
pub use model::{model_on_golden, suggestion, voter};
pub use report::{ResultsQuery, report, results};
pub use shape::Shape;
