//! The words on DataHub's wire, defined once and used by every side: the relay (which checks
//! them), the CLI (which sends them) and the browser client (which shows them).
//!
//! - [`Kind`]: the six task types;
//! - [`CampaignSpec`]: a campaign as its requester defines it (the relay checks it further);
//! - [`answer`]: the shape of each task type's answer;
//! - [`UploadRules`]: an upload campaign's rules, with the one parser and its defaults;
//! - [`Prediction`] and [`Capability`]: what compute nodes' models say, and when two agree;
//!   [`ComputeSpec`]: the compute job a campaign declares, with its [`AcceptRule`];
//! - [`ErrorCode`]: every `error` code the relay answers with.
//!
//! **Invariant:** no I/O and nothing that needs it: serde types and pure functions only, so the
//! crate builds for `wasm32-unknown-unknown`. It depends on nothing of ours.

pub mod answer;
mod campaign;
mod compute;
mod error;
mod kind;
mod upload;

pub use campaign::{Aggregation, CampaignSpec, GoldenItem, is_spdx_like};
pub use compute::{
    AcceptRule, Capability, ComputeSpec, GoldenJob, MAX_COMPUTE_GOLDEN, MAX_COMPUTE_NODES,
    Prediction, ScoreBound,
};
pub use error::{ErrorCode, NodeErrorCode};
pub use kind::Kind;
pub use upload::{
    DEFAULT_MAX_BYTES, DEFAULT_MAX_SECONDS, DEFAULT_MIN_SECONDS, ImageType, MAX_PIXELS,
    MAX_SECONDS, MAX_UPLOAD_BYTES, UploadRules,
};
