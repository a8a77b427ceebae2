//! Values parsed once at the edge: once built, they are known good.

mod access;
mod completion;
mod conversation;
mod cursor;
mod document;
mod persona;
mod question;
mod since;

pub use access::{Scope, Scopes, TokenHash, TokenName, TokenSecret};
pub use completion::{Completion, Sampling, Speaker, Turn};
pub use conversation::{ChangeFields, ConversationChange, NewConversation, Title};
pub use cursor::PageCursor;
pub use document::{parse_k, DocumentInput, MAX_DOCUMENT_BYTES};
pub use persona::{NewPersona, PersonaText, ShippedPersona, SHIPPED_PERSONAS};
pub use question::{Consult, Mode, ModelName, PersonaName, Query, Question, ValidationError};
pub use since::Since;
