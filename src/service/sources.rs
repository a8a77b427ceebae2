//! Answers drawn from the owner's documents (`"knowledge": true`): the chunks that best
//! match the question are found before the model is asked, go into its prompt as numbered
//! sources, and come back with the answer, its message and its trace as citations. A
//! question whose sources cannot be found is not answered without them: it is kept as a
//! failed trace, and the caller is told why.

use std::future::Future;
use std::pin::Pin;

use super::asked::status_after;
use super::auth::Caller;
use super::error::ServiceError;
use super::knowledge::shelf;
use super::services::Services;
use crate::domain::Consult;
use crate::llm::chat::{Message, Role};
use crate::llm::LlmError;
use crate::store::{Citation, NewTrace, Shelf, TraceStatus};

/// What an answer asks of knowledge: how many chunks, from whose documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retrieval {
    pub k: i64,
    pub shelf: Shelf,
}

impl Retrieval {
    /// `consult`, among the documents `caller` sees.
    pub fn of(consult: Option<Consult>, caller: &Caller) -> Option<Self> {
        consult.map(|c| Self {
            k: c.k,
            shelf: shelf(caller),
        })
    }
}

/// What the model is told before the sources.
const SOURCES_PREAMBLE: &str = "Sources from the owner's own notes, found for the next \
     question. Use them where they help, cite each one you use by its number in brackets, \
     as [1], and say so when they do not answer the question.";

/// Inserts the system message that lists `citations`, numbered from 1, just before the
/// question (the last user message).
pub fn add_sources(messages: &mut Vec<Message>, citations: &[Citation]) {
    let mut text = SOURCES_PREAMBLE.to_string();
    for (n, citation) in citations.iter().enumerate() {
        text.push_str(&format!(
            "\n\n[{}] {}\n{}",
            n + 1,
            citation.title,
            citation.chunk
        ));
    }
    if citations.is_empty() {
        text.push_str("\n\n(The notes hold nothing on it.)");
    }
    let at = messages
        .iter()
        .rposition(|m| m.role == Role::User)
        .unwrap_or(messages.len());
    messages.insert(at, Message::new(Role::System, text));
}

/// How a question whose sources could not be found is kept: its status and its code.
fn kept_as(error: &ServiceError) -> (TraceStatus, &'static str) {
    match error {
        ServiceError::Embedding(e) => (status_after(e), e.code()),
        _ => (TraceStatus::Failed, "knowledge_unavailable"),
    }
}

impl Services {
    /// The sources for `question`, if `retrieval` asks for any, unless the client goes
    /// first.
    pub(super) async fn sources<F>(
        &self,
        retrieval: Option<Retrieval>,
        question: &str,
        gone: Pin<&mut F>,
    ) -> Result<Option<Vec<Citation>>, ServiceError>
    where
        F: Future<Output = ()> + ?Sized,
    {
        let Some(retrieval) = retrieval else {
            return Ok(None);
        };
        let hits = tokio::select! {
            hits = self.search_shelf(retrieval.shelf, question, retrieval.k) => hits?,
            () = gone => return Err(ServiceError::Embedding(LlmError::Cancelled)),
        };
        Ok(Some(hits.into_iter().map(Citation::from).collect()))
    }

    /// Keeps the question of `trace` as failed (cancelled, if its client left) because
    /// its sources could not be found; what to tell the caller.
    pub(super) async fn keep_unsourced(
        &self,
        trace: NewTrace<'_>,
        error: ServiceError,
    ) -> ServiceError {
        let (status, code) = kept_as(&error);
        let text = error.to_string();
        let trace = NewTrace {
            status,
            error: Some(&text),
            error_code: Some(code),
            ..trace
        };
        let (id, model) = (trace.id, trace.model);
        match self.save_trace(&trace).await {
            Ok(_) if status == TraceStatus::Cancelled => {
                tracing::info!(trace_id = %id, model, "the client left while the answer's sources were searched for; stored as cancelled");
                ServiceError::Unsourced(Box::new(error))
            }
            Ok(_) => {
                tracing::warn!(trace_id = %id, model, error = %text, "the answer's sources could not be found; the question was stored as failed");
                ServiceError::Unsourced(Box::new(error))
            }
            Err(e) => {
                tracing::error!(trace_id = %id, model, sources_error = %text, error = %e, "the answer's sources could not be found, and the question could not be stored");
                e.into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn citation(title: &str, chunk: &str) -> Citation {
        Citation {
            document_id: Uuid::nil(),
            title: title.into(),
            chunk: chunk.into(),
            score: 0.5,
        }
    }

    #[test]
    fn the_sources_go_numbered_just_before_the_question() {
        let mut messages = vec![
            Message::new(Role::System, "be kind"),
            Message::new(Role::User, "earlier"),
            Message::new(Role::Assistant, "answer"),
            Message::new(Role::User, "when do backups run?"),
        ];
        let citations = [
            citation("Backups", "Nightly at 01:15."),
            citation("Restores", "Monthly."),
        ];

        add_sources(&mut messages, &citations);

        assert_eq!(messages.len(), 5);
        assert_eq!(messages[3].role, Role::System);
        assert_eq!(messages[4].content, "when do backups run?");
        let sources = &messages[3].content;
        assert!(
            sources.contains("[1] Backups\nNightly at 01:15.\n\n[2] Restores\nMonthly."),
            "{sources}"
        );
    }

    #[test]
    fn no_source_found_is_said_too() {
        let mut messages = vec![Message::new(Role::User, "anything?")];
        add_sources(&mut messages, &[]);
        assert!(messages[0].content.contains("nothing on it"));
        assert_eq!(messages[1].role, Role::User);
    }
}
