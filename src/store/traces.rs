//! `consciousness_traces`: every question asked, answered or not. One function per statement.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::types::Json;
use tokio_postgres::{GenericClient, Row};
use utoipa::ToSchema;

use super::error::StoreError;
use crate::domain::{Mode, PageCursor};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceStatus {
    Ok,
    Failed,
    /// The client went away before the answer was whole; the call was stopped.
    Cancelled,
}

impl TraceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TraceStatus::Ok => "ok",
            TraceStatus::Failed => "failed",
            TraceStatus::Cancelled => "cancelled",
        }
    }
}

/// A source an answer drew on: a chunk of one of the owner's documents. An answer's
/// citations are in the order its prompt numbered them: the first is `[1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Citation {
    pub document_id: Uuid,
    /// The document's title.
    pub title: String,
    /// The chunk's text, as the model read it.
    pub chunk: String,
    /// The search's score (reciprocal rank fusion of its ranks by meaning and by words):
    /// higher is better.
    pub score: f64,
}

/// One persona's part in a council (`mode: "council"`): its answer, or why it has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CouncilVoice {
    /// The persona's name.
    pub persona: String,
    pub model: String,
    /// The persona's answer; absent when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Why it has no answer (a trace's `error_code`: `llm_timeout`, `llm_error`, ...,
    /// `persona_not_found`); absent when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
}

/// A trace to be written; `created_at` is the database's clock.
#[derive(Debug, Clone)]
pub struct NewTrace<'a> {
    pub id: Uuid,
    pub query: &'a str,
    pub response: Option<&'a str>,
    pub mode: Mode,
    pub persona: Option<&'a str>,
    pub model: &'a str,
    pub status: TraceStatus,
    /// The full detail, for the owner.
    pub error: Option<&'a str>,
    /// What kind of failure, for everyone who may read the history.
    pub error_code: Option<&'a str>,
    pub latency_ms: i32,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    /// The token that asked (none where authentication is off).
    pub token_id: Option<Uuid>,
    /// The conversation's message it answers, if it was asked in one.
    pub message_id: Option<Uuid>,
    /// The sources the answer drew on, when it was asked to draw on knowledge.
    pub citations: Option<&'a [Citation]>,
    /// Each voice of a council; the response is their synthesis.
    pub council: Option<&'a [CouncilVoice]>,
}

/// A question as it was kept, answered or not.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Trace {
    pub id: Uuid,
    pub query: String,
    /// The answer; none when the model could not give one.
    pub response: Option<String>,
    #[schema(example = "fast")]
    pub mode: String,
    pub persona: Option<String>,
    pub model: String,
    /// `ok` when answered, `failed` when not, `cancelled` when the client left first.
    #[schema(example = "ok")]
    pub status: String,
    /// Why it failed: the full detail for tokens with `admin`, a general sentence for others.
    pub error: Option<String>,
    /// What kind of failure: `llm_unavailable`, `llm_timeout`, `model_not_found`,
    /// `llm_error`, `llm_busy`, `client_closed_request`, `shutdown`,
    /// `knowledge_unavailable`.
    pub error_code: Option<String>,
    pub latency_ms: i32,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    /// The token that asked; none where authentication is off.
    pub token_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    /// The sources the answer drew on (`"knowledge": true`); none when it drew on none.
    pub citations: Option<Vec<Citation>>,
    /// In `council` mode, each persona's answer (or its error code), in the order of
    /// `council.personas`; `response` is their synthesis. Absent in other modes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub council: Option<Vec<CouncilVoice>>,
    pub created_at: DateTime<Utc>,
}

impl From<&Row> for Trace {
    fn from(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            query: row.get("query"),
            response: row.get("response"),
            mode: row.get("mode"),
            persona: row.get("persona"),
            model: row.get("model"),
            status: row.get("status"),
            error: row.get("error"),
            error_code: row.get("error_code"),
            latency_ms: row.get("latency_ms"),
            prompt_tokens: row.get("prompt_tokens"),
            completion_tokens: row.get("completion_tokens"),
            token_id: row.get("token_id"),
            message_id: row.get("message_id"),
            citations: citations(row),
            council: row
                .get::<_, Option<Json<Vec<CouncilVoice>>>>("council")
                .map(|json| json.0),
            created_at: row.get("created_at"),
        }
    }
}

/// The `citations` column of a trace's or a message's row.
pub(super) fn citations(row: &Row) -> Option<Vec<Citation>> {
    row.get::<_, Option<Json<Vec<Citation>>>>("citations")
        .map(|json| json.0)
}

const TRACE_COLUMNS: &str = "id, query, response, mode, persona, model, status, error, \
     error_code, latency_ms, prompt_tokens, completion_tokens, token_id, message_id, \
     citations, council, created_at";

/// Inserts a trace and returns its creation time. Prepared once per connection: every
/// answer stores one, and preparing it each time would cost a round trip each.
#[tracing::instrument(skip_all, fields(trace_id = %trace.id))]
pub async fn insert_trace(
    db: &impl deadpool_postgres::GenericClient,
    trace: &NewTrace<'_>,
) -> Result<DateTime<Utc>, StoreError> {
    let insert = db
        .prepare_cached(
            "INSERT INTO consciousness_traces \
             (id, query, response, mode, persona, model, status, error, error_code, \
              latency_ms, prompt_tokens, completion_tokens, token_id, message_id, citations, \
              council) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id \
             RETURNING created_at",
        )
        .await?;
    let row = db
        .query_one(
            &insert,
            &[
                &trace.id,
                &trace.query,
                &trace.response,
                &trace.mode.as_str(),
                &trace.persona,
                &trace.model,
                &trace.status.as_str(),
                &trace.error,
                &trace.error_code,
                &trace.latency_ms,
                &trace.prompt_tokens,
                &trace.completion_tokens,
                &trace.token_id,
                &trace.message_id,
                &trace.citations.map(Json),
                &trace.council.map(Json),
            ],
        )
        .await?;
    Ok(row.get(0))
}

#[tracing::instrument(skip_all)]
pub async fn get_trace(db: &impl GenericClient, id: Uuid) -> Result<Option<Trace>, StoreError> {
    let row = db
        .query_opt(
            &format!("SELECT {TRACE_COLUMNS} FROM consciousness_traces WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(Trace::from))
}

/// Newest first, of one token's or of all; `before` is where the previous page ended.
/// Keyset on `(created_at, id)`, which `consciousness_traces_newest_first` (and, for one
/// token, `consciousness_traces_by_token`) serves.
#[tracing::instrument(skip_all)]
pub async fn list_traces(
    db: &impl GenericClient,
    limit: i64,
    before: Option<&PageCursor>,
    token_id: Option<Uuid>,
) -> Result<Vec<Trace>, StoreError> {
    let rows = db
        .query(
            &format!(
                "SELECT {TRACE_COLUMNS} FROM consciousness_traces \
                 WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2)) \
                 AND ($3::uuid IS NULL OR token_id = $3) \
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            ),
            &[
                &before.map(|c| c.at),
                &before.map(|c| c.id),
                &token_id,
                &limit,
            ],
        )
        .await?;
    Ok(rows.iter().map(Trace::from).collect())
}

/// Returns whether a trace was deleted.
#[tracing::instrument(skip_all)]
pub async fn delete_trace(db: &impl GenericClient, id: Uuid) -> Result<bool, StoreError> {
    let n = db
        .execute("DELETE FROM consciousness_traces WHERE id = $1", &[&id])
        .await?;
    Ok(n > 0)
}
