//! `datahub validate`: a validator of uploads. It asks the relay for a job of a campaign that
//! names its key (`POST /v1/validation/jobs/next`), fetches the sealed object through the relay
//! exactly as `datahub object get` does, opens it with its key (uploads to such campaigns are
//! sealed to their validators as well as to the requester), checks it ([`checks`]) and signs a
//! verdict (`POST /v1/validation/jobs/{id}/verdict`). The perceptual hashes of the images it
//! accepted are kept per campaign in `--data DIR/<campaign>.dhash`, one hex hash a line, so
//! near-duplicates are caught across restarts.

pub mod checks;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use datahub_core::OpenError;
use datahub_protocol::{Kind, UploadRules};
use serde_json::{Value, json};

use crate::client::{SendError, parse_object_id};
use crate::worker::{self, QueueArgs, Worker};

/// `value[key]`, or `null` (the same as serde_json's indexing, without the indexing lint).
fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    value.get(key).unwrap_or(&Value::Null)
}
use crate::object::{DEFAULT_RELAY, get};

#[derive(clap::Args)]
pub struct Args {
    /// The relay's URL
    #[arg(long, value_name = "URL", env = "DATAHUB_RELAY", default_value = DEFAULT_RELAY)]
    relay: String,
    /// The validator's key file (its public key is what campaigns list in `validators`)
    #[arg(long, value_name = "FILE", env = "DATAHUB_VALIDATOR_KEY")]
    key: PathBuf,
    /// Where to keep the hashes of accepted images (near-duplicate checks)
    #[arg(long, value_name = "DIR", default_value = "datahub-validator")]
    data: PathBuf,
    #[command(flatten)]
    queue: QueueArgs,
}

pub async fn run(args: Args) -> Result<()> {
    let worker = Worker::connect(&args.relay, &args.key).await?;
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create {}", args.data.display()))?;
    eprintln!(
        "validator {} ({}) taking jobs from {}",
        worker.key.public_key().address(),
        hex::encode(worker.key.public_key().to_compressed()),
        worker.relay.base()
    );
    let validator = Validator {
        worker,
        data: args.data,
        max_object_bytes: args.queue.max_object_bytes,
    };
    let polling = args.queue.polling(
        "v1/validation/jobs/next",
        false,
        "it returns to the queue when its lease ends",
    );
    let (mut accepted, mut rejected) = (0u64, 0u64);
    worker::each_job(
        &validator.worker,
        &polling,
        |job| validator.handle(job),
        |accept| {
            if accept {
                accepted += 1;
            } else {
                rejected += 1;
            }
        },
    )
    .await;
    eprintln!("no job waiting: {accepted} accepted, {rejected} rejected");
    Ok(())
}

struct Validator {
    worker: Worker,
    data: PathBuf,
    max_object_bytes: u64,
}

impl Validator {
    /// Checks the job's upload and sends the verdict; whether it was accepted.
    async fn handle(&self, job: Value) -> Result<bool> {
        let text = |name: &str| {
            field(&job, name)
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("the relay's job has no {name}"))
        };
        let (id, campaign, object, kind) = (
            text("job")?,
            text("campaign")?,
            text("object")?,
            text("kind")?,
        );
        let object_id = parse_object_id(&object)?;
        if !campaign
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            bail!("the relay's job names an odd campaign id {campaign:?}");
        }
        let hashes = self.data.join(format!("{campaign}.dhash"));
        let Some(kind) = Kind::parse(&kind).filter(|k| k.is_upload()) else {
            bail!("jobs of {kind} campaigns are not something this validator checks");
        };
        let report = match UploadRules::parse(kind, job.get("upload")) {
            Err(e) => bail!("campaign {campaign}: {e}"),
            Ok(rules) => {
                let opened = get::open_in_memory(
                    &self.worker.relay,
                    object_id,
                    self.worker.key.clone(),
                    self.max_object_bytes,
                )
                .await;
                match opened {
                    Ok(bytes) => match kind {
                        Kind::ImageUpload => checks::check_image(&bytes, &rules, &load_hashes(&hashes)?),
                        _ => checks::check_audio(&bytes, &rules),
                    },
                    Err(e) if matches!(e.downcast_ref::<OpenError>(), Some(OpenError::DecryptionFailed)) => checks::Report {
                        reasons: vec![
                            "cannot open the object: it is not sealed to this validator (or it was altered)".into(),
                        ],
                        ..checks::Report::default()
                    },
                    Err(e) if e.downcast_ref::<get::TooLarge>().is_some() => checks::Report {
                        reasons: vec![e.to_string()],
                        ..checks::Report::default()
                    },
                    Err(e) => return Err(e),
                }
            }
        };
        let accept = report.accept();
        let verdict = json!({
            "object": object,
            "accept": accept,
            "reasons": report.reasons,
            "checks": Value::Object(report.checks.clone()),
        });
        let path = format!("v1/validation/jobs/{id}/verdict");
        let mut tries = 0;
        let answer = loop {
            match self.worker.post(&path, &verdict).await {
                Err(e) if e.retryable() && tries < 5 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(500 << tries)).await;
                }
                other => break other.map_err(SendError::into_anyhow)?,
            }
        };
        let settled: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        if accept && let Some(hash) = report.dhash {
            remember_hash(&hashes, hash)?;
        }
        let status = field(&settled, "status").as_str().unwrap_or("?");
        if accept {
            println!(
                "job {id} campaign {campaign} object {object}: accepted (submission {status})"
            );
        } else {
            println!(
                "job {id} campaign {campaign} object {object}: rejected: {} (submission {status})",
                report.reasons.join("; ")
            );
        }
        Ok(accept)
    }
}

fn load_hashes(path: &Path) -> Result<Vec<u64>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot read {}", path.display())));
        }
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            u64::from_str_radix(l.trim(), 16)
                .with_context(|| format!("{} has a line that is not a hash: {l:?}", path.display()))
        })
        .collect()
}

fn remember_hash(path: &Path, hash: u64) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{hash:016x}").with_context(|| format!("cannot write {}", path.display()))
}
