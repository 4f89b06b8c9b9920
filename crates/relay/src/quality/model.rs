//! Pre-annotation (docs/relay.md §4d): a labeling campaign may declare a compute job that runs
//! a model on each item's object. The prediction its nodes agree on is shown to contributors
//! as a suggestion, with the model's kind and hash, and is one more voter in Dawid–Skene under
//! the name `model:<hash>`, with its own confusion matrix in `contributors`, learnt like a
//! contributor's: from golden items (the known answer) and from accepted items. The model only
//! votes; it has no trust, no pay and no restriction (a bad model simply loses weight).
//!
//! Two rules keep it a helper, not a judge ([`super::decide`]): it never moves a dimension the
//! crowd alone is already confident on, and it only backs an answer some contributor gave.

use datahub_protocol::Prediction;
use serde_json::{Value as Json_, json};

use super::decide::Vote;
use super::record::Record;
use super::shape::Shape;
use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::params;
use crate::spec::CampaignSpec;

/// The name a model votes under in a campaign's `contributors`: never a wallet address, which
/// is `0x…`.
pub fn voter(model: &str) -> String {
    format!("model:{model}")
}

/// An item's decided pre-annotation job.
struct Decided {
    kind: String,
    model: String,
    prediction: Prediction,
}

/// The decided prediction of the job on item `idx` of `campaign`, if any (no job, still open,
/// or escalated: none).
fn decided(conn: &mut dyn Conn, campaign: &str, idx: i64) -> ApiResult<Option<Decided>> {
    let Some(row) = conn.query_opt(
        "SELECT kind, model, decision FROM compute_jobs WHERE campaign = $1 AND idx = $2 AND submission IS NULL AND golden IS NULL AND state = 'decided' AND decision IS NOT NULL ORDER BY created_ms LIMIT 1",
        params![campaign, idx],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(Decided {
        kind: row.text(0)?,
        model: row.text(1)?,
        prediction: serde_json::from_str(&row.text(2)?).map_err(ApiError::internal)?,
    }))
}

/// The agreement key a model's label stands for: one of the campaign's classes (a verdict, a
/// label) or one flag alone. Any other label is no answer of this campaign: no suggestion, no
/// vote.
fn key_of(shape: &Shape, label: &str) -> Option<String> {
    match shape {
        Shape::Categorical(names) | Shape::Flags(names) => {
            names.iter().any(|n| n == label).then(|| label.to_owned())
        }
        Shape::Upload => None,
    }
}

/// Whether `spec` pre-annotates its items.
fn pre_annotates(spec: &CampaignSpec) -> bool {
    spec.compute.is_some() && !spec.kind.is_upload()
}

/// The suggestion shown with item `idx`: `{label, kind, model}`, only the model's agreed
/// prediction — never a golden answer nor anything contributors sent, and the same for golden
/// and ordinary items, so it tells neither apart.
pub fn suggestion(conn: &mut dyn Conn, spec: &CampaignSpec, idx: i64) -> ApiResult<Option<Json_>> {
    if !pre_annotates(spec) {
        return Ok(None);
    }
    let Some(job) = decided(conn, &spec.id, idx)? else {
        return Ok(None);
    };
    Ok(key_of(&Shape::of(spec), &job.prediction.label)
        .map(|label| json!({ "label": label, "kind": job.kind, "model": job.model })))
}

/// The model's vote on item `idx`, if it has one.
pub(super) fn vote(conn: &mut dyn Conn, spec: &CampaignSpec, idx: i64) -> ApiResult<Option<Vote>> {
    if !pre_annotates(spec) {
        return Ok(None);
    }
    let Some(job) = decided(conn, &spec.id, idx)? else {
        return Ok(None);
    };
    Ok(
        key_of(&Shape::of(spec), &job.prediction.label).map(|key| Vote {
            worker: voter(&job.model),
            key,
            answer: String::new(),
        }),
    )
}

/// Learns the model's confusion from item `idx` accepted as `truth` (classes per dimension).
pub(super) fn learn_accepted(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    idx: i64,
    truth: &[usize],
    truth_key: &str,
) -> ApiResult<()> {
    let Some(vote) = vote(conn, spec, idx)? else {
        return Ok(());
    };
    let shape = Shape::of(spec);
    let Some(answered) = shape.encode(&vote.key) else {
        return Ok(());
    };
    let mut record = Record::load(conn, &spec.id, &vote.worker)?;
    record.learn(&shape, truth, &answered);
    if vote.key == truth_key {
        record.agreed += 1;
    } else {
        record.disagreed += 1;
    }
    record.save(conn, &spec.id, &vote.worker)
}

/// Learns the model's confusion from its decided prediction on item `idx`, when that item is
/// golden (its answer known). Called when the item's job is decided.
pub fn model_on_golden(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    idx: i64,
    decision: &Prediction,
) -> ApiResult<()> {
    if !pre_annotates(spec) {
        return Ok(());
    }
    let Some(truth) = conn
        .query_opt(
            "SELECT golden FROM items WHERE campaign = $1 AND idx = $2",
            params![spec.id.clone(), idx],
        )?
        .map(|r| r.opt_text(0))
        .transpose()?
        .flatten()
    else {
        return Ok(());
    };
    let shape = Shape::of(spec);
    let (Some(key), Some(model)) = (key_of(&shape, &decision.label), &spec.compute) else {
        return Ok(());
    };
    let (Some(t), Some(a)) = (shape.encode(&truth), shape.encode(&key)) else {
        return Ok(());
    };
    let worker = voter(&model.model);
    let mut record = Record::load(conn, &spec.id, &worker)?;
    record.learn(&shape, &t, &a);
    if truth == key {
        record.golden_right += 1;
    } else {
        record.golden_wrong += 1;
    }
    record.save(conn, &spec.id, &worker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_label_that_is_an_answer_of_the_campaign_suggests_or_votes() {
        let classes = Shape::Categorical(vec!["cat".into(), "dog".into()]);
        assert_eq!(key_of(&classes, "dog").as_deref(), Some("dog"));
        assert_eq!(key_of(&classes, "zebra"), None);
        assert_eq!(key_of(&classes, "Dog"), None);
        let flags = Shape::Flags(vec!["nsfw".into(), "violence".into()]);
        assert_eq!(key_of(&flags, "nsfw").as_deref(), Some("nsfw"));
        // "safe" is no flag: a model saying it does not vote for "no flags".
        assert_eq!(key_of(&flags, "safe"), None);
        assert_eq!(key_of(&Shape::Upload, "png"), None);
        assert!(voter(&"ab".repeat(32)).starts_with("model:"));
    }
}
