//! A question as its trace records it, known before the model is asked: the same for a
//! query, a conversation's message or any other caller of the model.

use std::time::Instant;

use uuid::Uuid;

use crate::domain::Mode;
use crate::llm::LlmError;
use crate::store::{NewTrace, TraceStatus};

#[derive(Debug, Clone)]
pub struct Asked {
    /// The question's text.
    pub query: String,
    pub mode: Mode,
    pub persona: Option<String>,
    /// The model that answers it.
    pub model: String,
    /// The token that asked (none where authentication is off).
    pub token_id: Option<Uuid>,
    /// The conversation's message it is, if it was asked in one.
    pub message_id: Option<Uuid>,
}

impl Asked {
    /// Its trace, answered until said otherwise.
    pub fn trace(&self, id: Uuid, latency_ms: i32) -> NewTrace<'_> {
        NewTrace {
            id,
            query: &self.query,
            response: None,
            mode: self.mode,
            persona: self.persona.as_deref(),
            model: &self.model,
            status: TraceStatus::Ok,
            error: None,
            error_code: None,
            latency_ms,
            prompt_tokens: None,
            completion_tokens: None,
            token_id: self.token_id,
            message_id: self.message_id,
            citations: None,
            council: None,
        }
    }
}

/// A failure's trace status: a client that left cancelled its question; anything else
/// failed it.
pub(super) fn status_after(error: &LlmError) -> TraceStatus {
    match error {
        LlmError::Cancelled => TraceStatus::Cancelled,
        _ => TraceStatus::Failed,
    }
}

/// Milliseconds since `started`, as a trace keeps them.
pub(super) fn elapsed_ms(started: Instant) -> i32 {
    i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX)
}
