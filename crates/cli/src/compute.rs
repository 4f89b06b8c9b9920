//! `datahub compute`: a compute node (docs/relay.md §4d). It registers the models it runs
//! (`POST /v1/compute/register`), leases jobs for them (`POST /v1/compute/jobs/next`), opens
//! each object with its key through the relay exactly as `datahub object get` does, runs the
//! job's model on it and signs the prediction (`POST /v1/compute/jobs/{id}/result`).
//!
//! The models are the rule models of `datahub_compute::rules` and the ONNX models of
//! `datahub_compute::load_models` (magika's `filetype`, Silero's `vad`) from `--models`, each
//! checked against its pinned BLAKE3 before it is used. Opening (docs/relay.md §4d, "Opening
//! uploads"): an object sealed to the node's key opens with it; any other waits for the
//! requester's grant (the file key wrapped to the node's key, registered as `key`), which the
//! relay hands over with the job once the requester posted it (`datahub campaign grant`).
//! Until then the node asks for its job again every `--poll-secs`; a grant that does not open
//! the object is reported and the job given back (`POST /v1/compute/jobs/{id}/release`), so
//! another node gets it at once.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use datahub_compute::Model;
use datahub_core::OpenError;
use datahub_core::header::Grant;
use serde_json::{Value, json};

use crate::client::{SendError, parse_object_id};
use crate::object::{DEFAULT_RELAY, get};
use crate::worker::{self, QueueArgs, Worker};

#[derive(clap::Args)]
pub struct Args {
    /// The relay's URL
    #[arg(long, value_name = "URL", env = "DATAHUB_RELAY", default_value = DEFAULT_RELAY)]
    relay: String,
    /// The node's key file (its address is what the operator admits)
    #[arg(long, value_name = "FILE", env = "DATAHUB_COMPUTE_KEY")]
    key: PathBuf,
    /// The wallet its fees are paid to (default: the node's own address)
    #[arg(long, value_name = "ADDRESS")]
    payout: Option<String>,
    #[command(flatten)]
    queue: QueueArgs,
    /// Where the ONNX models are (`cargo xtask setup` puts them in the checkout's target/models)
    /// [default: $DATAHUB_MODELS_DIR, else the checkout's target/models]
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// Run the rule models only (no ONNX models)
    #[arg(long, conflicts_with = "models")]
    rules_only: bool,
}

pub async fn run(args: Args) -> Result<()> {
    let mut models = datahub_compute::rules::rule_models();
    if !args.rules_only {
        let dir = args
            .models
            .clone()
            .unwrap_or_else(datahub_compute::default_models_dir);
        // Loading parses the networks: a fraction of a second, off the async threads.
        let loaded = tokio::task::spawn_blocking(move || datahub_compute::load_models(&dir))
            .await
            .context("loading the models stopped")?
            .map_err(|e| anyhow::anyhow!("{e} (or pass --rules-only to run without them)"))?;
        models.extend(loaded);
    }
    run_node(args, models).await
}

/// Runs a compute node with `models` until idle (`--until-idle`) or forever.
pub async fn run_node(args: Args, models: Vec<Box<dyn Model>>) -> Result<()> {
    if models.is_empty() {
        bail!("a compute node needs at least one model");
    }
    let worker = Worker::connect(&args.relay, &args.key).await?;
    let capabilities: Vec<_> = models.iter().map(|m| m.capability()).collect();
    // `key` is what requesters wrap file keys to: without it the node opens only objects
    // sealed to it.
    let key = hex::encode(worker.key.public_key().to_compressed());
    let registration = match &args.payout {
        Some(payout) => json!({ "capabilities": capabilities, "payout": payout, "key": key }),
        None => json!({ "capabilities": capabilities, "key": key }),
    };
    worker
        .post("v1/compute/register", &registration)
        .await
        .map_err(SendError::into_anyhow)
        .context("registering with the relay")?;
    // `datahub dev` waits for this line on standard output, as for its other children.
    println!(
        "datahub-compute registered on {} address {} models {}",
        args.relay,
        worker.key.public_key().address().to_checksum(),
        models.len()
    );
    for model in &models {
        eprintln!(
            "compute node {}: {} ({}) {}",
            worker.key.public_key().address(),
            model.name(),
            model.kind(),
            hex::encode(model.hash())
        );
    }
    let polling = args.queue.polling(
        "v1/compute/jobs/next",
        true,
        "it goes to another node when its lease ends",
    );
    let node = Node {
        worker,
        models,
        max_object_bytes: args.queue.max_object_bytes,
        pause: polling.pause,
        not_sealed_to_me: Mutex::new(HashSet::new()),
        bad_grants: Mutex::new(HashSet::new()),
    };
    let mut done = 0u64;
    worker::each_job(
        &node.worker,
        &polling,
        |job| node.handle(job),
        |sent| done += u64::from(sent),
    )
    .await;
    eprintln!("no job waiting: {done} results sent");
    Ok(())
}

