//! The storage network's upkeep, run by the relay in the background: audits (each live node is
//! asked for a random byte range of a random shard it holds, with a proof checked against the
//! shard's 32-byte id alone) and repair (segments that lost shards — to a dead node, a failed
//! audit, corrupt data — get them rebuilt by Reed–Solomon from any `k` good ones, never
//! decrypted, and placed on healthy nodes).
//!
//! Shard rows: `stored` 1 is held, 0 is not uploaded yet, -1 is lost and waiting for repair. A
//! position also counts as lost when its node is silent or has fallen below the reputation to
//! be trusted.

use std::sync::atomic::Ordering::Relaxed;

use axum::body::Bytes;
use datahub_core::{Manifest, ShardId, erasure, proof};
use futures_util::StreamExt;

use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::storage::{self, MIN_REPUTATION};
use crate::{AppState, clock, earnings, nodenet, params};

/// Reputation gained per passed audit (up to the start value) and lost per failure.
const AUDIT_PASS: i64 = 1;
const AUDIT_FAIL: i64 = 25;
/// Reputation lost per repair round by a node that is silent.
const SILENCE: i64 = 5;
/// Most bytes an audit asks for.
const AUDIT_RANGE: u64 = 4096;
/// Segments repaired per round.
const REPAIR_BATCH: i64 = 32;
/// Seconds between two sweeps for placements cut short.
const REAP_EVERY_SECS: u64 = 10;

fn timeout_ms(relay: &AppState) -> i64 {
    i64::try_from(relay.config.node_timeout_secs).unwrap_or(15) * 1000
}

fn random_below(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    u64::from_le_bytes(clock::random::<8>()) % n
}

/// Audits run at once, over all nodes.
const AUDIT_CONCURRENCY: usize = 16;

/// How many of the `held` shards of a node one audit round checks: `share` of them, rounded
/// up, at least one and at most `max`.
pub fn audits_for(held: u64, share: f64, max: u64) -> u64 {
    if held == 0 {
        return 0;
    }
    // `held` is far below 2^52: the product is exact enough, and the cast saturates.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let wanted = (held as f64 * share).ceil() as u64;
    wanted.clamp(1, max.max(1)).min(held)
}

/// `count` distinct numbers below `n`, in increasing order (Floyd's sampling: each subset
/// equally likely).
fn distinct_below(n: u64, count: u64) -> Vec<u64> {
    let mut chosen: Vec<u64> = Vec::new();
    for j in n.saturating_sub(count)..n {
        let t = random_below(j + 1);
        if chosen.contains(&t) {
            chosen.push(j);
        } else {
            chosen.push(t);
        }
    }
    chosen.sort_unstable();
    chosen
}

