//! `[database]`: where PostgreSQL is, and how to reach it.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

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

fn parse_url(raw: &str) -> Result<tokio_postgres::Config, DatabaseUrlError> {
    // tokio-postgres rejects verify-ca/verify-full; rustls verification is that strict anyway.
    let normalised = raw
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    // tokio-postgres' messages name the offending parameter, never its value.
    tokio_postgres::Config::from_str(&normalised).map_err(|e| DatabaseUrlError(e.to_string()))
}

/// `database.url` as `maia config` shows it: the URL without its password.
fn shown_url<S: Serializer>(url: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact_url(url.expose()))
}

/// Hides the password of a PostgreSQL URL (`postgresql://u:p@h/db`) or key=value string.
fn redact_url(url: &str) -> String {
    if let Some(rest) = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"))
    {
        let scheme = &url[..url.len() - rest.len()];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let authority = match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                let user = userinfo.split(':').next().unwrap_or("");
                let redacted = if userinfo.contains(':') {
                    format!("{user}:[redacted]")
                } else {
                    user.to_string()
                };
                format!("{redacted}{}", &authority[at..])
            }
            None => authority.to_string(),
        };
        let tail = redact_password_param(tail, '&');
        format!("{scheme}{authority}{tail}")
    } else {
        redact_password_param(url, ' ')
    }
}

fn redact_password_param(text: &str, separator: char) -> String {
    let (head, query) = match separator {
        '&' => match text.find('?') {
            Some(q) => (&text[..=q], &text[q + 1..]),
            None => return text.to_string(),
        },
        _ => ("", text),
    };
    let parts: Vec<String> = query
        .split(separator)
        .map(|part| {
            if part.trim_start().starts_with("password=") {
                "password=[redacted]".to_string()
            } else {
                part.to_string()
            }
        })
        .collect();
    format!("{head}{}", parts.join(&separator.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_passwords_in_both_connection_string_forms() {
        assert_eq!(
            redact_url("postgresql://maia:s3cret@db:5432/maia?sslmode=require"),
            "postgresql://maia:[redacted]@db:5432/maia?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db/maia?user=maia&password=s3cret"),
            "postgres://db/maia?user=maia&password=[redacted]"
        );
        assert_eq!(
            redact_url("host=db user=maia password=s3cret dbname=maia"),
            "host=db user=maia password=[redacted] dbname=maia"
        );
        assert_eq!(
            redact_url("postgresql:///maia?host=/run/postgresql"),
            "postgresql:///maia?host=/run/postgresql"
        );
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
