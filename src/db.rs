//! PostgreSQL: connection settings, TLS through rustls, the pool, and migrations.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use secrecy::ExposeSecret;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::Socket;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::settings::DatabaseSettings;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Key for the advisory lock held while migrating: the same in every maia process, so
/// concurrent starts apply each migration exactly once. ("maia" in ASCII.)
const MIGRATION_LOCK_KEY: i64 = 0x6d61_6961;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Parse(String),
}

/// Parses `database.url` into a connection config.
///
/// TLS is used only when the URL asks for it (`sslmode=require`, `verify-ca`,
/// `verify-full`), and then the server certificate is always verified in full;
/// `prefer` (the libpq default, which never verifies) is treated as `disable`.
pub fn connection_config(
    settings: &DatabaseSettings,
) -> Result<tokio_postgres::Config, ConfigError> {
    let raw = settings.url.expose_secret();
    // tokio-postgres rejects verify-ca/verify-full; rustls verification is that strict anyway.
    let normalised = raw
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    let mut config = tokio_postgres::Config::from_str(&normalised).map_err(|e| {
        // tokio-postgres' messages name the offending parameter, never its value.
        ConfigError::Parse(format!(
            "not a valid PostgreSQL connection string ({e}); expected e.g. \
             postgresql://maia@127.0.0.1:5432/maia or host=/run/postgresql dbname=maia"
        ))
    })?;
    // libpq ignores sslmode on unix sockets, where PostgreSQL offers no TLS anyway: a
    // socket-only configuration never asks for it, whatever sslmode says.
    let socket_only = !config.get_hosts().is_empty()
        && config.get_hostaddrs().is_empty()
        && config
            .get_hosts()
            .iter()
            .all(|h| matches!(h, Host::Unix(_)));
    if config.get_ssl_mode() == SslMode::Prefer || socket_only {
        config.ssl_mode(SslMode::Disable);
    }
    if let Some(password) = &settings.password {
        config.password(password.expose_secret());
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(settings.connect_timeout));
    }
    if config.get_application_name().is_none() {
        config.application_name("maia");
    }
    Ok(config)
}

/// The TLS connector: system roots (or `SSL_CERT_FILE`) plus `database.ca_file`.
fn tls_connector(settings: &DatabaseSettings) -> anyhow::Result<HostTls> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A malformed system certificate is skipped, not fatal.
        let _ = roots.add(cert);
    }
    if let Some(path) = &settings.ca_file {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read database.ca_file {}", path.display()))?;
        for cert in certs {
            let cert = cert.with_context(|| format!("bad PEM in {}", path.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("bad certificate in {}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS setup")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(HostTls(MakeRustlsConnect::new(config)))
}

/// rustls for connections that have a host name to verify. tokio-postgres asks the TLS
/// connector for one on every connection, even with `sslmode=disable`, and passes an empty
/// name for unix sockets (and `hostaddr` without `host`), which rustls rejects as an
/// invalid DNS name. Those connections get a connector that only fails if TLS is
/// actually attempted, with a reason instead of "invalid dns name".
#[derive(Clone)]
pub struct HostTls(MakeRustlsConnect);

type RustlsConnect = <MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect;
type RustlsStream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What [`HostTls`] hands tokio-postgres for one connection.
pub enum HostTlsConnect {
    Verified(RustlsConnect),
    NoHostName,
}

impl MakeTlsConnect<Socket> for HostTls {
    type Stream = RustlsStream;
    type TlsConnect = HostTlsConnect;
    type Error = BoxError;

    fn make_tls_connect(&mut self, host: &str) -> Result<HostTlsConnect, BoxError> {
        if host.is_empty() {
            return Ok(HostTlsConnect::NoHostName);
        }
        MakeTlsConnect::<Socket>::make_tls_connect(&mut self.0, host)
            .map(HostTlsConnect::Verified)
            .map_err(Into::into)
    }
}

impl TlsConnect<Socket> for HostTlsConnect {
    type Stream = RustlsStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream, BoxError>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        match self {
            HostTlsConnect::Verified(tls) => {
                let connecting = tls.connect(stream);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
            HostTlsConnect::NoHostName => Box::pin(std::future::ready(Err(
                "TLS needs a host name to verify: give `host` (not only `hostaddr`), \
                 or use sslmode=disable"
                    .into(),
            ))),
        }
    }
}

/// Builds the pool. No connection is made until first use.
pub fn pool(settings: &DatabaseSettings) -> anyhow::Result<Pool> {
    let config = connection_config(settings)?;
    let manager = Manager::from_config(
        config,
        tls_connector(settings)?,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let timeout = Duration::from_secs(settings.connect_timeout);
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .context("cannot build the database pool")
}

/// A single connection outside the pool (migrations hold a session lock on it).
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<tokio_postgres::Client> {
    let config = connection_config(settings)?;
    let (client, connection) = config
        .connect(tls_connector(settings)?)
        .await
        .context("cannot connect to PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "migration connection closed");
        }
    });
    Ok(client)
}

/// Migrations compiled into this binary: (version, name).
pub fn embedded_migrations() -> Vec<(i32, String)> {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| (m.version(), m.name().to_string()))
        .collect()
}

#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct MigrationStatus {
    pub applied: Vec<(i32, String)>,
    pub pending: Vec<(i32, String)>,
}

/// Applies pending migrations while holding an advisory lock on a dedicated connection,
/// so concurrent runners serialise and a cancelled run cannot leak the lock into a pool:
/// the lock dies with the connection.
pub async fn migrate(settings: &DatabaseSettings) -> anyhow::Result<Vec<(i32, String)>> {
    let mut client = connect(settings).await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await
        .context("cannot take the migration lock")?;
    let report = embedded::migrations::runner()
        .run_async(&mut client)
        .await
        .context("migration failed");
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    let report = report?;
    unlock.context("cannot release the migration lock")?;
    let applied: Vec<(i32, String)> = report
        .applied_migrations()
        .iter()
        .map(|m| (m.version(), m.name().to_string()))
        .collect();
    for (version, name) in &applied {
        tracing::info!(version, name, "applied migration");
    }
    Ok(applied)
}

/// Versions recorded in refinery's history table (none when it does not exist yet).
pub async fn applied_versions(
    client: &tokio_postgres::Client,
) -> Result<Vec<i32>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT version FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .await;
    match rows {
        Ok(rows) => Ok(rows.iter().map(|r| r.get(0)).collect()),
        // 42P01: the table does not exist, i.e. nothing applied yet.
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

pub async fn migration_status(
    client: &tokio_postgres::Client,
) -> Result<MigrationStatus, tokio_postgres::Error> {
    let applied = applied_versions(client).await?;
    let (done, pending): (Vec<_>, Vec<_>) = embedded_migrations()
        .into_iter()
        .partition(|(v, _)| applied.contains(v));
    Ok(MigrationStatus {
        applied: done,
        pending,
    })
}