/// One audit round: each live node is checked on [`audits_for`] of its shards, picked at
/// random, so that the chance of checking any given shard in a round is the same on every node.
/// Returns (passed, failed).
pub async fn audit_round(relay: &AppState) -> ApiResult<(u64, u64)> {
    let timeout = timeout_ms(relay);
    let (share, max) = (
        relay.config.storage.audit_share,
        relay.config.storage.audit_max_per_node,
    );
    let targets = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Vec<(String, String, String, i64)>> {
            let now = clock::now_ms();
            let nodes = storage::all_nodes(conn, now, timeout)?;
            let mut out = Vec::new();
            for node in nodes.into_iter().filter(|n| n.alive) {
                let count = conn
                    .query("SELECT COUNT(*) FROM shards WHERE node = $1 AND stored = 1", params![node.address.clone()])?
                    .first()
                    .map(|r| r.int(0))
                    .transpose()?
                    .unwrap_or(0);
                let held = u64::try_from(count).unwrap_or(0);
                // Random held shards: offsets into their list, as SQL has no portable sample.
                for skip in distinct_below(held, audits_for(held, share, max)) {
                    if let Some(row) = conn.query_opt(
                        "SELECT shard, len FROM shards WHERE node = $1 AND stored = 1 ORDER BY object, segment, position LIMIT 1 OFFSET $2",
                        params![node.address.clone(), i64::try_from(skip).unwrap_or(i64::MAX)],
                    )? {
                        out.push((node.address.clone(), node.endpoint.clone(), row.text(0)?, row.int(1)?));
                    }
                }
            }
            Ok(out)
        })
        .await?;
    let verdicts: Vec<(String, String, Audit)> = futures_util::stream::iter(targets)
        .map(|(node, endpoint, shard, len)| async move {
            let verdict = audit_one(relay, &endpoint, &shard, len).await;
            (node, shard, verdict)
        })
        .buffer_unordered(AUDIT_CONCURRENCY)
        .collect()
        .await;
    let (mut passed, mut failed) = (0, 0);
    let epoch_secs = relay.config.storage.epoch_secs;
    let grace = i64::try_from(relay.config.storage.audit_grace_secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    // A node that does not answer is judged once per round, however many of its shards were
    // asked for.
    let mut unreachable: Vec<String> = Vec::new();
    for (node, shard, verdict) in verdicts {
        if verdict == Audit::Unreachable {
            if unreachable.contains(&node) {
                continue;
            }
            unreachable.push(node.clone());
            // A node that heartbeats but answers audits with 5xx or not at all may be having a
            // bad minute, or may have thrown its shards away and be hiding it: after the grace
            // period, each such audit counts as a failure.
            let (n, s) = (node.clone(), shard.clone());
            let counted = relay
                .db
                .write(move |conn: &mut dyn Conn| -> ApiResult<bool> {
                    let now = clock::now_ms();
                    conn.execute(
                        "UPDATE nodes SET failing_since_ms = $1 WHERE address = $2 AND failing_since_ms IS NULL",
                        params![now, n.clone()],
                    )?;
                    let since = conn
                        .query_opt("SELECT failing_since_ms FROM nodes WHERE address = $1", params![n.clone()])?
                        .map(|r| r.opt_int(0))
                        .transpose()?
                        .flatten()
                        .unwrap_or(now);
                    if now.saturating_sub(since) < grace {
                        return Ok(false);
                    }
                    conn.execute("UPDATE nodes SET reputation = reputation - $1 WHERE address = $2", params![AUDIT_FAIL, n.clone()])?;
                    earnings::record_audit(conn, epoch_secs, &n, &s, false, now)?;
                    Ok(true)
                })
                .await?;
            if counted {
                failed += 1;
                relay.metrics.audits_failed.fetch_add(1, Relaxed);
                tracing::warn!(%node, %shard, "audit failed: the node keeps answering with errors or not at all");
            } else {
                tracing::debug!(%node, "audit: node unreachable (within the grace period)");
            }
            continue;
        }
        let ok = verdict == Audit::Passed;
        let (n, s) = (node.clone(), shard.clone());
        relay
            .db
            .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
                if ok {
                    conn.execute(
                        "UPDATE nodes SET reputation = CASE WHEN reputation + $1 > $2 THEN $2 ELSE reputation + $1 END, failing_since_ms = NULL WHERE address = $3",
                        params![AUDIT_PASS, storage::START_REPUTATION, n.clone()],
                    )?;
                } else {
                    conn.execute("UPDATE nodes SET reputation = reputation - $1 WHERE address = $2", params![AUDIT_FAIL, n.clone()])?;
                    conn.execute("UPDATE shards SET stored = -1 WHERE node = $1 AND shard = $2 AND stored = 1", params![n.clone(), s.clone()])?;
                }
                earnings::record_audit(conn, epoch_secs, &n, &s, ok, clock::now_ms())?;
                Ok(())
            })
            .await?;
        if ok {
            passed += 1;
            relay.metrics.audits_passed.fetch_add(1, Relaxed);
        } else {
            failed += 1;
            relay.metrics.audits_failed.fetch_add(1, Relaxed);
            tracing::warn!(%node, %shard, "audit failed");
        }
    }
    Ok((passed, failed))
}

