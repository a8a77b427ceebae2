//! Connections: the pool requests use, and single connections for migrations.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};

use super::error::StoreError;
use super::tls;
use crate::config::DatabaseSettings;

/// The connection pool. Cheap to clone; no connection is made until first use.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
}

impl Db {
    pub fn new(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let config = settings
            .connection_config()
            .map_err(|e| StoreError::Setup(e.to_string()))?;
        let manager = Manager::from_config(
            config,
            tls::connector(settings)?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let timeout = Duration::from_secs(settings.connect_timeout);
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|e| StoreError::Setup(format!("cannot build the database pool: {e}")))?;
        Ok(Self { pool })
    }

    /// A pooled connection, or `Unavailable` within `database.connect_timeout`.
    pub async fn conn(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
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
