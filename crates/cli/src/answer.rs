//! `datahub answer CAMPAIGN`: a contributor in the terminal. Signs in with the key file (a
//! sign-in message granting a fresh session key, as the web app does), then leases one task at
//! a time, shows it as text, reads the answer from standard input, submits it signed by the
//! session key and shows what was credited. How a requester tries its own campaign, and how a
//! script answers tasks without a browser.
//!
//! Answers are typed as the label's number or name (several comma-separated where a campaign
//! takes several), `true` / `false` / `unsure` for verifications; `skip` gives a task back and
//! `quit` (or the end of the input) stops. An upload task is answered with a file's path: the
//! file is checked against the campaign's rules, sealed to the campaign's keys (the requester's
//! and its validators') and uploaded, signed by the key file (its uploader, who is paid), and its
//! object id is the answer.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use datahub_core::eth::{
    Address, CampaignScope, ChainId, Eip712Domain, SessionGrant, SubmissionReceipt, Timestamp,
    TypedStruct as _, U256, keccak256, personal,
};
use datahub_core::{PublicKey, SecretKey};
use datahub_protocol::{Kind, UploadRules};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaign::check_id;
use crate::client::{Relay, now_ms};
use crate::object::RelayArg;
use crate::object::put::{UploadOpts, seal_and_upload};

#[derive(clap::Args)]
pub struct Args {
    /// The campaign's id
    campaign: String,
    /// The contributor's key file (from `datahub keygen`): the wallet that is credited
    #[arg(
        long,
        short = 'k',
        value_name = "FILE",
        env = "DATAHUB_IDENTITY",
        default_value = "datahub.key"
    )]
    key: PathBuf,
    #[command(flatten)]
    relay: RelayArg,
    /// Stop after this many answers
    #[arg(long, value_name = "N")]
    max: Option<u64>,
    #[command(flatten)]
    upload: UploadOpts,
}

/// How long a session this command asks for lasts.
const SESSION_MS: i64 = 3_600_000;

pub async fn run(args: Args) -> Result<()> {
    check_id(&args.campaign)?;
    let wallet = crate::keygen::load_as(&args.key, crate::keygen::Role::Yours("--key"))?;
    let relay = Relay::new(&args.relay.relay)?;
    let summary = relay
        .campaign(&args.campaign)
        .await
        .with_context(|| format!("cannot answer campaign {}", args.campaign))?;
    let form = Form::of(&summary)?;
    let chain = summary
        .get("chains")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(Value::as_u64)
        .context("the campaign names no chain")?;
    let mut session = Session::sign_in(&relay, &wallet, &args.campaign, chain).await?;
    println!(
        "answering {} as {} ({}); type `skip` to pass a task, `quit` to stop",
        args.campaign,
        wallet.address().to_checksum(),
        args.key.display()
    );
    let text = |field: &str| summary.get(field).and_then(Value::as_str).unwrap_or("");
    println!("{}\n{}", text("title"), text("instructions"));
    let mut stdin = std::io::stdin().lock();
    session.consent = Consent::of(&summary);
    if !session.consent.accept(&mut stdin)? {
        println!("stopped: the terms were not accepted (nothing answered)");
        return Ok(());
    }
    let mut answered = 0u64;
    while args.max.is_none_or(|max| answered < max) {
        let task = match session.next(&args.campaign).await? {
            Some(task) => task,
            None => break,
        };
        print!("{}", form.show(&task, relay.base()));
        let answer = loop {
            let line = read_line(&mut stdin)?;
            match line.as_deref() {
                // The task is given back at once, not held until its lease ends.
                None | Some("quit" | "q") => {
                    session.skip(&task).await?;
                    println!("stopped ({answered} answered)");
                    return Ok(());
                }
                Some("skip" | "s") => break None,
                Some(line) if form.upload.is_some() => {
                    match upload_answer(&form, &relay, &wallet, line, &args.upload).await {
                        Ok(answer) => break Some(answer),
                        Err(e) => println!("{e:#}; try again"),
                    }
                }
                Some(line) => match form.parse(line) {
                    Ok(answer) => break Some(answer),
                    Err(e) => println!("{e:#}; try again"),
                },
            }
        };
        let Some(answer) = answer else {
            session.skip(&task).await?;
            println!("skipped");
            continue;
        };
        wait_until_allowed(&task).await;
        let outcome = session.submit(&args.campaign, &task, &answer).await?;
        answered += 1;
        let field = |f: &str| outcome.get(f).and_then(Value::as_str).unwrap_or("?");
        println!(
            "{}: credited {} {}, your balance {} {}",
            field("status"),
            field("credited"),
            field("token"),
            field("balance"),
            field("token"),
        );
    }
    println!(
        "no task left for you in {} ({answered} answered)",
        args.campaign
    );
    Ok(())
}

