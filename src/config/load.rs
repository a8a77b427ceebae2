//! Loading: built-in defaults < TOML file < environment.
//!
//! The file is parsed once and checked on its own first, so unknown keys and wrong types
//! are errors that name the key and the file. The keys the environment may set are read
//! off the settings' types (`Settings::default()`, serialized): a new field is settable as
//! `MAIA_SECTION__KEY` with no list to update. Each value comes from `NAME`, `NAME_FILE`,
//! `$CREDENTIALS_DIRECTORY/section_key` (systemd's `LoadCredential=`), or a conventional
//! name (`DATABASE_URL`, `DATABASE_URL_FILE`), the first found winning, and is typed by
//! the key's default, so `007` stays a string where a string is expected. Unknown `MAIA_`
//! variables are warnings that name them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use toml::{Table, Value};

use super::settings::{InvalidSettings, Settings};

/// Environment variable naming the config file (the `--config` flag wins).
pub const CONFIG_ENV: &str = "MAIA_CONFIG";
const ENV_PREFIX: &str = "MAIA_";
/// `MAIA_` variables that are not settings keys.
const OTHER_VARS: &[&str] = &[CONFIG_ENV, "MAIA_PG_BINDIR"];
/// Conventional variables other tools use, and the key each sets; a `MAIA_` name wins.
/// Each may come from a file too (`DATABASE_URL_FILE`), as a `MAIA_` name may.
const CONVENTIONAL: &[(&str, &str)] = &[
    ("DATABASE_URL", "database.url"),
    ("OLLAMA_BASE_URL", "ollama.url"),
];

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
    #[error("{var}: {message}")]
    InvalidVariable { var: String, message: String },
    #[error(transparent)]
    Invalid(#[from] InvalidSettings),
}

/// The inputs `load` combines.
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
    let mut table = match &sources.file {
        Some(path) => read_file(path)?,
        None => Table::new(),
    };
    let keys = keys();
    // Which variable set each key, to name it when its value is refused.
    let mut set_by = BTreeMap::new();
    for key in &keys {
        if let Some((var, text)) = key.value_in(&sources.env)? {
            let value =
                key.kind
                    .parse(&text)
                    .map_err(|message| SettingsError::InvalidVariable {
                        var: var.clone(),
                        message: format!("{} {message}", key.path),
                    })?;
            set(&mut table, &key.path, value);
            set_by.insert(key.path.clone(), var);
        }
    }
    let settings = deserialize(table).map_err(|e| {
        let path = e.path().to_string();
        let message = keyed(&path, e.inner().message());
        // `sovereignty.allow_hosts[1]` was set by the variable that set the list.
        match set_by.get(path.split('[').next().unwrap_or(&path)) {
            Some(var) => SettingsError::InvalidVariable {
                var: var.clone(),
                message,
            },
            None => InvalidSettings(message).into(),
        }
    })?;
    settings.validate()?;
    Ok(Loaded {
        settings,
        warnings: unknown_variables(&sources.env, &keys),
    })
}

/// `http.listen` → `MAIA_HTTP__LISTEN`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase())
}

fn read_file(path: &Path) -> Result<Table, SettingsError> {
    let invalid = |message: String| SettingsError::InvalidFile {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| invalid(masked(&e.to_string())))?;
    // Unknown keys and wrong types are the file's fault, and said so, before the
    // environment is laid over it: read from the text, the error shows the line at fault.
    serde_path_to_error::deserialize::<_, Settings>(toml::Deserializer::new(&text))
        .map_err(|e| invalid(masked(&located(&e))))?;
    Ok(table)
}

/// An error in the file as toml shows it (the line, a caret under the fault, the message),
/// its message naming the key.
fn located(error: &serde_path_to_error::Error<toml::de::Error>) -> String {
    let path = error.path().to_string();
    let inner = error.inner();
    let mut message = inner.message().to_string();
    // The key itself, not its section: `auth.required` holds no secret.
    if looks_secret(path.rsplit('.').next().unwrap_or_default()) {
        message = without_value(&message);
    }
    let shown = inner.to_string();
    let snippet = shown
        .strip_suffix(&format!("{}\n", inner.message()))
        .unwrap_or_default();
    format!("{snippet}{}", keyed(&path, &message))
}

