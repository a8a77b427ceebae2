//! Values parsed once at the edge: once built, they are known good.

mod access;
mod cursor;
mod question;

pub use access::{Scope, Scopes, TokenHash, TokenName, TokenSecret};
pub use cursor::TraceCursor;
pub use question::{Mode, ModelName, Question, ValidationError};
