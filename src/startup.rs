//! Building and running the HTTP application.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use crate::domain::Mode;
use crate::error::ApiError;
use crate::health::HealthProbe;
use crate::llm::Llm;
use crate::settings::Settings;
use crate::store::{self, NewTrace};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long a start waits for PostgreSQL to come up before migrating.
const MIGRATE_WAIT: Duration = Duration::from_secs(30);
/// Attempts to store a trace while the database blips: an answer is only sent once stored.
const SAVE_RETRY_DELAYS_MS: &[u64] = &[100, 300, 600, 1000];

pub struct AppState {
    pub pool: Pool,
    pub llm: Llm,
    pub health: HealthProbe,
    fast_model: String,
    deep_model: String,
}

impl AppState {
    pub async fn db(&self) -> Result<deadpool_postgres::Object, ApiError> {
        self.pool
            .get()
            .await
            .map_err(|e| ApiError::DatabaseUnavailable(e.into()))
    }

    pub fn model_for(&self, mode: Mode) -> &str {
        match mode {
            Mode::Fast => &self.fast_model,
            Mode::Deep => &self.deep_model,
        }
    }

    /// Stores a trace, retrying for about two seconds; the insert is idempotent on its id.
    pub async fn save_trace(&self, trace: &NewTrace<'_>) -> Result<DateTime<Utc>, ApiError> {
        let mut delays = SAVE_RETRY_DELAYS_MS.iter();
        loop {
            let attempt = async {
                let db = self.db().await?;
                Ok::<_, ApiError>(store::insert_trace(&**db, trace).await?)
            }
            .await;
            match (attempt, delays.next()) {
                (Ok(created_at), _) => return Ok(created_at),
                (Err(ApiError::DatabaseUnavailable(e)), Some(ms)) => {
                    tracing::warn!(trace_id = %trace.id, error = %e, "storing the trace failed; retrying");
                    tokio::time::sleep(Duration::from_millis(*ms)).await;
                }
                (Err(e), _) => return Err(e),
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Sovereignty(#[from] crate::sovereignty::SovereigntyError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Checks sovereignty, migrates if configured, and binds the listener.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        crate::sovereignty::enforce(&settings).await?;
        if settings.database.migrate_on_start {
            migrate_when_ready(&settings).await?;
        }
        let addr = settings.http.listen.clone();
        let listener = TcpListener::bind(&addr).map_err(|source| StartupError::Bind {
            addr: addr.clone(),
            source,
        })?;
        Self::with_listener(settings, listener)
    }

    /// Runs on a listener bound by the caller (tests bind port 0).
    pub fn with_listener(settings: Settings, listener: TcpListener) -> Result<Self, StartupError> {
        let port = listener.local_addr().context("listener address")?.port();
        let pool = crate::db::pool(&settings.database)?;
        let llm = Llm::new(&settings.ollama)?;
        let state = web::Data::new(AppState {
            health: HealthProbe::new(pool.clone(), llm.clone()),
            pool,
            llm,
            fast_model: settings.ollama.model.clone(),
            deep_model: settings.deep_model().to_string(),
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(json_config())
                .app_data(query_config())
                .wrap(middleware::from_fn(crate::request_id::middleware))
                .configure(crate::routes::configure)
                .default_service(web::to(crate::routes::not_found))
        })
        .shutdown_timeout(settings.http.shutdown_grace)
        // actix treats SIGINT as a forced stop; both signals must let requests finish.
        .disable_signals()
        .listen(listener)
        .context("cannot start the HTTP server")?;
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        tracing::info!(port, "maia {} listening", env!("CARGO_PKG_VERSION"));
        Ok(Self {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server: `graceful` lets in-flight requests finish within the grace period.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT or the handle stops it; a signal stops gracefully:
    /// no new connections, in-flight requests get `http.shutdown_grace` to finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let signals = tokio::spawn(async move {
            if let Some(name) = shutdown_signal().await {
                tracing::info!("{name} received; finishing in-flight requests");
                handle.stop(true).await;
            }
        });
        let result = self.server.await;
        signals.abort();
        result
    }
}

/// Waits for SIGTERM or SIGINT; `None` if signals cannot be watched.
async fn shutdown_signal() -> Option<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok()?;
    let mut int = signal(SignalKind::interrupt()).ok()?;
    tokio::select! {
        _ = term.recv() => Some("SIGTERM"),
        _ = int.recv() => Some("SIGINT"),
    }
}

/// Applies migrations, waiting up to `MIGRATE_WAIT` for the database to accept connections.
async fn migrate_when_ready(settings: &Settings) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + MIGRATE_WAIT;
    loop {
        match crate::db::migrate(&settings.database).await {
            Ok(_) => return Ok(()),
            Err(e) if is_connect_error(&e) && tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %format!("{e:#}"), "waiting for PostgreSQL before migrating");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_connect_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<tokio_postgres::Error>().is_some_and(|pg| {
            pg.code().is_none() || pg.code().is_some_and(|c| c.code().starts_with("57P"))
        })
    })
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        // curl -d sends a form content type; the body is what matters.
        .content_type(|_| true)
        .error_handler(|err, _req| {
            let api = match &err {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => ApiError::PayloadTooLarge(MAX_BODY_BYTES),
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::Unprocessable(format!("invalid request: {e}"))
                }
                JsonPayloadError::Deserialize(e) => {
                    ApiError::InvalidJson(format!("malformed JSON: {e}"))
                }
                JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
                _ => ApiError::BadRequest("could not read the request body".into()),
            };
            api.into()
        })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = match &err {
            QueryPayloadError::Deserialize(e) => format!("invalid query string: {e}"),
            _ => "invalid query string".to_string(),
        };
        ApiError::BadRequest(message).into()
    })
}
