//! The relay's database: on SQLite one writer thread that commits in groups, on PostgreSQL a pool
//! of writers each running one write per transaction; a few reader threads; the same SQL on both.
//!
//! Every write goes through [`Db::write`], and its result is handed back only after its
//! transaction committed, so a caller that got `Ok` knows its write is durable (SQLite runs with
//! `synchronous=FULL`). On SQLite the closure runs on the writer thread inside its own savepoint
//! of a transaction shared with whatever other writes were queued meanwhile: one `fsync` is paid
//! per group rather than per request, and a closure that returns `Err` leaves no trace (its
//! savepoint is rolled back) without disturbing its neighbours; with a single writer, the
//! ledger's read-check-update sequences need no locking of their own. On PostgreSQL each write is
//! its own transaction on one of `writers` connections, so writes run in parallel exactly as those
//! of several relays sharing the database do (what keeps them consistent is in docs/relay.md
//! §10), and a write that lost a race to another is run again ([`Db::write_retrying`]).
//!
//! SQL is written once, with PostgreSQL's `$1` placeholders (rewritten to `?1` for SQLite), in the
//! common subset of both dialects: `BIGINT` and `TEXT` columns only, no `SUM` (a `NUMERIC` in
//! PostgreSQL), explicit `CAST(.. AS BIGINT)` where PostgreSQL could not infer a parameter's type.

mod leader;
mod pg_tls;
mod postgres;
mod sqlite;

pub use leader::{LOCK_KEY, Leadership};

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// A value bound to, or read from, a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A `BIGINT`.
    Int(i64),
    /// A `TEXT`.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// Builds a `&[Value]` from expressions that convert into [`Value`].
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Value::from($v)),*] };
}

/// One row of a result.
#[derive(Debug, Clone)]
pub struct Row(Vec<Value>);

impl Row {
    fn get(&self, i: usize) -> Result<&Value, DbError> {
        self.0.get(i).ok_or(DbError::Decode { column: i })
    }

    /// Column `i` as an integer.
    pub fn int(&self, i: usize) -> Result<i64, DbError> {
        match self.get(i)? {
            Value::Int(v) => Ok(*v),
            _ => Err(DbError::Decode { column: i }),
        }
    }

    /// Column `i` as text.
    pub fn text(&self, i: usize) -> Result<String, DbError> {
        match self.get(i)? {
            Value::Text(v) => Ok(v.clone()),
            _ => Err(DbError::Decode { column: i }),
        }
    }

    /// Column `i` as text, or `None` for `NULL`.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            Value::Int(_) => Err(DbError::Decode { column: i }),
        }
    }

    /// Column `i` as an integer, or `None` for `NULL`.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            Value::Text(_) => Err(DbError::Decode { column: i }),
        }
    }
}

/// A failure of the database itself (never of the caller's input).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DbError {
    /// The backend refused a statement or lost its connection.
    Backend(String),
    /// A column was missing or of another type than the code expects.
    Decode {
        /// The column's index.
        column: usize,
    },
    /// The database threads have stopped (the relay is shutting down).
    Closed,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Backend(message) => write!(f, "database error: {message}"),
            Self::Decode { column } => write!(f, "database returned an unexpected column {column}"),
            Self::Closed => f.write_str("database is shut down"),
        }
    }
}

impl std::error::Error for DbError {}

/// A connection, as the relay's code sees it: statements with positional parameters.
pub trait Conn {
    /// Runs a statement and returns how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
    /// Runs a query and returns its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError>;
    /// Runs several statements with no parameters (migrations, transaction control).
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
    /// The statement that opens a write transaction.
    fn begin_sql(&self) -> &'static str;

    /// Whether a statement failed, since the last call, because of a concurrent writer (a
    /// unique key taken meanwhile, a serialization failure, a deadlock) rather than of what the
    /// statement said: running the whole write again may then succeed. Clears the flag. Only
    /// PostgreSQL has concurrent writers; SQLite's single writer never sees one.
    fn take_conflict(&mut self) -> bool {
        false
    }