/// What an audit found.
#[derive(Debug, PartialEq, Eq)]
enum Audit {
    /// The node proved it holds the range.
    Passed,
    /// The node answered without a valid proof (wrong bytes, no shard, a corrupt copy).
    Failed,
    /// The node did not answer at all (or failed on its side).
    Unreachable,
}

/// Asks `endpoint` for a random range of `shard` and checks the proof against the id alone.
async fn audit_one(relay: &AppState, endpoint: &str, shard: &str, len: i64) -> Audit {
    let Some(id) = hex::decode(shard)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
    else {
        return Audit::Failed;
    };
    let shard_len = u64::try_from(len).unwrap_or(0);
    let range = AUDIT_RANGE.min(shard_len);
    let offset = random_below(shard_len - range + 1);
    let Ok(url) = nodenet::shard_url(
        endpoint,
        shard,
        Some("proof"),
        &[("offset", offset.to_string()), ("len", range.to_string())],
        relay.config.storage.allow_private_nodes,
    ) else {
        // An endpoint the relay no longer accepts (registered before the checks): it cannot
        // be audited, so it fails.
        return Audit::Failed;
    };
    let Ok(response) = relay.http.get(url).send().await else {
        return Audit::Unreachable;
    };
    if response.status().is_server_error() {
        return Audit::Unreachable;
    }
    if !response.status().is_success() {
        return Audit::Failed;
    }
    let bytes = match nodenet::read_bounded(response, proof_limit(range, shard_len)).await {
        Ok(bytes) => bytes,
        Err(nodenet::ReadError::TooLong) => return Audit::Failed,
        Err(nodenet::ReadError::Broken(_)) => return Audit::Unreachable,
    };
    match proof::verify(&ShardId(id), shard_len, offset, range, &bytes) {
        Ok(_) => Audit::Passed,
        Err(_) => Audit::Failed,
    }
}

/// The most bytes a proof of `range` bytes of a `shard_len`-byte shard can take: the range and
/// its chunk groups, plus a path of sibling hashes; anything longer is not a proof.
fn proof_limit(range: u64, shard_len: u64) -> usize {
    let depth = 64 - shard_len.leading_zeros() as usize;
    usize::try_from(range)
        .unwrap_or(usize::MAX)
        .saturating_mul(2)
        .saturating_add(16 * 1024)
        .saturating_add(depth.saturating_mul(2 * 64))
}

/// Counts segments at risk and repairs up to a batch of them. Returns (at risk, shards rebuilt).
pub async fn repair_round(relay: &AppState) -> ApiResult<(i64, u64)> {
    let timeout = timeout_ms(relay);
    let (at_risk, segments) = relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<(i64, Vec<(String, i64)>)> {
            let now = clock::now_ms();
            // Silent nodes lose reputation; their shards count as lost below.
            conn.execute(
                "UPDATE nodes SET reputation = reputation - $1 WHERE last_seen_ms < $2 AND reputation > 0",
                params![SILENCE, now - timeout],
            )?;
            let risky = "FROM shards s LEFT JOIN nodes n ON n.address = s.node WHERE s.stored = -1 OR (s.stored = 1 AND (n.address IS NULL OR n.last_seen_ms < $1 OR n.reputation < $2))";
            let count = conn
                .query(&format!("SELECT COUNT(*) FROM (SELECT DISTINCT s.object, s.segment {risky}) AS r"), params![now - timeout, MIN_REPUTATION])?
                .first()
                .map(|r| r.int(0))
                .transpose()?
                .unwrap_or(0);
            // The batch starts at a random place in the list, wrapping round, so that segments
            // that cannot be repaired (say every holder of them lies) cannot fill every batch
            // and starve the rest.
            let start = i64::try_from(random_below(u64::try_from(count).unwrap_or(0))).unwrap_or(0);
            let select = format!("SELECT DISTINCT s.object, s.segment {risky} ORDER BY s.object, s.segment LIMIT $3 OFFSET $4");
            let mut rows = conn.query(&select, params![now - timeout, MIN_REPUTATION, REPAIR_BATCH, start])?;
            let taken = i64::try_from(rows.len()).unwrap_or(REPAIR_BATCH);
            if taken < REPAIR_BATCH && start > 0 {
                let wrap = conn.query(&select, params![now - timeout, MIN_REPUTATION, (REPAIR_BATCH - taken).min(start), 0_i64])?;
                rows.extend(wrap);
            }
            let mut segments: Vec<(String, i64)> = rows.iter().map(|r| Ok((r.text(0)?, r.int(1)?))).collect::<ApiResult<_>>()?;
            // Whole segments whose shards bunch on a node or in a region while the network has
            // room to spread them (a node came back, or joined): spread again.
            let (crowded, listed) = crowded_segments(conn, now, timeout)?;
            for segment in listed {
                if !segments.contains(&segment) {
                    segments.push(segment);
                }
            }
            Ok((count + crowded, segments))
        })
        .await?;
    relay.metrics.segments_at_risk.store(at_risk, Relaxed);
    let mut rebuilt = 0;
    for (object, segment) in segments {
        match repair_segment(relay, &object, segment).await {
            Ok(n) => rebuilt += n,
            Err(e) => tracing::warn!(%object, segment, error = %e.message, "repair failed"),
        }
    }
    Ok((at_risk, rebuilt))
}

