//! What can go wrong on a call to Ollama, and how the wire's failures are named.

use std::time::Duration;

use super::http1::{Response, WireError};

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
pub struct LlmSetupError(pub(crate) String);

/// A response's status as HTTP writes it: `404 Not Found`.
pub(super) fn status_line(response: &Response) -> String {
    format!("{} {}", response.status, response.reason)
}

/// What went wrong below HTTP, truthfully: a "timed out" from the network (the kernel
/// giving up on a connection after about 30 s, say) is not `ollama.timeout` (chat.rs keeps
/// that one), and says how long it took. The caller logs it once (a failed query at warn,
/// a health probe at debug).
pub(super) fn network_failure(e: &WireError, after: Duration) -> LlmError {
    let took = format!("after {:.1} s", after.as_secs_f64());
    match e {
        WireError::Connect(_) => LlmError::Unreachable(format!("{took}: {e}")),
        WireError::TooLong(_) => LlmError::Upstream(format!("Ollama's answer was refused: {e}")),
        // The connection broke below HTTP, or the answer was not HTTP.
        _ => LlmError::Upstream(format!("the connection to Ollama failed {took}: {e}")),
    }
}