    /// Refreshes the planner's statistics of `table` after many rows were added to it, where the
    /// backend needs that: PostgreSQL plans from statistics that autovacuum refreshes only a
    /// minute or so later, and meanwhile took a campaign of 64,000 items for a handful of rows
    /// (a lease then sorted all of them: 0.5 s each, under the campaign's row lock). SQLite's
    /// planner needs none. Part of the caller's transaction.
    fn analyze(&mut self, _table: &str) -> Result<(), DbError> {
        Ok(())
    }

    /// Runs a query expected to return at most one row.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// The `VALUES` list of a multi-row insert: `rows` tuples of `columns` numbered parameters
/// (`$1` on), each followed by `constants` (e.g. `"NULL, 0"`; empty for none).
pub fn values_list(rows: usize, columns: usize, constants: &str) -> String {
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let mut fields: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            if !constants.is_empty() {
                fields.push(constants.to_owned());
            }
            format!("({})", fields.join(", "))
        })
        .collect();
    tuples.join(", ")
}

/// A connection that counts the statements run through it (tests measure a route's round
/// trips to the database with it).
pub struct Counted<'a> {
    conn: &'a mut dyn Conn,
    /// The statements run so far.
    pub statements: u32,
}

impl<'a> Counted<'a> {
    /// Counts what runs through `conn`, from zero.
    pub fn new(conn: &'a mut dyn Conn) -> Self {
        Self {
            conn,
            statements: 0,
        }
    }
}

impl Conn for Counted<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.statements += 1;
        self.conn.execute(sql, params)
    }
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        self.statements += 1;
        self.conn.query(sql, params)
    }
    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.statements += 1;
        self.conn.batch(sql)
    }
    fn begin_sql(&self) -> &'static str {
        self.conn.begin_sql()
    }
    fn take_conflict(&mut self) -> bool {
        self.conn.take_conflict()
    }
    fn analyze(&mut self, table: &str) -> Result<(), DbError> {
        self.statements += 1;
        self.conn.analyze(table)
    }
}

/// A connection that counts the statements sent through it into its [`Db`]'s total.
struct Counting {
    conn: Box<dyn Conn + Send>,
    statements: Arc<AtomicU64>,
}

impl Counting {
    fn count(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }
}

impl Conn for Counting {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.count();
        self.conn.execute(sql, params)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        self.count();
        self.conn.query(sql, params)
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.count();
        self.conn.batch(sql)
    }

    fn begin_sql(&self) -> &'static str {
        self.conn.begin_sql()
    }

    fn take_conflict(&mut self) -> bool {
        self.conn.take_conflict()
    }

    fn analyze(&mut self, table: &str) -> Result<(), DbError> {
        self.count();
        self.conn.analyze(table)
    }
}

/// Where the database lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// A SQLite file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL server (`postgres://user@host:port/db`).
    Postgres(String),
}

impl Location {
    /// `postgres://…` / `postgresql://…` URLs name a server; anything else is a SQLite file.
    pub fn parse(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres(url.to_owned())
        } else {
            Self::Sqlite(url.strip_prefix("sqlite://").unwrap_or(url).into())
        }
    }

    /// Which backend, for logs and metrics.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

type Deliver = Box<dyn FnOnce(Result<(), DbError>) + Send>;
type WriteJob = Box<dyn FnOnce(&mut dyn Conn) -> (bool, Deliver) + Send>;
type ReadJob = Box<dyn FnOnce(&mut dyn Conn) + Send>;

/// How one run of a [`Db::write_retrying`] write failed: by its own error (and whether a
/// concurrent writer caused it), or by the transaction's.
enum Attempt<E> {
    Failed(E, bool),
    Db(DbError),
}

impl<E> From<DbError> for Attempt<E> {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

/// How many times [`Db::write_retrying`] runs a write again after a conflict.
const CONFLICT_RETRIES: usize = 4;

/// Up to a millisecond, so that writers that collided do not collide again in step.
fn rand_jitter() -> u16 {
    let [a, b] = crate::clock::random::<2>();
    u16::from_le_bytes([a, b]) % 1000
}

/// The most writes committed together.
const MAX_GROUP: usize = 512;

/// Handle to the database threads; cheap to clone.
#[derive(Clone)]
pub struct Db {
    writer: flume::Sender<WriteJob>,
    readers: flume::Sender<ReadJob>,
    backend: &'static str,
    /// Statements sent so far ([`Self::statements`]).
    statements: Arc<AtomicU64>,
}

impl Db {
    /// Opens the database, applies migrations and starts the writer and `readers` reader threads.
    pub fn open(location: &Location, readers: usize) -> Result<Self, DbError> {
        Self::open_with(location, readers, 1)
    }

