//! Migrations embedded in the binary, applied under an advisory lock.

use std::time::Duration;

use tokio_postgres::GenericClient;

use super::error::StoreError;
use super::pool::connect;
use crate::config::DatabaseSettings;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Key for the advisory lock held while migrating: the same in every maia process, so
/// concurrent starts apply each migration exactly once. ("maia" in ASCII.)
const LOCK_KEY: i64 = 0x6d61_6961;

pub use super::error::{Migration, SchemaMismatch};

#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct MigrationStatus {
    pub applied: Vec<Migration>,
    pub pending: Vec<Migration>,
    /// Versions the database records that this binary does not know: a newer maia
    /// migrated it.
    pub unknown: Vec<i32>,
}

impl MigrationStatus {
    /// `None` when the schema is exactly the binary's. A newer database wins over pending
    /// migrations: migrating it would not help.
    pub fn mismatch(&self) -> Option<SchemaMismatch> {
        if let Some(&database) = self.unknown.iter().max() {
            let known = embedded_migrations().iter().map(|m| m.0).max().unwrap_or(0);
            Some(SchemaMismatch::Newer { database, known })
        } else if !self.pending.is_empty() {
            Some(SchemaMismatch::Pending(self.pending.clone()))
        } else {
            None
        }
    }
}

/// Migrations compiled into this binary, by version: refinery lists them in its own
/// order, where V10 came before V1.
pub fn embedded_migrations() -> Vec<Migration> {
    let mut migrations: Vec<Migration> = embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| (m.version(), m.name().to_string()))
        .collect();
    migrations.sort_by_key(|m| m.0);
    migrations
}

/// Applies pending migrations while holding an advisory lock on a dedicated connection,
/// so concurrent runners serialise and a cancelled run cannot leak the lock into a pool:
/// the lock dies with the connection.
pub async fn migrate(settings: &DatabaseSettings) -> Result<Vec<Migration>, StoreError> {
    let mut client = connect(settings).await?;
    lock_migrations(&client).await?;
    let report = match migration_status(&client).await.map(|s| s.mismatch()) {
        Ok(Some(newer @ SchemaMismatch::Newer { .. })) => Err(StoreError::Schema(newer)),
        Err(e) => Err(e),
        Ok(_) => CORE.run(embedded::migrations::runner(), &mut client).await,
    };
    let unlock = unlock_migrations(&client).await;
    let report = report?;
    unlock?;
    let applied: Vec<Migration> = report
        .applied_migrations()
        .iter()
        .map(|m| (m.version(), m.name().to_string()))
        .collect();
    for (version, name) in &applied {
        tracing::info!(version, name, "applied migration");
    }
    Ok(applied)
}

/// Takes the migration lock on `client`'s session (it dies with the connection).
pub async fn lock_migrations(client: &tokio_postgres::Client) -> Result<(), StoreError> {
    // refinery creates its history table `IF NOT EXISTS` on every run, and PostgreSQL
    // answers an existing one with a NOTICE, which tokio-postgres logs at info: every start
    // said so. Notices on this connection say nothing an operator needs; warnings still do.
    client
        .batch_execute("SET client_min_messages = warning")
        .await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    Ok(())
}

pub async fn unlock_migrations(client: &tokio_postgres::Client) -> Result<(), StoreError> {
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await?;
    Ok(())
}

/// A refinery history table: the core's, or knowledge's.
#[derive(Debug, Clone, Copy)]
pub struct HistoryTable(pub &'static str);

/// The core migrations' history (refinery's default name).
const CORE: HistoryTable = HistoryTable("refinery_schema_history");

impl HistoryTable {
    /// Applies `runner`'s pending migrations, recorded in this table.
    pub async fn run(
        self,
        mut runner: refinery::Runner,
        client: &mut tokio_postgres::Client,
    ) -> Result<refinery::Report, StoreError> {
        runner.set_migration_table_name(self.0);
        runner
            .run_async(client)
            .await
            .map_err(|e| StoreError::Migration(e.into()))
    }

    /// Versions recorded in this table (none when it does not exist yet).
    pub async fn applied_versions(
        self,
        client: &impl GenericClient,
    ) -> Result<Vec<i32>, StoreError> {
        let rows = client
            .query(
                &format!("SELECT version FROM {} ORDER BY version", self.0),
                &[],
            )
            .await;
        match rows {
            Ok(rows) => Ok(rows.iter().map(|r| r.get(0)).collect()),
            // 42P01: the table does not exist, i.e. nothing applied yet.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
                Ok(Vec::new())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// How long a start (`serve`, `migrate`) waits for PostgreSQL to come up before migrating:
/// started together, the database may well answer a few seconds after maia.
pub const READY_WAIT: Duration = Duration::from_secs(30);

/// [`migrate`], waiting up to `wait` for the database to accept connections.
pub async fn migrate_when_ready(
    settings: &DatabaseSettings,
    wait: Duration,
) -> Result<Vec<Migration>, StoreError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match migrate(settings).await {
            Err(e) if e.is_unavailable() && tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "waiting for PostgreSQL before migrating");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            result => return result,
        }
    }
}

pub async fn migration_status(client: &impl GenericClient) -> Result<MigrationStatus, StoreError> {
    let recorded = CORE.applied_versions(client).await?;
    let embedded = embedded_migrations();
    let unknown = recorded
        .iter()
        .copied()
        .filter(|v| !embedded.iter().any(|m| m.0 == *v))
        .collect();
    let (applied, pending) = embedded
        .into_iter()
        .partition(|(v, _)| recorded.contains(v));
    Ok(MigrationStatus {
        applied,
        pending,
        unknown,
    })
}
