//! Typed configuration: built-in defaults < TOML file < environment.
//!
//! The file is validated on its own first (unknown keys are errors naming the key and the
//! file); the environment is read by hand so that unknown `MAIA_` variables can be reported
//! as warnings, values are never re-typed (`007` stays a string), and secrets may come from
//! `…_FILE` variables or systemd credentials.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Environment variable naming the config file (the `--config` flag wins).
pub const CONFIG_ENV: &str = "MAIA_CONFIG";
const ENV_PREFIX: &str = "MAIA_";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub ollama: OllamaSettings,
    pub sovereignty: SovereigntySettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address the server binds, `host:port`.
    pub listen: String,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_grace: u64,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// A PostgreSQL URL or key=value connection string. Secret: it may hold a password.
    pub url: SecretString,
    /// Overrides any password in `url`.
    pub password: Option<SecretString>,
    pub pool_size: usize,
    pub migrate_on_start: bool,
    /// Seconds to wait for a connection (also the pool's wait limit).
    pub connect_timeout: u64,
    /// Extra PEM CA certificates for `sslmode=require` (managed databases with a private CA).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OllamaSettings {
    pub url: String,
    /// Model for `fast` mode.
    pub model: String,
    /// Model for `deep` mode; defaults to `model`.
    pub deep_model: Option<String>,
    /// Seconds to wait for the model's answer (a read timeout, not a total deadline).
    pub timeout: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SovereigntySettings {
    pub strict: bool,
    /// Host names or addresses allowed even though they are not local.
    pub allow_hosts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// An env-filter directive such as `info` or `maia=debug,actix_web=info`; `RUST_LOG` wins.
    pub level: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".into(),
            shutdown_grace: 30,
            workers: 0,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("postgresql://maia@127.0.0.1:5432/maia"),
            password: None,
            pool_size: 16,
            migrate_on_start: true,
            connect_timeout: 5,
            ca_file: None,
        }
    }
}

impl Default for OllamaSettings {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:11434".into(),
            model: "llama3.2:3b".into(),
            deep_model: None,
            timeout: 300,
        }
    }
}

