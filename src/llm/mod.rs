//! The local language model: Ollama's HTTP API (chat, streamed, and the probes), spoken
//! with our own client so that every wait has the deadline we choose.

// Public, not re-exported here: they use this file's items, and a re-export would make
// an import circle.
pub mod chat;
pub mod decode;
pub mod embed;
mod ndjson;

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use crate::config::OllamaSettings;

/// Connecting to a local service should be near-instant; a long wait means it is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Health probes must answer quickly or count as unavailable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("Ollama is unreachable: {0}")]
    Unreachable(String),
    #[error("Ollama sent nothing for {} s (ollama.timeout)", .0.as_secs())]
    Timeout(Duration),
    #[error("Ollama's answer took longer than {} s (ollama.max_answer_seconds)", .0.as_secs())]
    AnswerTooSlow(Duration),
    #[error("model {0:?} is not available on the Ollama server")]
    ModelNotFound(String),
    #[error("Ollama returned an error: {0}")]
    Upstream(String),
    /// Every slot (`ollama.max_concurrent`) and the queue (`ollama.max_queue`) are taken.
    #[error("the language model is busy: every slot and the queue are taken")]
    Busy,
    /// The client went away before the answer; the call was cancelled.
    #[error("cancelled: the client disconnected before the answer")]
    Cancelled,
}

impl LlmError {
    /// The error's code, in HTTP answers and kept with a failed trace.
    pub fn code(&self) -> &'static str {
        match self {
            LlmError::Unreachable(_) => "llm_unavailable",
            LlmError::Timeout(_) | LlmError::AnswerTooSlow(_) => "llm_timeout",
            LlmError::ModelNotFound(_) => "model_not_found",
            LlmError::Upstream(_) => "llm_error",
            LlmError::Busy => "llm_busy",
            LlmError::Cancelled => "client_closed_request",
        }
    }
}

/// The Ollama client could not be set up (a URL or TLS problem); found at start, never
/// while answering.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the Ollama client: {0}")]
pub struct LlmSetupError(String);

#[derive(Debug, Clone)]
pub struct Answer {
    pub content: String,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
}

#[derive(Clone)]
pub struct Llm {
    http: reqwest::Client,
    base: Url,
    /// `ollama.timeout`: the longest Ollama may stay silent.
    silence: Duration,
    /// `ollama.max_answer_seconds`: the longest a whole answer may take, if bounded.
    max_answer: Option<Duration>,
}

impl Llm {
    pub fn new(settings: &OllamaSettings) -> Result<Self, LlmSetupError> {
        let base = Url::parse(&settings.url).map_err(|e| LlmSetupError(e.to_string()))?;
        // No proxy: a proxy from the environment would carry local traffic elsewhere.
        // Calls bound their own waits (chat.rs); probes set a timeout each.
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .no_proxy()
            // No connection kept between calls: a kept one is driven by the runtime of the
            // worker that opened it, and a worker that stops first at shutdown (an idle one)
            // would cut off a call another worker made on it. A call is long; a connect is not.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| LlmSetupError(e.to_string()))?;
        Ok(Self {
            http,
            base,
            silence: Duration::from_secs(settings.timeout),
            max_answer: (settings.max_answer_seconds > 0)
                .then(|| Duration::from_secs(settings.max_answer_seconds)),
        })
    }

    /// `GET /api/version`: Ollama is up and answering.
    pub async fn version(&self) -> Result<String, LlmError> {
        #[derive(Deserialize)]
        struct Version {
            version: String,
        }
        let v: Version = self.probe("api/version").await?;
        Ok(v.version)
    }

    /// `GET /api/tags`: the models present on the server.
    pub async fn models(&self) -> Result<Vec<String>, LlmError> {
        #[derive(Deserialize)]
        struct Tags {
            models: Vec<Tag>,
        }
        #[derive(Deserialize)]
        struct Tag {
            name: String,
        }
        let tags: Tags = self.probe("api/tags").await?;
        Ok(tags.models.into_iter().map(|t| t.name).collect())
    }

    async fn probe<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, LlmError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| LlmError::Unreachable(e.to_string()))?;
        let response = self
            .http
            .get(url)
            .timeout(PROBE_TIMEOUT)
            .send()
            .await
            .map_err(|e| network_failure(&e, PROBE_TIMEOUT))?;
        if !response.status().is_success() {
            return Err(LlmError::Upstream(format!(
                "{path} answered {}",
                response.status()
            )));
        }
        response
            .json::<T>()
            .await
            .map_err(|e| LlmError::Upstream(format!("{path}: {e}")))
    }
}

/// Whether `wanted` is among `present`, where `llama3` means `llama3:latest` as in Ollama.
pub fn model_present(present: &[String], wanted: &str) -> bool {
    let normalise = |m: &str| {
        if m.contains(':') {
            m.to_string()
        } else {
            format!("{m}:latest")
        }
    };
    let wanted = normalise(wanted);
    present.iter().any(|m| normalise(m) == wanted)
}

/// What went wrong below HTTP, truthfully: a "timed out" from the network (the kernel
/// giving up on a connection after about 30 s, say) is not `ollama.timeout` (chat.rs keeps
/// that one), and says how long it took. The error carries the whole chain; the caller
/// logs it once (a failed query at warn, a health probe at debug).
fn network_failure(e: &reqwest::Error, after: Duration) -> LlmError {
    let chain = error_chain(e);
    let took = format!("after {:.1} s", after.as_secs_f64());
    if e.is_connect() {
        LlmError::Unreachable(format!("{took}: {chain}"))
    } else {
        // The connection broke or timed out below HTTP, or the body was not HTTP.
        LlmError::Upstream(format!("the connection to Ollama failed {took}: {chain}"))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_without_a_tag_means_latest() {
        let present = vec!["llama3:latest".to_string(), "qwen2.5:14b".to_string()];
        assert!(model_present(&present, "llama3"));
        assert!(model_present(&present, "qwen2.5:14b"));
        assert!(!model_present(&present, "qwen2.5"));
        assert!(!model_present(&present, "mistral"));
    }
}
