//! What maia does, apart from HTTP: answer a question (or an OpenAI client's chat
//! completion) and keep it, read and forget the history, keep the personas. Handlers
//! parse, call one of these, and respond.

mod answer;
mod asked;
mod auth;
mod chunking;
mod completion;
mod conversations;
mod council;
mod embedder;
mod error;
mod export;
mod gate;
mod history;
mod import;
mod in_flight;
mod keep;
mod knowledge;
mod library;
mod personas;
mod query;
mod retention;
mod schema;
mod scrape;
mod services;
mod shutdown;
mod sources;
mod throttle;
mod tokens;

pub use answer::{AnswerEvent, AnswerEvents, Finished};
pub use auth::{Authenticator, Caller, Credential, Refusal};
pub use conversations::{Asking, ConversationPage, ConversationView, TurnDone};
pub use embedder::space_of as embedding_space;
pub use error::ServiceError;
pub use export::export;
pub use history::TracePage;
pub use import::import;
pub use knowledge::{set_up_knowledge, DocumentPage, DocumentView, Outcome, PutDocument};
pub use library::{Library, Progress};
pub use personas::reset_shipped_personas;
pub use query::Answered;
pub use retention::{Cutoffs, Retention, RUN_BUDGET as RETENTION_RUN_BUDGET};
pub use services::Services;
pub use throttle::Throttle;
pub use tokens::{create_token, import_token, list_tokens, revoke_token};
