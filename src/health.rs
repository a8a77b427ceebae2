//! Health: probes PostgreSQL (and its migrations) and Ollama, and caches the result for about
//! a second so that load on the health endpoint is not load on either.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::llm::hosts::Host;
use crate::llm::{Llm, LlmError};
use crate::store::{self, Db, MigrationStatus, StoreError};

const CACHE_FOR: Duration = Duration::from_secs(1);
/// A database probe that takes longer than this counts as unavailable.
pub const DB_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `degraded`: Ollama is down, the history still answers; `unhealthy`: the database is
/// unreachable or its schema is not this binary's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Degraded,
    Unhealthy,
}

/// The database's migrations against this binary's.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MigrationCounts {
    pub applied: usize,
    pub pending: usize,
    /// Recorded in the database, unknown to this binary: a newer maia migrated it.
    pub unknown: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseState {
    Connected,
    Unavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OllamaState {
    Available,
    Unavailable,
}

/// The health report (`GET /api/health`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = HealthReport)]
pub struct Report {
    pub status: Status,
    pub database: DatabaseState,
    /// `available` when at least one Ollama server answers.
    pub ollama: OllamaState,
    /// Each Ollama server's state (`ollama.urls`, or `ollama.url` alone), in the configured
    /// order.
    pub ollama_hosts: Vec<OllamaHost>,
    pub version: &'static str,
    pub migrations: MigrationCounts,
    /// What makes it unhealthy while the database answers: a schema not this binary's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// One Ollama server as the last probe found it, in the order of `ollama.urls`. States
/// only, as the rest of this open report: its URL, version and models are for `maia check`
/// and the log, not for anyone who can reach the port.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OllamaHost {
    pub state: OllamaState,
    /// Why it is unavailable, as an error code (`llm_unavailable`, `llm_error`): the
    /// details are in the log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

impl OllamaHost {
    /// Probes `host` with one request, its list of models (`/api/tags`): it answers, and
    /// what it has is known for choosing it; the probe also marks it up or down.
    pub async fn probe(host: &Host) -> Self {
        match host.models().await {
            Ok(_) => Self {
                state: OllamaState::Available,
                error: None,
            },
            Err(e) => {
                tracing::debug!(host = host.shown(), error = %e, "health: ollama server unavailable");
                Self {
                    state: OllamaState::Unavailable,
                    error: Some(e.code()),
                }
            }
        }
    }
}

/// The readiness report (`GET /readyz`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    pub status: ReadyStatus,
    pub database: DatabaseState,
    pub migrations: MigrationCounts,
    /// Why it is not ready while the database answers: a schema not this binary's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyStatus {
    Ready,
    NotReady,
}

impl Report {
    /// Ready to serve queries: the database answers and its schema is this binary's.
    pub fn ready(&self) -> bool {
        self.status != Status::Unhealthy
    }
}

/// A report with the JSON bodies of `/api/health` and `/readyz`, rendered once per probe
/// rather than once per request: health endpoints are polled hard.
#[derive(Debug)]
pub struct Snapshot {
    pub report: Report,
    pub health_json: Bytes,
    pub ready_json: Bytes,
}

impl Snapshot {
    fn new(report: Report) -> Self {
        let health_json = serde_json::to_vec(&report).unwrap_or_default().into();
        let ready = Readiness {
            status: if report.ready() {
                ReadyStatus::Ready
            } else {
                ReadyStatus::NotReady
            },
            database: report.database,
            migrations: report.migrations.clone(),
            problem: report.problem.clone(),
        };
        let ready_json = serde_json::to_vec(&ready).unwrap_or_default().into();
        Self {
            report,
            health_json,
            ready_json,
        }
    }
}

/// The last snapshot and when it was made.
type Cached = (Instant, Arc<Snapshot>);

/// Shared by all workers; one probe runs at a time and everyone else reuses its result.
/// A fresh report is read under a plain read lock: no queue of waiters on the hot path.
#[derive(Clone)]
pub struct HealthProbe {
    db: Db,
    llm: Llm,
    cached: Arc<RwLock<Option<Cached>>>,
    probing: Arc<Mutex<()>>,
}

impl HealthProbe {
    pub fn new(db: Db, llm: Llm) -> Self {
        Self {
            db,
            llm,
            cached: Arc::new(RwLock::new(None)),
            probing: Arc::new(Mutex::new(())),
        }
    }

    pub async fn snapshot(&self) -> Arc<Snapshot> {
        if let Some(snapshot) = self.fresh() {
            return snapshot;
        }
        let _probing = self.probing.lock().await;
        // Whoever probed while we waited left a fresh snapshot.
        if let Some(snapshot) = self.fresh() {
            return snapshot;
        }
        let snapshot = Arc::new(Snapshot::new(self.probe().await));
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), snapshot.clone()));
        snapshot
    }

    fn fresh(&self) -> Option<Arc<Snapshot>> {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        cached
            .as_ref()
            .filter(|(at, _)| at.elapsed() < CACHE_FOR)
            .map(|(_, snapshot)| snapshot.clone())
    }

    async fn probe(&self) -> Report {
        let hosts = self.llm.hosts().iter().map(|h| OllamaHost::probe(h));
        let (db, hosts) = tokio::join!(
            tokio::time::timeout(DB_PROBE_TIMEOUT, self.probe_database()),
            futures_util::future::join_all(hosts)
        );
        let ollama = if hosts.iter().any(|h| h.state == OllamaState::Available) {
            OllamaState::Available
        } else {
            OllamaState::Unavailable
        };
        let migrations = match db {
            Ok(Ok(status)) => Some(status),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health: database unavailable");
                None
            }
            Err(_) => {
                tracing::warn!("health: database probe timed out");
                None
            }
        };
        let problem = migrations.as_ref().and_then(|m| m.mismatch());
        let status = match (&migrations, &problem, ollama) {
            (None, _, _) | (_, Some(_), _) => Status::Unhealthy,
            (Some(_), None, OllamaState::Unavailable) => Status::Degraded,
            (Some(_), None, OllamaState::Available) => Status::Healthy,
        };
        Report {
            status,
            database: if migrations.is_some() {
                DatabaseState::Connected
            } else {
                DatabaseState::Unavailable
            },
            ollama,
            ollama_hosts: hosts,
            version: env!("CARGO_PKG_VERSION"),
            migrations: counts(migrations.as_ref()),
            problem: problem.map(|p| p.to_string()),
        }
    }

    async fn probe_database(&self) -> Result<MigrationStatus, StoreError> {
        store::migration_status(&**self.db.conn().await?).await
    }
}