/// Segments whose healthy shards share a node or a region although the live network has
/// enough nodes and regions to keep them apart: how many, and up to a batch of them, from a
/// random place in the list (as for segments at risk). The test is [`storage::Spread`]'s,
/// done in SQL so that a network that cannot do better is not scanned shard by shard.
fn crowded_segments(
    conn: &mut dyn Conn,
    now: i64,
    timeout: i64,
) -> ApiResult<(i64, Vec<(String, i64)>)> {
    let (nodes, regions) = storage::live_spread(conn, now, timeout)?;
    let (nodes, regions) = (
        i64::try_from(nodes).unwrap_or(i64::MAX),
        i64::try_from(regions).unwrap_or(i64::MAX),
    );
    let crowded = "FROM shards s JOIN nodes n ON n.address = s.node \
        WHERE s.stored = 1 AND n.last_seen_ms >= $1 AND n.reputation >= $2 \
        GROUP BY s.object, s.segment \
        HAVING COUNT(DISTINCT s.node) < CASE WHEN COUNT(*) < $3 THEN COUNT(*) ELSE $3 END \
        OR COUNT(DISTINCT n.region) < CASE WHEN COUNT(*) < $4 THEN COUNT(*) ELSE $4 END";
    let live = now - timeout;
    let count = conn
        .query(
            &format!("SELECT COUNT(*) FROM (SELECT s.object, s.segment {crowded}) AS c"),
            params![live, MIN_REPUTATION, nodes, regions],
        )?
        .first()
        .map(|r| r.int(0))
        .transpose()?
        .unwrap_or(0);
    if count == 0 {
        return Ok((0, Vec::new()));
    }
    let start = i64::try_from(random_below(u64::try_from(count).unwrap_or(0))).unwrap_or(0);
    let select = format!(
        "SELECT s.object, s.segment {crowded} ORDER BY s.object, s.segment LIMIT $5 OFFSET $6"
    );
    let mut rows = conn.query(
        &select,
        params![live, MIN_REPUTATION, nodes, regions, REPAIR_BATCH, start],
    )?;
    let taken = i64::try_from(rows.len()).unwrap_or(REPAIR_BATCH);
    if taken < REPAIR_BATCH && start > 0 {
        rows.extend(conn.query(
            &select,
            params![
                live,
                MIN_REPUTATION,
                nodes,
                regions,
                (REPAIR_BATCH - taken).min(start),
                0_i64
            ],
        )?);
    }
    let listed = rows
        .iter()
        .map(|r| Ok((r.text(0)?, r.int(1)?)))
        .collect::<ApiResult<_>>()?;
    Ok((count, listed))
}

