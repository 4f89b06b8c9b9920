//! Answer aggregation and contributor trust, without I/O.
//!
//! Several people answer the same item; this module turns their answers into one answer per
//! item with a confidence, and their track record into a trust score. Nothing here reads a
//! database or a clock: the relay passes the answers and counts in and stores what comes out.
//!
//! - Categorical answers (one class out of `k`): [`majority`] and [`dawid_skene`] (Dawid and
//!   Skene, 1979: EM over one confusion matrix per contributor), each giving a label and its
//!   posterior per item. [`posterior`] is the E-step for one item with known matrices, which is
//!   how the relay decides an item as soon as its answers are in.
//!   [`leave_one_out_support`] is that E-step without each answer in turn: how much the others
//!   back it, the agreement evidence trust learns from.
//! - Multi-flag answers (any subset of `f` flags) are `f` independent yes/no questions: each flag
//!   is aggregated as a 2-class categorical answer (see [`aggregate_flags`] for why).
//! - Spans (character ranges with a label) are voted character by character
//!   ([`aggregate_spans`]).
//! - Trust ([`trust`]) is the posterior probability that a contributor is a careful one rather
//!   than one answering at chance, from golden answers, agreement with accepted answers and
//!   answers refused as too fast.

/// One answer to a categorical question: `worker` said `label` for `item` (all 0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// The item's index.
    pub item: usize,
    /// The contributor's index.
    pub worker: usize,
    /// The class answered, below the number of classes.
    pub label: usize,
}

/// An item's aggregated answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The most probable class.
    pub label: usize,
    /// Its probability (a vote share for [`majority`], a posterior for Dawid–Skene).
    pub confidence: f64,
}

/// The index and value of the largest entry (the first one on ties); `None` when empty.
fn argmax(values: &[f64]) -> Option<(usize, f64)> {
    values
        .iter()
        .copied()
        .enumerate()
        .fold(None, |best, (i, v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        })
}

/// Plain majority vote: per item, the class most answered (the lowest class on ties) and its
/// share of the item's answers. Items without answers are `None`; observations outside the
/// given sizes are ignored.
pub fn majority(
    observations: &[Observation],
    items: usize,
    classes: usize,
) -> Vec<Option<Estimate>> {
    let mut counts = vec![vec![0.0_f64; classes]; items];
    for o in observations {
        if let Some(c) = counts.get_mut(o.item).and_then(|row| row.get_mut(o.label)) {
            *c += 1.0;
        }
    }
    counts
        .iter()
        .map(|row| {
            let total: f64 = row.iter().sum();
            let (label, top) = argmax(row)?;
            (total > 0.0).then(|| Estimate {
                label,
                confidence: top / total,
            })
        })
        .collect()
}

/// Settings of [`dawid_skene`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DsConfig {
    /// At most this many EM rounds.
    pub max_iterations: usize,
    /// Stop when no item's posterior moved by more than this in a round.
    pub tolerance: f64,
    /// Dirichlet pseudo-counts added to each row of each confusion matrix, spread so that the
    /// prior says "right with probability `prior_accuracy`": a contributor seen on few items
    /// keeps close to that, and no probability is ever 0 (one slip cannot zero a posterior).
    pub smoothing: f64,
    /// The accuracy the smoothing prior assumes.
    pub prior_accuracy: f64,
}

impl Default for DsConfig {
    fn default() -> Self {
        Self {
            max_iterations: 100,
            tolerance: 1e-6,
            smoothing: 2.0,
            prior_accuracy: 0.7,
        }
    }
}

/// A fitted Dawid–Skene model.
#[derive(Debug, Clone, PartialEq)]
pub struct DsModel {
    /// How often each true class occurs.
    pub class_prior: Vec<f64>,
    /// Per contributor, `confusion[w][true][answered]`: the probability that `w` answers
    /// `answered` when the truth is `true` (rows sum to 1).
    pub confusion: Vec<Vec<Vec<f64>>>,
    /// Per item, the posterior over classes (uniform for items without answers).
    pub posteriors: Vec<Vec<f64>>,
    /// EM rounds run.
    pub iterations: usize,
}

