//! TLS to PostgreSQL through rustls: the system's roots plus `database.ca_file`, and no
//! TLS at all where there is no host name to verify (unix sockets).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::Socket;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::StoreError;
use crate::config::DatabaseSettings;

/// The TLS connector: system roots (or `SSL_CERT_FILE`) plus `database.ca_file`.
pub fn connector(settings: &DatabaseSettings) -> Result<HostTls, StoreError> {
    // Checked when the configuration loaded; read again here, as the file is what counts.
    let extra = settings.ca_certificates().map_err(StoreError::Setup)?;
    Ok(HostTls(Arc::new(LazyRustls {
        extra,
        made: OnceLock::new(),
    })))
}

/// rustls for connections that have a host name to verify. tokio-postgres asks the TLS
/// connector for one on every connection, even with `sslmode=disable`, and passes an empty
/// name for unix sockets (and `hostaddr` without `host`), which rustls rejects as an
/// invalid DNS name. Those connections get a connector that only fails if TLS is
/// actually attempted, with a reason instead of "invalid dns name".
#[derive(Clone)]
pub struct HostTls(Arc<LazyRustls>);

/// The rustls configuration, made when the first connection negotiates TLS: the system's
/// roots cost about 300 KB of memory that a server on a local PostgreSQL without TLS (the
/// usual deployment) never needs.
pub struct LazyRustls {
    extra: Vec<CertificateDer<'static>>,
    made: OnceLock<Result<MakeRustlsConnect, String>>,
}

impl LazyRustls {
    /// Reads the system's roots once (a few milliseconds of file reading, on the first TLS
    /// connection only).
    fn connector(&self) -> Result<MakeRustlsConnect, BoxError> {
        let made = self.made.get_or_init(|| {
            crate::tls::client_config(self.extra.clone())
                .map(MakeRustlsConnect::new)
                .map_err(|e| format!("database.ca_file: {e}"))
        });
        made.clone().map_err(Into::into)
    }
}

type RustlsStream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What [`HostTls`] hands tokio-postgres for one connection.
pub enum HostTlsConnect {
    Verified { tls: Arc<LazyRustls>, host: String },
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
        Ok(HostTlsConnect::Verified {
            tls: self.0.clone(),
            host: host.to_string(),
        })
    }
}

impl TlsConnect<Socket> for HostTlsConnect {
    type Stream = RustlsStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream, BoxError>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        match self {
            HostTlsConnect::Verified { tls, host } => Box::pin(async move {
                let mut make = tls.connector()?;
                let connect = MakeTlsConnect::<Socket>::make_tls_connect(&mut make, &host)?;
                connect.connect(stream).await.map_err(Into::into)
            }),
            HostTlsConnect::NoHostName => Box::pin(std::future::ready(Err(
                "TLS needs a host name to verify: give `host` (not only `hostaddr`), \
                 or use sslmode=disable"
                    .into(),
            ))),
        }
    }
}
