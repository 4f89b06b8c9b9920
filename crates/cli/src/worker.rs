//! A worker of one of the relay's job queues, written once for validators (`datahub validate`)
//! and compute nodes (`datahub compute`): a key that signs every request to one relay, a job
//! taken (`POST …/jobs/next`), and the loop that takes a job, hands it over and waits when none
//! is waiting.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};
use datahub_core::{Address, SecretKey};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{Relay, SendError};

/// A key working for one relay.
pub struct Worker {
    /// The relay.
    pub relay: Relay,
    /// The relay's address, which every signed request names.
    pub audience: Address,
    /// The worker's key.
    pub key: SecretKey,
}

impl Worker {
    /// Loads the key file `key` and learns the relay's address.
    pub async fn connect(relay: &str, key: &Path) -> Result<Self> {
        let key = crate::campaign::load_key(key)?;
        let relay = Relay::new(relay)?;
        let audience = relay.address().await?;
        Ok(Self {
            relay,
            audience,
            key,
        })
    }

    /// `POST path` with `body`, signed by the worker's key: the answer's body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Vec<u8>, SendError> {
        self.relay
            .send_signed(&self.key, &self.audience, Method::POST, path, Some(body))
            .await
    }

    /// The next job of the queue at `next` (`v1/…/jobs/next`), or `None` when none is waiting
    /// (404 `no_job`).
    pub async fn take(&self, next: &str) -> Result<Option<Value>> {
        match self.post(next, &json!({})).await {
            Ok(body) => Ok(Some(
                serde_json::from_slice(&body).context("the relay's job is not JSON")?,
            )),
            Err(SendError::Api(e)) if e.status == StatusCode::NOT_FOUND && e.code == "no_job" => {
                Ok(None)
            }
            Err(e) => Err(e.into_anyhow()),
        }
    }
}

/// The flags every worker takes.
#[derive(clap::Args)]
pub struct QueueArgs {
    /// Seconds to wait before asking again when no job is waiting
    #[arg(long, value_name = "SECS", default_value_t = 2)]
    pub poll_secs: u64,
    /// Stop once no job is waiting (instead of waiting for more)
    #[arg(long)]
    pub until_idle: bool,
    /// Largest sealed object to fetch and open, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_object_bytes: u64,
}

impl QueueArgs {
    /// How to go through the queue at `next` (`v1/…/jobs/next`): see [`Polling`].
    pub fn polling(
        &self,
        next: &'static str,
        stop_on_failure: bool,
        after_failure: &'static str,
    ) -> Polling {
        Polling {
            next,
            pause: Duration::from_secs(self.poll_secs.max(1)),
            until_idle: self.until_idle,
            stop_on_failure,
            after_failure,
        }
    }
}

/// How a worker goes through its queue.
pub struct Polling {
    /// The queue: `v1/…/jobs/next`.
    pub next: &'static str,
    /// How long to wait when no job is waiting, or after a failure.
    pub pause: Duration,
    /// Stop once no job is waiting.
    pub until_idle: bool,
    /// With `until_idle`, stop at the first job that fails too: asking again while its lease
    /// runs gives the same job back.
    pub stop_on_failure: bool,
    /// What becomes of a failed job, said after its error.
    pub after_failure: &'static str,
}

/// Takes jobs from `worker`'s queue and hands each to `handle`, `done` getting what each one
/// came to; a job that fails is reported on standard error and left to its lease. Returns when
/// `polling` says to stop (never, without `until_idle`).
pub async fn each_job<T, Fut>(
    worker: &Worker,
    polling: &Polling,
    handle: impl Fn(Value) -> Fut,
    mut done: impl FnMut(T),
) where
    Fut: Future<Output = Result<T>>,
{
    loop {
        match worker.take(polling.next).await {
            Ok(Some(job)) => {
                let id = job
                    .get("job")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned();
                match handle(job).await {
                    Ok(outcome) => done(outcome),
                    Err(e) => {
                        eprintln!("warning: job {id}: {e:#}; {}", polling.after_failure);
                        tokio::time::sleep(polling.pause).await;
                        if polling.until_idle && polling.stop_on_failure {
                            break;
                        }
                    }
                }
            }
            Ok(None) if polling.until_idle => break,
            Ok(None) => tokio::time::sleep(polling.pause).await,
            Err(e) => {
                eprintln!("warning: cannot take a job: {e:#}");
                tokio::time::sleep(polling.pause).await;
            }
        }
    }
}
