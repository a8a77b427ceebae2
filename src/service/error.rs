//! Why a use case failed, in terms the HTTP layer maps to a status.

use crate::domain::{Scope, ValidationError};
use crate::llm::LlmError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("unknown persona {name:?}; allowed values: {known}")]
    UnknownPersona { name: String, known: String },
    #[error("{0}")]
    NotFound(String),
    /// A model the OpenAI-compatible routes do not have (neither allowed nor a persona's).
    #[error(
        "the model {model:?} does not exist here; the models are {available} and \
         maia-<persona> for each persona (GET /v1/models lists them all)"
    )]
    NoSuchModel { model: String, available: String },
    /// The work behind a request stopped without its result (a task that died): nothing a
    /// client can fix.
    #[error("the answer was interrupted inside maia")]
    Interrupted,
    #[error("{0}")]
    Conflict(String),
    /// The caller's token lacks the scope.
    #[error("this needs a token with the {:?} scope", .0.as_str())]
    Forbidden(Scope),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Llm(#[from] LlmError),
}
