//! The local language model: Ollama's HTTP API (chat, streamed, and the probes), spoken
//! with our own client so that every wait has the deadline we choose.

// Public, not re-exported here: they use this file's items, and a re-export would make
// an import circle.
pub mod chat;
pub mod decode;
pub mod embed;
// These two import nothing of this file: what others need of them is re-exported.
mod error;
pub mod hosts;
pub mod http1;
mod ndjson;

use std::sync::Arc;
use std::time::Duration;

pub use self::error::{LlmError, LlmSetupError};
pub use self::hosts::model_present;
use self::hosts::{Host, Hosts};
use crate::config::OllamaSettings;
use crate::metrics::LlmMetrics;

#[derive(Debug, Clone)]
pub struct Answer {
    pub content: String,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
}

#[derive(Clone)]
pub struct Llm {
    /// The Ollama servers (`ollama.urls`, or `ollama.url` alone).
    hosts: Arc<Hosts>,
    /// `ollama.timeout`: the longest Ollama may stay silent.
    silence: Duration,
    /// `ollama.max_answer_seconds`: the longest a whole answer may take, if bounded.
    max_answer: Option<Duration>,
    /// Where chat calls are measured (the server's metrics); none in the CLI.
    metrics: Option<Arc<LlmMetrics>>,
}

impl Llm {
    pub fn new(settings: &OllamaSettings) -> Result<Self, LlmSetupError> {
        Ok(Self {
            hosts: Arc::new(Hosts::new(&settings.hosts())?),
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

    /// Each Ollama server, in the configured order.
    pub fn hosts(&self) -> &[Arc<Host>] {
        self.hosts.all()
    }
}
