//! `conversations` and `messages`: chats kept in order, each exchange also a trace. One
//! function per statement.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::{GenericClient, Row};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::StoreError;
use super::traces::{citations, Citation};
use crate::domain::{Mode, PageCursor};
use tokio_postgres::types::Json;

/// Whose conversations a statement may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Every conversation (the admin scope).
    Anyone,
    /// Those of this token (none: those started without authentication).
    Token(Option<Uuid>),
}

impl Owner {
    /// `$1` and `$2` of the statements below: `($1 OR token_id IS NOT DISTINCT FROM $2)`.
    fn params(self) -> (bool, Option<Uuid>) {
        match self {
            Owner::Anyone => (true, None),
            Owner::Token(token) => (false, token),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Conversation {
    pub id: Uuid,
    pub title: Option<String>,
    pub persona: Option<String>,
    /// The model it names; none: its mode's model when each question is asked.
    pub model: Option<String>,
    pub mode: String,
    pub token_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub message_count: i64,
}

impl From<&Row> for Conversation {
    fn from(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            title: row.get("title"),
            persona: row.get("persona"),
            model: row.get("model"),
            mode: row.get("mode"),
            token_id: row.get("token_id"),
            created_at: row.get("created_at"),
            last_activity_at: row.get("last_activity_at"),
            message_count: row.get("message_count"),
        }
    }
}

/// The columns of [`Conversation`], from `conversations c`.
const CONVERSATION_COLUMNS: &str = "c.id, c.title, c.persona, c.model, c.mode, c.token_id, \
     c.created_at, c.last_activity_at, \
     (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count";

/// A conversation to be written; its times are the database's clock.
#[derive(Debug, Clone)]
pub struct ConversationRow<'a> {
    pub id: Uuid,
    pub token_id: Option<Uuid>,
    pub title: Option<&'a str>,
    pub persona: Option<&'a str>,
    pub model: Option<&'a str>,
    pub mode: Mode,
}

/// What an update sets: `None` leaves a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ConversationUpdate<'a> {
    pub title: Option<Option<&'a str>>,
    pub persona: Option<Option<&'a str>>,
    pub model: Option<Option<&'a str>>,
    pub mode: Option<Mode>,
}

/// One message, with the trace of its exchange and that trace's status (none while the
/// answer is being written).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoredMessage {
    pub id: Uuid,
    pub role: String,
    pub content: String,
    pub trace_id: Option<Uuid>,
    pub status: Option<String>,
    /// An answer's sources, when it drew on knowledge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citations: Option<Vec<Citation>>,
    pub created_at: DateTime<Utc>,
}

impl From<&Row> for StoredMessage {
    fn from(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            role: row.get("role"),
            content: row.get("content"),
            trace_id: row.get("trace_id"),
            status: row.get("status"),
            citations: citations(row),
            created_at: row.get("created_at"),
        }
    }
}

/// A message to be written.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// `user` or `assistant`.
    pub role: &'a str,
    pub content: &'a str,
    /// An answer's trace.
    pub trace_id: Option<Uuid>,
    /// An answer's sources.
    pub citations: Option<&'a [Citation]>,
}

#[tracing::instrument(skip_all)]
pub async fn insert_conversation(
    db: &impl GenericClient,
    new: &ConversationRow<'_>,
) -> Result<Conversation, StoreError> {
    let row = db
        .query_one(
            "INSERT INTO conversations (id, token_id, title, persona, model, mode) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING id, title, persona, model, mode, token_id, created_at, \
             last_activity_at, 0::bigint AS message_count",
            &[
                &new.id,
                &new.token_id,
                &new.title,
                &new.persona,
                &new.model,
                &new.mode.as_str(),
            ],
        )
        .await?;
    Ok(Conversation::from(&row))
}

#[tracing::instrument(skip_all)]
pub async fn find_conversation(
    db: &impl GenericClient,
    id: Uuid,
    owner: Owner,
) -> Result<Option<Conversation>, StoreError> {
    let (anyone, token) = owner.params();
    let row = db
        .query_opt(
            &format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations c \
                 WHERE ($1 OR c.token_id IS NOT DISTINCT FROM $2) AND c.id = $3"
            ),
            &[&anyone, &token, &id],
        )
        .await?;
    Ok(row.as_ref().map(Conversation::from))
}

/// Newest activity first; `before` is where the previous page ended. Keyset on
/// `(last_activity_at, id)`, which `conversations_newest_activity` serves.
#[tracing::instrument(skip_all)]
pub async fn list_conversations(
    db: &impl GenericClient,
    owner: Owner,
    limit: i64,
    before: Option<&PageCursor>,
) -> Result<Vec<Conversation>, StoreError> {
    let (anyone, token) = owner.params();
    let rows = db
        .query(
            &format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations c \
                 WHERE ($1 OR c.token_id IS NOT DISTINCT FROM $2) \
                 AND ($3::timestamptz IS NULL OR (c.last_activity_at, c.id) < ($3, $4)) \
                 ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $5"
            ),
            &[
                &anyone,
                &token,
                &before.map(|c| c.at),
                &before.map(|c| c.id),
                &limit,
            ],
        )
        .await?;
    Ok(rows.iter().map(Conversation::from).collect())
}

