//! Compute nodes (docs/relay.md §4d): keys that registered the models they run, and that judge
//! uploads for campaigns declaring a compute job (`compute` in the definition).
//!
//! An upload to such a campaign stays `pending` and gets one job ([`jobs::enqueue`]). Nodes
//! lease jobs (`POST /v1/compute/jobs/next`): each job goes to `k` distinct nodes that run its
//! model, chosen at random among the oldest open jobs, preferring nodes of operators (payout
//! wallets) the job has not met yet; they do not see each other's results. A node returns a
//! signed prediction (`POST /v1/compute/jobs/{id}/result`), kept exactly as signed. The job is
//! decided when `k` predictions agree ([`judge`]); on disagreement one more node is asked, up
//! to `n`, and then the campaign's validators decide (the `validation` queue). The decision
//! accepts or rejects the upload (`pending_uploads::settle`), so its contributor is paid on it.
//!
//! Money (`fees`): each lease holds the job's fee from the requester's funds on the
//! campaign's chain; a node whose prediction agrees with the decision (or passes a golden job)
//! is paid it into its operator's earnings account, claimable with vouchers; every other held
//! fee goes back to the requester (lease expired, outvoted, escalated, node restricted).
//!
//! Opening (`grants`): a node opens an upload not sealed to it with the requester's grant (the
//! object's file key wrapped to the node's registered key), posted for its lease and handed
//! over with the job. An escalated job's answered fees stay held until people decide the upload
//! ([`jobs::settle_escalated`]): the nodes that judged as they did are paid.
//!
//! Honesty (`trust`): a share of jobs are golden (objects with a known prediction), leased like
//! any other; golden results and agreement with decisions feed the same trust arithmetic as
//! contributors' (`core::quality::trust`), and a node that falls below the bar is restricted
//! and its undecided work voided.

mod fees;
pub mod grants;
pub mod jobs;
mod judge;
pub mod nodes;
mod trust;

pub use judge::{Judgement, judge};
pub use trust::{MIN_NODE_TRUST, node_trust};
