//! Golden items: when each contributor gets one, and which.

use super::contributor::LeaseRecord;
use crate::db::Conn;
use crate::error::ApiResult;
use crate::params;
use crate::spec::Settings;

/// The key of the hash that places golden items: derived from the relay's own secret key, so
/// that nobody who knows this code can tell from an address when golden items come, while a
/// relay keeps placing them the same way across restarts.
pub fn golden_secret(relay_key: &datahub_core::SecretKey) -> [u8; 32] {
    blake3::derive_key(
        "DataHub relay 2026 golden item placement",
        relay_key.to_bytes().as_slice(),
    )
}

/// A number in [0, 1) from a keyed hash of `parts`.
fn unit_hash(secret: &[u8; 32], parts: &[&str]) -> f64 {
    let mut hasher = blake3::Hasher::new_keyed(secret);
    for p in parts {
        hasher.update(p.as_bytes());
        hasher.update(&[0]);
    }
    let bytes = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(bytes.as_bytes().get(..8).unwrap_or(&[0; 8]));
    (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether the next task of a contributor who had `tasks` tasks, `golden_seen` of them golden,
/// is golden: when `golden_seen + u ≤ share × (tasks + 1)`, `u` in [0, 1) keyed per contributor
/// and golden item.
fn golden_due(
    secret: &[u8; 32],
    campaign: &str,
    worker: &str,
    golden_seen: i64,
    tasks: i64,
    share: f64,
) -> bool {
    let u = unit_hash(secret, &[campaign, worker, &golden_seen.to_string()]);
    golden_seen as f64 + u <= share * (tasks + 1) as f64
}

/// The golden item to lease next to this contributor, if it is golden's turn and one is left
/// that they have not seen. The `g`-th golden item comes once `share × tasks` passes `g + u_g`
/// with `u_g` drawn per contributor: over time the share is exact, but where each one falls
/// is not predictable (the first within the first `1 / share` tasks). `secret` is
/// [`golden_secret`].
/// `record` is the contributor's as the lease read it (`gate`); `golden_items` the campaign's
/// count of golden items (none: nothing to deal).
pub fn golden_turn(
    conn: &mut dyn Conn,
    settings: &Settings,
    secret: &[u8; 32],
    campaign: &str,
    worker: &str,
    LeaseRecord(record): &LeaseRecord,
    golden_items: i64,
) -> ApiResult<Option<(i64, String)>> {
    if settings.golden_share <= 0.0 || golden_items == 0 {
        return Ok(None);
    }
    let due = golden_due(
        secret,
        campaign,
        worker,
        record.golden_seen,
        record.tasks,
        settings.golden_share,
    );
    if !due {
        return Ok(None);
    }
    let pick = unit_hash(
        secret,
        &[campaign, worker, "pick", &record.tasks.to_string()],
    );
    // Golden answers wait until their item has a group as large as an item's overlap (see
    // `tasks::Verdict::AwaitGolden`): a group already open is filled first, so that nobody's
    // golden answer waits longer than an ordinary one; otherwise any golden item they have
    // not had, drawn per contributor.
    let open = "AND EXISTS (SELECT 1 FROM submissions s WHERE s.campaign = items.campaign AND s.idx = items.idx AND s.status = 'pending')";
    for filter in [open, ""] {
        if let Some(item) = draw_unseen(conn, campaign, worker, filter, pick)? {
            return Ok(Some(item));
        }
    }
    Ok(None)
}

/// The golden item at `pick` (in [0, 1)) among those `worker` has not had that pass `filter`.
fn draw_unseen(
    conn: &mut dyn Conn,
    campaign: &str,
    worker: &str,
    filter: &str,
    pick: f64,
) -> ApiResult<Option<(i64, String)>> {
    let unseen = format!(
        "FROM items WHERE campaign = $1 AND golden IS NOT NULL AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.campaign = items.campaign AND l.idx = items.idx AND l.worker = $2) {filter}"
    );
    let rows = conn.query(
        &format!("SELECT COUNT(*) {unseen}"),
        params![campaign, worker],
    )?;
    let count = rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
    if count == 0 {
        return Ok(None);
    }
    let offset = ((pick * count as f64) as i64).clamp(0, count - 1);
    let row = conn.query_opt(
        &format!("SELECT idx, payload {unseen} ORDER BY idx LIMIT 1 OFFSET $3"),
        params![campaign, worker, offset],
    )?;
    row.map(|r| Ok((r.int(0)?, r.text(1)?))).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_turns_keep_the_share_and_differ_by_secret() {
        let turns = |secret: &[u8; 32]| -> Vec<i64> {
            let (mut g, mut out) = (0_i64, Vec::new());
            for n in 0..100 {
                if golden_due(secret, "c", "w", g, n, 0.2) {
                    g += 1;
                    out.push(n);
                }
            }
            out
        };
        let a = turns(&[1; 32]);
        let b = turns(&[2; 32]);
        assert!((19..=21).contains(&a.len()), "{a:?}");
        assert!(a.first().is_some_and(|n| *n < 5), "{a:?}");
        assert_ne!(a, b);
    }
}