impl DsModel {
    /// Per item the most probable class and its posterior; `None` for items nobody answered.
    pub fn estimates(&self, observations: &[Observation]) -> Vec<Option<Estimate>> {
        let mut answered = vec![false; self.posteriors.len()];
        for o in observations {
            if let Some(a) = answered.get_mut(o.item) {
                *a = true;
            }
        }
        self.posteriors
            .iter()
            .zip(answered)
            .map(|(p, answered)| {
                let (label, confidence) = argmax(p)?;
                answered.then_some(Estimate { label, confidence })
            })
            .collect()
    }
}

/// The smoothing pseudo-counts of one confusion-matrix row whose true class is `row`.
fn prior_row(row: usize, classes: usize, config: &DsConfig) -> Vec<f64> {
    if classes <= 1 {
        return vec![config.smoothing; classes];
    }
    let other = config.smoothing * (1.0 - config.prior_accuracy) / (classes - 1) as f64;
    (0..classes)
        .map(|c| {
            if c == row {
                config.smoothing * config.prior_accuracy
            } else {
                other
            }
        })
        .collect()
}

/// Confusion probabilities from counts (`counts[true][answered]`, possibly fractional) plus
/// the smoothing prior: what the relay keeps per contributor and what the M-step computes.
pub fn confusion_from_counts(
    counts: &[Vec<f64>],
    classes: usize,
    config: &DsConfig,
) -> Vec<Vec<f64>> {
    (0..classes)
        .map(|t| {
            let mut row = prior_row(t, classes, config);
            if let Some(seen) = counts.get(t) {
                for (r, s) in row.iter_mut().zip(seen) {
                    *r += s.max(0.0);
                }
            }
            normalize(&mut row);
            row
        })
        .collect()
}

/// Scales `values` to sum to 1 (uniform if they sum to 0 or are not finite).
fn normalize(values: &mut [f64]) {
    let total: f64 = values.iter().sum();
    if total > 0.0 && total.is_finite() {
        for v in values.iter_mut() {
            *v /= total;
        }
    } else if !values.is_empty() {
        let uniform = 1.0 / values.len() as f64;
        values.iter_mut().for_each(|v| *v = uniform);
    }
}

/// The posterior over classes of one item given its answers: `class_prior[c] × Π P(answer |
/// c)` normalized — Dawid–Skene's E-step for a single item. Each vote is the contributor's
/// confusion matrix (`[true][answered]`, rows summing to 1) and the class it answered. Computed
/// in logarithms so that many answers do not underflow.
pub fn posterior(class_prior: &[f64], votes: &[(&[Vec<f64>], usize)]) -> Vec<f64> {
    let mut log = class_prior
        .iter()
        .map(|p| p.max(1e-12).ln())
        .collect::<Vec<f64>>();
    for (confusion, answered) in votes {
        for (c, l) in log.iter_mut().enumerate() {
            let p = confusion
                .get(c)
                .and_then(|row| row.get(*answered))
                .copied()
                .unwrap_or(0.0);
            *l += p.max(1e-12).ln();
        }
    }
    let top = log.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut out: Vec<f64> = log.iter().map(|l| (l - top).exp()).collect();
    normalize(&mut out);
    out
}