struct Node {
    worker: Worker,
    models: Vec<Box<dyn Model>>,
    max_object_bytes: u64,
    /// How long to wait for a grant before asking for the job again.
    pause: Duration,
    /// Jobs whose object is not sealed to this node's key: they wait for a grant (their header
    /// is read once).
    not_sealed_to_me: Mutex<HashSet<String>>,
    /// Jobs whose grant did not open their object: left to run out without fetching it again.
    bad_grants: Mutex<HashSet<String>>,
}

impl Node {
    /// Opens the job's object, runs its model and sends the signed prediction: true once sent,
    /// false while the job waits for its grant.
    async fn handle(&self, job: Value) -> Result<bool> {
        let text = |field: &str| {
            job.get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("the relay's job has no {field}"))
        };
        let (id, object, wanted) = (text("job")?, text("object")?, text("model")?);
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("the relay's job has an odd id {id:?}");
        }
        let model = self
            .models
            .iter()
            .find(|m| hex::encode(m.hash()) == wanted)
            .with_context(|| {
                format!("the relay leased a job for model {wanted}, which this node does not run")
            })?;
        let object_id = parse_object_id(&object)?;
        let grant = match job.get("grant").and_then(Value::as_str) {
            Some(text) => Some(
                hex::decode(text)
                    .ok()
                    .and_then(|bytes| Grant::parse(&bytes).ok())
                    .with_context(|| format!("the relay's grant for job {id} is malformed"))?,
            ),
            None => None,
        };
        if grant.is_none() && !self.sealed_to_me(&id, object_id).await? {
            eprintln!("job {id}: waiting for the requester's grant");
            tokio::time::sleep(self.pause).await;
            return Ok(false);
        }
        let granted = grant.is_some();
        if granted && self.bad_grants.lock().is_ok_and(|set| set.contains(&id)) {
            // Said once already; the relay hands the job back until its lease runs out.
            tokio::time::sleep(self.pause).await;
            return Ok(false);
        }
        let opened = get::open_granted(
            &self.worker.relay,
            object_id,
            self.worker.key.clone(),
            grant,
            self.max_object_bytes,
        )
        .await;
        let bytes = match opened {
            Ok(bytes) => bytes,
            Err(e) if granted && matches!(e.downcast_ref(), Some(OpenError::DecryptionFailed)) => {
                if let Ok(mut set) = self.bad_grants.lock() {
                    set.insert(id.clone());
                }
                // Given back at once, so another node gets it without waiting for the lease.
                let released = self
                    .worker
                    .post(&format!("v1/compute/jobs/{id}/release"), &json!({}))
                    .await;
                let after = match released {
                    Ok(_) => "gave the job back",
                    Err(_) => "could not give the job back",
                };
                bail!("the requester's grant does not open object {object}: {after}");
            }
            Err(e) if matches!(e.downcast_ref(), Some(OpenError::DecryptionFailed)) => {
                bail!("object {object} does not open with this node's key (it was altered)");
            }
            Err(e) => return Err(e.context(format!("cannot open object {object}"))),
        };
        let prediction = model
            .run(&bytes)
            .map_err(|e| anyhow::anyhow!("{} cannot judge it: {e}", model.name()))?;
        let body = json!({ "object": object, "prediction": prediction });
        self.worker
            .post(&format!("v1/compute/jobs/{id}/result"), &body)
            .await
            .map_err(SendError::into_anyhow)?;
        eprintln!("job {id}: {} says {}", model.name(), prediction.label);
        Ok(true)
    }

    /// Whether the object's header opens with this node's key (read once per job; a job whose
    /// object does not waits for a grant).
    async fn sealed_to_me(&self, job: &str, object: datahub_core::ObjectId) -> Result<bool> {
        let known = |set: &HashSet<String>| set.contains(job);
        if self.not_sealed_to_me.lock().is_ok_and(|set| known(&set)) {
            return Ok(false);
        }
        let header = get::read_header(&self.worker.relay, object)
            .await
            .with_context(|| format!("cannot read the header of object {object}"))?;
        if header.unwrap(&self.worker.key).is_ok() {
            return Ok(true);
        }
        if let Ok(mut set) = self.not_sealed_to_me.lock() {
            set.insert(job.to_owned());
        }
        Ok(false)
    }
}