/// An upload task's answer: the file at `path` checked against the campaign's rules (as the web
/// app checks it before sealing: a file its validators would reject is not uploaded), sealed to
/// its keys and uploaded by `wallet`.
async fn upload_answer(
    form: &Form,
    relay: &Relay,
    wallet: &SecretKey,
    path: &str,
    opts: &UploadOpts,
) -> Result<Value> {
    let Some(upload) = &form.upload else {
        bail!("this campaign does not take files");
    };
    let path = Path::new(path);
    upload.check(path)?;
    let id = seal_and_upload(
        relay,
        Arc::new(wallet.clone()),
        path,
        upload.recipients.clone(),
        opts,
    )
    .await?;
    println!("uploaded {} as object {id}", path.display());
    // Picked from a file, whatever made it: the CLI captures nothing itself.
    Ok(json!({ "object": id.to_string(), "capture": "file" }))
}

/// The next line of input, trimmed; `None` at the end.
fn read_line(input: &mut impl std::io::BufRead) -> Result<Option<String>> {
    print!("> ");
    std::io::Write::flush(&mut std::io::stdout()).context("cannot write to the terminal")?;
    let mut line = String::new();
    if input
        .read_line(&mut line)
        .context("cannot read the answer")?
        == 0
    {
        println!();
        return Ok(None);
    }
    Ok(Some(line.trim().to_owned()))
}