impl Default for SovereigntySettings {
    fn default() -> Self {
        Self {
            strict: true,
            allow_hosts: Vec::new(),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

/// Every settable key: (path, is a list, is a secret). The environment name is derived.
const KEYS: &[(&str, bool, bool)] = &[
    ("http.listen", false, false),
    ("http.shutdown_grace", false, false),
    ("http.workers", false, false),
    ("database.url", false, true),
    ("database.password", false, true),
    ("database.pool_size", false, false),
    ("database.migrate_on_start", false, false),
    ("database.connect_timeout", false, false),
    ("database.ca_file", false, false),
    ("ollama.url", false, false),
    ("ollama.model", false, false),
    ("ollama.deep_model", false, false),
    ("ollama.timeout", false, false),
    ("sovereignty.strict", false, false),
    ("sovereignty.allow_hosts", true, false),
    ("log.format", false, false),
    ("log.level", false, false),
];

/// Conventional variables other tools use; a `MAIA_` name wins over them.
const CONVENTIONAL: &[(&str, &str)] = &[
    ("DATABASE_URL", "database.url"),
    ("OLLAMA_BASE_URL", "ollama.url"),
];

/// `http.listen` → `MAIA_HTTP__LISTEN`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase())
}

/// systemd credential file name for a secret key: `database.url` → `database_url`.
fn credential_name(key: &str) -> String {
    key.replace('.', "_")
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    InvalidFile { path: PathBuf, message: String },
    #[error("cannot read {var} ({path}): {source}")]
    ReadSecretFile {
        var: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Where each value came from is not tracked; these are the inputs `load` combines.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub file: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
}

impl Sources {
    /// The process environment and the file from `--config` or `MAIA_CONFIG`.
    pub fn from_process(config_flag: Option<PathBuf>) -> Self {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let file = config_flag.or_else(|| env.get(CONFIG_ENV).map(PathBuf::from));
        Self { file, env }
    }
}

/// The loaded settings and the warnings found while loading them (unknown variables).
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    pub warnings: Vec<String>,
}

pub fn load(sources: &Sources) -> Result<Loaded, SettingsError> {
    let mut builder = config::Config::builder();
    if let Some(path) = &sources.file {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::ReadFile {
            path: path.clone(),
            source,
        })?;
        // Strict parse first: unknown keys and wrong types are reported with the file's name.
        toml::from_str::<Settings>(&text).map_err(|e| SettingsError::InvalidFile {
            path: path.clone(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
    }

    let (overrides, warnings) = environment_overrides(&sources.env)?;
    for (key, value) in overrides {
        builder = match value {
            EnvValue::One(v) => builder.set_override(key, v),
            EnvValue::List(v) => builder.set_override(key, v),
        }
        .map_err(|e| SettingsError::Invalid(e.to_string()))?;
    }

    let settings: Settings = builder
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| SettingsError::Invalid(e.to_string()))?;
    settings.validate()?;
    Ok(Loaded { settings, warnings })
}

/// Values from the environment, by key, and warnings about it.
type Overrides = Vec<(String, EnvValue)>;

enum EnvValue {
    One(String),
    List(Vec<String>),
}

fn environment_overrides(
    env: &BTreeMap<String, String>,
) -> Result<(Overrides, Vec<String>), SettingsError> {
    let mut overrides = Vec::new();
    for &(key, is_list, is_secret) in KEYS {
        let name = env_name(key);
        let file_var = format!("{name}_FILE");
        let value = if let Some(v) = env.get(&name) {
            Some(v.clone())
        } else if let Some(path) = env.get(&file_var) {
            Some(read_secret_file(&file_var, Path::new(path))?)
        } else if let (true, Some(dir)) = (is_secret, env.get("CREDENTIALS_DIRECTORY")) {
            let path = Path::new(dir).join(credential_name(key));
            if path.is_file() {
                Some(read_secret_file("CREDENTIALS_DIRECTORY", &path)?)
            } else {
                None
            }
        } else {
            CONVENTIONAL
                .iter()
                .find(|(_, k)| *k == key)
                .and_then(|(var, _)| env.get(*var).cloned())
        };
        if let Some(value) = value {
            let value = if is_list {
                EnvValue::List(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect(),
                )
            } else {
                EnvValue::One(value)
            };
            overrides.push((key.to_string(), value));
        }
    }

    let known: Vec<String> = KEYS
        .iter()
        .flat_map(|(k, _, _)| [env_name(k), format!("{}_FILE", env_name(k))])
        .chain([CONFIG_ENV.to_string(), "MAIA_PG_BINDIR".to_string()])
        .collect();
    let warnings = env
        .keys()
        .filter(|name| name.starts_with(ENV_PREFIX) && !known.contains(name))
        .map(|name| format!("unknown environment variable {name} is ignored"))
        .collect();
    Ok((overrides, warnings))
}

fn read_secret_file(var: &str, path: &Path) -> Result<String, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::ReadSecretFile {
        var: var.to_string(),
        path: path.to_path_buf(),
        source,
    })?;
    // Files written by `echo` or editors end in a newline that is not part of the secret.
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

impl Settings {
    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |m: String| Err(SettingsError::Invalid(m));
        if self.listen_addr().is_err() {
            return invalid(format!(
                "http.listen = {:?} is not an address of the form host:port (e.g. 0.0.0.0:8080)",
                self.http.listen
            ));
        }
        if self.database.pool_size == 0 {
            return invalid("database.pool_size must be at least 1".into());
        }
        if self.database.connect_timeout == 0 {
            return invalid("database.connect_timeout must be at least 1 second".into());
        }
        if self.ollama.timeout == 0 {
            return invalid("ollama.timeout must be at least 1 second".into());
        }
        // The error never contains the password.
        if let Err(err) = crate::db::connection_config(&self.database) {
            return invalid(format!("database.url: {err}"));
        }
        match reqwest::Url::parse(&self.ollama.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return invalid(format!(
                    "ollama.url = {:?} is not an http(s) URL (e.g. http://127.0.0.1:11434)",
                    self.ollama.url
                ))
            }
        }
        for (key, model) in [
            ("ollama.model", Some(&self.ollama.model)),
            ("ollama.deep_model", self.ollama.deep_model.as_ref()),
        ] {
            if let Some(m) = model {
                if m.trim().is_empty() {
                    return invalid(format!("{key} must not be empty"));
                }
            }
        }
        if let Some(ca) = &self.database.ca_file {
            if !ca.is_file() {
                return invalid(format!(
                    "database.ca_file = {} does not exist",
                    ca.display()
                ));
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.http.listen.parse()
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.http.shutdown_grace)
    }

    pub fn deep_model(&self) -> &str {
        self.ollama
            .deep_model
            .as_deref()
            .unwrap_or(&self.ollama.model)
    }

    /// The effective configuration as TOML, secrets redacted, for `maia config`.
    pub fn to_redacted_toml(&self) -> String {
        #[derive(Serialize)]
        struct View<'a> {
            http: &'a HttpSettings,
            database: DatabaseView,
            ollama: OllamaSettings,
            sovereignty: &'a SovereigntySettings,
            log: &'a LogSettings,
        }
        #[derive(Serialize)]
        struct DatabaseView {
            url: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            password: Option<&'static str>,
            pool_size: usize,
            migrate_on_start: bool,
            connect_timeout: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            ca_file: Option<PathBuf>,
        }
        let view = View {
            http: &self.http,
            database: DatabaseView {
                url: redact_url(self.database.url.expose_secret()),
                password: self.database.password.as_ref().map(|_| "[redacted]"),
                pool_size: self.database.pool_size,
                migrate_on_start: self.database.migrate_on_start,
                connect_timeout: self.database.connect_timeout,
                ca_file: self.database.ca_file.clone(),
            },
            ollama: OllamaSettings {
                deep_model: Some(self.deep_model().to_string()),
                ..self.ollama.clone()
            },
            sovereignty: &self.sovereignty,
            log: &self.log,
        };
        toml::to_string(&view).unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
    }
}

