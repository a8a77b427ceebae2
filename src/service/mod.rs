//! What maia does, apart from HTTP: answer a question and keep it, read and forget the
//! history, list the personas. Handlers parse, call one of these, and respond.

mod error;
mod history;
mod personas;
mod query;
mod services;

pub use error::ServiceError;
pub use services::Services;