    /// Like [`Self::open`], with `writers` writer threads on PostgreSQL (one on SQLite), each
    /// taking the next queued write and running it in its own transaction.
    pub fn open_with(location: &Location, readers: usize, writers: usize) -> Result<Self, DbError> {
        let (write_tx, write_rx) = flume::unbounded::<WriteJob>();
        let statements = Arc::new(AtomicU64::new(0));
        let writers = match location {
            Location::Sqlite(_) => 1,
            Location::Postgres(_) => writers.max(1),
        };
        // SQLite commits groups (one fsync for many writes, one writer anyway); PostgreSQL runs
        // each write in its own short transaction on a pool of writers, which the server commits
        // together on its own (its WAL flush serves every commit waiting for it).
        let grouped = matches!(location, Location::Sqlite(_));
        for i in 0..writers {
            let rx = write_rx.clone();
            // Connections are made on their own threads: the synchronous PostgreSQL client must
            // never block an async runtime's thread, and `open` may be called from one.
            start(
                location,
                &format!("db-writer-{i}"),
                &statements,
                move |mut conn| {
                    if i == 0 {
                        migrate(conn.as_mut())?;
                    }
                    Ok(move || {
                        if grouped {
                            write_loop(conn, &rx);
                        } else {
                            write_each(conn, &rx);
                        }
                    })
                },
            )?;
        }
        let (read_tx, read_rx) = flume::unbounded::<ReadJob>();
        for i in 0..readers.max(1) {
            let rx = read_rx.clone();
            start(
                location,
                &format!("db-reader-{i}"),
                &statements,
                move |mut conn| {
                    Ok(move || {
                        while let Ok(job) = rx.recv() {
                            job(conn.as_mut());
                        }
                    })
                },
            )?;
        }
        Ok(Self {
            writer: write_tx,
            readers: read_tx,
            backend: location.backend(),
            statements,
        })
    }

    /// Statements sent to the database through this handle's connections so far (each
    /// `execute`, `query` and `batch`, transaction control and savepoints included): what
    /// requests cost the database, measured rather than counted by hand in a server log.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Runs `f` in the next write transaction; returns once that transaction committed. If `f`
    /// returns `Err`, its changes are rolled back (and only its).
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut dyn Conn) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            let result = f(conn);
            let keep = result.is_ok();
            let deliver: Deliver = Box::new(move |committed| {
                let _ = tx.send(match (result, committed) {
                    (Ok(_), Err(e)) => Err(E::from(e)),
                    (result, _) => result,
                });
            });
            (keep, deliver)
        });
        self.writer
            .send_async(job)
            .await
            .map_err(|_| E::from(DbError::Closed))?;
        rx.await.map_err(|_| E::from(DbError::Closed))?
    }

    /// Like [`Self::write`], for an idempotent `f` (one that first looks for what an earlier run
    /// committed): runs it again (a few times, after a short wait) when it failed because of a
    /// concurrent writer ([`Conn::take_conflict`]): another relay or writer sharing the database
    /// committed the same row meanwhile, and the next run sees that row and answers as a retry
    /// would. On PostgreSQL a run that failed for any other reason is also run once more: each
    /// statement sees what was committed when it started (READ COMMITTED), so a run may have
    /// looked for an earlier run's row just before that run committed, and then seen its effect
    /// (a lease already answered) and failed on it.
    pub async fn write_retrying<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: Fn(&mut dyn Conn) -> Result<T, E> + Send + Sync + 'static,
    {
        let f = std::sync::Arc::new(f);
        let mut wait = Duration::from_millis(2);
        let mut second_look = self.backend == "sqlite";
        for attempt in 0..=CONFLICT_RETRIES {
            let run = f.clone();
            let last = attempt == CONFLICT_RETRIES;
            let result = self
                .write(move |conn: &mut dyn Conn| {
                    conn.take_conflict();
                    // An `Err` rolls the attempt back (its savepoint), conflict or not.
                    run(conn).map_err(|e| Attempt::Failed(e, !last && conn.take_conflict()))
                })
                .await;
            match result {
                Ok(value) => return Ok(value),
                Err(Attempt::Failed(e, false)) if second_look => return Err(e),
                Err(Attempt::Failed(_, false)) => {
                    second_look = true;
                    continue;
                }
                Err(Attempt::Db(e)) => return Err(E::from(e)),
                Err(Attempt::Failed(_, true)) => {}
            }
            tokio::time::sleep(wait + Duration::from_micros(u64::from(rand_jitter()))).await;
            wait = wait.saturating_mul(2);
        }
        Err(E::from(DbError::Backend(
            "a write kept conflicting with other writers".into(),
        )))
    }

    /// Runs `f` on a reader connection (it sees every committed write).
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut dyn Conn) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        self.readers
            .send_async(job)
            .await
            .map_err(|_| E::from(DbError::Closed))?;
        rx.await.map_err(|_| E::from(DbError::Closed))?
    }
}

