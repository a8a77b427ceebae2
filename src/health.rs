//! Health: probes PostgreSQL (and its migrations) and Ollama, and caches the result for about
//! a second so that load on the health endpoint is not load on either.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::llm::Llm;

const CACHE_FOR: Duration = Duration::from_secs(1);
/// A database probe that takes longer than this counts as unavailable.
const DB_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Degraded,
    Unhealthy,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrationCounts {
    pub applied: usize,
    pub pending: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub status: Status,
    /// "connected" | "unavailable"
    pub database: &'static str,
    /// "available" | "unavailable"
    pub ollama: &'static str,
    pub version: &'static str,
    pub migrations: MigrationCounts,
}

impl Report {
    pub fn database_up(&self) -> bool {
        self.database == "connected"
    }

    /// Ready to serve queries: the database answers and its schema is current.
    pub fn ready(&self) -> bool {
        self.database_up() && self.migrations.pending == 0
    }
}

/// The last report and when it was made.
type Cached = (Instant, Arc<Report>);

/// Shared by all workers; one probe runs at a time and everyone else reuses its result.
#[derive(Clone)]
pub struct HealthProbe {
    pool: Pool,
    llm: Llm,
    cached: Arc<Mutex<Option<Cached>>>,
}

impl HealthProbe {
    pub fn new(pool: Pool, llm: Llm) -> Self {
        Self {
            pool,
            llm,
            cached: Arc::new(Mutex::new(None)),
        }
    }

    pub async fn report(&self) -> Arc<Report> {
        let mut cached = self.cached.lock().await;
        if let Some((at, report)) = cached.as_ref() {
            if at.elapsed() < CACHE_FOR {
                return report.clone();
            }
        }
        let report = Arc::new(self.probe().await);
        *cached = Some((Instant::now(), report.clone()));
        report
    }

    async fn probe(&self) -> Report {
        let embedded = crate::db::embedded_migrations().len();
        let (db, ollama) = tokio::join!(
            tokio::time::timeout(DB_PROBE_TIMEOUT, self.probe_database()),
            self.llm.version()
        );
        let migrations = match db {
            Ok(Ok(applied)) => Some(applied),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health: database unavailable");
                None
            }
            Err(_) => {
                tracing::warn!("health: database probe timed out");
                None
            }
        };
        if let Err(e) = &ollama {
            tracing::debug!(error = %e, "health: ollama unavailable");
        }
        let status = match (&migrations, &ollama) {
            (None, _) => Status::Unhealthy,
            (Some(_), Err(_)) => Status::Degraded,
            (Some(_), Ok(_)) => Status::Healthy,
        };
        let applied = migrations.unwrap_or(0);
        Report {
            status,
            database: if migrations.is_some() {
                "connected"
            } else {
                "unavailable"
            },
            ollama: if ollama.is_ok() {
                "available"
            } else {
                "unavailable"
            },
            version: env!("CARGO_PKG_VERSION"),
            migrations: MigrationCounts {
                applied,
                pending: embedded.saturating_sub(applied),
            },
        }
    }

    /// Number of embedded migrations recorded as applied.
    async fn probe_database(&self) -> anyhow::Result<usize> {
        let client = self.pool.get().await?;
        let applied = crate::db::applied_versions(&client).await?;
        let embedded = crate::db::embedded_migrations();
        Ok(embedded.iter().filter(|(v, _)| applied.contains(v)).count())
    }
}