/// Hides the password of a PostgreSQL URL (`postgresql://u:p@h/db`) or key=value string.
pub fn redact_url(url: &str) -> String {
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

    fn env(pairs: &[(&str, &str)]) -> Sources {
        Sources {
            file: None,
            env: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn environment_names_use_double_underscores_between_levels() {
        assert_eq!(env_name("http.listen"), "MAIA_HTTP__LISTEN");
        assert_eq!(env_name("ollama.deep_model"), "MAIA_OLLAMA__DEEP_MODEL");
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = load(&env(&[])).unwrap().settings;
        assert_eq!(s.http.listen, "0.0.0.0:8080");
        assert!(s.database.migrate_on_start);
        assert_eq!(s.ollama.url, "http://127.0.0.1:11434");
        assert_eq!(s.deep_model(), s.ollama.model);
        assert!(s.sovereignty.strict);
    }

    #[test]
    fn a_password_of_digits_keeps_its_leading_zeros() {
        let s = load(&env(&[("MAIA_DATABASE__PASSWORD", "007")]))
            .unwrap()
            .settings;
        assert_eq!(s.database.password.unwrap().expose_secret(), "007");
    }

    #[test]
    fn allow_hosts_is_a_comma_separated_list_in_the_environment() {
        let s = load(&env(&[(
            "MAIA_SOVEREIGNTY__ALLOW_HOSTS",
            "gpu.example.org, db.example.org",
        )]))
        .unwrap()
        .settings;
        assert_eq!(
            s.sovereignty.allow_hosts,
            vec!["gpu.example.org", "db.example.org"]
        );
    }

    #[test]
    fn maia_names_win_over_conventional_ones() {
        let s = load(&env(&[
            ("OLLAMA_BASE_URL", "http://10.0.0.2:11434"),
            ("MAIA_OLLAMA__URL", "http://10.0.0.3:11434"),
        ]))
        .unwrap()
        .settings;
        assert_eq!(s.ollama.url, "http://10.0.0.3:11434");
        let s = load(&env(&[("OLLAMA_BASE_URL", "http://10.0.0.2:11434")]))
            .unwrap()
            .settings;
        assert_eq!(s.ollama.url, "http://10.0.0.2:11434");
    }

    #[test]
    fn unknown_maia_variables_are_warnings_that_name_them() {
        let loaded = load(&env(&[("MAIA_HTTP__LISTN", "x"), ("MAIA_CONFIG", "")])).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("MAIA_HTTP__LISTN"));
    }

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
    fn debug_output_never_shows_secrets() {
        let s = load(&env(&[
            (
                "MAIA_DATABASE__URL",
                "postgresql://maia:hunter2@127.0.0.1/maia",
            ),
            ("MAIA_DATABASE__PASSWORD", "hunter3"),
        ]))
        .unwrap()
        .settings;
        let shown = format!("{s:?}{}", s.to_redacted_toml());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("hunter3"), "{shown}");
    }
}