/// Starts a thread that connects, runs `setup` and then the loop `setup` returns; waits until
/// the connection and setup succeeded or failed.
fn start<L>(
    location: &Location,
    name: &str,
    statements: &Arc<AtomicU64>,
    setup: impl FnOnce(Box<dyn Conn + Send>) -> Result<L, DbError> + Send + 'static,
) -> Result<(), DbError>
where
    L: FnOnce() + 'static,
{
    let location = location.clone();
    let statements = statements.clone();
    let read_only = !name.starts_with("db-writer");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            match connect(&location, read_only)
                .map(|conn| -> Box<dyn Conn + Send> { Box::new(Counting { conn, statements }) })
                .and_then(setup)
            {
                Ok(run) => {
                    let _ = ready_tx.send(Ok(()));
                    run();
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        })
        .map_err(|e| DbError::Backend(format!("cannot start a database thread: {e}")))?;
    ready_rx.recv().map_err(|_| DbError::Closed)?
}

fn connect(location: &Location, read_only: bool) -> Result<Box<dyn Conn + Send>, DbError> {
    Ok(match location {
        Location::Sqlite(path) => Box::new(sqlite::SqliteConn::open(path, read_only)?),
        Location::Postgres(url) => Box::new(postgres::PgConn::connect(url)?),
    })
}

/// Creates the SQLite file's folder if needed.
pub fn prepare_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

/// How long the writer keeps gathering writes after the first of a group while more keep coming.
/// A commit costs an fsync (milliseconds on common disks), so a group that waits a little for the
/// writes already on their way commits many for the price of one.
const GATHER: Duration = Duration::from_micros(1500);
/// Gathering stops when no write arrived for this long.
const QUIET: Duration = Duration::from_micros(150);

fn write_loop(mut conn: Box<dyn Conn + Send>, jobs: &flume::Receiver<WriteJob>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        let deadline = Instant::now() + GATHER;
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    match jobs.recv_timeout(QUIET.min(deadline - now)) {
                        Ok(job) => group.push(job),
                        Err(_) => break,
                    }
                }
            }
        }
        let result = run_group(conn.as_mut(), group);
        if let Err((e, delivers)) = result {
            tracing::error!(error = %e, "write transaction failed; rolled back");
            let _ = conn.batch("ROLLBACK");
            for deliver in delivers {
                deliver(Err(e.clone()));
            }
        }
    }
}

