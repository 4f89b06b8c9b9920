//! What the mini-app knows of campaigns and tasks, and how a contributor's choices become the
//! answer the relay checks (`check_answer` in the relay). Pure: no DOM here, so it is tested
//! natively.

use datahub_protocol::answer::{self, Answer, Verdict};
use datahub_protocol::{Kind, UploadRules};
use serde_json::Value as Json;

use super::text::T;

/// A campaign as `GET /v1/campaigns` lists it (the fields the mini-app uses).
#[derive(Clone, Debug)]
pub struct Campaign {
    pub id: String,
    pub kind: Kind,
    pub title: String,
    pub instructions: String,
    pub labels: Vec<String>,
    pub multi_label: bool,
    pub reward: String,
    pub token: String,
    pub open_tasks: i64,
    /// Uploads are sealed to these keys: the requester's, then any validators'.
    pub recipients: Vec<String>,
    pub upload: UploadRules,
    /// The licence every receipt signs (`""`: none stated) and, for `other`, its URL.
    pub licence: String,
    pub licence_url: String,
    /// The terms shown before the first task, and their hash as computed here.
    pub terms: Option<String>,
    pub terms_hash: [u8; 32],
}

fn text(json: &Json, key: &str) -> String {
    json.get(key)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned()
}

impl Campaign {
    /// Reads one entry of the relay's campaign list; `None` for kinds this client does not know,
    /// and for upload rules it cannot read (the relay refuses such campaigns: a relay of
    /// another version), rather than guess at what an upload must be.
    pub fn from_json(json: &Json) -> Option<Self> {
        let kind = Kind::parse(json.get("kind")?.as_str()?)?;
        let labels = json
            .get("labels")
            .and_then(Json::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut recipients = vec![text(json, "encryption_key")];
        if let Some(validators) = json.get("validators").and_then(Json::as_array) {
            recipients.extend(
                validators
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned)),
            );
        }
        Some(Self {
            id: json.get("id")?.as_str()?.to_owned(),
            kind,
            title: text(json, "title"),
            instructions: text(json, "instructions"),
            labels,
            multi_label: json
                .get("multi_label")
                .and_then(Json::as_bool)
                .unwrap_or(false),
            reward: text(json, "reward"),
            token: text(json, "token"),
            open_tasks: json.get("open_tasks").and_then(Json::as_i64).unwrap_or(0),
            recipients,
            upload: UploadRules::parse(kind, json.get("upload")).ok()?,
            licence: text(json, "licence"),
            licence_url: text(json, "licence_url"),
            terms_hash: datahub_core::eth::SubmissionReceipt::terms_hash(
                json.get("terms").and_then(Json::as_str),
            ),
            terms: json.get("terms").and_then(Json::as_str).map(str::to_owned),
        })
    }

    /// Whether answering means choosing among `labels` (so the number keys pick them).
    pub fn choices(&self) -> usize {
        match self.kind {
            Kind::ContentVerification => 3,
            Kind::ImageCategorization | Kind::TextLabeling | Kind::ContentModeration => {
                self.labels.len()
            }
            Kind::ImageUpload | Kind::VoiceRecording => 0,
        }
    }
}

/// A leased task, as `POST /v1/campaigns/{id}/next` answers it.
#[derive(Clone, Debug)]
pub struct Task {
    /// The relay's answer, passed back to `Session.submit` unchanged.
    pub json: Json,
    pub lease: String,
    pub text: Option<String>,
    pub image_url: Option<String>,
    pub claim: Option<String>,
    pub prompt: Option<String>,
    /// `submit_after` in Unix milliseconds.
    pub submit_after_ms: f64,
    /// A pre-annotating model's prediction, shown as a hint.
    pub suggestion: Option<Suggestion>,
}

/// A model's suggestion for the item (`suggestion` of the lease): its label and the model's
/// kind, which names it.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    pub label: String,
    pub kind: String,
}