/// Dawid–Skene: estimates every contributor's confusion matrix and every item's class together
/// by expectation–maximization. It starts from the majority vote (so it never starts from
/// nowhere), alternates the M-step (class frequencies and smoothed confusion matrices from the
/// current posteriors) and the E-step ([`posterior`] per item), and stops after
/// `max_iterations` or when posteriors move less than `tolerance`.
///
/// `known` pins items whose class is known (golden items): their posterior stays on that class,
/// so they teach the confusion matrices without being guessed. Observations or known entries
/// outside the given sizes are ignored.
pub fn dawid_skene(
    observations: &[Observation],
    items: usize,
    workers: usize,
    classes: usize,
    known: &[(usize, usize)],
    config: &DsConfig,
) -> DsModel {
    let observations: Vec<Observation> = observations
        .iter()
        .copied()
        .filter(|o| o.item < items && o.worker < workers && o.label < classes)
        .collect();
    let mut pinned: Vec<Option<usize>> = vec![None; items];
    for (item, class) in known {
        if let Some(p) = pinned.get_mut(*item).filter(|_| *class < classes) {
            *p = Some(*class);
        }
    }
    let one_hot = |class: usize| -> Vec<f64> {
        (0..classes)
            .map(|c| if c == class { 1.0 } else { 0.0 })
            .collect()
    };
    // Start: soft majority (vote shares), pinned items exact.
    let mut posteriors: Vec<Vec<f64>> = vec![vec![0.0; classes]; items];
    for o in &observations {
        if let Some(v) = posteriors.get_mut(o.item).and_then(|p| p.get_mut(o.label)) {
            *v += 1.0;
        }
    }
    for (p, pin) in posteriors.iter_mut().zip(&pinned) {
        match pin {
            Some(class) => *p = one_hot(*class),
            None => normalize(p),
        }
    }
    let mut by_item: Vec<Vec<(usize, usize)>> = vec![Vec::new(); items];
    for o in &observations {
        if let Some(list) = by_item.get_mut(o.item) {
            list.push((o.worker, o.label));
        }
    }
    let mut class_prior = vec![1.0 / classes.max(1) as f64; classes];
    let mut confusion = vec![confusion_from_counts(&[], classes, config); workers];
    let mut iterations = 0;
    while iterations < config.max_iterations {
        iterations += 1;
        // M-step.
        let mut counts = vec![vec![vec![0.0_f64; classes]; classes]; workers];
        for o in &observations {
            let (Some(p), Some(matrix)) = (posteriors.get(o.item), counts.get_mut(o.worker)) else {
                continue;
            };
            for (row, weight) in matrix.iter_mut().zip(p) {
                if let Some(cell) = row.get_mut(o.label) {
                    *cell += weight;
                }
            }
        }
        confusion = counts
            .iter()
            .map(|c| confusion_from_counts(c, classes, config))
            .collect();
        class_prior = vec![1.0; classes];
        for p in &posteriors {
            for (prior, v) in class_prior.iter_mut().zip(p) {
                *prior += v;
            }
        }
        normalize(&mut class_prior);
        // E-step.
        let mut moved = 0.0_f64;
        for ((p, votes), pin) in posteriors.iter_mut().zip(&by_item).zip(&pinned) {
            if pin.is_some() || votes.is_empty() {
                continue;
            }
            let votes: Vec<(&[Vec<f64>], usize)> = votes
                .iter()
                .filter_map(|(w, l)| confusion.get(*w).map(|m| (m.as_slice(), *l)))
                .collect();
            let next = posterior(&class_prior, &votes);
            for (a, b) in p.iter().zip(&next) {
                moved = moved.max((a - b).abs());
            }
            *p = next;
        }
        if moved < config.tolerance {
            break;
        }
    }
    DsModel {
        class_prior,
        confusion,
        posteriors,
        iterations,
    }
}

/// Multi-flag answers, aggregated flag by flag: `answers[i]` is the list of each answer's flag
/// set for item `i` (as booleans per flag, all of length `flags`).
///
/// Why per flag rather than over whole flag sets: with `f` flags there are `2^f` possible sets,
/// so a few answers almost never agree on a whole set and a vote over sets says little; and
/// contributors err per flag (one over-flags "spam", another misses "violence"). Each flag is
/// therefore its own yes/no question, aggregated by Dawid–Skene with a 2×2 confusion matrix
/// per contributor and flag (which catches the over-flagger and the never-flagger), and the
/// item's confidence is that of its least certain flag. `answers` are `(worker, flags)` pairs.
pub fn aggregate_flags(
    answers: &[Vec<(usize, Vec<bool>)>],
    workers: usize,
    flags: usize,
    config: &DsConfig,
) -> Vec<Option<(Vec<bool>, f64)>> {
    let mut per_item: Vec<Option<(Vec<bool>, f64)>> = answers
        .iter()
        .map(|a| (!a.is_empty()).then(|| (vec![false; flags], 1.0)))
        .collect();
    for flag in 0..flags {
        let observations: Vec<Observation> = answers
            .iter()
            .enumerate()
            .flat_map(|(item, list)| {
                list.iter().map(move |(worker, set)| Observation {
                    item,
                    worker: *worker,
                    label: usize::from(set.get(flag).copied().unwrap_or(false)),
                })
            })
            .collect();
        let model = dawid_skene(&observations, answers.len(), workers, 2, &[], config);
        for (slot, estimate) in per_item.iter_mut().zip(model.estimates(&observations)) {
            if let (Some((set, confidence)), Some(e)) = (slot.as_mut(), estimate) {
                if let Some(bit) = set.get_mut(flag) {
                    *bit = e.label == 1;
                }
                *confidence = confidence.min(e.confidence);
            }
        }
    }
    per_item
}

