//! `datahub object put` and `datahub object resume`.
//!
//! The relay takes an object's manifest before its shards, and the manifest (the list of every
//! shard id) exists only once the whole file is sealed. So `put` seals the file first, segment by
//! segment (memory stays about one segment, 4 MiB, and its shards), into a spool folder of shard
//! files named by their ids; then posts the manifest, asks the relay which shards it lacks and
//! uploads those, several at a time, retrying each with backoff. The spool holds only ciphertext
//! (no key, no plaintext); it is deleted once the relay has every shard and kept otherwise, so
//! `datahub object resume ID` can finish the upload without the original file.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use datahub_core::{Address, Manifest, ObjectId, Params, PublicKey, Sealer, SecretKey, ShardId};
use futures_util::StreamExt as _;

use super::{IdentityArg, RelayArg};
use crate::client::{Relay, SendError, parse_object_id, parse_shard_id};
use crate::keygen;
use crate::progress;

/// Shard uploads in flight at once.
const PARALLEL_UPLOADS: usize = 6;
/// Times a shard may be told to slow down (429) before `put` gives up.
const MAX_THROTTLED: u32 = 120;

#[derive(clap::Args)]
pub struct PutArgs {
    /// The file to seal and upload
    file: PathBuf,
    /// Recipients' public keys (66 hex digits, from `datahub keygen`): `-r A B` or `-r A -r B`
    #[arg(
        long = "recipient",
        short = 'r',
        value_name = "PUBKEY",
        required = true,
        num_args = 1..
    )]
    recipients: Vec<String>,
    #[command(flatten)]
    identity: IdentityArg,
    #[command(flatten)]
    relay: RelayArg,
    #[command(flatten)]
    upload: UploadOpts,
}

#[derive(clap::Args)]
pub struct ResumeArgs {
    /// The object id `put` printed when it stopped
    id: String,
    #[command(flatten)]
    identity: IdentityArg,
    #[command(flatten)]
    relay: RelayArg,
    #[command(flatten)]
    upload: UploadOpts,
}

#[derive(clap::Args)]
pub struct UploadOpts {
    /// Tries per shard (network errors, 5xx) before giving up and keeping the sealed shards
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..))]
    tries: u32,
    /// Where sealed shards wait for upload [default: $XDG_CACHE_HOME/datahub/uploads or ~/.cache/datahub/uploads]
    #[arg(long, value_name = "DIR", env = "DATAHUB_SPOOL")]
    spool: Option<PathBuf>,
}

impl UploadOpts {
    fn dir(&self) -> PathBuf {
        if let Some(dir) = &self.spool {
            return dir.clone();
        }
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        cache.join("datahub").join("uploads")
    }
}

pub async fn put(args: PutArgs) -> Result<()> {
    let recipients = args
        .recipients
        .iter()
        .map(|r| keygen::parse_public_key(r))
        .collect::<Result<Vec<_>>>()?;
    let key = Arc::new(keygen::load(&args.identity.identity)?);
    let relay = Relay::new(&args.relay.relay)?;
    let id = seal_and_upload(&relay, key, &args.file, recipients, &args.upload).await?;
    println!("{id}");
    Ok(())
}

/// Seals `file` to `recipients` and uploads it, signed by `key` (its uploader); the object's id.
/// Shared by `object put` and `datahub answer` (an upload task's answer is this id).
pub async fn seal_and_upload(
    relay: &Relay,
    key: Arc<SecretKey>,
    file: &Path,
    recipients: Vec<PublicKey>,
    opts: &UploadOpts,
) -> Result<ObjectId> {
    // Fail before sealing a large file if the relay is not there.
    let audience = relay.address().await?;
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let spool = opts.dir();
    let bar = progress::bytes("sealing", size);
    let (id, dir) = {
        let (bar, file) = (bar.clone(), file.to_owned());
        tokio::task::spawn_blocking(move || seal_to_spool(&file, &recipients, &spool, &bar))
            .await
            .context("sealing stopped")??
    };
    bar.finish_and_clear();
    finish_upload(relay, key, &audience, id, &dir, opts.tries).await?;
    Ok(id)
}

pub async fn resume(args: ResumeArgs) -> Result<()> {
    let id = parse_object_id(&args.id)?;
    let dir = args.upload.dir().join(id.to_string());
    if !dir.join("manifest").is_file() {
        bail!(
            "no kept upload of {id} in {}: it finished already, or was sealed with another --spool",
            dir.display()
        );
    }
    let key = Arc::new(keygen::load(&args.identity.identity)?);
    let relay = Relay::new(&args.relay.relay)?;
    let audience = relay.address().await?;
    finish_upload(&relay, key, &audience, id, &dir, args.upload.tries).await?;
    println!("{id}");
    Ok(())
}

async fn finish_upload(
    relay: &Relay,
    key: Arc<SecretKey>,
    audience: &Address,
    id: ObjectId,
    dir: &Path,
    tries: u32,
) -> Result<()> {
    match upload(relay, key, audience, &id, dir, tries).await {
        Ok(()) => {
            let _ = tokio::fs::remove_dir_all(dir).await;
            Ok(())
        }
        Err(e) => Err(e.context(format!(
            "the upload of object {id} did not finish; its sealed shards are kept in {}: finish it with `datahub object resume {id} --relay {}`",
            dir.display(),
            relay.base().as_str().trim_end_matches('/'),
        ))),
    }
}