/// A shard position of a segment: position, shard id, healthy, node, its endpoint and region,
/// length.
struct PositionRow {
    position: i64,
    shard: String,
    healthy: bool,
    node: Option<String>,
    endpoint: Option<String>,
    region: Option<String>,
    len: i64,
}

/// Rebuilds the lost shards of one segment and places them.
async fn repair_segment(relay: &AppState, object: &str, segment: i64) -> ApiResult<u64> {
    let timeout = timeout_ms(relay);
    let (manifest_hex, mut rows, live) = {
        let object = object.to_owned();
        relay
            .db
            .read(move |conn: &mut dyn Conn| -> ApiResult<(String, Vec<PositionRow>, Vec<storage::NodeInfo>)> {
                let now = clock::now_ms();
                let manifest = conn
                    .query_opt("SELECT manifest FROM objects WHERE id = $1", params![object.clone()])?
                    .ok_or_else(|| ApiError::internal("object vanished"))?
                    .text(0)?;
                let rows = conn.query(
                    "SELECT s.position, s.shard, CASE WHEN s.stored = 1 AND n.last_seen_ms >= $3 AND n.reputation >= $4 THEN 1 ELSE 0 END, s.node, n.endpoint, s.len, n.region FROM shards s LEFT JOIN nodes n ON n.address = s.node WHERE s.object = $1 AND s.segment = $2 ORDER BY s.position",
                    params![object, segment, now - timeout, MIN_REPUTATION],
                )?;
                let rows = rows
                    .iter()
                    .map(|r| {
                        Ok(PositionRow {
                            position: r.int(0)?,
                            shard: r.text(1)?,
                            healthy: r.opt_int(2)?.unwrap_or(0) == 1,
                            node: r.opt_text(3)?,
                            endpoint: r.opt_text(4)?,
                            len: r.int(5)?,
                            region: r.opt_text(6)?,
                        })
                    })
                    .collect::<ApiResult<_>>()?;
                let live = storage::all_nodes(conn, now, timeout)?
                    .into_iter()
                    .filter(|n| n.alive && n.reputation >= MIN_REPUTATION)
                    .collect();
                Ok((manifest, rows, live))
            })
            .await?
    };
    let manifest = Manifest::parse(&hex::decode(manifest_hex).map_err(ApiError::internal)?)
        .map_err(ApiError::internal)?;
    let index = u32::try_from(segment).map_err(ApiError::internal)?;
    let k = usize::from(manifest.params().data_shards);
    if rows.iter().all(|r| r.healthy) {
        return respread(relay, object, segment, &rows, &live, k).await;
    }
    // Any k good shards, from the positions believed healthy, each checked against its id
    // before it counts: a holder that answers with garbage is skipped (its position marked lost
    // and the node marked down) and the next holder asked.
    let mut slots: Vec<Option<Vec<u8>>> = vec![None; rows.len()];
    let mut good = 0;
    for row in &mut rows {
        if good == k {
            break;
        }
        let (true, Some(endpoint), Some(node)) = (row.healthy, &row.endpoint, &row.node) else {
            continue;
        };
        let Some(id) = hex::decode(&row.shard)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(ShardId)
        else {
            continue;
        };
        let bytes = match storage::get_from_node(relay, endpoint, &row.shard, row.len).await {
            Ok(bytes) => bytes,
            Err(e) => {
                // Perhaps a bad minute; audits judge nodes that stay away.
                tracing::debug!(node = %node, shard = %row.shard, error = %e, "repair: holder did not serve the shard");
                continue;
            }
        };
        if !id.matches(&bytes) {
            tracing::warn!(node = %node, shard = %row.shard, "repair: holder served wrong bytes; its copy is lost");
            row.healthy = false;
            let (o, p, n) = (object.to_owned(), row.position, node.clone());
            relay
                .db
                .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
                    conn.execute("UPDATE shards SET stored = -1 WHERE object = $1 AND segment = $2 AND position = $3 AND node = $4 AND stored = 1", params![o, segment, p, n.clone()])?;
                    conn.execute("UPDATE nodes SET reputation = reputation - $1 WHERE address = $2", params![AUDIT_FAIL, n])?;
                    Ok(())
                })
                .await?;
            relay.metrics.audits_failed.fetch_add(1, Relaxed);
            continue;
        }
        if let Some(slot) = usize::try_from(row.position)
            .ok()
            .and_then(|p| slots.get_mut(p))
        {
            *slot = Some(bytes.to_vec());
            good += 1;
        }
    }
    let views: Vec<Option<&[u8]>> = slots.iter().map(|s| s.as_deref()).collect();
    let all = erasure::repair_segment(&manifest, index, &views)
        .map_err(|e| ApiError::internal(format!("segment {index}: {e}")))?;
    let mut rebuilt = 0;
    for PositionRow {
        position,
        shard,
        healthy,
        ..
    } in &rows
    {
        if *healthy {
            continue;
        }
        let Some(bytes) = usize::try_from(*position).ok().and_then(|p| all.get(p)) else {
            continue;
        };
        let (o, p) = (object.to_owned(), *position);
        // Free the position, then place it like an upload would.
        relay
            .db
            .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
                conn.execute(
                    "UPDATE shards SET node = NULL, stored = 0 WHERE object = $1 AND segment = $2 AND position = $3",
                    params![o, segment, p],
                )?;
                Ok(())
            })
            .await?;
        let placed = storage::place(relay, object, shard, &Bytes::from(bytes.clone())).await;
        if !matches!(&placed, Ok(nodes) if !nodes.is_empty()) {
            // No node took it (none has room, or all refused): the position is lost, not
            // "unplaced", or no later round would see it at risk and the object would stay a
            // shard short for good.
            let (o, p) = (object.to_owned(), *position);
            relay
                .db
                .write(move |conn: &mut dyn Conn| -> ApiResult<()> {
                    conn.execute(
                        "UPDATE shards SET stored = -1 WHERE object = $1 AND segment = $2 AND position = $3 AND node IS NULL",
                        params![o, segment, p],
                    )?;
                    Ok(())
                })
                .await?;
        }
        rebuilt += u64::try_from(placed?.len()).unwrap_or(0);
    }
    relay.metrics.shards_repaired.fetch_add(rebuilt, Relaxed);
    if rebuilt > 0 {
        tracing::info!(%object, segment, rebuilt, "segment repaired");
    }
    Ok(rebuilt)
}

