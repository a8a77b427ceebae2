//! Building and running the HTTP application.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::header;
use actix_web::{middleware, web, App, HttpServer};

use super::browser::{self, BrowserPolicy};
use super::connections::{self, ConnectionTable};
use super::state::AppState;
use super::{
    auth, body_deadline, disconnect, extract, head_limit, metrics, open_files, openai_errors,
    request_id, routes, schema, ui,
};
use crate::config::Settings;
use crate::health::HealthProbe;
use crate::llm::{Llm, LlmSetupError};
use crate::metrics::{HttpMetrics, Metrics};
use crate::service::{Authenticator, Retention, Services, Throttle};
use crate::sovereignty::SovereigntyError;
use crate::store::{self, Db, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Sovereignty(#[from] SovereigntyError),
    #[error(transparent)]
    Database(#[from] StoreError),
    #[error(transparent)]
    Llm(#[from] LlmSetupError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

pub struct Application {
    port: u16,
    server: Server,
    /// Kept past the server's end, to store the questions its shutdown cut off.
    services: Services,
    /// Purges what expired while the server runs.
    retention: Retention,
}

impl Application {
    /// Checks sovereignty, migrates if configured, warns if Ollama does not answer, and
    /// binds the listener.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        crate::sovereignty::enforce(&settings).await?;
        let migrated = async {
            if settings.database.migrate_on_start {
                store::migrate_when_ready(&settings.database, store::READY_WAIT).await?;
                crate::service::set_up_knowledge(&settings).await;
            }
            Ok::<_, StoreError>(())
        };
        // Ollama is asked while the database is waited for: a start takes longer for it only
        // when Ollama hangs, and then by the probe's 2 s at most.
        let llm = Llm::new(&settings.ollama)?;
        let ollama = crate::health::warn_if_ollama_is_down(&llm);
        tokio::join!(migrated, ollama).0?;
        open_files::ensure_enough(&settings);
        let addr = settings.http.listen.clone();
        let listener = TcpListener::bind(&addr).map_err(|source| StartupError::Bind {
            addr: addr.clone(),
            source,
        })?;
        Self::with_listener(settings, listener)
    }

    /// Runs on a listener bound by the caller (tests bind port 0).
    pub fn with_listener(settings: Settings, listener: TcpListener) -> Result<Self, StartupError> {
        let bind_error = |source| StartupError::Bind {
            addr: settings.http.listen.clone(),
            source,
        };
        let port = listener.local_addr().map_err(bind_error)?.port();
        // Listening again only sets the queue's length (Linux); see LISTEN_BACKLOG.
        socket2::SockRef::from(&listener)
            .listen(LISTEN_BACKLOG)
            .map_err(bind_error)?;
        let metrics = Metrics::new(route_templates());
        let state = app_state(&settings, &metrics)?;
        let services = state.services.clone();
        let retention = services.retention(&settings.retention);
        let server = serve(&settings, state, listener, metrics.http).map_err(bind_error)?;
        tracing::info!(port, "maia {} listening", env!("CARGO_PKG_VERSION"));
        Ok(Self {
            port,
            server,
            services,
            retention,
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
    /// no new connections, in-flight requests get `http.shutdown_grace` to finish. The
    /// retention purge runs meanwhile, and stops with the first signal.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let services = self.services.clone();
        let retention = self.retention.spawn();
        let stop_retention = retention.stopper();
        let signals = tokio::spawn(async move {
            if let Some(name) = shutdown_signal().await {
                tracing::info!("{name} received; finishing in-flight requests");
                stop_retention();
                services.begin_shutdown();
                handle.stop(true).await;
            }
        });
        let result = self.server.await;
        signals.abort();
        retention.stop().await;
        let cut_off = self.services.keep_unanswered().await;
        if cut_off > 0 {
            tracing::warn!(
                count = cut_off,
                "{cut_off} question(s) still unanswered when the shutdown grace ended: stored as failed (shutdown)"
            );
        }
        result
    }
}

/// Every route's template, the table's and the web UI's, each once: the labels of the
/// HTTP metrics.
fn route_templates() -> Vec<&'static str> {
    let mut templates: Vec<&'static str> = Vec::new();
    let table = routes::endpoints().into_iter().map(|e| e.path);
    for path in table.chain(ui::TEMPLATES) {
        if !templates.contains(&path) {
            templates.push(path);
        }
    }
    templates
}

/// What the handlers share: the services, the health probe, authentication.
fn app_state(settings: &Settings, metrics: &Metrics) -> Result<web::Data<AppState>, StartupError> {
    let db = Db::new(&settings.database)?;
    let llm = Llm::new(&settings.ollama)?.with_metrics(Arc::clone(&metrics.llm));
    if !settings.auth.required {
        tracing::warn!(
            "auth.required is off: anyone who reaches {} may use maia",
            settings.http.listen
        );
    }
    Ok(web::Data::new(AppState {
        health: HealthProbe::new(
            Db::for_probes(&settings.database, crate::health::DB_PROBE_TIMEOUT)?,
            llm.clone(),
        ),
        auth: Authenticator::new(db.clone(), &settings.auth),
        failures: Throttle::new(settings.auth.failed_attempts_per_minute),
        requests: Throttle::new(settings.auth.requests_per_minute),
        session_hours: settings.auth.session_hours,
        stream_heartbeat: Duration::from_secs(settings.http.stream_heartbeat),
        services: Services::new(db, llm, settings, metrics.clone()),
    }))
}

/// How many accepted connections the kernel queues while the workers are full. std
/// listens with 128: beyond that the kernel drops new connections, which their clients
/// retry only after 1 s, then 3 s, so a slowloris filling the queue kept every other
/// client out for seconds. actix's own default; the kernel caps it at `somaxconn`.
const LISTEN_BACKLOG: i32 = 1024;

/// The server on `listener`, with its limits: connections in all and per client, a
/// deadline for request bodies and one for responses the client does not read.
fn serve(
    settings: &Settings,
    state: web::Data<AppState>,
    listener: TcpListener,
    http_metrics: Arc<HttpMetrics>,
) -> std::io::Result<Server> {
    let http = &settings.http;
    let body_timeout = Duration::from_secs(http.body_timeout);
    let write_timeout = Duration::from_secs(http.write_timeout);
    let browser = web::Data::new(BrowserPolicy::from(settings));
    let document = routes::api_document();
    let workers = connections::workers(settings);
    let table = ConnectionTable::new(http.max_connections_per_client);
    let server = HttpServer::new(move || {
        let http_metrics = Arc::clone(&http_metrics);
        App::new()
            .app_data(state.clone())
            .app_data(browser.clone())
            .app_data(document.clone())
            .app_data(extract::json_config())
            .app_data(extract::query_config())
            .wrap(middleware::from_fn(auth::middleware))
            .wrap(middleware::from_fn(schema::middleware))
            .wrap(middleware::from_fn(browser::middleware))
            .wrap(middleware::from_fn(connections::middleware))
            // Outside every refusal, so that one sent before its body arrived closes.
            .wrap(middleware::from_fn(move |req, next| {
                body_deadline::middleware(body_timeout, req, next)
            }))
            // Inside the request id: a head too large is refused with one, like any error.
            .wrap(middleware::from_fn(head_limit::middleware))
            // Outside every other refusal, so that each is spelt OpenAI's way on /v1.
            .wrap(middleware::from_fn(openai_errors::middleware))
            .wrap(middleware::from_fn(request_id::middleware))
            .wrap(
                middleware::DefaultHeaders::new()
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    // Nothing maia serves may be kept by a cache: it is the owner's data.
                    .add((header::CACHE_CONTROL, "no-store")),
            )
            // Outermost: every request counted, refusals too, until its last byte is sent.
            .wrap(middleware::from_fn(move |req, next| {
                metrics::middleware(Arc::clone(&http_metrics), req, next)
            }))
            .configure(routes::configure)
            .configure(ui::configure)
            .default_service(web::to(routes::not_found))
    })
    .workers(workers)
    .max_connections(connections::per_worker(http.max_connections, workers))
    // actix leaves Nagle's algorithm on: a streamed piece written while the previous one
    // is unacknowledged would wait for the client's delayed ACK (up to 40 ms).
    .tcp_nodelay(true)
    // Before `listen`, which takes the callback as it is then.
    .on_connect(move |io, data| {
        connections::set_write_deadline(io, write_timeout);
        disconnect::on_connect(io, data);
        table.on_connect(io, data);
    })
    .shutdown_timeout(http.shutdown_grace)
    // actix treats SIGINT as a forced stop; both signals must let requests finish.
    .disable_signals()
    .listen(listener)?;
    Ok(server.run())
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
