//! Storing what was asked: a trace, retried while the database blips, and with it, for a
//! conversation, the answer as a message, in one transaction.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::services::Services;
use crate::store::{self, NewMessage, NewTrace, StoreError};

/// Attempts to store a trace while the database blips, about two seconds in all.
const SAVE_RETRY_DELAYS_MS: &[u64] = &[100, 300, 600, 1000];

impl Services {
    /// The error kept with a question the shutdown cut off.
    pub(super) fn shutdown_error(&self) -> String {
        format!(
            "maia stopped before the answer (http.shutdown_grace = {} s)",
            self.shutdown_grace
        )
    }

    /// Stores a trace, retrying while the database is unavailable or busy; the insert is
    /// idempotent on its id. The retries together get one statement's bound, not one
    /// each: a stalled database must not multiply the client's wait.
    pub(super) async fn save_trace(
        &self,
        trace: &NewTrace<'_>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let attempt = || async { store::insert_trace(&self.db.conn().await?, trace).await };
        let saved = self.db.bounded(self.retrying(trace.id, attempt)).await;
        self.count_trace(trace, saved)
    }

    /// A trace stored counts in the metrics, by status.
    fn count_trace<T>(
        &self,
        trace: &NewTrace<'_>,
        saved: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if saved.is_ok() {
            self.metrics.count_trace(trace.status.as_str());
        }
        saved
    }

    /// A trace and, when the exchange was a conversation's and answered, its `reply`: the
    /// answer as a message, the conversation's activity now. All or nothing, retried as
    /// [`Services::save_trace`] is (every statement is idempotent).
    pub(super) async fn save_exchange(
        &self,
        trace: &NewTrace<'_>,
        reply: Option<&NewMessage<'_>>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let Some(reply) = reply else {
            return self.save_trace(trace).await;
        };
        let attempt = || async {
            let mut conn = self.db.conn().await?;
            let tx = conn.transaction().await?;
            let created_at = store::insert_trace(&tx, trace).await?;
            store::insert_message(&*tx, reply).await?;
            store::note_activity(&*tx, reply.conversation_id, None).await?;
            tx.commit().await?;
            Ok(created_at)
        };
        let saved = self.db.bounded(self.retrying(trace.id, attempt)).await;
        self.count_trace(trace, saved)
    }

    /// `attempt` again after a short pause while it fails for a reason that passes.
    async fn retrying<T, F, Fut>(&self, trace_id: Uuid, attempt: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut delays = SAVE_RETRY_DELAYS_MS.iter();
        loop {
            match (self.db.bounded(attempt()).await, delays.next()) {
                (Err(e), Some(ms)) if e.is_transient() => {
                    tracing::warn!(%trace_id, error = %e, "storing the trace failed; retrying");
                    tokio::time::sleep(Duration::from_millis(*ms)).await;
                }
                (result, _) => return result,
            }
        }
    }
}
