//! The settings, one struct per section. Each key is written once: its field here, with
//! its meaning and its default. Loading (file, environment) is `super::load`; what the
//! environment may set is read off these types.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

use super::allowed_host::AllowedHost;
use super::database::DatabaseSettings;
use super::log_level::LogLevel;
use crate::domain::{ModelName, PersonaName};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub ollama: OllamaSettings,
    pub chat: ChatSettings,
    pub knowledge: KnowledgeSettings,
    pub sovereignty: SovereigntySettings,
    pub auth: AuthSettings,
    pub retention: RetentionSettings,
    pub council: CouncilSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address the server binds, `host:port`.
    #[default = "0.0.0.0:8080"]
    pub listen: String,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[default = 30]
    pub shutdown_grace: u64,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// With authentication on, the host names maia answers to (`Host`); empty: any. Pin the
    /// names behind a reverse proxy here.
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://app.example`) besides maia's own whose browser requests are
    /// served; any other `Origin` gets 403.
    pub allowed_origins: Vec<String>,
    /// The largest response built whole, in bytes: a history page stops short of it.
    #[default = 1_048_576]
    pub max_response_bytes: usize,
    /// Seconds a request's body may take to arrive, counted from its head; then 408 and
    /// the connection is closed. A client trickling a body must not hold a connection.
    #[default = 30]
    pub body_timeout: u64,
    /// Seconds a response may wait for its client to take it: a client that stops reading
    /// loses its connection, and the response's memory is freed.
    #[default = 30]
    pub write_timeout: u64,
    /// Connections open at once, all workers together (each worker gets its share).
    #[default = 512]
    pub max_connections: usize,
    /// Connections one client address (an IPv6 client: its /64) may hold open at once;
    /// requests on further ones get 429.
    #[default = 64]
    pub max_connections_per_client: usize,
    /// Seconds between heartbeats (an SSE comment, `: keep-alive`) on a streamed answer
    /// while the model is silent, so that proxies and clients do not take the quiet for a
    /// dead connection.
    #[default = 10]
    pub stream_heartbeat: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct OllamaSettings {
    /// The Ollama server. A user name or password in it (a proxy's) is shown as `[redacted]`.
    #[default = "http://127.0.0.1:11434"]
    #[serde(serialize_with = "shown_http_url")]
    pub url: String,
    /// Several Ollama servers, calls spread over them (see `OllamaSettings::hosts`); empty:
    /// `url` alone.
    #[serde(serialize_with = "shown_http_urls")]
    pub urls: Vec<String>,
    /// Model for `fast` mode.
    #[default = "llama3.2:3b"]
    pub model: String,
    /// Model for `deep` mode; defaults to `model`.
    pub deep_model: Option<String>,
    /// Seconds Ollama may stay silent: before the first piece of the answer, or between two.
    #[default = 300]
    pub timeout: u64,
    /// Seconds a whole answer may take; 0: no limit, a model that keeps writing may finish.
    pub max_answer_seconds: u64,
    /// Calls to Ollama at once; more wait in the queue.
    #[default = 4]
    pub max_concurrent: usize,
    /// Calls that may wait for a free slot; past that, 503 `llm_busy`.
    #[default = 64]
    pub max_queue: usize,
    /// Models a request may name besides `model` and `deep_model`.
    pub allowed_models: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSettings {
    /// Earlier messages of a conversation sent with a new question, at most; the oldest
    /// are left out first.
    #[default = 20]
    pub context_messages: usize,
    /// Estimated tokens (four bytes of text each) of those earlier messages, at most: a
    /// model's context window is finite, and Ollama would cut the start of a longer chat.
    #[default = 4096]
    pub context_tokens: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeSettings {
    /// The Ollama model that embeds documents and questions (`/api/embed`).
    #[default = "nomic-embed-text"]
    pub embed_model: String,
    /// How many numbers its embeddings have; the column and its index are made for it.
    /// Changing the model or this means embedding every document again.
    #[default = 768]
    pub embed_dimensions: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct SovereigntySettings {
    /// Refuse endpoints that are not local.
    #[default = true]
    pub strict: bool,
    /// Host names, addresses or `*.domain` patterns allowed even though they are not local.
    pub allow_hosts: Vec<AllowedHost>,
}

#[derive(Debug, Clone, Deserialize, Serialize, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Every route but the probes needs a token. `false` is accepted only while
    /// `http.listen` is a loopback address.
    #[default = true]
    pub required: bool,
    /// Failed authentications one client address may make in a minute before further
    /// failures are answered 429 (successful requests are never limited by this).
    #[default = 10]
    pub failed_attempts_per_minute: u32,
    /// Hours a browser session (`POST /api/session`) lasts.
    #[default = 12]
    pub session_hours: u64,
    /// Requests one token may make in a minute; past that, 429 with the seconds to wait.
    /// 0: no limit.
    #[default = 600]
    pub requests_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    // Signed, so that a negative number is refused in `validate` with the key's range
    // rather than as "expected u32".
    /// Days a trace is kept (by when it was made); 0: forever. A conversation's answers
    /// keep their text when their traces go.
    pub traces_days: i64,
    /// Days a conversation is kept after its last message, with its messages and the
    /// traces of its exchanges; 0: forever.
    pub conversations_days: i64,
    /// Seconds between two purges of `maia serve` (the first comes a minute after start,
    /// or sooner when this is shorter).
    #[default = 3600]
    pub interval_seconds: i64,
    /// Rows deleted in one transaction: a batch holds its locks only briefly.
    #[default = 1000]
    pub batch_size: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct CouncilSettings {
    /// The personas a `council` question asks, in parallel: 2 to 8 names, each a persona
    /// (`GET /api/personas`) by the time a question is asked.
    #[default(vec!["socratic".into(), "contrarian".into(), "pragmatist".into()])]
    pub personas: Vec<String>,
    /// The persona that merges the council's answers into one.
    #[default = "synthesizer"]
    pub synthesizer: String,
}

/// How many personas a council has, at least and at most: one voice is no council, and
/// each voice is a call to the model.
pub const COUNCIL_SIZE: std::ops::RangeInclusive<usize> = 2..=8;

/// The longest retention, in days (about a century): anything longer is a mistake, and
/// 0 already means forever.
pub const MAX_RETENTION_DAYS: i64 = 36_500;
/// The largest purge batch: beyond it, a batch's locks and its transaction grow long.
pub const MAX_PURGE_BATCH: i64 = 100_000;
/// The longest time between purges: a week.
pub const MAX_PURGE_INTERVAL_SECONDS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// Says what the key takes, where serde would speak of enums and variants.
impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("must be \"pretty\" or \"json\", not {text:?}")),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A level (`warning` means `warn`) or env-filter directives such as
    /// `info,maia=debug`; `RUST_LOG` wins.
    pub level: LogLevel,
}

fn shown_http_url<S: serde::Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redacted_http_url(url))
}

