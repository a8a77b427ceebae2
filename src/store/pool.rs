//! Connections: the pool requests use, the probes' own, and single connections for
//! migrations. Every statement on the pool is bounded twice: by PostgreSQL
//! (`statement_timeout`, set on each pooled connection) and by us (a database that stops
//! answering at all, e.g. a stopped process, cannot cancel anything itself).

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use futures_util::FutureExt as _;

use super::error::StoreError;
use super::tls;
use crate::config::DatabaseSettings;

/// What the client adds to `statement_timeout` before giving up itself.
const CLIENT_MARGIN: Duration = Duration::from_secs(2);

/// A connection pool. Cheap to clone; no connection is made until first use.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// The longest any statement on it may take, as the client sees it.
    query_timeout: Duration,
}

impl Db {
    /// The pool requests share: `database.pool_size` connections.
    pub fn new(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        Self::with_size(settings, settings.pool_size, settings.statement_timeout)
    }

    /// A connection of the probes' own, which no load on the request pool can take, with
    /// a short statement timeout: a probe that waits is a probe that lies.
    pub fn for_probes(settings: &DatabaseSettings, timeout: Duration) -> Result<Self, StoreError> {
        Self::with_size(settings, 1, timeout.as_secs().max(1))
    }

    fn with_size(
        settings: &DatabaseSettings,
        size: usize,
        statement_secs: u64,
    ) -> Result<Self, StoreError> {
        let mut config = settings
            .connection_config()
            .map_err(|e| StoreError::Setup(e.to_string()))?;
        let options = format!(
            "{} -c statement_timeout={}",
            config.get_options().unwrap_or_default(),
            statement_secs * 1000
        );
        config.options(options.trim());
        let manager = Manager::from_config(
            config,
            tls::connector(settings)?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let timeout = Duration::from_secs(settings.connect_timeout);
        let pool = Pool::builder(manager)
            .max_size(size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|e| StoreError::Setup(format!("cannot build the database pool: {e}")))?;
        Ok(Self {
            pool,
            query_timeout: Duration::from_secs(statement_secs) + CLIENT_MARGIN,
        })
    }

    /// A pooled connection: `Busy` when every one is taken for `database.connect_timeout`,
    /// `Unavailable` when none can be made.
    pub async fn conn(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// How many connections the pool may hold, holds, has idle, and how many callers wait.
    pub fn status(&self) -> deadpool_postgres::Status {
        self.pool.status()
    }

    /// `work` (statements on this pool), given up after the pool's query timeout.
    ///
    /// Not an `async fn`: one would hold `work` twice (as its argument, then inside the
    /// timeout), and a request waiting for a connection would carry both.
    pub fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> impl Future<Output = Result<T, StoreError>> {
        let limit = self.query_timeout;
        tokio::time::timeout(limit, work)
            .map(move |done| done.unwrap_or(Err(StoreError::Timeout(limit))))
    }
}

/// A single connection outside the pool (migrations hold a session lock on it).
pub async fn connect(settings: &DatabaseSettings) -> Result<tokio_postgres::Client, StoreError> {
    let config = settings
        .connection_config()
        .map_err(|e| StoreError::Setup(e.to_string()))?;
    let (client, connection) = config.connect(tls::connector(settings)?).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "single connection closed");
        }
    });
    Ok(client)
}
