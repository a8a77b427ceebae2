//! What retention purges: traces made before a cutoff and conversations idle since before
//! one, in batches, and what would go (`maia purge --dry-run`). One function per statement;
//! a conversation's own rows are deleted by `super::conversations`.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::error::StoreError;

/// Deletes at most `limit` traces made before `cutoff`, oldest first; how many. Rows
/// another transaction holds are skipped, for the next batch or run: a purge never waits
/// on a request, and a request waits at most for one batch. An answer's message keeps its
/// text (`messages.trace_id` is set to null, served by `messages_by_trace`).
#[tracing::instrument(skip_all)]
pub async fn delete_traces_before(
    db: &impl GenericClient,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<u64, StoreError> {
    Ok(db
        .execute(
            "DELETE FROM consciousness_traces WHERE id IN \
             (SELECT id FROM consciousness_traces WHERE created_at < $1 \
              ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&cutoff, &limit],
        )
        .await?)
}

/// Conversations locked for deletion, and how many messages they hold.
#[derive(Debug, Clone, Default)]
pub struct IdleConversations {
    pub ids: Vec<Uuid>,
    pub messages: u64,
}

/// Locks at most `limit` conversations whose last activity was before `cutoff`, oldest
/// first, skipping those another transaction holds (a question being added to one). Run in
/// the transaction that deletes them.
#[tracing::instrument(skip_all)]
pub async fn lock_idle_conversations(
    db: &impl GenericClient,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<IdleConversations, StoreError> {
    let rows = db
        .query(
            "SELECT c.id, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) \
             FROM conversations c WHERE c.last_activity_at < $1 \
             ORDER BY c.last_activity_at LIMIT $2 FOR UPDATE OF c SKIP LOCKED",
            &[&cutoff, &limit],
        )
        .await?;
    Ok(IdleConversations {
        ids: rows.iter().map(|r| r.get(0)).collect(),
        messages: rows
            .iter()
            .map(|r| u64::try_from(r.get::<_, i64>(1)).unwrap_or(0))
            .sum(),
    })
}

/// What a purge with these cutoffs would delete now (none: that kind is kept forever).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expiring {
    pub conversations: u64,
    pub messages: u64,
    /// Those made before their cutoff, and those of the conversations that go.
    pub traces: u64,
}

#[tracing::instrument(skip_all)]
pub async fn count_expiring(
    db: &impl GenericClient,
    traces_before: Option<DateTime<Utc>>,
    conversations_before: Option<DateTime<Utc>>,
) -> Result<Expiring, StoreError> {
    let row = db
        .query_one(
            "WITH idle AS (SELECT id FROM conversations WHERE last_activity_at < $2), \
             gone AS (SELECT m.id FROM messages m JOIN idle ON idle.id = m.conversation_id) \
             SELECT (SELECT count(*) FROM idle), (SELECT count(*) FROM gone), \
             (SELECT count(*) FROM consciousness_traces t \
              WHERE t.created_at < $1 OR t.message_id IN (SELECT id FROM gone))",
            &[&traces_before, &conversations_before],
        )
        .await?;
    let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    Ok(Expiring {
        conversations: count(0),
        messages: count(1),
        traces: count(2),
    })
}
