//! SQLite through rusqlite: WAL, `synchronous=FULL`, cached prepared statements.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use super::{Conn, DbError, Row, Value};

pub(super) struct SqliteConn(Connection);

fn backend(e: rusqlite::Error) -> DbError {
    DbError::Backend(e.to_string())
}

impl SqliteConn {
    pub(super) fn open(path: &Path, read_only: bool) -> Result<Self, DbError> {
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        if !read_only {
            super::prepare_dir(path)
                .map_err(|e| DbError::Backend(format!("cannot create {}: {e}", path.display())))?;
        }
        let conn = Connection::open_with_flags(path, flags).map_err(backend)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(backend)?;
        conn.set_prepared_statement_cache_capacity(256);
        // The ledger's durability rests on these: a commit is on disk when it returns.
        let pragmas = if read_only {
            "PRAGMA query_only = ON; PRAGMA cache_size = -32768; PRAGMA mmap_size = 268435456;"
        } else {
            "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456; PRAGMA wal_autocheckpoint = 8192;"
        };
        conn.execute_batch(pragmas).map_err(backend)?;
        Ok(Self(conn))
    }
}

/// `$1` → `?1`: SQLite reads `$1` as a *named* parameter numbered by first appearance, which
/// would silently misbind SQL that uses `$2` before `$1`.
fn numbered(sql: &str) -> Cow<'_, str> {
    if sql.contains('$') {
        Cow::Owned(sql.replace('$', "?"))
    } else {
        Cow::Borrowed(sql)
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Self::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Self::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Self::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
        })
    }
}

impl Conn for SqliteConn {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let mut stmt = self.0.prepare_cached(&numbered(sql)).map_err(backend)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params))
            .map_err(backend)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let mut stmt = self.0.prepare_cached(&numbered(sql)).map_err(backend)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(backend)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(backend)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i).map_err(backend)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Real(_) | ValueRef::Blob(_) => {
                        return Err(DbError::Decode { column: i });
                    }
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.0.execute_batch(sql).map_err(backend)
    }

    fn begin_sql(&self) -> &'static str {
        // Take the write lock at once, so a transaction never fails half-way on a busy lock.
        "BEGIN IMMEDIATE"
    }
}
