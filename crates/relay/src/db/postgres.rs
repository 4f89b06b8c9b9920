//! PostgreSQL through the synchronous `postgres` client (it runs on the database threads, never
//! on the async runtime), with prepared statements cached per connection.

use std::collections::HashMap;
use std::error::Error as _;

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};

use super::{Conn, DbError, Row, Value};

pub(super) struct PgConn {
    url: String,
    client: Client,
    statements: HashMap<String, Statement>,
    /// A statement failed because of another writer since [`Conn::take_conflict`] last asked.
    conflict: bool,
}

/// Failures caused by a concurrent transaction, not by the statement: a unique key another
/// transaction committed meanwhile, a serialization failure, a deadlock.
fn is_conflict(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|code| {
        *code == SqlState::UNIQUE_VIOLATION
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
    })
}

fn backend(e: postgres::Error) -> DbError {
    // The server's own message (e.g. which constraint) is more useful than the wrapper's.
    match e.source() {
        Some(source) => DbError::Backend(format!("{e}: {source}")),
        None => DbError::Backend(e.to_string()),
    }
}

/// A connection to the server at `url`, over TLS when its `sslmode` asks for it
/// ([`super::pg_tls`]).
pub(super) fn client(url: &str) -> Result<Client, DbError> {
    let target = super::pg_tls::target(url).map_err(DbError::Backend)?;
    match &target.tls {
        None => Client::connect(&target.url, NoTls).map_err(backend),
        Some(tls) => {
            let connector = tls.connector().map_err(DbError::Backend)?;
            Client::connect(&target.url, connector).map_err(backend)
        }
    }
}

impl PgConn {
    pub(super) fn connect(url: &str) -> Result<Self, DbError> {
        let client = client(url)?;
        Ok(Self {
            url: url.to_owned(),
            client,
            statements: HashMap::new(),
            conflict: false,
        })
    }

    fn failed(&mut self, e: postgres::Error) -> DbError {
        self.conflict |= is_conflict(&e);
        backend(e)
    }

    /// Connects again when the server closed the connection (a restart, a failover): the
    /// statement that saw it close failed (and with it its transaction); the next one runs on a
    /// new connection, so the relay recovers without a restart of its own.
    fn reconnect_if_closed(&mut self) -> Result<(), DbError> {
        if self.client.is_closed() {
            self.client = client(&self.url)?;
            self.statements.clear();
            tracing::info!("reconnected to PostgreSQL");
        }
        Ok(())
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        self.reconnect_if_closed()?;
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = match self.client.prepare(sql) {
            Ok(stmt) => stmt,
            Err(e) => return Err(self.failed(e)),
        };
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Self::Int(v) => v.to_sql(ty, out),
            Self::Text(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8 | Type::INT4 | Type::TEXT | Type::VARCHAR | Type::BPCHAR
        )
    }

    to_sql_checked!();
}

fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl Conn for PgConn {
    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<u64, DbError> {
        let stmt = self.statement(sql)?;
        match self.client.execute(&stmt, &params(values)) {
            Ok(n) => Ok(n),
            Err(e) => Err(self.failed(e)),
        }
    }

    fn query(&mut self, sql: &str, values: &[Value]) -> Result<Vec<Row>, DbError> {
        let stmt = self.statement(sql)?;
        let rows = match self.client.query(&stmt, &params(values)) {
            Ok(rows) => rows,
            Err(e) => return Err(self.failed(e)),
        };
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        let ty = row.columns().get(i).map(|c| c.type_().clone());
                        let decode = |_| DbError::Decode { column: i };
                        Ok(match ty {
                            Some(Type::INT8) => {
                                row.try_get::<_, Option<i64>>(i).map_err(decode)?.into()
                            }
                            Some(Type::INT4) => row
                                .try_get::<_, Option<i32>>(i)
                                .map_err(decode)?
                                .map(i64::from)
                                .into(),
                            Some(Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME) => {
                                row.try_get::<_, Option<String>>(i).map_err(decode)?.into()
                            }
                            _ => return Err(DbError::Decode { column: i }),
                        })
                    })
                    .collect::<Result<Vec<Value>, DbError>>()
                    .map(Row)
            })
            .collect()
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.reconnect_if_closed()?;
        match self.client.batch_execute(sql) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.failed(e)),
        }
    }

    fn analyze(&mut self, table: &str) -> Result<(), DbError> {
        self.batch(&format!("ANALYZE {table}"))
    }

    fn take_conflict(&mut self) -> bool {
        std::mem::take(&mut self.conflict)
    }

    fn begin_sql(&self) -> &'static str {
        "BEGIN"
    }
}