fn shown_http_urls<S: serde::Serializer>(
    urls: &[String],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(urls.iter().map(|u| redacted_http_url(u)))
}

/// The most Ollama servers `ollama.urls` may list.
pub const MAX_OLLAMA_HOSTS: usize = 16;

impl OllamaSettings {
    /// The Ollama servers calls go to: `urls` when set, else `url` alone.
    pub fn hosts(&self) -> Vec<&str> {
        if self.urls.is_empty() {
            vec![self.url.as_str()]
        } else {
            self.urls.iter().map(String::as_str).collect()
        }
    }

    /// Each URL http(s) with a host, none twice, at most `MAX_OLLAMA_HOSTS`; `url` changed
    /// from its default beside `urls` must be one of them (which would win is not a guess
    /// to leave to the reader).
    fn validate_urls(&self) -> Result<(), InvalidSettings> {
        let invalid = |m: String| Err(InvalidSettings(m));
        if self.urls.len() > MAX_OLLAMA_HOSTS {
            return invalid(format!(
                "ollama.urls lists {} servers; at most {MAX_OLLAMA_HOSTS} are taken",
                self.urls.len()
            ));
        }
        let default_url = Self::default().url;
        if !self.urls.is_empty() && self.url != default_url && !self.urls.contains(&self.url) {
            return invalid(format!(
                "ollama.url = {:?} and ollama.urls are both set, to different servers: set \
                 ollama.urls alone (ollama.url is for one server)",
                redacted_http_url(&self.url)
            ));
        }
        let keyed: Vec<(String, &str)> = if self.urls.is_empty() {
            vec![("ollama.url".into(), self.url.as_str())]
        } else {
            let listed = self.urls.iter().enumerate();
            listed
                .map(|(i, u)| (format!("ollama.urls[{i}]"), u.as_str()))
                .collect()
        };
        let mut seen = Vec::new();
        for (key, text) in keyed {
            let parsed = match url::Url::parse(text) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
                _ => {
                    return invalid(format!(
                        "{key} = {:?} is not an http(s) URL (e.g. http://127.0.0.1:11434)",
                        redacted_http_url(text)
                    ))
                }
            };
            if seen.contains(&parsed) {
                return invalid(format!(
                    "{key} = {:?} is listed twice in ollama.urls",
                    redacted_http_url(text)
                ));
            }
            seen.push(parsed);
        }
        Ok(())
    }
}

