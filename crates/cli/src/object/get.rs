//! `datahub object get`: fetch the manifest (checked against the id), then for each segment any
//! `k` shards whose hashes match, straight from the nodes that hold them (in parallel, a few
//! segments ahead), falling back to other shards and to the relay; decode and decrypt streaming
//! into `OUT.partial`, renamed to `OUT` once the whole object has authenticated.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use datahub_core::erasure::SegmentDecoder;
use datahub_core::header::{Grant, Header, HeaderError};
use datahub_core::{Manifest, ObjectId, OpenError, Opener, ShardId};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;

use super::{IdentityArg, RelayArg};
use crate::client::{self, ObjectStatus, Relay, parse_object_id};
use crate::{keygen, progress};

/// Segments fetched ahead of the one being decrypted.
const SEGMENTS_AHEAD: usize = 3;
/// A segment's fetches that have not answered for this long get company from another holder.
const HEDGE_AFTER: Duration = Duration::from_secs(2);

#[derive(clap::Args)]
pub struct Args {
    /// The object id `put` printed
    id: String,
    /// Where to write the plaintext (written as OUT.partial, renamed when complete)
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    out: PathBuf,
    /// Replace OUT if it exists
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    identity: IdentityArg,
    #[command(flatten)]
    relay: RelayArg,
}

pub async fn run(args: Args) -> Result<()> {
    let id = parse_object_id(&args.id)?;
    // Checked before anything is fetched, so that a long download does not end in a refusal.
    if !args.force && std::fs::symlink_metadata(&args.out).is_ok() {
        bail!(
            "{} already exists: pass --force to replace it, or another -o",
            args.out.display()
        );
    }
    let key = keygen::load_as(&args.identity.identity, keygen::Role::Recipient)?;
    let relay = Relay::new(&args.relay.relay)?;
    download(&relay, id, key, &args.out)
        .await
        .map_err(|e| match e.downcast_ref::<OpenError>() {
            Some(OpenError::DecryptionFailed) => anyhow::anyhow!(
                "decryption failed: {} is not the key of one of the object's recipients (or the object was altered)",
                args.identity.identity.display()
            ),
            _ => e,
        })
}

/// The object's manifest (checked against its id) and where its shards are.
async fn locate(relay: &Relay, id: &ObjectId) -> Result<(Manifest, Places)> {
    let manifest_bytes = relay
        .manifest(id)
        .await
        .with_context(|| format!("cannot fetch object {id}"))?;
    let manifest = Manifest::parse_with_id(&manifest_bytes, id)
        .with_context(|| format!("the relay sent a bad manifest for {id}"))?;
    let places = match relay.status(id).await {
        Ok(status) => places(status),
        Err(e) => {
            eprintln!(
                "warning: no shard locations ({e:#}); fetching every shard through the relay"
            );
            HashMap::new()
        }
    };
    Ok((manifest, places))
}

/// Fetches object `id`, checks every shard and decrypts it with `key` into `out` (written as
/// `out.partial`, renamed once the whole object has authenticated, removed on failure). A
/// wrong key is an [`OpenError::DecryptionFailed`] in the error's chain.
pub async fn download(
    relay: &Relay,
    id: ObjectId,
    key: datahub_core::SecretKey,
    out: &Path,
) -> Result<()> {
    let (manifest, places) = locate(relay, &id).await?;
    let partial = partial_path(out);
    let result = async {
        let mut file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        fetch(relay, id, manifest, places, key, None, &mut file).await?;
        file.sync_all()
            .with_context(|| format!("cannot write {}", partial.display()))
    }
    .await;
    match result {
        Ok(()) => std::fs::rename(&partial, out)
            .with_context(|| format!("cannot rename {} to {}", partial.display(), out.display())),
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// An object larger than the caller wants to hold in memory.
#[derive(Debug)]
pub struct TooLarge {
    /// Its sealed size.
    pub sealed_len: u64,
    /// The most the caller takes.
    pub max: u64,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the object is {} bytes sealed, over the {} this validator opens",
            self.sealed_len, self.max
        )
    }
}

impl std::error::Error for TooLarge {}

/// Fetches and decrypts object `id` into memory, refusing objects whose sealed size is over
/// `max_sealed_len` before fetching anything (validators open what strangers uploaded).
pub async fn open_in_memory(
    relay: &Relay,
    id: ObjectId,
    key: datahub_core::SecretKey,
    max_sealed_len: u64,
) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    open_granted(relay, id, key, None, max_sealed_len).await
}

