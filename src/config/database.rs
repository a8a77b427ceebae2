//! `[database]`: where PostgreSQL is, and how to reach it.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize, Serializer};
use smart_default::SmartDefault;
use tokio_postgres::config::{Host, SslMode};

use super::secret::Secret;

#[derive(Debug, Clone, Deserialize, Serialize, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// A PostgreSQL URL or key=value connection string. Secret: it may hold a password;
    /// shown with its password removed.
    #[default(Secret::new("postgresql://maia@127.0.0.1:5432/maia"))]
    #[serde(serialize_with = "shown_url")]
    pub url: Secret,
    /// Overrides any password in `url`.
    pub password: Option<Secret>,
    /// Connections in the pool.
    #[default = 16]
    pub pool_size: usize,
    /// Apply pending migrations before serving.
    #[default = true]
    pub migrate_on_start: bool,
    /// Seconds to wait for a connection (also the pool's wait limit).
    #[default = 5]
    pub connect_timeout: u64,
    /// Seconds any statement may run before PostgreSQL cancels it (the request then gets
    /// 503 `database_busy`); maia gives up itself 2 s later if PostgreSQL does not answer.
    #[default = 30]
    pub statement_timeout: u64,
    /// Extra PEM CA certificates for `sslmode=require` (managed databases with a private CA).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "not a valid PostgreSQL connection string ({0}); expected e.g. \
     postgresql://maia@127.0.0.1:5432/maia or host=/run/postgresql dbname=maia"
)]
pub struct DatabaseUrlError(String);

impl DatabaseSettings {
    /// Parses `url` into a connection config.
    ///
    /// TLS is used only when the URL asks for it (`sslmode=require`, `verify-ca`,
    /// `verify-full`), and then the server certificate is always verified in full;
    /// `prefer` (the libpq default, which never verifies) is treated as `disable`, and so
    /// is any mode on unix sockets, which never use TLS (as libpq).
    pub fn connection_config(&self) -> Result<tokio_postgres::Config, DatabaseUrlError> {
        let mut config = parse_url(self.url.expose())?;
        let socket_only = !config.get_hosts().is_empty()
            && config.get_hostaddrs().is_empty()
            && config
                .get_hosts()
                .iter()
                .all(|h| matches!(h, Host::Unix(_)));
        if config.get_ssl_mode() == SslMode::Prefer || socket_only {
            config.ssl_mode(SslMode::Disable);
        }
        if let Some(password) = &self.password {
            config.password(password.expose());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(self.connect_timeout));
        }
        if config.get_application_name().is_none() {
            config.application_name("maia");
        }
        Ok(config)
    }
}

impl DatabaseSettings {
    /// The certificates in `ca_file` (none without one), each a CA rustls can trust. A file
    /// that is not PEM, or holds no certificate, would otherwise pass unnoticed until a TLS
    /// connection failed with `UnknownIssuer`.
    pub fn ca_certificates(&self) -> Result<Vec<CertificateDer<'static>>, String> {
        match &self.ca_file {
            None => Ok(Vec::new()),
            Some(path) => read_ca_file(path)
                .map_err(|why| format!("database.ca_file = {}: {why}", path.display())),
        }
    }
}

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a valid PEM file: {e}"))?;
    if certs.is_empty() {
        return Err("no PEM certificate in it (-----BEGIN CERTIFICATE-----); \
                    it must hold the CA certificate(s) of the database's TLS certificate"
            .into());
    }
    for (n, cert) in certs.iter().enumerate() {
        rustls::RootCertStore::empty()
            .add(cert.clone())
            .map_err(|e| format!("certificate {} in it is not a usable CA: {e}", n + 1))?;
    }
    Ok(certs)
}

fn parse_url(raw: &str) -> Result<tokio_postgres::Config, DatabaseUrlError> {
    // tokio-postgres rejects verify-ca/verify-full; rustls verification is that strict anyway.
    let normalised = raw
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    tokio_postgres::Config::from_str(&normalised).map_err(|e| DatabaseUrlError(described(&e)))
}

/// tokio-postgres says "invalid connection string" and keeps what is wrong in its source.
/// Only the "invalid value for option `NAME`" kind is shown: it names one of tokio-postgres'
/// own options, while other kinds may quote text of the string, which can be a password.
fn described(error: &tokio_postgres::Error) -> String {
    let Some(cause) = std::error::Error::source(error).map(ToString::to_string) else {
        return error.to_string();
    };
    if !cause.starts_with("invalid value for option `") {
        return error.to_string();
    }
    if cause.contains("`sslmode`") {
        format!("{cause}: it must be disable, prefer, require, verify-ca or verify-full")
    } else {
        cause
    }
}