/// A labeled character range `[start, end)` of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// First character (in Unicode scalar values).
    pub start: usize,
    /// One past the last character.
    pub end: usize,
    /// The label.
    pub label: String,
}

/// Spans voted character by character: a character gets a label when more than half of the
/// `answers` (each a list of spans) marked it with that label; runs of characters with the same
/// label become the aggregated spans. Voting per character rather than per exact span keeps
/// what a majority agrees on even when people's boundaries differ by a character or a word.
/// Spans past `text_len` are cut there; empty spans are ignored.
pub fn aggregate_spans(answers: &[Vec<Span>], text_len: usize) -> Vec<Span> {
    let mut labels: Vec<&str> = answers.iter().flatten().map(|s| s.label.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let need = answers.len() / 2 + 1;
    let mut out = Vec::new();
    for label in labels {
        let mut votes = vec![0_usize; text_len];
        for answer in answers {
            // One vote per answer and character, however many of its spans overlap there.
            let mut marked = vec![false; text_len];
            for span in answer.iter().filter(|s| s.label == label) {
                let range = span.start.min(text_len)..span.end.min(text_len);
                if let Some(cells) = marked.get_mut(range) {
                    cells.iter_mut().for_each(|m| *m = true);
                }
            }
            for (v, m) in votes.iter_mut().zip(marked) {
                *v += usize::from(m);
            }
        }
        let mut start = None;
        for (i, v) in votes.iter().chain(std::iter::once(&0)).enumerate() {
            match (start, *v >= need) {
                (None, true) => start = Some(i),
                (Some(s), false) => {
                    out.push(Span {
                        start: s,
                        end: i,
                        label: label.to_owned(),
                    });
                    start = None;
                }
                _ => {}
            }
        }
    }
    out.sort_by(|a, b| (a.start, a.end, &a.label).cmp(&(b.start, b.end, &b.label)));
    out
}

/// What is known of a contributor's work.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrustEvidence {
    /// Golden answers that were right.
    pub golden_right: f64,
    /// Golden answers that were wrong.
    pub golden_wrong: f64,
    /// Answers on decided items that agreed with the accepted answer.
    pub agreed: f64,
    /// Answers on decided items that did not.
    pub disagreed: f64,
    /// Answers refused for coming faster than the campaign's minimum time.
    pub too_fast: f64,
}

/// The two kinds of contributor [`trust`] tells apart, and how much it believes at the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrustModel {
    /// The probability, before any evidence, that a contributor is careful.
    pub prior: f64,
    /// How often a careful contributor answers right (at least).
    pub careful_accuracy: f64,
    /// How often a contributor answering at random is right (1 / classes for one class out of
    /// several).
    pub chance_accuracy: f64,
    /// What an agreement (or disagreement) with an accepted answer counts for, against 1 for a
    /// golden answer: accepted answers are usually, not always, right.
    pub agreement_weight: f64,
}

impl TrustModel {
    /// The model for a question whose random answer is right with probability `chance`.
    pub fn for_chance(chance: f64) -> Self {
        let chance = chance.clamp(0.01, 0.9);
        Self {
            prior: 0.9,
            careful_accuracy: (chance + 0.3).clamp(0.7, 0.95),
            chance_accuracy: chance,
            agreement_weight: 1.0,
        }
    }
}

/// The posterior probability that a contributor is careful rather than answering at chance.
///
/// Each right answer multiplies the odds by `careful / chance`, each wrong one by `(1 −
/// careful) / (1 − chance)`; agreements count with `agreement_weight`, too-fast answers as
/// wrong golden answers. Starting from `prior` (0.9 by default), a single lucky golden answer
/// moves trust only a little, and it takes a run of evidence to fall near 0 — the sequential
/// test behind this keeps careful contributors' chance of ever falling below a low threshold
/// small, however long they work.
pub fn trust(evidence: &TrustEvidence, model: &TrustModel) -> f64 {
    let careful = model.careful_accuracy.clamp(1e-6, 1.0 - 1e-6);
    let chance = model.chance_accuracy.clamp(1e-6, 1.0 - 1e-6);
    let right = (careful / chance).ln();
    let wrong = ((1.0 - careful) / (1.0 - chance)).ln();
    let prior = model.prior.clamp(1e-6, 1.0 - 1e-6);
    let log_odds = (prior / (1.0 - prior)).ln()
        + right * (evidence.golden_right + model.agreement_weight * evidence.agreed)
        + wrong
            * (evidence.golden_wrong
                + evidence.too_fast
                + model.agreement_weight * evidence.disagreed);
    1.0 / (1.0 + (-log_odds).exp())
}

