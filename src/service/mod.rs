//! What maia does, apart from HTTP: answer a question and keep it, read and forget the
//! history, list the personas. Handlers parse, call one of these, and respond.

mod answer;
mod asked;
mod auth;
mod chunking;
mod conversations;
mod embedder;
mod error;
mod gate;
mod history;
mod in_flight;
mod keep;
mod knowledge;
mod personas;
mod query;
mod schema;
mod services;
mod shutdown;
mod throttle;
mod tokens;

pub use answer::{AnswerEvent, AnswerEvents, Finished};
pub use auth::{Authenticator, Caller, Credential, Refusal};
pub use conversations::TurnDone;
pub use error::ServiceError;
pub use knowledge::set_up_knowledge;
pub use services::Services;
pub use throttle::Throttle;
pub use tokens::{create_token, import_token, list_tokens, revoke_token};
