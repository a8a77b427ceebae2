//! The history: every trace, newest first, one page at a time; one trace; forgetting one.

use serde::Serialize;
use uuid::Uuid;

use super::error::ServiceError;
use super::services::Services;
use crate::store::{self, Trace};

/// A page of traces and the cursor for the next one (none on the last page).
#[derive(Debug, Serialize)]
pub struct TracePage {
    pub traces: Vec<Trace>,
    pub next_before: Option<Uuid>,
}

impl Services {
    /// `limit` traces older than the trace `before` (the newest without it), of one token
    /// or of all.
    pub async fn traces(
        &self,
        limit: i64,
        before: Option<Uuid>,
        token_id: Option<Uuid>,
    ) -> Result<TracePage, ServiceError> {
        let mut traces = self
            .db
            .bounded(async {
                let db = self.db.conn().await?;
                store::list_traces(&**db, limit, before, token_id).await
            })
            .await?
            .ok_or(ServiceError::UnknownCursor)?;
        let full = traces.len() as i64 == limit;
        let cut = within_bytes(&mut traces, self.max_response_bytes);
        let next_before = if full || cut {
            traces.last().map(|t| t.id)
        } else {
            None
        };
        Ok(TracePage {
            traces,
            next_before,
        })
    }

    pub async fn trace(&self, id: Uuid) -> Result<Trace, ServiceError> {
        self.db
            .bounded(async { store::get_trace(&**self.db.conn().await?, id).await })
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no trace with id {id}")))
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
