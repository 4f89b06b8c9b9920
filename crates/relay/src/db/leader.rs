//! One leader for background work among the relays sharing a database.
//!
//! Audits, repair, sweeps, epoch settlement and the chain watcher must run in one relay only:
//! two would audit every node twice, race each other's repairs and read the chain twice. On
//! PostgreSQL the leader is the relay holding a session-level advisory lock
//! (`pg_try_advisory_lock`) on a connection of its own. The lock lives exactly as long as that
//! connection, so a leader that dies (or is cut off) frees it, and another relay, trying every
//! `check` interval, takes over. A SQLite database has one relay, always the leader.
//!
//! **Invariant:** a relay runs background work only while [`Leadership::is_leader`]; a leader
//! whose connection fails steps down at its next check, before another can have taken over by
//! more than that interval.

use std::time::Duration;

use tokio::sync::watch;

use super::{DbError, Location};

/// The advisory lock's key: "datahub!" in ASCII, so that it is recognisable in `pg_locks`.
pub const LOCK_KEY: i64 = 0x6461_7461_6875_6221;

/// Whether this relay leads; follows the database's lock. Dropping it gives up the lock.
pub struct Leadership {
    state: watch::Receiver<bool>,
    // Kept so that a SQLite relay's state never reports its sender gone.
    _always: Option<watch::Sender<bool>>,
}

impl Leadership {
    /// Starts following the lock of the database at `location`; `check` is how often a
    /// follower tries to take the lock and a leader checks its connection.
    pub fn start(location: &Location, check: Duration) -> Result<Self, DbError> {
        match location {
            Location::Sqlite(_) => {
                let (tx, rx) = watch::channel(true);
                Ok(Self {
                    state: rx,
                    _always: Some(tx),
                })
            }
            Location::Postgres(url) => {
                let (tx, rx) = watch::channel(false);
                let url = url.clone();
                std::thread::Builder::new()
                    .name("db-leader".into())
                    .spawn(move || follow(&url, check, &tx))
                    .map_err(|e| {
                        DbError::Backend(format!("cannot start the leader thread: {e}"))
                    })?;
                Ok(Self {
                    state: rx,
                    _always: None,
                })
            }
        }
    }

    /// Whether this relay leads now.
    pub fn is_leader(&self) -> bool {
        *self.state.borrow()
    }

    /// Waits until this relay leads (`true`) or no longer does (`false`).
    pub async fn wait_for(&mut self, leading: bool) {
        if self.state.wait_for(|now| *now == leading).await.is_err() {
            // The thread ended: only when `self` is being dropped; never lead again.
            std::future::pending::<()>().await;
        }
    }
}

/// The leader thread: connect, try the lock until it is ours, then hold it while the connection
/// answers; start again after a failure. Ends (closing the connection, so freeing the lock) once
/// the [`Leadership`] is dropped.
fn follow(url: &str, check: Duration, state: &watch::Sender<bool>) {
    while !state.is_closed() {
        let mut client = match super::postgres::client(url) {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e, "leader election: cannot connect; trying again");
                std::thread::sleep(check);
                continue;
            }
        };
        loop {
            if state.is_closed() {
                return;
            }
            let answer = if *state.borrow() {
                // Leading: the lock is held as long as the connection is; check it still is.
                client.query_one("SELECT true", &[])
            } else {
                client.query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
            };
            match answer.and_then(|row| row.try_get::<_, bool>(0)) {
                Ok(true) if !*state.borrow() => {
                    tracing::info!("this relay now leads background work");
                    state.send_replace(true);
                }
                Ok(_) => {}
                Err(e) => {
                    if state.send_replace(false) {
                        tracing::warn!(error = %e, "leader election: connection lost; no longer leading");
                    }
                    break;
                }
            }
            std::thread::sleep(check);
        }
    }
}
