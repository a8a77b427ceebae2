//! The local language model: Ollama's HTTP API (chat, streamed, and the probes), spoken
//! with our own client so that every wait has the deadline we choose.

// Public, not re-exported here: they use this file's items, and a re-export would make
// an import circle.
pub mod chat;
pub mod decode;
pub mod embed;
pub mod http1;
mod ndjson;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use self::http1::{Endpoint, Response, WireError};
use crate::config::OllamaSettings;
use crate::metrics::LlmMetrics;

/// Health probes must answer quickly or count as unavailable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most a probe's answer may hold (`/api/tags` lists every model on the server).
const MAX_PROBE_BYTES: usize = 4 * 1024 * 1024;

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
    endpoint: Arc<Endpoint>,
    base: Url,
    /// `ollama.timeout`: the longest Ollama may stay silent.
    silence: Duration,
    /// `ollama.max_answer_seconds`: the longest a whole answer may take, if bounded.
    max_answer: Option<Duration>,
    /// Where chat calls are measured (the server's metrics); none in the CLI.
    metrics: Option<Arc<LlmMetrics>>,
}

impl Llm {
    pub fn new(settings: &OllamaSettings) -> Result<Self, LlmSetupError> {
        let base = Url::parse(&settings.url).map_err(|e| LlmSetupError(e.to_string()))?;
        // No proxy from the environment: it would carry local traffic elsewhere.
        let endpoint = Endpoint::new(&base, || crate::tls::client_config(Vec::new()))
            .map_err(LlmSetupError)?;
        Ok(Self {
            endpoint: Arc::new(endpoint),
            base,
            silence: Duration::from_secs(settings.timeout),
            max_answer: (settings.max_answer_seconds > 0)
                .then(|| Duration::from_secs(settings.max_answer_seconds)),
            metrics: None,
        })
    }

    /// The same client, its chat calls measured in `metrics`.
    pub fn with_metrics(self, metrics: Arc<LlmMetrics>) -> Self {
        Self {
            metrics: Some(metrics),
            ..self
        }
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
        let work = async {
            let mut response = self.send("GET", path, None).await?;
            let body = response.body.read_to_end(MAX_PROBE_BYTES).await?;
            Ok::<_, WireError>((response, body))
        };
        let (response, body) = tokio::time::timeout(PROBE_TIMEOUT, work)
            .await
            // Not `LlmError::Timeout`: that one is `ollama.timeout`, and a probe has its own.
            .map_err(|_| {
                LlmError::Upstream(format!(
                    "{path}: no answer within {} s",
                    PROBE_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| network_failure(&e, PROBE_TIMEOUT))?;
        if !response.is_success() {
            return Err(LlmError::Upstream(format!(
                "{path} answered {}",
                status_line(&response)
            )));
        }
        serde_json::from_slice::<T>(&body).map_err(|e| LlmError::Upstream(format!("{path}: {e}")))
    }

    /// Sends `method` of `path` (relative to `ollama.url`) with `json` as its body.
    async fn send(
        &self,
        method: &str,
        path: &str,
        json: Option<&[u8]>,
    ) -> Result<Response, WireError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| WireError::Connect(format!("{path}: {e}")))?;
        let target = http1::request_target(&url);
        self.endpoint.send(method, &target, json).await
    }
}

/// A response's status as HTTP writes it: `404 Not Found`.
fn status_line(response: &Response) -> String {
    format!("{} {}", response.status, response.reason)
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
/// that one), and says how long it took. The caller logs it once (a failed query at warn,
/// a health probe at debug).
fn network_failure(e: &WireError, after: Duration) -> LlmError {
    let took = format!("after {:.1} s", after.as_secs_f64());
    match e {
        WireError::Connect(_) => LlmError::Unreachable(format!("{took}: {e}")),
        WireError::TooLong(_) => LlmError::Upstream(format!("Ollama's answer was refused: {e}")),
        // The connection broke below HTTP, or the answer was not HTTP.
        _ => LlmError::Upstream(format!("the connection to Ollama failed {took}: {e}")),
    }
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