/// Campaigns ask for a minimum time per task; an earlier answer would count as too fast.
async fn wait_until_allowed(task: &Value) {
    let after = task
        .get("submit_after")
        .and_then(Value::as_str)
        .and_then(|t| Timestamp::parse_rfc3339(t).ok());
    if let Some(after) = after {
        let wait = after.unix_millis().saturating_sub(now_ms());
        if wait > 0 {
            let wait = u64::try_from(wait).unwrap_or(0).min(3_600_000);
            println!(
                "waiting {:.1} s: the campaign asks for at least that long per task",
                wait as f64 / 1000.0
            );
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}

/// What answers look like for a campaign's kind.
#[derive(Debug)]
pub struct Form {
    kind: String,
    labels: Vec<String>,
    multi: bool,
    /// Upload campaigns: what a file must be, and whom it is sealed to.
    upload: Option<UploadForm>,
}

/// An upload campaign's side of the form.
#[derive(Debug)]
struct UploadForm {
    kind: Kind,
    rules: UploadRules,
    /// The campaign's `encryption_key`, then its validators' keys (as the web app seals).
    recipients: Vec<PublicKey>,
}

impl UploadForm {
    fn of(kind: Kind, summary: &Value) -> Result<Self> {
        let rules = UploadRules::parse(kind, summary.get("upload"))
            .map_err(|e| anyhow::anyhow!("the campaign's upload rules: {e}"))?;
        let mut recipients = vec![
            summary
                .get("encryption_key")
                .and_then(Value::as_str)
                .context("the campaign has no encryption_key to seal uploads to")?,
        ];
        recipients.extend(
            summary
                .get("validators")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
        let recipients = recipients
            .into_iter()
            .map(|key| {
                crate::keygen::parse_public_key(key)
                    .with_context(|| format!("the campaign's key {key:?}"))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            kind,
            rules,
            recipients,
        })
    }

    /// What to type, for the task's text.
    fn prompt(&self) -> String {
        let rules = &self.rules;
        match self.kind {
            Kind::VoiceRecording => format!(
                "answer with the path of a WAV recording of {} to {} seconds\n",
                rules.min_seconds, rules.max_seconds
            ),
            _ => {
                let types: Vec<&str> = rules.types.iter().map(|t| t.mime()).collect();
                format!(
                    "answer with the path of an image ({}), at least {}x{} pixels, at most {} bytes\n",
                    types.join(", "),
                    rules.min_width,
                    rules.min_height,
                    rules.max_bytes
                )
            }
        }
    }

    /// The file's verdict under the campaign's rules, before anything is sealed or sent.
    fn check(&self, path: &Path) -> Result<()> {
        let size = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        let limit = datahub_protocol::MAX_UPLOAD_BYTES;
        if size > limit {
            bail!(
                "{} is {size} bytes, over the {limit} an upload may be",
                path.display()
            );
        }
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let report = match self.kind {
            Kind::VoiceRecording => crate::validate::checks::check_audio(&bytes, &self.rules),
            _ => crate::validate::checks::check_image(&bytes, &self.rules, &[]),
        };
        if !report.accept() {
            bail!(
                "{} does not meet the campaign's rules: {}",
                path.display(),
                report.reasons.join("; ")
            );
        }
        Ok(())
    }
}

impl Form {
    /// The form of the campaign `summary`.
    pub fn of(summary: &Value) -> Result<Self> {
        let kind = summary
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let upload = match kind.as_str() {
            "image_upload" => Some(UploadForm::of(Kind::ImageUpload, summary)?),
            "voice_recording" => Some(UploadForm::of(Kind::VoiceRecording, summary)?),
            _ => None,
        };
        let labels = summary
            .get("labels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        let multi = kind == "content_moderation"
            || summary.get("multi_label").and_then(Value::as_bool) == Some(true);
        Ok(Self {
            kind,
            labels,
            multi,
            upload,
        })
    }

    /// A task as text: the item's fields, then the choices.
    pub fn show(&self, task: &Value, base: &reqwest::Url) -> String {
        let mut out = String::from("\ntask\n");
        if let Some(item) = task.get("item").and_then(Value::as_object) {
            for (name, value) in item {
                let value = match value.as_str() {
                    // Pictures on the relay are given as paths: a full URL opens in a browser.
                    Some(url) if name.ends_with("_url") => base
                        .join(url.trim_start_matches('/'))
                        .map_or_else(|_| url.to_owned(), |u| u.to_string()),
                    Some(text) => text.to_owned(),
                    None => value.to_string(),
                };
                out.push_str(&format!("  {name}: {value}\n"));
            }
        }
        if let Some(upload) = &self.upload {
            out.push_str(&upload.prompt());
            return out;
        }
        if self.kind == "content_verification" {
            out.push_str("answer true, false or unsure\n");
            return out;
        }
        for (i, label) in self.labels.iter().enumerate() {
            out.push_str(&format!("  {}. {label}\n", i + 1));
        }
        out.push_str(match (self.kind.as_str(), self.multi) {
            ("content_moderation", _) => {
                "answer the numbers or names that apply, comma-separated (`none` if none)\n"
            }
            (_, true) => "answer one or more numbers or names, comma-separated\n",
            _ => "answer a number or a name\n",
        });
        out
    }

    /// The answer JSON for a typed line, or what is wrong with it.
    pub fn parse(&self, line: &str) -> Result<Value> {
        if self.kind == "content_verification" {
            let verdict = line.to_ascii_lowercase();
            if !["true", "false", "unsure"].contains(&verdict.as_str()) {
                bail!("{line:?} is not a verdict: answer true, false or unsure");
            }
            return Ok(json!({ "verdict": verdict }));
        }
        let mut chosen: Vec<String> = Vec::new();
        let none = self.kind == "content_moderation" && line.eq_ignore_ascii_case("none");
        if !none {
            for part in line.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let label = self.label(part)?;
                if !chosen.contains(&label) {
                    chosen.push(label);
                }
            }
        }
        match self.kind.as_str() {
            "content_moderation" => Ok(json!({ "flags": chosen })),
            _ if chosen.is_empty() => {
                bail!("give a label: a number from 1 to {}", self.labels.len())
            }
            _ if !self.multi && chosen.len() > 1 => {
                bail!("this campaign takes one label, not {}", chosen.len())
            }
            "text_labeling" => Ok(json!({ "label": chosen[..].first() })),
            _ => Ok(json!({ "labels": chosen })),
        }
    }

    /// A label by its number (from 1) or its name.
    fn label(&self, text: &str) -> Result<String> {
        if let Ok(n) = text.parse::<usize>() {
            return n
                .checked_sub(1)
                .and_then(|i| self.labels.get(i))
                .cloned()
                .with_context(|| format!("{n} is not a choice: give 1 to {}", self.labels.len()));
        }
        self.labels
            .iter()
            .find(|l| l.eq_ignore_ascii_case(text))
            .cloned()
            .with_context(|| format!("{text:?} is not one of the labels {:?}", self.labels))
    }
}

/// What every receipt of this campaign signs besides the answer: its licence and the hash of
/// its terms as printed here.
#[derive(Default)]
struct Consent {
    licence: String,
    licence_url: String,
    terms: Option<String>,
}

impl Consent {
    fn of(summary: &Value) -> Self {
        let text = |f: &str| summary.get(f).and_then(Value::as_str).map(str::to_owned);
        Self {
            licence: text("licence").unwrap_or_default(),
            licence_url: text("licence_url").unwrap_or_default(),
            terms: text("terms"),
        }
    }

    fn terms_hash(&self) -> [u8; 32] {
        SubmissionReceipt::terms_hash(self.terms.as_deref())
    }

    /// Prints the terms and asks for `accept`; true at once for a campaign without terms.
    fn accept(&self, input: &mut impl std::io::BufRead) -> Result<bool> {
        let Some(terms) = &self.terms else {
            return Ok(true);
        };
        let licence = match (self.licence.as_str(), self.licence_url.as_str()) {
            ("", _) => "none stated".to_owned(),
            (id, "") => id.to_owned(),
            (id, url) => format!("{id} ({url})"),
        };
        println!(
            "\nthe campaign's terms (licence: {licence}; terms hash 0x{}):\n{terms}\n\ntype `accept` to sign your answers under these terms, anything else to stop",
            hex::encode(self.terms_hash())
        );
        Ok(read_line(input)?.is_some_and(|l| l.eq_ignore_ascii_case("accept")))
    }
}

/// A signed-in contributor: the session's bearer token and the key that signs receipts.
struct Session {
    consent: Consent,
    relay: Relay,
    http: reqwest::Client,
    token: String,
    session_key: SecretKey,
    domain: Eip712Domain,
    nonce: u64,
}

impl Session {
    /// Signs `wallet` in for `campaign`, granting a fresh session key for an hour.
    async fn sign_in(
        relay: &Relay,
        wallet: &SecretKey,
        campaign: &str,
        chain: u64,
    ) -> Result<Self> {
        let http = relay.http().clone();
        let nonce = post(relay, &http, None, "v1/auth/nonce", &json!({})).await?;
        let domain = nonce
            .get("domains")
            .and_then(Value::as_array)
            .and_then(|d| d.first())
            .and_then(Value::as_str)
            .context("the relay's sign-in nonce names no domain")?
            .to_owned();
        let nonce = nonce
            .get("nonce")
            .and_then(Value::as_str)
            .context("the relay's sign-in answer has no nonce")?;
        let mut entropy = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(entropy.as_mut_slice())
            .map_err(|e| anyhow::anyhow!("the operating system's random generator failed: {e}"))?;
        let session_key = SecretKey::derive(&entropy);
        let now = Timestamp::from_unix_millis(now_ms());
        let grant = SessionGrant {
            key: session_key.public_key().address(),
            expires: Timestamp::from_unix_millis(now.unix_millis() + SESSION_MS),
            campaigns: CampaignScope::Only(vec![campaign.to_owned()]),
            reward_cap: U256::from_u64(u64::MAX),
        };
        let message = grant
            .siwe_message(
                wallet.public_key().address(),
                &domain,
                &format!("http://{domain}/"),
                ChainId(chain),
                nonce,
                now,
                Some("Sign in to DataHub to answer tasks from the command line"),
            )
            .to_string();
        let signature = personal::sign_message(wallet, message.as_bytes());
        let body = json!({ "message": message, "signature": signature.to_hex() });
        let session = post(relay, &http, None, "v1/auth/session", &body)
            .await
            .context("the relay refused the sign-in")?;
        let token = session
            .get("token")
            .and_then(Value::as_str)
            .context("the relay's session has no token")?
            .to_owned();
        let info = relay.info().await?;
        let contract = info
            .get("chains")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c.get("id").and_then(Value::as_u64) == Some(chain))
            .and_then(|c| c.get("claim_contract"))
            .and_then(Value::as_str)
            .with_context(|| format!("the relay does not pay on chain {chain}"))?;
        let verifying_contract = Address::parse(contract)
            .map_err(|e| anyhow::anyhow!("the relay's claim contract {contract:?}: {e}"))?;
        Ok(Self {
            consent: Consent::default(),
            relay: relay.clone(),
            http,
            token,
            session_key,
            domain: Eip712Domain {
                name: "DataHub".into(),
                version: "1".into(),
                chain_id: ChainId(chain),
                verifying_contract,
            },
            nonce: 0,
        })
    }

    /// The next task, or `None` when none is left for this contributor.
    async fn next(&self, campaign: &str) -> Result<Option<Value>> {
        let path = format!("v1/campaigns/{campaign}/next");
        match post(
            &self.relay,
            &self.http,
            Some(&self.token),
            &path,
            &json!({}),
        )
        .await
        {
            Ok(task) => Ok(Some(task)),
            Err(e) => match e.downcast_ref::<crate::client::ApiFailure>() {
                Some(f) if f.status == StatusCode::NOT_FOUND && f.code == "no_task" => Ok(None),
                Some(f) if f.code == "budget_spent" || f.code == "campaign_closed" => {
                    println!("{f}");
                    Ok(None)
                }
                _ => Err(e.context(format!("cannot get a task of {campaign}"))),
            },
        }
    }

    async fn skip(&self, task: &Value) -> Result<()> {
        let lease = task.get("lease").and_then(Value::as_str).unwrap_or("");
        let path = format!("v1/leases/{lease}/skip");
        post(
            &self.relay,
            &self.http,
            Some(&self.token),
            &path,
            &json!({}),
        )
        .await
        .map(drop)
        .context("cannot give the task back")
    }

    async fn submit(&mut self, campaign: &str, task: &Value, answer: &Value) -> Result<Value> {
        let lease = task
            .get("lease")
            .and_then(Value::as_str)
            .context("the relay's task has no lease")?;
        self.nonce += 1;
        // An upload's receipt names its object, so the signature covers what was uploaded.
        let manifest_id = match answer.get("object").and_then(Value::as_str) {
            Some(object) => crate::client::parse_object_id(object)?.0,
            None => [0; 32],
        };
        let answer = answer.to_string();
        let deadline = u64::try_from(now_ms() / 1000 + 600).unwrap_or(0);
        let receipt = SubmissionReceipt {
            campaign: campaign.to_owned(),
            task: lease.to_owned(),
            answer_hash: keccak256(answer.as_bytes()),
            manifest_id,
            nonce: U256::from_u64(self.nonce),
            deadline,
            licence: self.consent.licence.clone(),
            terms_hash: self.consent.terms_hash(),
        };
        let signature = receipt.sign(&self.session_key, &self.domain);
        let manifest = (manifest_id != [0; 32]).then(|| hex::encode(manifest_id));
        let body = json!({
            "campaign": campaign, "task": lease, "answer": answer, "manifest_id": manifest,
            "nonce": self.nonce.to_string(), "deadline": deadline, "signature": signature.to_hex(),
            "licence": receipt.licence, "terms_hash": hex::encode(receipt.terms_hash),
        });
        post(
            &self.relay,
            &self.http,
            Some(&self.token),
            "v1/submissions",
            &body,
        )
        .await
        .context("the relay refused the answer")
    }
}

/// `POST path` with a JSON body (and a session's bearer token); the JSON answer, or the
/// relay's error as an [`crate::client::ApiFailure`].
async fn post(
    relay: &Relay,
    http: &reqwest::Client,
    token: Option<&str>,
    path: &str,
    body: &Value,
) -> Result<Value> {
    let url = relay
        .base()
        .join(path)
        .with_context(|| format!("cannot build a URL from {} and {path}", relay.base()))?;
    let mut request = http.post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.with_context(|| {
        format!(
            "cannot reach the relay at {}: is it running (`datahub dev`)? pass another with --relay",
            relay.base()
        )
    })?;
    let body = crate::client::checked(response).await?;
    serde_json::from_slice(&body)
        .with_context(|| format!("the relay's answer to {path} is not JSON"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn form(kind: &str, multi: bool) -> Form {
        Form::of(&json!({"kind": kind, "labels": ["cat", "dog"], "multi_label": multi})).unwrap()
    }

    #[test]
    fn typed_answers_become_the_relays_shapes() {
        let one = form("image_categorization", false);
        assert_eq!(one.parse("2").unwrap(), json!({"labels": ["dog"]}));
        assert_eq!(one.parse("Cat").unwrap(), json!({"labels": ["cat"]}));
        assert_eq!(
            one.parse("1,2").unwrap_err().to_string(),
            "this campaign takes one label, not 2"
        );
        assert_eq!(
            one.parse("3").unwrap_err().to_string(),
            "3 is not a choice: give 1 to 2"
        );
        assert_eq!(
            one.parse("bird").unwrap_err().to_string(),
            "\"bird\" is not one of the labels [\"cat\", \"dog\"]"
        );
        let many = form("image_categorization", true);
        assert_eq!(
            many.parse("1, dog").unwrap(),
            json!({"labels": ["cat", "dog"]})
        );
        assert_eq!(
            form("text_labeling", false).parse("cat").unwrap(),
            json!({"label": "cat"})
        );
        let flags = form("content_moderation", false);
        assert_eq!(flags.parse("none").unwrap(), json!({"flags": []}));
        assert_eq!(
            flags.parse("1,2").unwrap(),
            json!({"flags": ["cat", "dog"]})
        );
        let verdict = form("content_verification", false);
        assert_eq!(verdict.parse("TRUE").unwrap(), json!({"verdict": "true"}));
        assert_eq!(
            verdict.parse("yes").unwrap_err().to_string(),
            "\"yes\" is not a verdict: answer true, false or unsure"
        );
        assert_eq!(
            Form::of(&json!({"kind": "voice_recording"}))
                .unwrap_err()
                .to_string(),
            "the campaign has no encryption_key to seal uploads to"
        );
    }

    #[test]
    fn upload_tasks_take_a_file_that_meets_the_rules() {
        use crate::validate::checks::tests as synth;
        let requester = SecretKey::derive(&[1; 32]).public_key();
        let summary = json!({
            "kind": "image_upload",
            "encryption_key": hex::encode(requester.to_compressed()),
            "upload": {"types": ["image/png"], "min_width": 32, "min_height": 32},
        });
        let form = Form::of(&summary).unwrap();
        let upload = form.upload.as_ref().unwrap();
        assert_eq!(upload.recipients, vec![requester]);
        let shown = form.show(&json!({"item": {}}), &"http://relay/".parse().unwrap());
        assert!(
            shown.ends_with("answer with the path of an image (image/png), at least 32x32 pixels, at most 20971520 bytes\n"),
            "{shown}"
        );
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("ok.png");
        let picture = synth::picture(1, 48, 48);
        std::fs::write(&png, synth::encode(&picture, image::ImageFormat::Png)).unwrap();
        upload.check(&png).unwrap();
        let small = dir.path().join("small.png");
        let picture = synth::picture(1, 16, 16);
        std::fs::write(&small, synth::encode(&picture, image::ImageFormat::Png)).unwrap();
        let e = upload.check(&small).unwrap_err().to_string();
        assert!(e.contains("does not meet the campaign's rules"), "{e}");
        let jpeg = dir.path().join("photo.jpg");
        let picture = synth::picture(1, 48, 48);
        std::fs::write(&jpeg, synth::encode(&picture, image::ImageFormat::Jpeg)).unwrap();
        let e = upload.check(&jpeg).unwrap_err().to_string();
        assert!(e.contains("not among the campaign's types"), "{e}");
        let missing = upload.check(&dir.path().join("nothing.png")).unwrap_err();
        assert!(missing.to_string().starts_with("cannot read"), "{missing}");
    }
}
