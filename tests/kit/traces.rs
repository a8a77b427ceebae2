//! What maia stored: the rows of `consciousness_traces` and `messages`, typed.

use uuid::Uuid;

use super::database::psql;

/// One row of `consciousness_traces` (the columns a test looks at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub id: Uuid,
    pub query: String,
    pub response: Option<String>,
    /// `ok`, `failed` or `cancelled`.
    pub status: String,
    pub error: Option<String>,
    /// The failure's code (`llm_timeout`, ...).
    pub error_code: Option<String>,
    pub model: String,
    /// `fast` or `deep`.
    pub mode: String,
    pub persona: Option<String>,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    /// The token that asked.
    pub token_id: Option<Uuid>,
    /// The conversation's question it answers.
    pub message_id: Option<Uuid>,
}

impl Trace {
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Every trace stored in the database at `db_url`, newest first.
pub async fn stored_traces(db_url: &str) -> Vec<Trace> {
    psql(db_url)
        .await
        .query(
            "SELECT id, query, response, status, error, error_code, model, mode, persona, \
             prompt_tokens, completion_tokens, token_id, message_id FROM consciousness_traces \
             ORDER BY created_at DESC, id DESC",
            &[],
        )
        .await
        .expect("select traces")
        .iter()
        .map(|row| Trace {
            id: row.get("id"),
            query: row.get("query"),
            response: row.get("response"),
            status: row.get("status"),
            error: row.get("error"),
            error_code: row.get("error_code"),
            model: row.get("model"),
            mode: row.get("mode"),
            persona: row.get("persona"),
            prompt_tokens: row.get("prompt_tokens"),
            completion_tokens: row.get("completion_tokens"),
            token_id: row.get("token_id"),
            message_id: row.get("message_id"),
        })
        .collect()
}

/// Whether `traces` holds an `ok` trace with this id.
pub fn has_ok_trace(traces: &[Trace], id: Uuid) -> bool {
    traces.iter().any(|t| t.id == id && t.is_ok())
}

/// One row of `messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// An answer's trace.
    pub trace_id: Option<Uuid>,
}

/// Every message stored in the database at `db_url`, in order.
pub async fn stored_messages(db_url: &str) -> Vec<StoredMessage> {
    psql(db_url)
        .await
        .query(
            "SELECT id, conversation_id, role, content, trace_id FROM messages ORDER BY seq",
            &[],
        )
        .await
        .expect("select messages")
        .iter()
        .map(|row| StoredMessage {
            id: row.get("id"),
            conversation_id: row.get("conversation_id"),
            role: row.get("role"),
            content: row.get("content"),
            trace_id: row.get("trace_id"),
        })
        .collect()
}