/// `url` without the user name and password it may carry (anything before `@`).
pub fn redacted_http_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            format!("{parsed} (credentials {})", super::secret::REDACTED)
        }
        Ok(_) => url.to_string(),
        Err(_) => "[not a URL; not shown]".into(),
    }
}

/// The most dimensions pgvector's HNSW index takes for a `vector` column.
pub const MAX_EMBED_DIMENSIONS: u32 = 2000;

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct InvalidSettings(pub String);

impl Settings {
    /// What a type cannot say: values that must agree with each other or with the world.
    pub fn validate(&self) -> Result<(), InvalidSettings> {
        let invalid = |m: String| Err(InvalidSettings(m));
        self.validate_http()?;
        self.validate_auth()?;
        self.validate_retention()?;
        self.validate_council()?;
        for (key, value) in [
            ("database.pool_size", self.database.pool_size as u64),
            ("database.connect_timeout", self.database.connect_timeout),
            (
                "database.statement_timeout",
                self.database.statement_timeout,
            ),
            ("ollama.timeout", self.ollama.timeout),
            ("ollama.max_concurrent", self.ollama.max_concurrent as u64),
            (
                "auth.failed_attempts_per_minute",
                self.auth.failed_attempts_per_minute.into(),
            ),
            ("auth.session_hours", self.auth.session_hours),
            ("http.body_timeout", self.http.body_timeout),
            ("http.stream_heartbeat", self.http.stream_heartbeat),
            ("http.write_timeout", self.http.write_timeout),
            ("http.max_connections", self.http.max_connections as u64),
            (
                "http.max_connections_per_client",
                self.http.max_connections_per_client as u64,
            ),
        ] {
            if value == 0 {
                return invalid(format!("{key} must be at least 1"));
            }
        }
        // The error never contains the password.
        if let Err(err) = self.database.connection_config() {
            return invalid(format!("database.url: {err}"));
        }
        self.ollama.validate_urls()?;
        self.validate_models()?;
        let dimensions = self.knowledge.embed_dimensions;
        if !(1..=MAX_EMBED_DIMENSIONS).contains(&dimensions) {
            return invalid(format!(
                "knowledge.embed_dimensions must be between 1 and {MAX_EMBED_DIMENSIONS} \
                 (pgvector's HNSW index takes no more), not {dimensions}"
            ));
        }
        self.database.ca_certificates().map_err(InvalidSettings)?;
        Ok(())
    }

    /// The address must parse, and no client may hold more connections than all of them.
    fn validate_http(&self) -> Result<(), InvalidSettings> {
        let http = &self.http;
        if self.listen_addr().is_err() {
            return Err(InvalidSettings(format!(
                "http.listen = {:?} is not an address of the form host:port (e.g. 0.0.0.0:8080)",
                http.listen
            )));
        }
        if http.max_connections_per_client > http.max_connections {
            return Err(InvalidSettings(format!(
                "http.max_connections_per_client ({}) must not exceed http.max_connections ({})",
                http.max_connections_per_client, http.max_connections
            )));
        }
        Ok(())
    }