impl Suggestion {
    /// The relay's `{label, kind, model}`; anything else (or absurdly long) is no suggestion.
    fn from_json(json: &Json) -> Option<Self> {
        let text = |key: &str, max: usize| {
            json.get(key)
                .and_then(Json::as_str)
                .filter(|t| !t.is_empty() && t.len() <= max)
                .map(str::to_owned)
        };
        Some(Self {
            label: text("label", 64)?,
            kind: text("kind", 32)?,
        })
    }
}

impl Task {
    pub fn from_json(json: Json, parse_time: impl Fn(&str) -> Option<f64>) -> Option<Self> {
        let item = json.get("item")?;
        let field = |key: &str| {
            item.get(key)
                .and_then(Json::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        Some(Self {
            lease: json.get("lease")?.as_str()?.to_owned(),
            text: field("text"),
            image_url: field("image_url"),
            claim: field("claim"),
            prompt: field("prompt"),
            submit_after_ms: json
                .get("submit_after")
                .and_then(Json::as_str)
                .and_then(parse_time)
                .unwrap_or(0.0),
            suggestion: json.get("suggestion").and_then(Suggestion::from_json),
            json,
        })
    }
}

/// An item's image URL made absolute: a campaign may name images on the relay by path.
pub fn resolve_url(base: &str, url: &str) -> Option<String> {
    if url.starts_with("https://") || url.starts_with("http://") {
        return Some(url.to_owned());
    }
    let path_only = url.starts_with('/') && !url.starts_with("//") && !url.contains('\\');
    path_only.then(|| format!("{}{url}", base.trim_end_matches('/')))
}

/// A marked span: character offsets (Unicode scalar values, as the relay counts them).
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub label: usize,
}

/// What the contributor has chosen so far on the current task.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    /// Chosen labels (indexes into the campaign's labels); verdicts are 0 true, 1 false,
    /// 2 unsure.
    pub chosen: Vec<usize>,
    pub spans: Vec<Span>,
    /// Words tapped for a new span: the first and, once tapped, the last.
    pub selection: Option<(usize, Option<usize>)>,
}

impl Draft {
    /// A tap on choice `index`: toggles it where several may be chosen, else picks it alone.
    pub fn choose(&mut self, index: usize, several: bool) {
        if several {
            match self.chosen.iter().position(|c| *c == index) {
                Some(at) => {
                    self.chosen.remove(at);
                }
                None => self.chosen.push(index),
            }
        } else {
            self.chosen = vec![index];
        }
    }

    /// A tap on word `index` while marking a span.
    pub fn tap_word(&mut self, index: usize) {
        self.selection = match self.selection {
            Some((first, None)) => Some((first, Some(index))),
            _ => Some((index, None)),
        };
    }

    /// The selected words, first to last, whichever order they were tapped in.
    pub fn selected_words(&self) -> Option<(usize, usize)> {
        let (a, b) = self.selection?;
        let b = b.unwrap_or(a);
        Some((a.min(b), a.max(b)))
    }

    /// Marks the selected words as `label`; replaces spans it overlaps.
    pub fn mark(&mut self, words: &[Word], label: usize) -> bool {
        let Some((first, last)) = self.selected_words() else {
            return false;
        };
        let (Some(a), Some(b)) = (words.get(first), words.get(last)) else {
            return false;
        };
        let span = Span {
            start: a.start,
            end: b.end,
            label,
        };
        self.spans
            .retain(|s| s.end <= span.start || s.start >= span.end);
        self.spans.push(span);
        self.spans.sort_by_key(|s| s.start);
        self.selection = None;
        true
    }
}

