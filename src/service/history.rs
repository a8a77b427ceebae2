//! The history: every trace, newest first, one page at a time; one trace; forgetting one.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Caller;
use super::error::ServiceError;
use super::services::Services;
use crate::domain::{PageCursor, Scope};
use crate::store::{self, Trace};

/// A page of traces and the cursor for the next one (none on the last page).
#[derive(Debug, Serialize, ToSchema)]
pub struct TracePage {
    /// Newest first.
    pub traces: Vec<Trace>,
    /// Where this page ended: pass it unchanged as `before` for the next one. Null on the
    /// last page.
    #[schema(value_type = Option<String>, pattern = "^[A-Za-z0-9_-]{32}$")]
    pub next_before: Option<PageCursor>,
}

impl Services {
    /// `limit` traces older than the cursor `before` (the newest without it), of one token
    /// or of all, as `caller` may see them.
    pub async fn traces(
        &self,
        caller: &Caller,
        limit: i64,
        before: Option<PageCursor>,
        token_id: Option<Uuid>,
    ) -> Result<TracePage, ServiceError> {
        let mut traces = self
            .db
            .bounded(async {
                let db = self.db.conn().await?;
                store::list_traces(&**db, limit, before.as_ref(), token_id).await
            })
            .await?;
        traces.iter_mut().for_each(|t| shown_to(caller, t));
        let full = traces.len() as i64 == limit;
        let cut = within_bytes(&mut traces, self.max_response_bytes);
        let next_before = if full || cut {
            traces.last().map(|t| PageCursor {
                at: t.created_at,
                id: t.id,
            })
        } else {
            None
        };
        Ok(TracePage {
            traces,
            next_before,
        })
    }

    pub async fn trace(&self, caller: &Caller, id: Uuid) -> Result<Trace, ServiceError> {
        let mut trace = self
            .db
            .bounded(async { store::get_trace(&**self.db.conn().await?, id).await })
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no trace with id {id}")))?;
        shown_to(caller, &mut trace);
        Ok(trace)
    }

    pub async fn forget_trace(&self, id: Uuid) -> Result<(), ServiceError> {
        let deleted = self
            .db
            .bounded(async { store::delete_trace(&**self.db.conn().await?, id).await })
            .await?;
        if deleted {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!("no trace with id {id}")))
        }
    }
}

/// A failure's detail (upstream text: internal addresses, operating-system errors) is for
/// the owner: callers without `admin` see its code and a general sentence.
fn shown_to(caller: &Caller, trace: &mut Trace) {
    if trace.error.is_some() && !caller.scopes.contains(Scope::Admin) {
        trace.error = Some(failure_summary(trace.error_code.as_deref()).to_string());
    }
}

/// What a failure with `code` was, in general terms.
pub fn failure_summary(code: Option<&str>) -> &'static str {
    match code {
        Some("llm_unavailable") => "the language model (Ollama) was unreachable",
        Some("llm_timeout") => "the language model took too long to answer",
        Some("model_not_found") => "the model is not available on the Ollama server",
        Some("llm_busy") => "the language model was busy with other questions",
        Some("client_closed_request") => "the client disconnected before the answer",
        Some("shutdown") => "maia shut down before the answer",
        Some("knowledge_unavailable") => "the owner's documents could not be searched",
        _ => "the language model could not answer",
    }
}

/// Keeps the first traces whose JSON fits in `max_bytes` (always at least one, so paging
/// goes on); whether any were cut.
fn within_bytes(traces: &mut Vec<Trace>, max_bytes: usize) -> bool {
    let mut total = 0;
    let mut keep = 0;
    for trace in traces.iter() {
        let size = serde_json::to_vec(trace).map_or(0, |v| v.len()) + 1;
        if keep > 0 && total + size > max_bytes {
            break;
        }
        total += size;
        keep += 1;
    }
    let cut = keep < traces.len();
    traces.truncate(keep);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::LlmError;
    use std::time::Duration;

    /// A new kind of failure must say what it was, not fall through to the default.
    #[test]
    fn every_failure_code_has_its_own_summary() {
        let errors = [
            LlmError::Unreachable(String::new()),
            LlmError::Timeout(Duration::from_secs(1)),
            LlmError::AnswerTooSlow(Duration::from_secs(1)),
            LlmError::ModelNotFound(String::new()),
            LlmError::Busy,
            LlmError::Cancelled,
        ];
        let fallback = failure_summary(None);
        for error in errors {
            assert_ne!(failure_summary(Some(error.code())), fallback, "{error:?}");
        }
        assert_eq!(
            failure_summary(Some(LlmError::Upstream(String::new()).code())),
            fallback
        );
        assert_ne!(failure_summary(Some("shutdown")), fallback);
        assert_ne!(failure_summary(Some("knowledge_unavailable")), fallback);
    }
}