/// As [`open_in_memory`], opening the header with `grant` (made for `key` by one of the
/// object's recipients, `core::header::Grant`) when given instead of the header's own stanzas.
pub async fn open_granted(
    relay: &Relay,
    id: ObjectId,
    key: datahub_core::SecretKey,
    grant: Option<Grant>,
    max_sealed_len: u64,
) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let (manifest, places) = locate(relay, &id).await?;
    if manifest.sealed_len() > max_sealed_len {
        return Err(TooLarge {
            sealed_len: manifest.sealed_len(),
            max: max_sealed_len,
        }
        .into());
    }
    let mut plaintext = zeroize::Zeroizing::new(Vec::new());
    fetch(relay, id, manifest, places, key, grant, &mut *plaintext).await?;
    Ok(plaintext)
}

/// The header of object `id`, read from its first segments (it is at most a few kilobytes): what
/// a recipient needs to make a grant, or a node to see whether its key opens the object, without
/// fetching the rest.
pub async fn read_header(relay: &Relay, id: ObjectId) -> Result<Header> {
    let (manifest, places) = locate(relay, &id).await?;
    let fetcher = Arc::new(Fetcher {
        relay: relay.clone(),
        id,
        manifest: manifest.clone(),
        places,
        hedge_after: HEDGE_AFTER,
    });
    let mut decoder = SegmentDecoder::default();
    let mut sealed = Vec::new();
    for index in 0..manifest.segment_count() {
        let (index, shards) = fetcher.clone().segment(index).await?;
        let slots: Vec<Option<&[u8]>> = shards.iter().map(|s| s.as_deref()).collect();
        sealed.extend_from_slice(&decoder.decode(&manifest, index, &slots)?);
        match Header::parse(&sealed) {
            Ok((header, _)) => return Ok(header),
            Err(HeaderError::Truncated) => {}
            Err(e) => bail!("object {id} has no readable header: {e:?}"),
        }
    }
    bail!("object {id} is shorter than its header")
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// Where a shard is: its node's endpoint and whether the relay thinks it alive.
type Places = HashMap<(u32, usize), (String, bool)>;

fn places(status: ObjectStatus) -> Places {
    let mut map = HashMap::new();
    for segment in status.segments {
        for shard in segment.shards {
            if let Some(endpoint) = shard.endpoint {
                map.insert((segment.segment, shard.position), (endpoint, shard.alive));
            }
        }
    }
    map
}

async fn fetch(
    relay: &Relay,
    id: ObjectId,
    manifest: Manifest,
    places: Places,
    key: datahub_core::SecretKey,
    grant: Option<Grant>,
    out: &mut impl std::io::Write,
) -> Result<()> {
    let bar = progress::bytes("fetching", manifest.sealed_len());
    let fetcher = Arc::new(Fetcher {
        relay: relay.clone(),
        id,
        manifest: manifest.clone(),
        places,
        hedge_after: HEDGE_AFTER,
    });
    let mut opener = Opener::with_grant(manifest.clone(), key, grant);
    let mut segments = futures_util::stream::iter(0..manifest.segment_count())
        .map(|index| fetcher.clone().segment(index))
        .buffered(SEGMENTS_AHEAD);
    while let Some(fetched) = segments.next().await {
        let (index, shards) = fetched?;
        let slots: Vec<Option<&[u8]>> = shards.iter().map(|s| s.as_deref()).collect();
        let plaintext = tokio::task::block_in_place(|| opener.push_segment(index, &slots))?;
        out.write_all(&plaintext)?;
        bar.inc(manifest.segment(index).map_or(0, |s| s.len as u64));
    }
    opener.finish()?;
    bar.finish_and_clear();
    Ok(())
}

struct Fetcher {
    relay: Relay,
    id: ObjectId,
    manifest: Manifest,
    places: Places,
    /// How long to wait on the fetches in flight before starting one more.
    hedge_after: Duration,
}

#[derive(Clone)]
enum Source {
    Node(String),
    Relay,
}

impl Fetcher {
    /// Any `k` good shards of segment `index`, in their slots.
    async fn segment(self: Arc<Self>, index: u32) -> Result<(u32, Vec<Option<Vec<u8>>>)> {
        let layout = self
            .manifest
            .segment(index)
            .with_context(|| format!("segment {index} is not in the manifest"))?;
        let ids = self.manifest.shard_ids(index);
        let k = usize::from(self.manifest.params().data_shards);
        // Live nodes first (data shards before parity: cheapest to decode), then nodes the
        // relay believes dead, then the relay itself for every shard.
        let mut on_nodes: Vec<(bool, usize, String)> = (0..ids.len())
            .filter_map(|pos| {
                self.places
                    .get(&(index, pos))
                    .map(|(endpoint, alive)| (!alive, pos, endpoint.clone()))
            })
            .collect();
        on_nodes.sort();
        let mut queue: VecDeque<(usize, Source)> = on_nodes
            .into_iter()
            .map(|(_, pos, endpoint)| (pos, Source::Node(endpoint)))
            .chain((0..ids.len()).map(|pos| (pos, Source::Relay)))
            .collect();
        let mut slots: Vec<Option<Vec<u8>>> = vec![None; ids.len()];
        let mut got = 0;
        let mut busy: HashSet<usize> = HashSet::new();
        let mut errors: Vec<String> = Vec::new();
        let mut in_flight = FuturesUnordered::new();
        // Fetches beyond k started because others were slow.
        let mut hedges = 0;
        loop {
            while got + in_flight.len() < k + hedges {
                let next = queue.iter().position(|(pos, _)| {
                    !busy.contains(pos) && slots.get(*pos).is_some_and(Option::is_none)
                });
                let Some((pos, source)) = next.and_then(|i| queue.remove(i)) else {
                    break;
                };
                let Some(shard) = ids.get(pos).copied() else {
                    continue;
                };
                busy.insert(pos);
                let this = self.clone();
                in_flight.push(async move {
                    let result = this.one(&source, &shard).await;
                    (pos, shard, source, result)
                });
            }
            let done = tokio::select! {
                done = in_flight.next() => done,
                // Nothing came back for a while: ask one more holder, keep the slow ones going.
                () = tokio::time::sleep(self.hedge_after), if !in_flight.is_empty() => {
                    hedges += 1;
                    continue;
                }
            };
            let Some((pos, shard, source, result)) = done else {
                break;
            };
            busy.remove(&pos);
            let from = match &source {
                Source::Node(endpoint) => endpoint.clone(),
                Source::Relay => "the relay".to_owned(),
            };
            match result {
                Ok(bytes) if bytes.len() == layout.shard_len && shard.matches(&bytes) => {
                    if let Some(slot) = slots.get_mut(pos) {
                        *slot = Some(bytes);
                        got += 1;
                    }
                }
                Ok(_) => errors.push(format!("shard {pos} from {from} does not match its id")),
                Err(e) => errors.push(format!("shard {pos} from {from}: {e:#}")),
            }
            if got >= k {
                break;
            }
        }
        if got < k {
            let why = errors.first().map_or(String::new(), |e| format!(" ({e})"));
            bail!("not enough shards for segment {index}: {got} of {k} needed reachable{why}");
        }
        Ok((index, slots))
    }

    async fn one(&self, source: &Source, shard: &ShardId) -> Result<Vec<u8>> {
        match source {
            Source::Node(endpoint) => client::node_shard(self.relay.http(), endpoint, shard).await,
            Source::Relay => self.relay.shard(&self.id, shard).await,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use datahub_core::{Params, SecretKey, seal_bytes};

    #[tokio::test]
    async fn too_few_reachable_shards_name_the_segment() {
        let owner = SecretKey::derive(&[1; 32]).public_key();
        let (manifest, segments) =
            seal_bytes(&[7u8; 100_000], &[owner], &[2; 32], Params::default()).unwrap();
        // Nothing listens on port 9 (discard): every node and the relay are unreachable,
        // except one node that holds segment 0's shard 2.
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", server.local_addr().unwrap());
        let shard = segments[0].shards[2].bytes.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = server.accept().await else {
                    return;
                };
                let shard = shard.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        shard.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&shard).await;
                });
            }
        });
        let mut places = Places::new();
        places.insert((0, 0), ("http://127.0.0.1:9".to_owned(), true));
        places.insert((0, 2), (endpoint, true));
        let fetcher = Arc::new(Fetcher {
            relay: Relay::new("http://127.0.0.1:9").unwrap(),
            id: manifest.object_id(),
            manifest,
            places,
            hedge_after: HEDGE_AFTER,
        });
        let err = fetcher.segment(0).await.map(drop).unwrap_err().to_string();
        assert!(
            err.starts_with("not enough shards for segment 0: 1 of 4 needed reachable ("),
            "{err}"
        );
    }

    /// Serves every shard of `segments` by id, like a node.
    async fn serve_shards(shards: HashMap<String, Vec<u8>>) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", server.local_addr().unwrap());
        let shards = Arc::new(shards);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = server.accept().await {
                let shards = shards.clone();
                tokio::spawn(async move {
                    let mut request = vec![0u8; 4096];
                    let n = socket.read(&mut request).await.unwrap_or(0);
                    let text = String::from_utf8_lossy(&request[..n]).to_string();
                    // `/v1/shards/{id}` on a node, `/v1/objects/{o}/shards/{id}` on the relay.
                    let id = text
                        .split_whitespace()
                        .nth(1)
                        .and_then(|p| p.rsplit('/').next())
                        .unwrap_or("")
                        .to_owned();
                    let body = shards.get(&id).cloned().unwrap_or_default();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                });
            }
        });
        endpoint
    }

    /// Accepts connections and never answers: a node that hangs.
    async fn hang() -> String {
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", server.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = server.accept().await {
                held.push(socket);
            }
        });
        endpoint
    }

    #[tokio::test]
    async fn slow_nodes_are_skipped() {
        let owner = SecretKey::derive(&[1; 32]);
        let (manifest, segments) = seal_bytes(
            &[9u8; 300_000],
            &[owner.public_key()],
            &[3; 32],
            Params::default(),
        )
        .unwrap();
        let shards: HashMap<String, Vec<u8>> = segments[0]
            .shards
            .iter()
            .map(|s| (s.id.to_string(), s.bytes.clone()))
            .collect();
        let good = serve_shards(shards).await;
        let slow = hang().await;
        let mut places = Places::new();
        for pos in 0..6 {
            // Two of the four data shards sit on a node that never answers.
            let endpoint = if pos < 2 { slow.clone() } else { good.clone() };
            places.insert((0, pos), (endpoint, true));
        }
        let fetcher = Arc::new(Fetcher {
            relay: Relay::new("http://127.0.0.1:9").unwrap(),
            id: manifest.object_id(),
            manifest: manifest.clone(),
            places,
            hedge_after: Duration::from_millis(100),
        });
        let started = std::time::Instant::now();
        let (index, slots) = tokio::time::timeout(Duration::from_secs(10), fetcher.segment(0))
            .await
            .expect("a hanging node stalled the segment")
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        let slots: Vec<Option<&[u8]>> = slots.iter().map(|s| s.as_deref()).collect();
        let mut opener = Opener::new(manifest, owner);
        let plaintext = opener.push_segment(index, &slots).unwrap();
        opener.finish().unwrap();
        assert_eq!(plaintext.as_slice(), &[9u8; 300_000][..]);
    }

    fn shard_map(segment: &datahub_core::EncodedSegment) -> HashMap<String, Vec<u8>> {
        segment
            .shards
            .iter()
            .map(|s| (s.id.to_string(), s.bytes.clone()))
            .collect()
    }

    /// Nodes that lie (wrong bytes) or cannot be reached: the shards come from the others and,
    /// failing those, from the relay; the plaintext is still exact.
    #[tokio::test]
    async fn lying_and_unreachable_nodes_fall_back_to_the_relay() {
        let owner = SecretKey::derive(&[4; 32]);
        let plaintext: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (manifest, segments) = seal_bytes(
            &plaintext,
            &[owner.public_key()],
            &[5; 32],
            Params::default(),
        )
        .unwrap();
        let mut lies = shard_map(&segments[0]);
        for bytes in lies.values_mut() {
            bytes[0] ^= 1;
        }
        let liar = serve_shards(lies).await;
        let relay = serve_shards(shard_map(&segments[0])).await;
        let mut places = Places::new();
        for pos in 0..6 {
            // Three liars, three that do not listen: only the relay has good bytes.
            let endpoint = if pos % 2 == 0 {
                liar.clone()
            } else {
                "http://127.0.0.1:9".to_owned()
            };
            places.insert((0, pos), (endpoint, true));
        }
        let fetcher = Arc::new(Fetcher {
            relay: Relay::new(&relay).unwrap(),
            id: manifest.object_id(),
            manifest: manifest.clone(),
            places,
            hedge_after: HEDGE_AFTER,
        });
        let (index, slots) = fetcher.segment(0).await.unwrap();
        let slots: Vec<Option<&[u8]>> = slots.iter().map(|s| s.as_deref()).collect();
        let mut opener = Opener::new(manifest, owner);
        assert_eq!(
            opener.push_segment(index, &slots).unwrap().as_slice(),
            &plaintext[..]
        );
        opener.finish().unwrap();
    }
}
