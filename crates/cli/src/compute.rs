//! `datahub compute`: a compute node (docs/relay.md §4d). It registers the models it runs
//! (`POST /v1/compute/register`), leases jobs for them (`POST /v1/compute/jobs/next`), opens
//! each object with its key through the relay exactly as `datahub object get` does, runs the
//! job's model on it and signs the prediction (`POST /v1/compute/jobs/{id}/result`).
//!
//! The models are the rule models of `datahub_compute::rules` and the ONNX models of
//! `datahub_compute::load_models` (magika's `filetype`, Silero's `vad`) from `--models`, each
//! checked against its pinned BLAKE3 before it is used. Opening: until the
//! relay hands out requester-signed grants (docs/relay.md §4d, "Opening uploads"), a node
//! opens only objects sealed to its key; a job it cannot open is left to run out, so another
//! node gets it.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use datahub_compute::Model;
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
    let registration = match &args.payout {
        Some(payout) => json!({ "capabilities": capabilities, "payout": payout }),
        None => json!({ "capabilities": capabilities }),
    };
    worker
        .post("v1/compute/register", &registration)
        .await
        .map_err(SendError::into_anyhow)
        .context("registering with the relay")?;
    for model in &models {
        eprintln!(
            "compute node {}: {} ({}) {}",
            worker.key.public_key().address(),
            model.name(),
            model.kind(),
            hex::encode(model.hash())
        );
    }
    let node = Node {
        worker,
        models,
        max_object_bytes: args.queue.max_object_bytes,
    };
    let polling = args.queue.polling(
        "v1/compute/jobs/next",
        true,
        "it goes to another node when its lease ends",
    );
    let mut done = 0u64;
    worker::each_job(
        &node.worker,
        &polling,
        |job| node.handle(job),
        |()| done += 1,
    )
    .await;
    eprintln!("no job waiting: {done} results sent");
    Ok(())
}

struct Node {
    worker: Worker,
    models: Vec<Box<dyn Model>>,
    max_object_bytes: u64,
}

impl Node {
    /// Opens the job's object, runs its model and sends the signed prediction.
    async fn handle(&self, job: Value) -> Result<()> {
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
        let bytes = get::open_in_memory(
            &self.worker.relay,
            object_id,
            self.worker.key.clone(),
            self.max_object_bytes,
        )
        .await
        .context(
            "cannot open the object (it is not sealed to this node's key, or it was altered)",
        )?;
        let prediction = model
            .run(&bytes)
            .map_err(|e| anyhow::anyhow!("{} cannot judge it: {e}", model.name()))?;
        let body = json!({ "object": object, "prediction": prediction });
        self.worker
            .post(&format!("v1/compute/jobs/{id}/result"), &body)
            .await
            .map_err(SendError::into_anyhow)?;
        eprintln!("job {id}: {} says {}", model.name(), prediction.label);
        Ok(())
    }
}