    /// Configured models follow the rules a request's model does: a name that could never
    /// be asked for (`../x y`) is a configuration error, not a runtime surprise.
    fn validate_models(&self) -> Result<(), InvalidSettings> {
        let ollama = &self.ollama;
        let allowed = ollama.allowed_models.iter().enumerate();
        let configured = [
            ("ollama.model".to_string(), Some(&ollama.model)),
            ("ollama.deep_model".to_string(), ollama.deep_model.as_ref()),
            (
                "knowledge.embed_model".to_string(),
                Some(&self.knowledge.embed_model),
            ),
        ]
        .into_iter()
        .chain(allowed.map(|(i, m)| (format!("ollama.allowed_models[{i}]"), Some(m))));
        for (key, model) in configured {
            if let Some(Err(e)) = model.map(|m| ModelName::parse(m)) {
                return Err(InvalidSettings(format!(
                    "{key}: {e} (letters, digits, '.', '_', '-', ':' and '/' between parts, \
                     as in llama3.2:3b or hf.co/user/model:q4)"
                )));
            }
        }
        Ok(())
    }

    /// Days, batches and the interval within sense: `traces_days = -1` or `100000` is a
    /// typo, not a policy.
    fn validate_retention(&self) -> Result<(), InvalidSettings> {
        let retention = &self.retention;
        for (key, days) in [
            ("retention.traces_days", retention.traces_days),
            ("retention.conversations_days", retention.conversations_days),
        ] {
            if !(0..=MAX_RETENTION_DAYS).contains(&days) {
                return Err(InvalidSettings(format!(
                    "{key} must be between 0 (keep forever) and {MAX_RETENTION_DAYS} days, \
                     not {days}"
                )));
            }
        }
        if !(1..=MAX_PURGE_BATCH).contains(&retention.batch_size) {
            return Err(InvalidSettings(format!(
                "retention.batch_size must be between 1 and {MAX_PURGE_BATCH}, not {}",
                retention.batch_size
            )));
        }
        if !(1..=MAX_PURGE_INTERVAL_SECONDS).contains(&retention.interval_seconds) {
            return Err(InvalidSettings(format!(
                "retention.interval_seconds must be between 1 and {MAX_PURGE_INTERVAL_SECONDS} \
                 (a week), not {}",
                retention.interval_seconds
            )));
        }
        Ok(())
    }

    /// A council of 2 to 8 distinct personas, each name (and the synthesizer's) one that a
    /// request could name.
    fn validate_council(&self) -> Result<(), InvalidSettings> {
        let council = &self.council;
        let invalid = |m: String| Err(InvalidSettings(m));
        let count = council.personas.len();
        if !COUNCIL_SIZE.contains(&count) {
            return invalid(format!(
                "council.personas must name {} to {} personas, not {count}",
                COUNCIL_SIZE.start(),
                COUNCIL_SIZE.end()
            ));
        }
        let mut seen = Vec::with_capacity(count);
        for (i, name) in council.personas.iter().enumerate() {
            match PersonaName::parse(name) {
                Err(e) => return invalid(format!("council.personas[{i}]: {e}")),
                Ok(name) if seen.contains(&name) => {
                    return invalid(format!(
                        "council.personas[{i}]: {:?} is named twice",
                        name.as_str()
                    ))
                }
                Ok(name) => seen.push(name),
            }
        }
        if let Err(e) = PersonaName::parse(&council.synthesizer) {
            return invalid(format!("council.synthesizer: {e}"));
        }
        Ok(())
    }

    /// Without authentication, anyone who reaches the port reads the history and uses the
    /// model: only this machine may reach it then.
    fn validate_auth(&self) -> Result<(), InvalidSettings> {
        let loopback = self.listen_addr().is_ok_and(|a| a.ip().is_loopback());
        if self.auth.required || loopback {
            return Ok(());
        }
        Err(InvalidSettings(format!(
            "auth.required = false is accepted only while http.listen is a loopback address \
             (127.0.0.1 or [::1]), and http.listen is {:?}: anyone who can reach it could \
             read the history and use the model. Keep auth.required = true and create a \
             token (`maia token create --name NAME`), or listen on 127.0.0.1",
            self.http.listen
        )))
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.http.listen.parse()
    }

    pub fn deep_model(&self) -> &str {
        self.ollama
            .deep_model
            .as_deref()
            .unwrap_or(&self.ollama.model)
    }
}