/// Pays the nodes for every epoch that has ended and is not paid yet (docs/relay.md §7a).
pub async fn settle_round(relay: &AppState) -> ApiResult<earnings::Settled> {
    let storage = relay.config.storage.clone();
    let settled = relay
        .db
        .write(move |conn: &mut dyn Conn| earnings::settle(conn, &storage, clock::now_ms()))
        .await?;
    if settled.epochs > 0 {
        tracing::info!(
            epochs = settled.epochs,
            paid = settled.paid,
            "node earnings settled"
        );
    }
    Ok(settled)
}

/// Moves the shards of a whole segment that share a node (or a region) with another of its
/// shards to live nodes it does not use yet (in regions it does not use yet, when that is the
/// crowding), while such nodes exist: after a repair with too few nodes, the segment spreads
/// again once nodes come back or join. A shard is copied to its new node before its row
/// points there, so a failed move leaves it where it was. Returns the shards moved.
async fn respread(
    relay: &AppState,
    object: &str,
    segment: i64,
    rows: &[PositionRow],
    live: &[storage::NodeInfo],
    k: usize,
) -> ApiResult<u64> {
    let holders: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r.node.as_deref().unwrap_or_default(),
                r.region.as_deref().unwrap_or_default(),
            )
        })
        .collect();
    let spread = storage::spread(&holders, k);
    let mut used_nodes: Vec<String> = rows.iter().filter_map(|r| r.node.clone()).collect();
    let mut used_regions: Vec<String> = rows.iter().filter_map(|r| r.region.clone()).collect();
    // Regions held by a shard that is staying: a shard crowded by node frees no region when it
    // leaves, one crowded by region does.
    let moves = spread
        .crowded_on_node
        .iter()
        .map(|i| (*i, false))
        .chain(spread.crowded_in_region.iter().map(|i| (*i, true)));
    let mut moved = 0;
    for (i, needs_new_region) in moves {
        let Some(row) = rows.get(i) else { continue };
        let (Some(from), Some(endpoint)) = (&row.node, &row.endpoint) else {
            continue;
        };
        // A node the segment does not use, with room; a new region first, then the most room.
        let Some(target) = live
            .iter()
            .filter(|n| !used_nodes.contains(&n.address) && n.capacity - n.used >= row.len)
            .filter(|n| !needs_new_region || !used_regions.contains(&n.region))
            .min_by_key(|n| {
                (
                    used_regions.contains(&n.region),
                    std::cmp::Reverse(n.capacity - n.used),
                    n.address.clone(),
                )
            })
        else {
            continue;
        };
        let Some(id) = hex::decode(&row.shard)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(ShardId)
        else {
            continue;
        };
        let bytes = match storage::get_from_node(relay, endpoint, &row.shard, row.len).await {
            Ok(bytes) if id.matches(&bytes) => bytes,
            // Audits and the next repair judge the holder; the shard stays where it is.
            Ok(_) | Err(_) => continue,
        };
        if let Err(e) =
            storage::put_to_node(relay, &target.address, &target.endpoint, &row.shard, &bytes).await
        {
            tracing::debug!(node = %target.address, error = %e, "respread: the new node did not take the shard");
            continue;
        }
        let (o, p, from2, to, len) = (
            object.to_owned(),
            row.position,
            from.clone(),
            target.address.clone(),
            row.len,
        );
        let (shard, moved_row) = (row.shard.clone(), {
            relay
                .db
                .write(move |conn: &mut dyn Conn| -> ApiResult<bool> {
                    let n = conn.execute(
                        "UPDATE shards SET node = $1 WHERE object = $2 AND segment = $3 AND position = $4 AND node = $5 AND stored = 1",
                        params![to.clone(), o, segment, p, from2],
                    )?;
                    if n == 1 {
                        conn.execute(
                            "UPDATE nodes SET used = used + $1 WHERE address = $2",
                            params![len, to],
                        )?;
                    }
                    Ok(n == 1)
                })
                .await?
        });
        if !moved_row {
            continue;
        }
        moved += 1;
        used_nodes.push(target.address.clone());
        used_regions.push(target.region.clone());
        delete_if_unused(relay, from, endpoint, &shard).await;
    }
    if moved > 0 {
        relay.metrics.shards_repaired.fetch_add(moved, Relaxed);
        tracing::info!(%object, segment, moved, "segment spread again");
    }
    Ok(moved)
}

