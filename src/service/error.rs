//! Why a use case failed, in terms the HTTP layer maps to a status.

use crate::domain::{Scope, ValidationError};
use crate::llm::LlmError;
use crate::store::{KnowledgeState, StoreError};

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
    #[error("{0}")]
    Conflict(String),
    /// The caller's token lacks the scope.
    #[error("this needs a token with the {:?} scope", .0.as_str())]
    Forbidden(Scope),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// Embedding a document or a question failed (no question was kept).
    #[error("embedding failed: {0}")]
    Embedding(LlmError),
    /// Knowledge cannot be used on this database; the state says what to do.
    #[error("{0}")]
    KnowledgeUnavailable(KnowledgeState),
    /// An answer asked to draw on knowledge could not find its sources (knowledge off,
    /// the question not embedded): the question was kept as a failed trace.
    #[error("the answer's sources could not be found: {0}")]
    Unsourced(Box<ServiceError>),
    /// The server is stopping: an answer still being written when the grace was nearly
    /// over was ended, and kept.
    #[error("maia is shutting down")]
    ShuttingDown,
}