/// `log.format must be …` for a rule, `log.format: invalid type …` for anything else.
fn keyed(path: &str, message: &str) -> String {
    if path == "." {
        message.to_string()
    } else if message.starts_with("must ") {
        format!("{path} {message}")
    } else {
        format!("{path}: {message}")
    }
}

/// serde's "invalid type: integer `123456`, expected a string" without the value.
fn without_value(message: &str) -> String {
    match message
        .split_once(": ")
        .zip(message.split_once(", expected "))
    {
        Some(((kind, _), (_, expected))) => {
            format!("{kind}: {}, expected {expected}", super::secret::REDACTED)
        }
        None => message.to_string(),
    }
}

/// A TOML error quotes the line at fault: values of keys that look secret, and passwords in
/// URLs, are masked in it (a misspelt `pasword = "…"` is still a password).
fn masked(message: &str) -> String {
    message
        .lines()
        .map(|line| match line.split_once('|') {
            Some((gutter, code)) => format!("{gutter}|{}", masked_code(code)),
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// Loose on purpose: a misspelt key (`pasword`, `passwd`, `pw`) holds a secret all the same.
const SECRET_WORDS: &[&str] = &["pas", "pw", "secret", "token", "key", "cred", "auth"];

fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| key.contains(w))
}

fn masked_code(code: &str) -> String {
    if let Some((key, _)) = code.split_once('=') {
        if looks_secret(key) {
            return format!("{key}= {}", super::secret::REDACTED);
        }
    }
    // `scheme://user:password@host`
    match (code.find("://"), code.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let userinfo = &code[start + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!(
                    "{}{user}:{}{}",
                    &code[..start + 3],
                    super::secret::REDACTED,
                    &code[at..]
                ),
                None => code.to_string(),
            }
        }
        _ => code.to_string(),
    }
}

/// Deserializes, naming the key at fault (`database.pool_size: invalid type ...`).
fn deserialize(table: Table) -> Result<Settings, serde_path_to_error::Error<toml::de::Error>> {
    serde_path_to_error::deserialize(Value::Table(table))
}

/// What a key takes, as its default shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Boolean,
    List,
}

impl Kind {
    fn of(default: &Json) -> Self {
        match default {
            Json::Bool(_) => Kind::Boolean,
            Json::Number(_) => Kind::Integer,
            Json::Array(_) => Kind::List,
            // Strings, and optional values without a default (all text today).
            _ => Kind::Text,
        }
    }

    fn parse(self, text: &str) -> Result<Value, String> {
        match self {
            Kind::Text => Ok(Value::String(text.to_string())),
            Kind::Integer => text
                .trim()
                .parse::<i64>()
                .map(Value::Integer)
                .map_err(|_| format!("must be a whole number, not {text:?}")),
            Kind::Boolean => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(Value::Boolean(true)),
                "false" | "0" | "no" | "off" => Ok(Value::Boolean(false)),
                _ => Err(format!("must be true or false, not {text:?}")),
            },
            // Comma-separated in the environment.
            Kind::List => Ok(Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            )),
        }
    }
}

/// One key the environment may set.
#[derive(Debug)]
struct Key {
    /// `section.key`
    path: String,
    kind: Kind,
}