/// A word of a text, for marking spans: `start..end` in characters.
#[derive(Clone, Debug, PartialEq)]
pub struct Word {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Cuts a text into what a tap selects: runs of letters and digits, each CJK character on its
/// own (Chinese has no spaces), and each other visible character on its own.
pub fn words(text: &str) -> Vec<Word> {
    let mut out: Vec<Word> = Vec::new();
    let mut run: Option<Word> = None;
    for (i, c) in text.chars().enumerate() {
        let joins = c.is_alphanumeric() && !is_cjk(c) || c == '\'' || c == '’';
        if joins {
            match &mut run {
                Some(word) if word.end == i => {
                    word.end = i + 1;
                    word.text.push(c);
                }
                _ => {
                    out.extend(run.take());
                    run = Some(Word {
                        start: i,
                        end: i + 1,
                        text: c.to_string(),
                    });
                }
            }
            continue;
        }
        out.extend(run.take());
        if !c.is_whitespace() {
            out.push(Word {
                start: i,
                end: i + 1,
                text: c.to_string(),
            });
        }
    }
    out.extend(run);
    out
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF)
}

/// The answer the relay expects for a labeling kind, or what is missing.
pub fn answer(campaign: &Campaign, draft: &Draft) -> Result<Json, T> {
    let labels = |chosen: &[usize]| -> Vec<String> {
        chosen
            .iter()
            .filter_map(|i| campaign.labels.get(*i).cloned())
            .collect()
    };
    let answer = match campaign.kind {
        Kind::ImageCategorization => {
            if draft.chosen.is_empty() {
                return Err(T::PickSomething);
            }
            Answer::Labels {
                labels: labels(&draft.chosen),
            }
        }
        Kind::ContentVerification => Answer::Verdict {
            // The choices are offered in the protocol's order of verdicts.
            verdict: draft
                .chosen
                .first()
                .and_then(|i| Verdict::ALL.get(*i).copied())
                .ok_or(T::PickSomething)?,
        },
        Kind::TextLabeling => {
            let label = draft
                .chosen
                .first()
                .and_then(|i| campaign.labels.get(*i))
                .ok_or(T::PickSomething)?;
            let spans = draft
                .spans
                .iter()
                .filter_map(|s| {
                    Some(answer::Span {
                        start: s.start as u64,
                        end: s.end as u64,
                        label: campaign.labels.get(s.label)?.clone(),
                    })
                })
                .collect();
            Answer::Label {
                label: label.clone(),
                spans,
            }
        }
        Kind::ContentModeration => Answer::Flags {
            flags: labels(&draft.chosen),
        },
        Kind::ImageUpload | Kind::VoiceRecording => return Err(T::PickSomething),
    };
    serde_json::to_value(answer).map_err(|_| T::PickSomething)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use serde_json::json;

    use super::*;

    fn listed(kind: &str, labels: &[&str], multi: bool, upload: Json) -> Json {
        json!({
            "id": "c", "kind": kind, "title": "t", "instructions": "i", "labels": labels,
            "multi_label": multi, "reward": "0.05", "token": "USDT", "open_tasks": 3,
            "encryption_key": "02ab", "validators": ["03cd"], "upload": upload
        })
    }

    fn campaign(kind: &str, labels: &[&str], multi: bool) -> Campaign {
        let upload = match kind {
            "image_upload" => json!({"types": ["image/png"], "min_width": 64}),
            "voice_recording" => json!({"max_seconds": 15}),
            _ => Json::Null,
        };
        Campaign::from_json(&listed(kind, labels, multi, upload)).unwrap()
    }

    #[test]
    fn campaigns_are_read_with_their_rules_and_recipients() {
        use datahub_protocol::ImageType;
        let c = campaign("image_upload", &[], false);
        assert_eq!(c.recipients, ["02ab", "03cd"]);
        assert_eq!(c.upload.types, [ImageType::Png]);
        assert_eq!((c.upload.min_width, c.upload.min_height), (64, 1));
        // What the campaign leaves out is the protocol's default, as the relay documents it.
        assert_eq!(c.upload.max_bytes, datahub_protocol::DEFAULT_MAX_BYTES);
        let voice = campaign("voice_recording", &[], false);
        assert_eq!(
            (voice.upload.min_seconds, voice.upload.max_seconds),
            (1.0, 15.0)
        );
        assert!(Campaign::from_json(&json!({"id": "x", "kind": "unknown"})).is_none());
        // Rules the protocol does not know are a relay of another version: not guessed at.
        let bogus = json!({"min_width": 64, "bogus": 1});
        assert!(Campaign::from_json(&listed("image_upload", &[], false, bogus)).is_none());
    }

    #[test]
    fn a_suggestion_is_read_when_well_formed() {
        let task = |suggestion: Json| {
            let json =
                json!({"lease": "l", "item": {"image_url": "/a.png"}, "suggestion": suggestion});
            Task::from_json(json, |_| None).unwrap().suggestion
        };
        assert_eq!(
            task(json!({"label": "cat", "kind": "classify", "model": "ab"})),
            Some(Suggestion {
                label: "cat".into(),
                kind: "classify".into()
            })
        );
        assert_eq!(task(Json::Null), None);
        assert_eq!(task(json!({"label": "cat"})), None);
        assert_eq!(
            task(json!({"label": "x".repeat(65), "kind": "classify"})),
            None
        );
    }

    #[test]
    fn answers_follow_the_relays_format() {
        let mut d = Draft::default();
        let cat = campaign("image_categorization", &["cat", "dog", "bird"], true);
        assert_eq!(answer(&cat, &d), Err(T::PickSomething));
        d.choose(2, true);
        d.choose(0, true);
        d.choose(2, true);
        d.choose(1, true);
        assert_eq!(answer(&cat, &d).unwrap(), json!({"labels": ["cat", "dog"]}));
        d.choose(2, false);
        assert_eq!(answer(&cat, &d).unwrap(), json!({"labels": ["bird"]}));

        let verify = campaign("content_verification", &[], false);
        assert_eq!(answer(&verify, &d).unwrap(), json!({"verdict": "unsure"}));

        let moderation = campaign("content_moderation", &["spam"], false);
        assert_eq!(
            answer(&moderation, &Draft::default()).unwrap(),
            json!({"flags": []})
        );
    }

    #[test]
    fn spans_are_character_offsets_of_tapped_words() {
        let text = "Ada Lovelace visited 伦敦 today.";
        let w = words(text);
        let texts: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(
            texts,
            ["Ada", "Lovelace", "visited", "伦", "敦", "today", "."]
        );
        let labeling = campaign("text_labeling", &["PERSON", "PLACE"], false);
        let mut d = Draft::default();
        d.tap_word(1);
        d.tap_word(0);
        assert!(d.mark(&w, 0));
        d.tap_word(3);
        d.tap_word(4);
        assert!(d.mark(&w, 1));
        assert_eq!(answer(&labeling, &d), Err(T::PickSomething));
        d.choose(0, false);
        let a = answer(&labeling, &d).unwrap();
        assert_eq!(
            a["spans"],
            json!([{"start": 0, "end": 12, "label": "PERSON"}, {"start": 21, "end": 23, "label": "PLACE"}])
        );
        let chars: Vec<char> = text.chars().collect();
        assert_eq!(chars[21..23].iter().collect::<String>(), "伦敦");
        // A new span over an old one replaces it.
        d.tap_word(1);
        assert!(d.mark(&w, 1));
        assert_eq!(d.spans.len(), 2);
        assert_eq!(
            d.spans[0],
            Span {
                start: 4,
                end: 12,
                label: 1
            }
        );
    }

    #[test]
    fn image_urls_resolve_against_the_relay() {
        let base = "http://127.0.0.1:8080/";
        assert_eq!(
            resolve_url(base, "/demo/a.svg").unwrap(),
            "http://127.0.0.1:8080/demo/a.svg"
        );
        assert_eq!(
            resolve_url(base, "https://x.org/a.png").unwrap(),
            "https://x.org/a.png"
        );
        assert_eq!(resolve_url(base, "//evil.org/a.png"), None);
        assert_eq!(resolve_url(base, "javascript:alert(1)"), None);
    }
}
