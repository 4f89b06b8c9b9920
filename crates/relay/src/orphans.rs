//! Objects nobody refers to are deleted (docs/relay.md §7, "Metering"): an object no
//! submission names, whose uploader is no requester, is deleted from its nodes (each shard by a
//! delete signed by the relay; nodes refuse a replayed one) and then from the database, once
//! older than `storage.orphan_grace_secs`.
//!
//! Requesters' own uploads are kept: a campaign's items may name objects (`object`), and items
//! are not indexed by the objects they name, so an uploader who owns a campaign or has funds is
//! taken to need them. Everything else that is stored was uploaded for a task and submitted
//! within the lease (at most a day), or was never submitted and is paid for by no one.

use crate::db::Conn;
use crate::error::ApiResult;
use crate::{AppState, params};

/// Objects looked at per round.
const BATCH: i64 = 32;

/// The condition, on `objects o`, of an object nobody refers to, created before `$1`.
const ORPHAN: &str = "o.created_ms < $1 AND NOT EXISTS (SELECT 1 FROM submissions s WHERE s.manifest = o.id) AND NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.owner = o.uploader) AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.owner = o.uploader AND a.kind = 'funding')";

/// A placed shard of an orphan.
struct Placed {
    segment: i64,
    position: i64,
    shard: String,
    node: String,
    endpoint: String,
    len: i64,
    stored: bool,
}

/// Deletes up to a batch of objects nobody has referred to since before `now_ms` minus the
/// grace period; how many objects are gone.
pub async fn delete_round(relay: &AppState, now_ms: i64) -> ApiResult<u64> {
    let grace_ms = i64::try_from(relay.config.storage.orphan_grace_secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    let before = now_ms.saturating_sub(grace_ms);
    let objects = relay
        .db
        .read(move |conn: &mut dyn Conn| -> ApiResult<Vec<String>> {
            conn.query(
                &format!(
                    "SELECT o.id FROM objects o WHERE {ORPHAN} ORDER BY o.created_ms LIMIT $2"
                ),
                params![before, BATCH],
            )?
            .iter()
            .map(|r| Ok(r.text(0)?))
            .collect()
        })
        .await?;
    let mut gone = 0;
    for object in objects {
        if delete_object(relay, &object, before).await? {
            gone += 1;
        }
    }
    Ok(gone)
}

/// Deletes `object`'s shards from their nodes, forgetting each one a node confirmed, then the
/// object once it has none left; whether it is gone. A node that does not answer keeps its
/// shard (and the row) until a later round.
async fn delete_object(relay: &AppState, object: &str, before: i64) -> ApiResult<bool> {
    let placed = {
        let object = object.to_owned();
        relay
            .db
            .read(move |conn: &mut dyn Conn| -> ApiResult<Vec<Placed>> {
                conn.query(
                    "SELECT s.segment, s.position, s.shard, s.node, n.endpoint, s.len, s.stored FROM shards s JOIN nodes n ON n.address = s.node WHERE s.object = $1",
                    params![object],
                )?
                .iter()
                .map(|r| {
                    Ok(Placed {
                        segment: r.int(0)?,
                        position: r.int(1)?,
                        shard: r.text(2)?,
                        node: r.text(3)?,
                        endpoint: r.text(4)?,
                        len: r.int(5)?,
                        stored: r.int(6)? == 1,
                    })
                })
                .collect()
            })
            .await?
    };
    let mut deleted = Vec::new();
    for shard in placed {
        match crate::storage::delete_from_node(relay, &shard.node, &shard.endpoint, &shard.shard)
            .await
        {
            Ok(()) => deleted.push(shard),
            Err(e) => {
                tracing::debug!(node = %shard.node, shard = %shard.shard, error = %e, "orphan shard not deleted yet")
            }
        }
    }
    let object = object.to_owned();
    relay
        .db
        .write(move |conn: &mut dyn Conn| -> ApiResult<bool> {
            for shard in &deleted {
                conn.execute(
                    "DELETE FROM shards WHERE object = $1 AND segment = $2 AND position = $3 AND node = $4",
                    params![object.clone(), shard.segment, shard.position, shard.node.clone()],
                )?;
                if shard.stored {
                    conn.execute(
                        "UPDATE nodes SET used = CASE WHEN used > $1 THEN used - $1 ELSE 0 END WHERE address = $2",
                        params![shard.len, shard.node.clone()],
                    )?;
                }
            }
            // Positions never placed have nothing on a node.
            conn.execute(
                "DELETE FROM shards WHERE object = $1 AND node IS NULL",
                params![object.clone()],
            )?;
            let left = conn
                .query_opt("SELECT COUNT(*) FROM shards WHERE object = $1", params![object.clone()])?
                .map(|r| r.int(0))
                .transpose()?
                .unwrap_or(0);
            if left > 0 {
                return Ok(false);
            }
            // Checked again in this write: a submission naming it since keeps the row.
            let gone = conn.execute(
                &format!("DELETE FROM objects WHERE id IN (SELECT o.id FROM objects o WHERE o.id = $2 AND {ORPHAN})"),
                params![before, object.clone()],
            )?;
            if gone > 0 {
                tracing::info!(%object, "object nobody refers to deleted");
            }
            Ok(gone > 0)
        })
        .await
}