impl Key {
    /// The key's value from the environment, and the variable it came from.
    fn value_in(
        &self,
        env: &BTreeMap<String, String>,
    ) -> Result<Option<(String, String)>, SettingsError> {
        if let Some(found) = variable(env, &env_name(&self.path))? {
            return Ok(Some(found));
        }
        if let Some(dir) = set_in(env, "CREDENTIALS_DIRECTORY") {
            let path = Path::new(dir).join(self.path.replace('.', "_"));
            if path.is_file() {
                let value = read_secret_file("CREDENTIALS_DIRECTORY", &path)?;
                return Ok(Some(("CREDENTIALS_DIRECTORY".into(), value)));
            }
        }
        for (var, _) in CONVENTIONAL.iter().filter(|(_, key)| *key == self.path) {
            if let Some(found) = variable(env, var)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

/// The value of `name`, or of the file `name_FILE` names, and the variable it came from.
fn variable(
    env: &BTreeMap<String, String>,
    name: &str,
) -> Result<Option<(String, String)>, SettingsError> {
    if let Some(value) = set_in(env, name) {
        return Ok(Some((name.to_string(), value.clone())));
    }
    let file_var = format!("{name}_FILE");
    match set_in(env, &file_var) {
        Some(path) => {
            let value = read_secret_file(&file_var, Path::new(path))?;
            Ok(Some((file_var, value)))
        }
        None => Ok(None),
    }
}

/// A variable's value, unless it is empty: an empty variable counts as unset, as a compose
/// file's `MAIA_DATABASE__PASSWORD=${PGPASSWORD}` leaves it when `PGPASSWORD` is unset (an
/// empty password would override the one in the URL).
fn set_in<'a>(env: &'a BTreeMap<String, String>, name: &str) -> Option<&'a String> {
    env.get(name).filter(|value| !value.is_empty())
}

/// Every leaf of the default settings, serialized: the keys there are.
fn keys() -> Vec<Key> {
    let defaults = serde_json::to_value(Settings::default()).unwrap_or_default();
    let mut keys = Vec::new();
    if let Json::Object(sections) = defaults {
        for (section, fields) in sections {
            if let Json::Object(fields) = fields {
                for (field, default) in fields {
                    keys.push(Key {
                        path: format!("{section}.{field}"),
                        kind: Kind::of(&default),
                    });
                }
            }
        }
    }
    keys
}

fn set(table: &mut Table, path: &str, value: Value) {
    let (section, key) = path.split_once('.').unwrap_or(("", path));
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| Value::Table(Table::new()));
    if !entry.is_table() {
        *entry = Value::Table(Table::new());
    }
    if let Value::Table(section) = entry {
        section.insert(key.to_string(), value);
    }
}

