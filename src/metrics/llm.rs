//! Calls to the model: how long each took, how long until its first token, and the tokens
//! it read and wrote, by model and by how it ended (`ok`, `cancelled` when the caller
//! stopped reading, or the error's code such as `llm_timeout`). Models are the configured
//! ones (a question may name no other), so the series stay bounded.

use std::time::{Duration, Instant};

use super::family;
use prometheus::{HistogramVec, IntCounterVec, Registry};

/// Seconds: a short answer from a loaded model to a long one from a model being loaded.
const CALL_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];
/// Seconds: the first token comes fast from a loaded model, slowly while one loads.
const FIRST_TOKEN_BUCKETS: [f64; 11] =
    [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];

pub struct LlmMetrics {
    duration: HistogramVec,
    first_token: HistogramVec,
    prompt_tokens: IntCounterVec,
    completion_tokens: IntCounterVec,
}

impl LlmMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        let labels = ["model", "status"];
        Self {
            duration: family::histogram_vec(
                registry,
                "maia_llm_call_duration_seconds",
                "Calls to the model, from sending to the last token or the failure",
                &labels,
                &CALL_BUCKETS,
            ),
            first_token: family::histogram_vec(
                registry,
                "maia_llm_time_to_first_token_seconds",
                "From sending a call to the model to its first token",
                &labels,
                &FIRST_TOKEN_BUCKETS,
            ),
            prompt_tokens: family::counter_vec(
                registry,
                "maia_llm_prompt_tokens_total",
                "Tokens the model read (its prompt), as Ollama counts them",
                &labels,
            ),
            completion_tokens: family::counter_vec(
                registry,
                "maia_llm_completion_tokens_total",
                "Tokens the model wrote, as Ollama counts them",
                &labels,
            ),
        }
    }

    fn record(&self, call: &LlmCall, status: &str) {
        let labels = [call.model.as_str(), status];
        let seconds = |d: Duration| d.as_secs_f64();
        self.duration
            .with_label_values(&labels)
            .observe(seconds(call.started.elapsed()));
        if let Some(at) = call.first_token {
            self.first_token
                .with_label_values(&labels)
                .observe(seconds(at.duration_since(call.started)));
        }
        let count = |n: Option<i32>| u64::try_from(n.unwrap_or(0)).unwrap_or(0);
        self.prompt_tokens
            .with_label_values(&labels)
            .inc_by(count(call.prompt_tokens));
        self.completion_tokens
            .with_label_values(&labels)
            .inc_by(count(call.completion_tokens));
    }
}

/// One call to the model, recorded when it is dropped: with the status it was given, or
/// `cancelled` if none (its caller stopped reading).
pub struct LlmCall {
    metrics: Option<std::sync::Arc<LlmMetrics>>,
    model: String,
    started: Instant,
    first_token: Option<Instant>,
    prompt_tokens: Option<i32>,
    completion_tokens: Option<i32>,
    status: Option<&'static str>,
}

impl LlmCall {
    /// A call to `model` starting now; `metrics` none where nothing is measured (the CLI).
    pub fn start(metrics: Option<std::sync::Arc<LlmMetrics>>, model: &str) -> Self {
        Self {
            metrics,
            model: model.to_string(),
            started: Instant::now(),
            first_token: None,
            prompt_tokens: None,
            completion_tokens: None,
            status: None,
        }
    }

    /// A piece of the answer arrived: the first one times the first token.
    pub fn token(&mut self) {
        self.first_token.get_or_insert_with(Instant::now);
    }

    /// The answer is whole, with Ollama's counts.
    pub fn done(&mut self, prompt_tokens: Option<i32>, completion_tokens: Option<i32>) {
        self.prompt_tokens = prompt_tokens;
        self.completion_tokens = completion_tokens;
        self.status = Some("ok");
    }

    /// The call failed, with this error code.
    pub fn failed(&mut self, code: &'static str) {
        self.status = Some(code);
    }
}

impl Drop for LlmCall {
    fn drop(&mut self) {
        if let Some(metrics) = &self.metrics {
            metrics.record(self, self.status.unwrap_or("cancelled"));
        }
    }
}
