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
                let mut votes: Vec<(&[Vec<f64>], usize)> = matrices
                    .iter()
                    .zip(&answered)
                    .filter_map(|(m, a)| m.get(d).map(|m| (m.as_slice(), *a)))
                    .collect();
                let crowd = q::posterior(&dim_prior, &votes);
                let crowd_top = crowd.iter().copied().fold(0.0, f64::max);
                let backed = model.as_ref().and_then(|(m, classes)| {
                    let class = *classes.get(d)?;
                    (crowd_top < settings.confidence && answered.contains(&class))
                        .then(|| m.get(d).map(|m| (m.as_slice(), class)))
                        .flatten()
                });
                match backed {
                    Some(vote) => {
                        votes.push(vote);
                        q::posterior(&dim_prior, &votes)
                    }
                    None => crowd,
                }
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
