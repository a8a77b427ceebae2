//! TLS to PostgreSQL through rustls: the system's roots plus `database.ca_file`, and no
//! TLS at all where there is no host name to verify (unix sockets).

use std::future::Future;
use std::pin::Pin;

use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::Socket;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::StoreError;
use crate::config::DatabaseSettings;

/// The TLS connector: system roots (or `SSL_CERT_FILE`) plus `database.ca_file`.
pub fn connector(settings: &DatabaseSettings) -> Result<HostTls, StoreError> {
    // Checked when the configuration loaded; read again here, as the file is what counts.
    let extra = settings.ca_certificates().map_err(StoreError::Setup)?;
    let config = crate::tls::client_config(extra)
        .map_err(|e| StoreError::Setup(format!("database.ca_file: {e}")))?;
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