/// Asks `node` to delete its copy of `shard` when no shard row points there any more (the
/// same bytes may serve another position). Best effort: a copy left behind costs the node room,
/// not the network data.
async fn delete_if_unused(relay: &AppState, node: &str, endpoint: &str, shard: &str) {
    let (n, s) = (node.to_owned(), shard.to_owned());
    let still_used = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<bool> {
            Ok(conn
                .query_opt(
                    "SELECT 1 FROM shards WHERE node = $1 AND shard = $2 LIMIT 1",
                    params![n, s],
                )?
                .is_some())
        })
        .await;
    if !matches!(still_used, Ok(false)) {
        return;
    }
    if let Err(e) = storage::delete_from_node(relay, node, endpoint, shard).await {
        tracing::debug!(%node, %shard, error = %e, "respread: the old copy was not deleted");
    }
}

/// Deletes the digests of signed requests whose time is now outside the accepted skew (they
/// would be refused for their time anyway).
async fn forget_old_signed_requests(relay: &AppState) {
    let now = clock::now_ms();
    let forgotten = relay
        .db
        .write(move |conn: &mut dyn Conn| {
            conn.execute(
                "DELETE FROM signed_requests WHERE expires_ms < $1",
                params![now],
            )
        })
        .await;
    if let Err(e) = forgotten {
        tracing::warn!(error = %e, "forgetting old signed requests failed");
    }
}