fn unknown_variables(env: &BTreeMap<String, String>, keys: &[Key]) -> Vec<String> {
    let known: Vec<String> = keys
        .iter()
        .flat_map(|k| [env_name(&k.path), format!("{}_FILE", env_name(&k.path))])
        .chain(OTHER_VARS.iter().map(|v| v.to_string()))
        .collect();
    env.keys()
        .filter(|name| name.starts_with(ENV_PREFIX) && !known.contains(name))
        .map(|name| format!("unknown environment variable {name} is ignored"))
        .collect()
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
    fn every_field_of_the_settings_is_a_key_the_environment_can_set() {
        let keys: Vec<(String, Kind)> = keys().into_iter().map(|k| (k.path, k.kind)).collect();
        for (path, kind) in [
            ("http.listen", Kind::Text),
            ("http.workers", Kind::Integer),
            ("database.password", Kind::Text),
            ("database.migrate_on_start", Kind::Boolean),
            ("database.ca_file", Kind::Text),
            ("ollama.deep_model", Kind::Text),
            ("sovereignty.allow_hosts", Kind::List),
            ("log.format", Kind::Text),
        ] {
            assert!(keys.contains(&(path.to_string(), kind)), "{path}: {keys:?}");
        }
        // Every key's environment name maps back to it.
        for (path, _) in &keys {
            let name = env_name(path);
            assert!(name.starts_with("MAIA_") && name.contains("__"), "{name}");
        }
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
        assert_eq!(s.database.password.unwrap().expose(), "007");
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let s = load(&env(&[
            (
                "MAIA_DATABASE__URL",
                "postgresql://maia:from-url@10.0.0.5/maia",
            ),
            ("MAIA_DATABASE__PASSWORD", ""),
            ("MAIA_OLLAMA__URL", ""),
            ("OLLAMA_BASE_URL", "http://10.0.0.6:11434"),
        ]))
        .unwrap()
        .settings;
        assert!(s.database.password.is_none());
        let config = s.database.connection_config().unwrap();
        assert_eq!(config.get_password(), Some(&b"from-url"[..]));
        assert_eq!(s.ollama.url, "http://10.0.0.6:11434");
    }

    #[test]
    fn numbers_and_booleans_are_checked_and_named() {
        let s = load(&env(&[
            ("MAIA_HTTP__WORKERS", "3"),
            ("MAIA_DATABASE__MIGRATE_ON_START", "false"),
        ]))
        .unwrap()
        .settings;
        assert_eq!(s.http.workers, 3);
        assert!(!s.database.migrate_on_start);
        let err = load(&env(&[("MAIA_DATABASE__POOL_SIZE", "many")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MAIA_DATABASE__POOL_SIZE") && err.contains("database.pool_size"),
            "{err}"
        );
    }

    #[test]
    fn connection_limits_must_be_positive_and_a_client_cannot_have_more_than_all() {
        let s = load(&env(&[])).unwrap().settings;
        assert_eq!(s.http.body_timeout, 30, "default deadline");
        assert_eq!(
            (s.http.max_connections, s.http.max_connections_per_client),
            (512, 64)
        );
        let zero = load(&env(&[("MAIA_HTTP__BODY_TIMEOUT", "0")]))
            .unwrap_err()
            .to_string();
        assert!(
            zero.contains("http.body_timeout must be at least 1"),
            "{zero}"
        );
        let more = load(&env(&[
            ("MAIA_HTTP__MAX_CONNECTIONS", "10"),
            ("MAIA_HTTP__MAX_CONNECTIONS_PER_CLIENT", "11"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            more.contains("must not exceed http.max_connections (10)"),
            "{more}"
        );
    }

    #[test]
    fn retention_keeps_everything_by_default_and_refuses_nonsense() {
        let s = load(&env(&[])).unwrap().settings;
        assert_eq!(
            (s.retention.traces_days, s.retention.conversations_days),
            (0, 0),
            "0: forever"
        );
        let set = load(&env(&[("MAIA_RETENTION__TRACES_DAYS", "30")]))
            .unwrap()
            .settings;
        assert_eq!(set.retention.traces_days, 30);
        let error = |var: &str, value: &str| load(&env(&[(var, value)])).unwrap_err().to_string();
        let negative = error("MAIA_RETENTION__TRACES_DAYS", "-1");
        assert!(
            negative.contains("retention.traces_days must be between 0 (keep forever)"),
            "{negative}"
        );
        let huge = error("MAIA_RETENTION__CONVERSATIONS_DAYS", "36501");
        assert!(
            huge.contains(
                "retention.conversations_days must be between 0 (keep forever) and 36500"
            ),
            "{huge}"
        );
    }

    #[test]
    fn the_council_is_a_list_of_two_to_eight_distinct_persona_names() {
        let s = load(&env(&[])).unwrap().settings;
        assert_eq!(s.council.personas, ["socratic", "contrarian", "pragmatist"]);
        assert_eq!(s.council.synthesizer, "synthesizer");
        let set = load(&env(&[("MAIA_COUNCIL__PERSONAS", "coach, contrarian")]))
            .unwrap()
            .settings;
        assert_eq!(set.council.personas, ["coach", "contrarian"]);
        let error = |var: &str, value: &str| load(&env(&[(var, value)])).unwrap_err().to_string();
        for (var, value, problem) in [
            (
                "MAIA_COUNCIL__PERSONAS",
                "socratic",
                "must name 2 to 8 personas, not 1",
            ),
            ("MAIA_COUNCIL__PERSONAS", "a,b,c,d,e,f,g,h,i", "not 9"),
            (
                "MAIA_COUNCIL__PERSONAS",
                "coach,no way",
                "council.personas[1]",
            ),
            (
                "MAIA_COUNCIL__PERSONAS",
                "coach,Coach",
                "\"coach\" is named twice",
            ),
            ("MAIA_COUNCIL__SYNTHESIZER", "../x", "council.synthesizer"),
        ] {
            let message = error(var, value);
            assert!(message.contains(problem), "{value}: {message}");
        }
    }

    #[test]
    fn allow_hosts_is_a_comma_separated_list_in_the_environment() {
        let s = load(&env(&[(
            "MAIA_SOVEREIGNTY__ALLOW_HOSTS",
            "gpu.example.org, db.example.org",
        )]))
        .unwrap()
        .settings;
        let listed: Vec<String> = s
            .sovereignty
            .allow_hosts
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(listed, ["gpu.example.org", "db.example.org"]);
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
    fn conventional_names_come_from_files_too_after_the_maia_names() {
        let dir = std::env::temp_dir().join(format!("maia-url-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("url");
        std::fs::write(&file, "postgresql://maia@10.0.0.7/from_file\n").unwrap();
        let file = file.to_str().unwrap();
        let url = |pairs: &[(&str, &str)]| {
            let s = load(&env(pairs)).unwrap().settings;
            s.database
                .connection_config()
                .unwrap()
                .get_dbname()
                .map(String::from)
        };

        let from_file = url(&[("DATABASE_URL_FILE", file)]);
        let variable_first = url(&[
            ("DATABASE_URL_FILE", file),
            ("DATABASE_URL", "postgresql://maia@10.0.0.7/from_variable"),
        ]);
        let maia_first = url(&[
            ("DATABASE_URL_FILE", file),
            ("MAIA_DATABASE__URL", "postgresql://maia@10.0.0.7/from_maia"),
        ]);
        let missing = load(&env(&[("DATABASE_URL_FILE", "/nonexistent/url")]))
            .unwrap_err()
            .to_string();

        assert_eq!(from_file.as_deref(), Some("from_file"));
        assert_eq!(variable_first.as_deref(), Some("from_variable"));
        assert_eq!(maia_first.as_deref(), Some("from_maia"));
        assert!(
            missing.contains("DATABASE_URL_FILE") && missing.contains("/nonexistent/url"),
            "{missing}"
        );
    }

    #[test]
    fn unknown_maia_variables_are_warnings_that_name_them() {
        let loaded = load(&env(&[("MAIA_HTTP__LISTN", "x"), ("MAIA_CONFIG", "")])).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("MAIA_HTTP__LISTN"));
    }

    #[test]
    fn a_broken_file_does_not_quote_its_secrets() {
        for line in [
            "pasword = \"hunter2",
            "password = hunter2 oops",
            "api_key = 'hunter2",
            "url = \"postgresql://maia:hunter2@db/maia\" oops",
        ] {
            let dir = std::env::temp_dir().join(format!("maia-masked-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("maia.toml");
            std::fs::write(&path, format!("[database]\n{line}\n")).unwrap();
            let err = load(&Sources {
                file: Some(path),
                env: BTreeMap::new(),
            })
            .unwrap_err()
            .to_string();
            assert!(!err.contains("hunter2"), "{line}: {err}");
            assert!(err.contains("maia.toml") && err.contains("line 2"), "{err}");
        }
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_not_quoted_either() {
        let dir = std::env::temp_dir().join(format!("maia-typed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("maia.toml");
        // The error of loading a file with `text` alone.
        let error_of = |text: &str| {
            std::fs::write(&path, text).unwrap();
            let sources = Sources {
                file: Some(path.clone()),
                env: BTreeMap::new(),
            };
            load(&sources).unwrap_err().to_string()
        };
        let err = error_of("[database]\npassword = 20240601\n");
        assert!(!err.contains("20240601"), "{err}");
        assert!(
            err.contains("database.password: invalid type") && err.contains("line 2"),
            "{err}"
        );
        // A section's name does not make its keys secret.
        let err = error_of("[auth]\nrequired = \"yes\"\n");
        assert!(
            err.contains("auth.required: invalid type: string \"yes\", expected a boolean"),
            "{err}"
        );
    }

    #[test]
    fn debug_and_serialized_output_never_show_secrets() {
        let s = load(&env(&[
            (
                "MAIA_DATABASE__URL",
                "postgresql://maia:hunter2@127.0.0.1/maia",
            ),
            ("MAIA_DATABASE__PASSWORD", "hunter3"),
            ("MAIA_OLLAMA__URL", "http://proxy:hunter4@10.0.0.2:11434"),
            (
                "MAIA_OLLAMA__URLS",
                "http://proxy:hunter4@10.0.0.2:11434,http://proxy:hunter5@10.0.0.3:11434",
            ),
        ]))
        .unwrap()
        .settings;
        let shown = toml::to_string(&s).unwrap();
        for secret in ["hunter2", "hunter3", "hunter4", "hunter5"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(!format!("{s:?}").contains("hunter2"), "{s:?}");
    }

    #[test]
    fn several_ollama_servers_are_a_comma_separated_list_and_url_alone_is_one() {
        let s = load(&env(&[(
            "MAIA_OLLAMA__URLS",
            "http://10.0.0.2:11434, http://10.0.0.3:11434",
        )]))
        .unwrap()
        .settings;
        assert_eq!(
            s.ollama.hosts(),
            ["http://10.0.0.2:11434", "http://10.0.0.3:11434"]
        );
        let one = load(&env(&[("MAIA_OLLAMA__URL", "http://10.0.0.4:11434")]))
            .unwrap()
            .settings;
        assert_eq!(one.ollama.hosts(), ["http://10.0.0.4:11434"]);
        // `url` may repeat one of `urls`.
        let both = load(&env(&[
            ("MAIA_OLLAMA__URL", "http://10.0.0.3:11434"),
            (
                "MAIA_OLLAMA__URLS",
                "http://10.0.0.2:11434,http://10.0.0.3:11434",
            ),
        ]));
        assert_eq!(both.unwrap().settings.ollama.hosts().len(), 2);
    }

    #[test]
    fn ollama_servers_that_disagree_repeat_or_are_not_urls_are_refused() {
        let error = |pairs: &[(&str, &str)]| load(&env(pairs)).unwrap_err().to_string();
        let both = error(&[
            ("MAIA_OLLAMA__URL", "http://proxy:hunter6@10.0.0.9:11434"),
            (
                "MAIA_OLLAMA__URLS",
                "http://10.0.0.2:11434,http://10.0.0.3:11434",
            ),
        ]);
        assert!(
            both.contains("are both set, to different servers"),
            "{both}"
        );
        assert!(!both.contains("hunter6"), "{both}");
        let twice = error(&[(
            "MAIA_OLLAMA__URLS",
            "http://10.0.0.2:11434,http://10.0.0.2:11434/",
        )]);
        assert!(
            twice.contains("ollama.urls[1]") && twice.contains("twice"),
            "{twice}"
        );
        let bad = error(&[(
            "MAIA_OLLAMA__URLS",
            "http://10.0.0.2:11434,ftp://u:hunter7@10.0.0.3",
        )]);
        assert!(
            bad.contains("ollama.urls[1]") && bad.contains("not an http(s) URL"),
            "{bad}"
        );
        assert!(!bad.contains("hunter7"), "{bad}");
        let many: Vec<String> = (1..=17)
            .map(|i| format!("http://10.0.0.{i}:11434"))
            .collect();
        let many = error(&[("MAIA_OLLAMA__URLS", &many.join(","))]);
        assert!(many.contains("at most 16"), "{many}");
    }
}
