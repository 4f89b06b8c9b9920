//! A compute node's trust: the contributors' arithmetic (`core::quality::trust`) over its
//! golden jobs and its agreement with decisions.

use datahub_core::quality::{TrustEvidence, TrustModel, trust};

/// A node whose trust falls below this is restricted: no more jobs, its undecided work voided.
///
/// With the trust model below (a careful node right 80% of the time at least, a random one 50%), a node
/// starting at 0.9 and failing every judgement (golden job failed, or outvoted) falls below it
/// at its 6th failure; a careful node's chance of ever falling below it is small (the
/// sequential test of `core::quality::trust`).
pub const MIN_NODE_TRUST: f64 = 0.05;

/// The trust model for compute nodes. A node's output is not one of a few classes (scores are
/// free numbers), so the chance of a random output being right is set at one half, which
/// favours the node: the liar needs more failures to be caught, never fewer.
fn model() -> TrustModel {
    TrustModel::for_chance(0.5)
}

/// A node's trust from its counts.
pub fn node_trust(golden_right: i64, golden_wrong: i64, agreed: i64, disagreed: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let evidence = TrustEvidence {
        golden_right: golden_right as f64,
        golden_wrong: golden_wrong as f64,
        agreed: agreed as f64,
        disagreed: disagreed as f64,
        too_fast: 0.0,
    };
    trust(&evidence, &model())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_failing_every_judgement_is_restricted_at_its_sixth() {
        assert!(node_trust(0, 0, 0, 0) > 0.85);
        assert!(node_trust(0, 3, 0, 2) > MIN_NODE_TRUST);
        assert!(node_trust(0, 3, 0, 3) < MIN_NODE_TRUST);
        // Right work earns room for the odd mistake.
        assert!(node_trust(10, 2, 20, 3) > 0.99);
    }
}