/// One transaction per write (PostgreSQL): a write holds its row locks only for its own
/// statements and commit, never behind hundreds of others, so writers in parallel (threads of
/// this relay, or other relays) wait little for each other and seldom deadlock; and no
/// savepoint is needed, since a failed write rolls back its own transaction.
fn write_each(mut conn: Box<dyn Conn + Send>, jobs: &flume::Receiver<WriteJob>) {
    while let Ok(job) = jobs.recv() {
        let begin = conn.begin_sql();
        if let Err(e) = conn.batch(begin) {
            // Dropping the job tells its caller `Closed`; the next write connects again.
            tracing::error!(error = %e, "cannot begin a write transaction");
            drop(job);
            continue;
        }
        let (keep, deliver) = job(conn.as_mut());
        if !keep {
            // The write's own error is what its caller gets, whatever the rollback says.
            let _ = conn.batch("ROLLBACK");
            deliver(Ok(()));
            continue;
        }
        match conn.batch("COMMIT") {
            Ok(()) => deliver(Ok(())),
            Err(e) => {
                tracing::error!(error = %e, "write transaction failed; rolled back");
                let _ = conn.batch("ROLLBACK");
                deliver(Err(e));
            }
        }
    }
}

/// Runs a group of writes in one transaction. On success every caller has been answered; on
/// failure the callers still waiting are returned so they can be told.
fn run_group(conn: &mut dyn Conn, group: Vec<WriteJob>) -> Result<(), (DbError, Vec<Deliver>)> {
    let mut delivers = Vec::with_capacity(group.len());
    let begin = conn.begin_sql();
    if let Err(e) = conn.batch(begin) {
        // Nothing ran; dropping the jobs tells their callers `Closed`.
        return Err((e, delivers));
    }
    for job in group {
        if let Err(e) = conn.execute("SAVEPOINT job", &[]) {
            return Err((e, delivers));
        }
        let (keep, deliver) = job(conn);
        delivers.push(deliver);
        let end = if keep {
            conn.execute("RELEASE SAVEPOINT job", &[])
        } else {
            conn.execute("ROLLBACK TO SAVEPOINT job", &[])
                .and_then(|_| conn.execute("RELEASE SAVEPOINT job", &[]))
        };
        if let Err(e) = end {
            return Err((e, delivers));
        }
    }
    match conn.batch("COMMIT") {
        Ok(()) => {
            for deliver in delivers {
                deliver(Ok(()));
            }
            Ok(())
        }
        Err(e) => Err((e, delivers)),
    }
}

/// The schema, in order. Each entry is applied once, in a transaction, and recorded.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_initial.sql")),
    (2, include_str!("../../migrations/0002_quality.sql")),
    (3, include_str!("../../migrations/0003_validation.sql")),
    (4, include_str!("../../migrations/0004_funding.sql")),
    (5, include_str!("../../migrations/0005_chain.sql")),
    (6, include_str!("../../migrations/0006_node_admission.sql")),
    (
        7,
        include_str!("../../migrations/0007_session_revocation.sql"),
    ),
    (8, include_str!("../../migrations/0008_upload_once.sql")),
    (9, include_str!("../../migrations/0009_node_earnings.sql")),
    (10, include_str!("../../migrations/0010_cheaters.sql")),
    (11, include_str!("../../migrations/0011_replicas.sql")),
    (12, include_str!("../../migrations/0012_compute.sql")),
    (13, include_str!("../../migrations/0013_consent.sql")),
    (14, include_str!("../../migrations/0014_appeals.sql")),
    (15, include_str!("../../migrations/0015_receipts.sql")),
    (16, include_str!("../../migrations/0016_pay_hold.sql")),
    (17, include_str!("../../migrations/0017_grants.sql")),
    (18, include_str!("../../migrations/0018_preannotation.sql")),
];

fn migrate(conn: &mut dyn Conn) -> Result<(), DbError> {
    conn.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let done = conn
            .query_opt(
                "SELECT version FROM schema_migrations WHERE version = $1",
                params![*version],
            )?
            .is_some();
        if done {
            continue;
        }
        let begin = conn.begin_sql();
        conn.batch(begin)?;
        let applied = conn.batch(sql).and_then(|()| {
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)",
                params![*version, crate::clock::now_ms()],
            )
        });
        match applied {
            Ok(_) => conn.batch("COMMIT")?,
            Err(e) => {
                let _ = conn.batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_values_list_numbers_every_parameter_once() {
        assert_eq!(super::values_list(2, 2, "0"), "($1, $2, 0), ($3, $4, 0)");
        assert_eq!(super::values_list(1, 3, ""), "($1, $2, $3)");
        assert_eq!(super::values_list(0, 3, "0"), "");
    }
}