/// Says at start what an Ollama server that does not answer means for queries, so that
/// the first 503 is no surprise; maia serves all the same (health: degraded when none
/// answers). Each server is shown without the credentials its URL may carry.
pub async fn warn_if_ollama_is_down(llm: &Llm) {
    let hosts = llm.hosts();
    let several = hosts.len() > 1;
    let versions = futures_util::future::join_all(hosts.iter().map(|h| h.version())).await;
    for (host, version) in hosts.iter().zip(versions) {
        let shown = host.shown();
        match version {
            Ok(_) => {}
            Err(LlmError::Unreachable(why)) if several => tracing::warn!(
                error = %why,
                "Ollama at {shown} is unreachable: calls go to the other servers until it answers"
            ),
            Err(LlmError::Unreachable(why)) => tracing::warn!(
                error = %why,
                "Ollama at {shown} is unreachable: queries will get 503 llm_unavailable until it answers"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "Ollama at {shown} does not answer as Ollama does: queries may fail until it does"
            ),
        }
    }
}

/// Unknown (no database) counts as nothing applied and everything pending.
fn counts(status: Option<&MigrationStatus>) -> MigrationCounts {
    match status {
        Some(s) => MigrationCounts {
            applied: s.applied.len(),
            pending: s.pending.len(),
            unknown: s.unknown.len(),
        },
        None => MigrationCounts {
            applied: 0,
            pending: store::embedded_migrations().len(),
            unknown: 0,
        },
    }
}