/// The conversation as changed, or none if it is not there (for `owner`).
#[tracing::instrument(skip_all)]
pub async fn update_conversation(
    db: &impl GenericClient,
    id: Uuid,
    owner: Owner,
    update: &ConversationUpdate<'_>,
) -> Result<Option<Conversation>, StoreError> {
    let (anyone, token) = owner.params();
    let row = db
        .query_opt(
            &format!(
                "UPDATE conversations c SET \
                 title = CASE WHEN $4 THEN $5 ELSE c.title END, \
                 persona = CASE WHEN $6 THEN $7 ELSE c.persona END, \
                 model = CASE WHEN $8 THEN $9 ELSE c.model END, \
                 mode = COALESCE($10, c.mode) \
                 WHERE ($1 OR c.token_id IS NOT DISTINCT FROM $2) AND c.id = $3 \
                 RETURNING {CONVERSATION_COLUMNS}"
            ),
            &[
                &anyone,
                &token,
                &id,
                &update.title.is_some(),
                &update.title.flatten(),
                &update.persona.is_some(),
                &update.persona.flatten(),
                &update.model.is_some(),
                &update.model.flatten(),
                &update.mode.map(Mode::as_str),
            ],
        )
        .await?;
    Ok(row.as_ref().map(Conversation::from))
}

/// Deletes the traces of the exchanges of the conversations `ids` (each trace points at its
/// question); how many. Run with [`delete_conversations`] in one transaction.
#[tracing::instrument(skip_all)]
pub async fn delete_conversation_traces(
    db: &impl GenericClient,
    ids: &[Uuid],
    owner: Owner,
) -> Result<u64, StoreError> {
    let (anyone, token) = owner.params();
    Ok(db
        .execute(
            "DELETE FROM consciousness_traces WHERE message_id IN \
             (SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id \
              WHERE ($1 OR c.token_id IS NOT DISTINCT FROM $2) AND c.id = ANY($3))",
            &[&anyone, &token, &ids],
        )
        .await?)
}

/// Deletes the conversations `ids` and (by cascade) their messages; how many there were.
#[tracing::instrument(skip_all)]
pub async fn delete_conversations(
    db: &impl GenericClient,
    ids: &[Uuid],
    owner: Owner,
) -> Result<u64, StoreError> {
    let (anyone, token) = owner.params();
    Ok(db
        .execute(
            "DELETE FROM conversations c \
             WHERE ($1 OR c.token_id IS NOT DISTINCT FROM $2) AND c.id = ANY($3)",
            &[&anyone, &token, &ids],
        )
        .await?)
}

/// Idempotent on its id, so a retried exchange writes it once.
#[tracing::instrument(skip_all)]
pub async fn insert_message(
    db: &impl GenericClient,
    message: &NewMessage<'_>,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO messages (id, conversation_id, role, content, trace_id, citations) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        &[
            &message.id,
            &message.conversation_id,
            &message.role,
            &message.content,
            &message.trace_id,
            &message.citations.map(Json),
        ],
    )
    .await?;
    Ok(())
}

/// A message was added: the conversation's activity is now, and an untitled one gets
/// `title`. Its title afterwards.
#[tracing::instrument(skip_all)]
pub async fn note_activity(
    db: &impl GenericClient,
    id: Uuid,
    title: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let row = db
        .query_opt(
            "UPDATE conversations SET last_activity_at = now(), title = COALESCE(title, $2) \
             WHERE id = $1 RETURNING title",
            &[&id, &title],
        )
        .await?;
    Ok(row.and_then(|r| r.get(0)))
}

/// How many of a conversation's newest messages to read.
#[derive(Debug, Clone, Copy)]
pub struct MessageBudget {
    /// At most this many.
    pub messages: i64,
    /// Their texts (and, with `citations`, their citations' JSON), plus `overhead` each,
    /// at most this many bytes together.
    pub bytes: i64,
    pub overhead: i32,
    /// Whether their citations count: they are part of a response, not of a model's
    /// context.
    pub citations: bool,
    /// The newest one even if it alone is larger.
    pub at_least_one: bool,
}

/// The newest messages of a conversation within `budget`, oldest first: the older ones
/// are the ones left out.
#[tracing::instrument(skip_all)]
pub async fn recent_messages(
    db: &impl GenericClient,
    conversation_id: Uuid,
    budget: MessageBudget,
) -> Result<Vec<StoredMessage>, StoreError> {
    let rows = db
        .query(
            "SELECT id, role, content, trace_id, status, citations, created_at FROM ( \
               SELECT m.id, m.seq, m.role, m.content, m.citations, m.created_at, \
                 COALESCE(m.trace_id, q.id) AS trace_id, COALESCE(a.status, q.status) AS status, \
                 sum(octet_length(m.content) + $4::int + CASE WHEN $6 \
                     THEN COALESCE(octet_length(m.citations::text), 0) ELSE 0 END) \
                   OVER (ORDER BY m.seq DESC) AS running, \
                 row_number() OVER (ORDER BY m.seq DESC) AS newest \
               FROM messages m \
               LEFT JOIN consciousness_traces a ON a.id = m.trace_id \
               LEFT JOIN consciousness_traces q ON q.message_id = m.id \
               WHERE m.conversation_id = $1 \
             ) recent \
             WHERE newest <= $2 AND (running <= $3 OR (newest = 1 AND $5)) \
             ORDER BY seq",
            &[
                &conversation_id,
                &budget.messages,
                &budget.bytes,
                &budget.overhead,
                &budget.at_least_one,
                &budget.citations,
            ],
        )
        .await?;
    Ok(rows.iter().map(StoredMessage::from).collect())
}