/// Runs audits, repair and the nodes' pay until the task is dropped.
pub async fn run(relay: AppState) {
    let audit_every = relay.config.audit_interval_secs;
    let repair_every = relay.config.repair_interval_secs;
    let audits = {
        let relay = relay.clone();
        async move {
            if audit_every == 0 {
                return std::future::pending().await;
            }
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(audit_every));
            loop {
                tick.tick().await;
                if let Err(e) = audit_round(&relay).await {
                    tracing::warn!(error = %e.message, "audit round failed");
                }
            }
        }
    };
    let grace = relay.config.node_timeout_secs;
    let repairs = {
        let relay = relay.clone();
        async move {
            if repair_every == 0 {
                return std::future::pending().await;
            }
            // After a restart every node's last heartbeat is old: give them time to check in before
            // anything is judged dead.
            tokio::time::sleep(std::time::Duration::from_secs(grace)).await;
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(repair_every));
            loop {
                tick.tick().await;
                if let Err(e) = repair_round(&relay).await {
                    tracing::warn!(error = %e.message, "repair round failed");
                }
            }
        }
    };
    let reaper = {
        let relay = relay.clone();
        async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(REAP_EVERY_SECS));
            loop {
                tick.tick().await;
                forget_old_signed_requests(&relay).await;
                match storage::forget_stuck_placements(&relay, clock::now_ms()).await {
                    Ok(0) => {}
                    Ok(forgotten) => tracing::info!(
                        forgotten,
                        "placements cut short by a request that ended forgotten; their shards can be sent again"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e.message, "forgetting stuck placements failed")
                    }
                }
            }
        }
    };
    let pay = {
        let relay = relay.clone();
        // An epoch is paid within a minute of its end (sooner when epochs are short).
        let every = relay.config.storage.epoch_secs.clamp(1, 60);
        async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(every));
            loop {
                tick.tick().await;
                if let Err(e) = settle_round(&relay).await {
                    tracing::warn!(error = %e.message, "settling node earnings failed");
                }
            }
        }
    };
    let orphans = {
        let relay = relay.clone();
        async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Err(e) = crate::orphans::delete_round(&relay, clock::now_ms()).await {
                    tracing::warn!(error = %e.message, "deleting objects nobody refers to failed");
                }
            }
        }
    };
    tokio::join!(audits, repairs, reaper, pay, orphans);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn audits_grow_with_what_a_node_holds_up_to_the_cap() {
        assert_eq!(audits_for(0, 0.01, 32), 0);
        assert_eq!(audits_for(1, 0.01, 32), 1);
        assert_eq!(audits_for(100, 0.01, 32), 1);
        assert_eq!(audits_for(101, 0.01, 32), 2);
        assert_eq!(audits_for(1_000, 0.01, 32), 10);
        assert_eq!(audits_for(1_000_000, 0.01, 32), 32);
        assert_eq!(audits_for(5, 1.0, 32), 5);
        assert_eq!(audits_for(5, 0.5, 32), 3);
    }

    #[test]
    fn sampled_offsets_are_distinct_and_in_range() {
        for (n, count) in [(1, 1), (10, 10), (1_000, 32), (5, 3)] {
            let picked = distinct_below(n, count);
            assert_eq!(picked.len() as u64, count);
            assert!(picked.iter().all(|&p| p < n));
            assert!(picked.windows(2).all(|w| w[0] < w[1]), "{picked:?}");
        }
        // Every offset gets picked sometimes.
        let mut seen = [false; 10];
        for _ in 0..500 {
            for p in distinct_below(10, 2) {
                seen[usize::try_from(p).unwrap()] = true;
            }
        }
        assert!(seen.iter().all(|s| *s));
    }
}
