//! Deciding an item from its answers, and learning from the decision.

use datahub_core::quality::{self as q, ItemVote, Span};
use serde_json::{Value as Json_, json};

use super::contributor::settle_trust;
use super::model;
use super::record::Record;
use super::shape::Shape;
use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::params;
use crate::spec::{Aggregation, CampaignSpec, Kind, Settings};

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
///
/// With Dawid–Skene, a pre-annotating model's prediction on item `idx` is one more vote
/// (`model`), on a dimension only where the crowd alone is below the target confidence and
/// only for a class some answer gave: it can settle a split or unsure crowd sooner, never
/// overturn a confident one nor bring in an answer nobody sent.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    conn: &mut dyn Conn,
    spec: &CampaignSpec,
    campaign: &str,
    idx: i64,
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
    let model = match (single, settings.aggregation) {
        (false, Aggregation::DawidSkene) => model::vote(conn, spec, idx)?,
        _ => None,
    };
    let model = match model.and_then(|v| shape.encode(&v.key).map(|e| (v, e))) {
        Some((v, classes)) => Some((
            Record::load(conn, campaign, &v.worker)?.matrices(&shape),
            classes,
        )),
        None => None,
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
                let model_vote = model
                    .as_ref()
                    .and_then(|(m, classes)| Some((m.get(d)?.as_slice(), *classes.get(d)?)));
                posterior_with_model(&dim_prior, votes, model_vote, settings.confidence)
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

/// One dimension's posterior from the crowd's votes and, where it may count, a model's vote:
/// only while the crowd alone is below `confidence` (a confident crowd is never moved by the
/// model alone), and only for a class some contributor answered (the model breaks ties and
/// firms up unsure items; it never brings in an answer nobody sent). Its weight is its
/// confusion matrix, learnt like a contributor's: a model that is often wrong counts little.
fn posterior_with_model<'a>(
    prior: &[f64],
    mut votes: Vec<(&'a [Vec<f64>], usize)>,
    model: Option<(&'a [Vec<f64>], usize)>,
    confidence: f64,
) -> Vec<f64> {
    let crowd = q::posterior(prior, &votes);
    let crowd_top = crowd.iter().copied().fold(0.0, f64::max);
    match model {
        Some((matrix, class))
            if crowd_top < confidence && votes.iter().any(|(_, a)| *a == class) =>
        {
            votes.push((matrix, class));
            q::posterior(prior, &votes)
        }
        _ => crowd,
    }
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
    model::learn_accepted(conn, spec, idx, &truth, decision_key)?;
    // Leave-one-out evidence (`q::leave_one_out_support`): how probable each answer is given
    // everyone else's answers.
    let prior = class_prior(conn, campaign, &shape)?;
    let mut matrices = Vec::with_capacity(votes.len());
    for vote in votes {
        matrices.push(Record::load(conn, campaign, &vote.worker)?.matrices(&shape));
    }
    let encoded: Vec<Option<Vec<usize>>> = votes.iter().map(|v| shape.encode(&v.key)).collect();
    let item_votes: Vec<ItemVote<'_>> = matrices
        .iter()
        .zip(&encoded)
        .map(|(confusion, answered)| ItemVote {
            confusion,
            answered: answered.as_deref(),
        })
        .collect();
    let supports = q::leave_one_out_support(&prior, &item_votes);
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
        if support >= 0.5 {
            record.backed += 1;
        } else {
            record.unbacked += 1;
        }
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
        idx,
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

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    const CLASSES: usize = 3; // cat, dog, bird

    fn shape() -> Shape {
        Shape::Categorical(["cat", "dog", "bird"].map(str::to_owned).to_vec())
    }

    /// The matrix of a voter whose record has these (truth, answer) pairs.
    fn learnt(pairs: &[(usize, usize, usize)]) -> Vec<Vec<f64>> {
        let mut record = Record::default();
        for (truth, answer, times) in pairs {
            for _ in 0..*times {
                record.learn(&shape(), &[*truth], &[*answer]);
            }
        }
        record.matrices(&shape()).remove(0)
    }

    fn uniform() -> Vec<f64> {
        vec![1.0 / CLASSES as f64; CLASSES]
    }

    #[test]
    fn a_model_never_moves_a_confident_crowd_by_itself() {
        let newcomer = learnt(&[]);
        // A model right on 200 golden items of each class: as strong as a vote gets.
        let strong = learnt(&[(0, 0, 200), (1, 1, 200), (2, 2, 200)]);
        let crowd = vec![(newcomer.as_slice(), 0), (newcomer.as_slice(), 0)];
        let alone = q::posterior(&uniform(), &crowd);
        assert!(
            alone[0] >= 0.9,
            "two agreeing newcomers are confident: {alone:?}"
        );
        // Counted as a plain voter it would outvote them; under the rule it is left out.
        let mut all = crowd.clone();
        all.push((strong.as_slice(), 1));
        assert!(q::posterior(&uniform(), &all)[1] > 0.5);
        let with = posterior_with_model(&uniform(), crowd, Some((strong.as_slice(), 1)), 0.9);
        assert_eq!(with, alone);
        // The same model does settle a split crowd, for an answer someone gave ...
        let split = vec![(newcomer.as_slice(), 0), (newcomer.as_slice(), 1)];
        let tipped =
            posterior_with_model(&uniform(), split.clone(), Some((strong.as_slice(), 1)), 0.9);
        assert!(tipped[1] > 0.9, "{tipped:?}");
        // ... and never brings in one nobody gave.
        let bird =
            posterior_with_model(&uniform(), split.clone(), Some((strong.as_slice(), 2)), 0.9);
        assert_eq!(bird, q::posterior(&uniform(), &split));
    }

    #[test]
    fn a_model_that_is_usually_wrong_loses_weight() {
        let newcomer = learnt(&[]);
        let split = vec![(newcomer.as_slice(), 0), (newcomer.as_slice(), 1)];
        // A model nothing is known about tips a cat/dog split towards its "dog".
        let fresh = learnt(&[]);
        let before =
            posterior_with_model(&uniform(), split.clone(), Some((fresh.as_slice(), 1)), 0.9);
        assert!(before[1] > 0.6, "{before:?}");
        // The same model after saying "dog" on 20 cats and 5 dogs (right 1 time in 5): its
        // "dog" tells nothing any more, and the split stays a split it does not win.
        let wrong = learnt(&[(0, 1, 20), (1, 1, 5)]);
        let after =
            posterior_with_model(&uniform(), split.clone(), Some((wrong.as_slice(), 1)), 0.9);
        assert!(after[1] < before[1] - 0.1, "{before:?} {after:?}");
        assert!(after[1] <= after[0], "{after:?}");
    }
}