/// One answer to an item of several dimensions (a categorical answer has one; a flag set has
/// one yes/no dimension per flag), for [`leave_one_out_support`].
#[derive(Debug, Clone, Copy)]
pub struct ItemVote<'a> {
    /// The contributor's confusion matrix per dimension (`[true][answered]`, rows summing to 1).
    pub confusion: &'a [Vec<Vec<f64>>],
    /// The class answered per dimension; `None` for an answer that is not one of the item's
    /// classes, which neither gets nor gives support.
    pub answered: Option<&'a [usize]>,
}

/// How much everyone else's answers back each answer to one item: for answer `i`, the
/// probability of the class it gave under the [`posterior`] of all the *other* answers (the
/// E-step without it), averaged over dimensions. An answer cannot vouch for itself, and an item
/// the others disagree on says little either way; this is the agreement evidence the relay
/// learns trust from once an item is decided. `priors[d]` is dimension `d`'s class prior; a
/// missing prior or matrix counts as no information.
pub fn leave_one_out_support(priors: &[Vec<f64>], votes: &[ItemVote<'_>]) -> Vec<Option<f64>> {
    let support = |me: usize, answered: &[usize]| -> f64 {
        let mut total = 0.0;
        for (d, a) in answered.iter().enumerate() {
            let others: Vec<(&[Vec<f64>], usize)> = votes
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != me)
                .filter_map(|(_, v)| Some((v.confusion.get(d)?.as_slice(), *v.answered?.get(d)?)))
                .collect();
            let p = posterior(priors.get(d).map_or(&[][..], Vec::as_slice), &others);
            total += p.get(*a).copied().unwrap_or(0.0);
        }
        total / answered.len().max(1) as f64
    };
    votes
        .iter()
        .enumerate()
        .map(|(i, v)| v.answered.map(|a| support(i, a)))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A small deterministic generator (SplitMix64), so the simulated crowd is the same on
    /// every run and on every target.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn accuracy(estimates: &[Option<Estimate>], truth: &[usize]) -> f64 {
        let right = estimates
            .iter()
            .zip(truth)
            .filter(|(e, t)| e.is_some_and(|e| e.label == **t))
            .count();
        right as f64 / truth.len() as f64
    }

    #[test]
    fn majority_counts_and_breaks_ties_low() {
        let obs = [
            Observation {
                item: 0,
                worker: 0,
                label: 2,
            },
            Observation {
                item: 0,
                worker: 1,
                label: 2,
            },
            Observation {
                item: 0,
                worker: 2,
                label: 1,
            },
            Observation {
                item: 1,
                worker: 0,
                label: 1,
            },
            Observation {
                item: 1,
                worker: 1,
                label: 0,
            },
            // Out of range: ignored, not a panic.
            Observation {
                item: 9,
                worker: 0,
                label: 0,
            },
            Observation {
                item: 1,
                worker: 0,
                label: 7,
            },
        ];
        let m = majority(&obs, 3, 3);
        assert_eq!(m[0].unwrap().label, 2);
        assert!((m[0].unwrap().confidence - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m[1].unwrap().label, 0);
        assert_eq!(m[2], None);
    }

    #[test]
    fn posterior_weighs_reliable_contributors_more() {
        let config = DsConfig::default();
        let good = confusion_from_counts(&[vec![50.0, 0.0], vec![0.0, 50.0]], 2, &config);
        let coin = confusion_from_counts(&[vec![25.0, 25.0], vec![25.0, 25.0]], 2, &config);
        // One reliable "1" against two coin-flippers' "0".
        let p = posterior(&[0.5, 0.5], &[(&good, 1), (&coin, 0), (&coin, 0)]);
        assert!(p[1] > 0.95, "{p:?}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // Many votes do not underflow.
        let votes: Vec<(&[Vec<f64>], usize)> = (0..2000).map(|_| (good.as_slice(), 0)).collect();
        let p = posterior(&[0.5, 0.5], &votes);
        assert!(p[0] > 0.999 && p.iter().all(|v| v.is_finite()), "{p:?}");
    }

    /// Truth in 3 classes; honest contributors of accuracy 0.55–0.9, random bots, spammers who
    /// always answer the same class, and contributors biased to mistake class 1 for 2. Every
    /// item gets 5 answers from random contributors.
    #[test]
    fn dawid_skene_beats_majority_on_a_simulated_crowd() {
        let mut rng = Rng(0x5eed);
        let (items, classes) = (400, 3);
        let truth: Vec<usize> = (0..items).map(|_| rng.below(classes)).collect();
        enum W {
            Honest(f64),
            Bot,
            Spammer(usize),
            Biased,
        }
        let mut crowd = Vec::new();
        for i in 0..10 {
            crowd.push(W::Honest(0.55 + 0.035 * f64::from(i)));
        }
        for _ in 0..5 {
            crowd.push(W::Bot);
        }
        for i in 0..5 {
            crowd.push(W::Spammer(i % classes));
        }
        for _ in 0..5 {
            crowd.push(W::Biased);
        }
        let mut obs = Vec::new();
        for (item, &t) in truth.iter().enumerate() {
            let mut chosen = Vec::new();
            while chosen.len() < 5 {
                let w = rng.below(crowd.len());
                if !chosen.contains(&w) {
                    chosen.push(w);
                }
            }
            for worker in chosen {
                let label = match crowd[worker] {
                    W::Honest(acc) if rng.unit() < acc => t,
                    W::Honest(_) => (t + 1 + rng.below(classes - 1)) % classes,
                    W::Bot => rng.below(classes),
                    W::Spammer(c) => c,
                    W::Biased if t == 1 => 2,
                    W::Biased => t,
                };
                obs.push(Observation {
                    item,
                    worker,
                    label,
                });
            }
        }
        let mv = accuracy(&majority(&obs, items, classes), &truth);
        let model = dawid_skene(&obs, items, crowd.len(), classes, &[], &DsConfig::default());
        let ds = accuracy(&model.estimates(&obs), &truth);
        println!(
            "simulated crowd: majority {mv:.3}, Dawid–Skene {ds:.3} ({} rounds)",
            model.iterations
        );
        assert!(ds > mv + 0.02, "majority {mv}, Dawid–Skene {ds}");
        // It learned who the spammers are: their rows barely depend on the truth.
        let spammer = &model.confusion[15];
        assert!(spammer.iter().all(|row| row[0] > 0.8), "{spammer:?}");
        // Golden items pin their class and do not hurt.
        let known: Vec<(usize, usize)> = (0..40).map(|i| (i, truth[i])).collect();
        let pinned = dawid_skene(
            &obs,
            items,
            crowd.len(),
            classes,
            &known,
            &DsConfig::default(),
        );
        assert!(accuracy(&pinned.estimates(&obs), &truth) >= ds - 0.01);
        assert!(model.iterations <= DsConfig::default().max_iterations);
    }

    #[test]
    fn flags_are_voted_one_by_one() {
        let config = DsConfig::default();
        // Three answers per item over 3 flags; item 0: flag 0 by all, flag 2 by one.
        let answers = vec![
            vec![
                (0, vec![true, false, false]),
                (1, vec![true, false, true]),
                (2, vec![true, false, false]),
            ],
            vec![],
        ];
        let out = aggregate_flags(&answers, 3, 3, &config);
        let (set, confidence) = out[0].clone().unwrap();
        assert_eq!(set, vec![true, false, false]);
        assert!(confidence > 0.5 && confidence <= 1.0);
        assert_eq!(out[1], None);
    }

    #[test]
    fn spans_keep_what_a_majority_marked() {
        let s = |start, end, label: &str| Span {
            start,
            end,
            label: label.into(),
        };
        let answers = vec![
            vec![s(0, 5, "name"), s(10, 12, "place")],
            vec![s(1, 5, "name"), s(3, 4, "name")],
            vec![s(0, 6, "name"), s(10, 40, "place")],
        ];
        let out = aggregate_spans(&answers, 20);
        assert_eq!(out, vec![s(0, 5, "name"), s(10, 12, "place")]);
        assert!(aggregate_spans(&[], 5).is_empty());
    }

    #[test]
    fn trust_needs_evidence_both_ways() {
        let model = TrustModel::for_chance(1.0 / 3.0);
        let fresh = trust(&TrustEvidence::default(), &model);
        assert!((fresh - 0.9).abs() < 1e-9);
        let lucky = trust(
            &TrustEvidence {
                golden_right: 1.0,
                ..Default::default()
            },
            &model,
        );
        assert!(lucky > fresh && lucky < 0.97, "{lucky}");
        let bot = TrustEvidence {
            golden_right: 2.0,
            golden_wrong: 6.0,
            agreed: 3.0,
            disagreed: 7.0,
            ..Default::default()
        };
        assert!(trust(&bot, &model) < 0.05);
        let honest = TrustEvidence {
            golden_right: 6.0,
            golden_wrong: 2.0,
            agreed: 7.0,
            disagreed: 3.0,
            ..Default::default()
        };
        assert!(trust(&honest, &model) > 0.99);
        let hasty = TrustEvidence {
            too_fast: 5.0,
            ..Default::default()
        };
        assert!(trust(&hasty, &model) < 0.5);
    }

    /// A careful contributor's matrix over `k` classes: right with probability `p`.
    fn careful(k: usize, p: f64) -> Vec<Vec<f64>> {
        (0..k)
            .map(|t| {
                (0..k)
                    .map(|a| {
                        if a == t {
                            p
                        } else {
                            (1.0 - p) / (k - 1) as f64
                        }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn leave_one_out_backs_the_majority_and_not_the_odd_one_out() {
        let m = vec![careful(2, 0.9)];
        let prior = vec![vec![0.5, 0.5]];
        let (yes, no) = ([1_usize], [0_usize]);
        let votes = [
            ItemVote {
                confusion: &m,
                answered: Some(&yes),
            },
            ItemVote {
                confusion: &m,
                answered: Some(&yes),
            },
            ItemVote {
                confusion: &m,
                answered: Some(&no),
            },
        ];
        let s = leave_one_out_support(&prior, &votes);
        // Each "yes" is backed by one other "yes" and one "no": they cancel, 0.5.
        assert!((s[0].unwrap() - 0.5).abs() < 1e-9, "{s:?}");
        assert!((s[1].unwrap() - 0.5).abs() < 1e-9, "{s:?}");
        // The "no" faces two "yes": P(no | yes, yes) = 0.1² / (0.1² + 0.9²).
        let expected = 0.01 / (0.01 + 0.81);
        assert!((s[2].unwrap() - expected).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn leave_one_out_ignores_the_answer_itself() {
        let prior = vec![vec![0.5, 0.5]];
        let (good, liar) = (vec![careful(2, 0.9)], vec![careful(2, 0.1)]);
        let (yes, no) = ([1_usize], [0_usize]);
        let with = |mine: &[Vec<Vec<f64>>], answer: &[usize]| {
            let votes = [
                ItemVote {
                    confusion: mine,
                    answered: Some(answer),
                },
                ItemVote {
                    confusion: &good,
                    answered: Some(&yes),
                },
            ];
            leave_one_out_support(&prior, &votes)[0].unwrap()
        };
        // Its own matrix changes nothing; only what the others said does.
        assert_eq!(with(&good, &yes), with(&liar, &yes));
        assert!((with(&good, &yes) - 0.9).abs() < 1e-9);
        assert!((with(&good, &no) - 0.1).abs() < 1e-9);
        // Alone, an answer is backed by the prior only.
        let alone = [ItemVote {
            confusion: &good,
            answered: Some(&yes),
        }];
        assert_eq!(
            leave_one_out_support(&[vec![0.3, 0.7]], &alone),
            vec![Some(0.7)]
        );
    }

    #[test]
    fn leave_one_out_averages_dimensions_and_skips_invalid_answers() {
        let m = vec![careful(2, 0.9), careful(2, 0.9)];
        let prior = vec![vec![0.5, 0.5], vec![0.5, 0.5]];
        let (a, b) = ([1_usize, 1], [1_usize, 0]);
        let votes = [
            ItemVote {
                confusion: &m,
                answered: Some(&a),
            },
            ItemVote {
                confusion: &m,
                answered: Some(&b),
            },
            ItemVote {
                confusion: &m,
                answered: None,
            },
        ];
        let s = leave_one_out_support(&prior, &votes);
        // Agreed on the first flag (0.9), not on the second (0.1): the mean.
        assert!((s[0].unwrap() - 0.5).abs() < 1e-9, "{s:?}");
        assert_eq!(s[2], None);
        // The invalid answer backs nobody: the same as without it.
        let without = leave_one_out_support(&prior, &votes[..2]);
        assert_eq!(&s[..2], &without[..]);
    }
}