/// `database.url` as `maia config` shows it: rebuilt from what it parses to, without its
/// password, so no spelling of the URL (spaces, quotes, percent-encoded keys) can carry the
/// password through.
fn shown_url<S: Serializer>(url: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redacted_url(url.expose()))
}

/// The connection string's parts as `key=value` pairs, the password replaced by a marker.
pub fn redacted_url(raw: &str) -> String {
    let Ok(config) = parse_url(raw) else {
        return "[not a connection string; not shown]".into();
    };
    let mut parts = Vec::new();
    for host in config.get_hosts() {
        parts.push(match host {
            Host::Tcp(name) => ("host", name.clone()),
            Host::Unix(path) => ("host", path.display().to_string()),
        });
    }
    for addr in config.get_hostaddrs() {
        parts.push(("hostaddr", addr.to_string()));
    }
    for port in config.get_ports() {
        parts.push(("port", port.to_string()));
    }
    let optional = [
        ("user", config.get_user()),
        ("dbname", config.get_dbname()),
        ("options", config.get_options()),
        ("application_name", config.get_application_name()),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            parts.push((key, value.to_string()));
        }
    }
    parts.push((
        "sslmode",
        format!("{:?}", config.get_ssl_mode()).to_lowercase(),
    ));
    if config.get_password().is_some() {
        parts.push(("password", super::secret::REDACTED.to_string()));
    }
    parts
        .iter()
        .map(|(key, value)| format!("{key}={}", quoted(value)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A value as libpq's key=value syntax writes it: quoted when it holds spaces or quotes.
fn quoted(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '\'', '\\']) {
        return value.to_string();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_spelling_of_a_password_survives_redaction() {
        for url in [
            "postgresql://maia:hunter2@db:5432/maia?sslmode=require",
            "postgres://db/maia?user=maia&password=hunter2",
            "postgres://db/maia?user=maia&pass%77ord=hunter2",
            "host=db user=maia password=hunter2 dbname=maia",
            "host=db user=maia password = hunter2 dbname=maia",
            "host=db\tuser=maia\tpassword=hunter2\ndbname=maia",
            "host=db user=maia password='hunter2 with spaces' dbname=maia",
            "host=db password='it\\'s hunter2' user=maia",
        ] {
            let shown = redacted_url(url);
            assert!(!shown.contains("hunter2"), "{url} → {shown}");
            assert!(shown.contains("password=[redacted]"), "{url} → {shown}");
            assert!(
                shown.contains("host=db") && shown.contains("user=maia"),
                "{url} → {shown}"
            );
        }
    }

    #[test]
    fn a_url_without_a_password_shows_its_parts() {
        let shown = redacted_url("postgresql:///maia?host=/run/postgresql&user=maia");
        assert_eq!(
            shown,
            "host=/run/postgresql user=maia dbname=maia sslmode=prefer"
        );
        assert!(!redacted_url("host=db password='unclosed").contains("unclosed"));
    }

    #[test]
    fn an_invalid_value_names_its_option_and_an_sslmode_the_accepted_ones() {
        for url in [
            "postgresql://maia@db/maia?sslmode=allow",
            "host=db sslmode=allow",
        ] {
            let err = parse_url(url).unwrap_err().to_string();
            assert!(
                err.contains("invalid value for option `sslmode`")
                    && err.contains("disable, prefer, require, verify-ca or verify-full"),
                "{url}: {err}"
            );
        }
        let err = parse_url("host=db port=many").unwrap_err().to_string();
        assert!(err.contains("option `port`"), "{err}");
    }

    #[test]
    fn a_unix_socket_never_asks_for_tls() {
        let settings = DatabaseSettings {
            url: Secret::new("postgresql:///maia?host=/run/postgresql&sslmode=require"),
            ..DatabaseSettings::default()
        };
        let config = settings.connection_config().unwrap();
        assert_eq!(config.get_ssl_mode(), SslMode::Disable);
        let settings = DatabaseSettings {
            url: Secret::new("postgresql://db.lan/maia?sslmode=require"),
            ..DatabaseSettings::default()
        };
        let config = settings.connection_config().unwrap();
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
    }
}