/// Seals `file` into `spool/<object id>/`: one file per shard, named by its id, and `manifest`.
fn seal_to_spool(
    file: &Path,
    recipients: &[PublicKey],
    spool: &Path,
    bar: &indicatif::ProgressBar,
) -> Result<(ObjectId, PathBuf)> {
    let mut entropy = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(entropy.as_mut_slice())
        .map_err(|e| anyhow::anyhow!("the operating system's random generator failed: {e}"))?;
    let params = Params::default();
    let mut sealer = Sealer::new(recipients, &entropy, params)?;
    let mut input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let tmp = spool.join(format!(
        ".sealing-{}-{}",
        std::process::id(),
        crate::client::now_ms()
    ));
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    remove_abandoned(spool);
    let sealed = (|| -> Result<ObjectId> {
        let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(params.segment_len as usize));
        loop {
            buf.clear();
            let n = (&mut input)
                .take(u64::from(params.segment_len))
                .read_to_end(&mut buf)
                .with_context(|| format!("cannot read {}", file.display()))?;
            if n == 0 {
                break;
            }
            for segment in sealer.update(&buf)? {
                write_shards(&tmp, &segment)?;
            }
            bar.inc(n as u64);
        }
        let (last, manifest) = sealer.finish()?;
        for segment in last {
            write_shards(&tmp, &segment)?;
        }
        let manifest_path = tmp.join("manifest");
        std::fs::write(&manifest_path, manifest.to_bytes())
            .with_context(|| format!("cannot write {}", manifest_path.display()))?;
        Ok(manifest.object_id())
    })();
    let id = match sealed {
        Ok(id) => id,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let dir = spool.join(id.to_string());
    std::fs::rename(&tmp, &dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok((id, dir))
}

/// Removes `.sealing-PID-…` folders whose `put` died while sealing (their process is gone).
fn remove_abandoned(spool: &Path) {
    let Ok(entries) = std::fs::read_dir(spool) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(".sealing-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid
            && rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn write_shards(dir: &Path, segment: &datahub_core::EncodedSegment) -> Result<()> {
    for shard in &segment.shards {
        let path = dir.join(shard.id.to_string());
        std::fs::write(&path, &shard.bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Posts the manifest and uploads every shard the relay lacks.
async fn upload(
    relay: &Relay,
    key: Arc<SecretKey>,
    audience: &Address,
    id: &ObjectId,
    dir: &Path,
    tries: u32,
) -> Result<()> {
    let manifest_path = dir.join("manifest");
    let manifest_bytes = tokio::fs::read(&manifest_path)
        .await
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let manifest = Manifest::parse(&manifest_bytes)
        .with_context(|| format!("{} is damaged", manifest_path.display()))?;
    if manifest.object_id() != *id {
        bail!("{} is not the manifest of {id}", manifest_path.display());
    }
    let answer = relay.post_manifest(&key, audience, &manifest_bytes).await?;
    let mut wanted: Vec<ShardId> = answer
        .missing
        .iter()
        .map(|s| parse_shard_id(s))
        .collect::<Result<_>>()?;
    wanted.sort();
    wanted.dedup();
    let mut total = 0;
    for shard in &wanted {
        total += tokio::fs::metadata(dir.join(shard.to_string()))
            .await
            .map(|m| m.len())
            .unwrap_or(0);
    }
    let bar = progress::bytes("uploading", total);
    let failures: Vec<anyhow::Error> = futures_util::stream::iter(wanted)
        .map(|shard| {
            let key = key.clone();
            let bar = bar.clone();
            async move {
                let path = dir.join(shard.to_string());
                let bytes = tokio::fs::read(&path).await.with_context(|| {
                    format!(
                        "the kept shard {} is gone: put the file again",
                        path.display()
                    )
                })?;
                if !shard.matches(&bytes) {
                    bail!(
                        "the kept shard {} is damaged: put the file again",
                        path.display()
                    );
                }
                let len = bytes.len() as u64;
                put_with_retry(relay, &key, audience, id, &shard, bytes.into(), tries).await?;
                bar.inc(len);
                Ok(())
            }
        })
        .buffer_unordered(PARALLEL_UPLOADS)
        .filter_map(|r: Result<()>| async move { r.err() })
        .collect()
        .await;
    bar.finish_and_clear();
    let failed = failures.len();
    if let Some(first) = failures.into_iter().next() {
        return Err(first.context(format!("{failed} shard(s) could not be uploaded")));
    }
    let left = relay.missing(id).await?;
    if !left.missing.is_empty() {
        bail!(
            "the relay still lacks {} of the object's {} shards",
            left.missing.len(),
            left.shards
        );
    }
    Ok(())
}

/// One shard, signed afresh on every try: network errors and 5xx are retried with backoff
/// (0.5 s doubling to 8 s), 429 after the wait the relay asks for.
async fn put_with_retry(
    relay: &Relay,
    key: &SecretKey,
    audience: &Address,
    id: &ObjectId,
    shard: &ShardId,
    bytes: bytes::Bytes,
    tries: u32,
) -> Result<()> {
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    let mut throttled = 0;
    loop {
        match relay
            .put_shard(key, audience, id, shard, bytes.clone())
            .await
        {
            Ok(()) => return Ok(()),
            // Rate limited: wait as asked; this is the relay pacing us, not a failure.
            Err(SendError::Api(a)) if a.status.as_u16() == 429 && throttled < MAX_THROTTLED => {
                throttled += 1;
                tokio::time::sleep(a.retry_after.unwrap_or(Duration::from_secs(1))).await;
            }
            // A replay is our own signature meeting itself again: sign afresh right away.
            Err(SendError::Api(a)) if a.code == "replayed" && attempt < tries => attempt += 1,
            Err(e) if e.retryable() && attempt < tries => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(8));
                attempt += 1;
            }
            Err(e) => {
                return Err(e
                    .into_anyhow()
                    .context(format!("shard {shard} failed after {attempt} tries")));
            }
        }
    }
}
