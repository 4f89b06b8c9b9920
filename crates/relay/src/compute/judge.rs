//! When a job's results decide it: pure arithmetic over the predictions returned so far.

use datahub_protocol::Prediction;

/// What a job's results come to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// `k` results agree: `agreeing` are their positions, the first one's prediction decides.
    Decided {
        /// The positions of the results that agree with the decision, the first one deciding.
        agreeing: Vec<usize>,
    },
    /// Not decided yet, and results from nodes already asked are still out.
    Wait,
    /// Every node asked answered and no `k` agree: ask one more (fewer than `n` asked).
    AskMore,
    /// `n` nodes answered and no `k` agree: the validators decide.
    Escalate,
}

/// Judges `results` (in the order they came) of a job asking `k` of at most `n` nodes to agree
/// within `tolerance`, `wanted` nodes being asked now. The decision is the earliest result
/// with `k` agreeing (itself included); agreement is [`Prediction::agrees_with`], which is not
/// transitive for scores, so each group is the results agreeing with its first member.
pub fn judge(
    results: &[Prediction],
    k: usize,
    n: usize,
    wanted: usize,
    tolerance: f64,
) -> Judgement {
    for (i, first) in results.iter().enumerate() {
        let agreeing: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(j, other)| *j == i || first.agrees_with(other, tolerance))
            .map(|(j, _)| j)
            .collect();
        if agreeing.len() >= k.max(1) {
            let mut agreeing = agreeing;
            // The decider first.
            agreeing.retain(|j| *j != i);
            agreeing.insert(0, i);
            return Judgement::Decided { agreeing };
        }
    }
    if results.len() < wanted {
        Judgement::Wait
    } else if results.len() < n {
        Judgement::AskMore
    } else {
        Judgement::Escalate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(label: &str, ratio: f64) -> Prediction {
        Prediction {
            label: label.into(),
            scores: [("speech_ratio".to_owned(), ratio)].into_iter().collect(),
        }
    }

    #[test]
    fn k_agreeing_results_decide_and_disagreement_asks_more_then_escalates() {
        let speech = p("speech", 0.6);
        let close = p("speech", 0.605);
        let silence = p("silence", 0.0);
        assert_eq!(
            judge(std::slice::from_ref(&speech), 2, 3, 2, 0.01),
            Judgement::Wait
        );
        assert_eq!(
            judge(&[speech.clone(), close.clone()], 2, 3, 2, 0.01),
            Judgement::Decided {
                agreeing: vec![0, 1]
            }
        );
        assert_eq!(
            judge(&[speech.clone(), silence.clone()], 2, 3, 2, 0.01),
            Judgement::AskMore
        );
        assert_eq!(
            judge(&[speech.clone(), silence.clone(), close], 2, 3, 3, 0.01),
            Judgement::Decided {
                agreeing: vec![0, 2]
            }
        );
        assert_eq!(
            judge(&[speech, silence, p("noise", 0.1)], 2, 3, 3, 0.01),
            Judgement::Escalate
        );
        // Outside the tolerance is a disagreement.
        assert_eq!(
            judge(&[p("speech", 0.6), p("speech", 0.7)], 2, 2, 2, 0.01),
            Judgement::Escalate
        );
    }
}
