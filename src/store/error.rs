//! The one database error, and the one place that decides "the database is unavailable".

use deadpool_postgres::PoolError;

type Source = Box<dyn std::error::Error + Send + Sync>;

/// Each message includes its cause (no `source()`), so `{e}` in a log line says it all.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL cannot be reached, refused or dropped the connection, is shutting down,
    /// or the pool waited too long for a connection: try again later.
    #[error("the database is unavailable: {0}")]
    Unavailable(Source),
    /// PostgreSQL answered with an error: a bug on our side or a schema it does not know.
    #[error("the database answered with an error: {0}")]
    Query(tokio_postgres::Error),
    /// PostgreSQL is there but every pooled connection is taken, or a statement ran past
    /// `statement_timeout` (a lock held elsewhere, say): try again later.
    #[error("the database is busy: {0}")]
    Busy(Source),
    /// The database did not answer a statement within this long (a stopped server).
    #[error("the database did not answer within {} s", .0.as_secs())]
    Timeout(std::time::Duration),
    /// The schema is not this binary's: migrations pending, or a newer maia's.
    #[error("{0}")]
    Schema(#[from] SchemaMismatch),
    /// A migration failed to apply.
    #[error("migration failed: {0}")]
    Migration(Source),
    /// The connection could not be set up (TLS roots, CA file, connection string).
    #[error("{0}")]
    Setup(String),
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// PostgreSQL's own words for a statement it refused (a constraint, a value its column
    /// cannot hold), for the owner at the command line; never for an HTTP answer.
    pub fn refusal(&self) -> Option<String> {
        match self {
            StoreError::Query(e) => e.as_db_error().map(|db| db.message().to_string()),
            _ => None,
        }
    }

    /// Worth trying again shortly: the database was down, busy, or slow to answer.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Busy(_) | StoreError::Timeout(_)
        )
    }
}

/// Whether an error from PostgreSQL means it is not there for us right now: no SQLSTATE
/// (I/O, refused, closed), class 08 (connection exception) or 57P (shutting down, cannot
/// connect now).
fn unavailable(e: &tokio_postgres::Error) -> bool {
    e.is_closed()
        || match e.code() {
            None => true,
            Some(code) => {
                let code = code.code();
                code.starts_with("08") || code.starts_with("57P")
            }
        }
}

/// tokio-postgres' message with its cause: its own says "error performing TLS handshake",
/// "error connecting to server" or "db error" and keeps why (an unknown certificate
/// issuer, a refused connection, "the database system is starting up") in `source()`.
/// Only for the unavailable kinds: their causes carry no row data.
fn with_cause(e: tokio_postgres::Error) -> Source {
    match std::error::Error::source(&e) {
        Some(cause) => format!("{e}: {cause}").into(),
        None => e.into(),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if unavailable(&e) {
            StoreError::Unavailable(with_cause(e))
        } else if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) {
            // 57014: cancelled by statement_timeout.
            StoreError::Busy(e.into())
        } else {
            StoreError::Query(e)
        }
    }
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => e.into(),
            // Waited for a free connection: the pool is busy, the database may well be up.
            PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => StoreError::Busy(e.into()),
            // Timeouts (no connection in time), a closed pool, a failed hook: not there.
            other => StoreError::Unavailable(other.into()),
        }
    }
}

/// A migration: its version and name, as in `V{version}__{name}.sql`.
pub type Migration = (i32, String);

/// Why this maia cannot work on a database: its schema is older or newer than the
/// binary's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaMismatch {
    #[error(
        "the database lacks {} migration(s) of this maia (first: V{}__{}); run `maia migrate`",
        .0.len(), .0[0].0, .0[0].1
    )]
    Pending(Vec<Migration>),
    #[error("the database is at V{database}; this maia knows V{known}; upgrade maia")]
    Newer { database: i32, known: i32 },
}
