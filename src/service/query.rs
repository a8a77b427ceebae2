//! Answering a question: its system prompt, its model, the model's answer, and its trace.
//! Every question is kept: an answer is returned only once its trace is stored, and a
//! question the model could not answer is stored as failed.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::ServiceError;
use super::in_flight::Unanswered;
use super::services::Services;
use crate::domain::{Mode, Question};
use crate::llm::{Answer, LlmError};
use crate::store::{self, NewTrace, StoreError, TraceStatus};

/// Used when no persona is asked for.
const BASE_PROMPT: &str = "You are maia, a helpful assistant that runs entirely on its \
     owner's own hardware. Answer accurately and concisely, and say so when you are unsure.";
/// Added in deep mode.
const DEEP_SUFFIX: &str = "Take your time: reason through the question step by step before \
     giving your final answer, and check that answer for mistakes.";
/// Attempts to store a trace while the database blips, about two seconds in all.
const SAVE_RETRY_DELAYS_MS: &[u64] = &[100, 300, 600, 1000];

/// A question answered and kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct Answered {
    /// The trace's id: `GET /api/traces/{id}`.
    pub id: Uuid,
    pub response: String,
    pub model: String,
    pub mode: Mode,
    pub persona: Option<String>,
    pub latency_ms: i32,
    pub created_at: DateTime<Utc>,
}

impl Services {
    /// Asked by the token `token_id` (none where authentication is off). `client_gone`
    /// resolves if the client disconnects: the call to the model is then cancelled, and the
    /// question kept as failed.
    pub async fn ask(
        &self,
        question: Question,
        token_id: Option<Uuid>,
        client_gone: impl Future<Output = ()>,
    ) -> Result<Answered, ServiceError> {
        let model = self.model_for(question.mode, question.model.as_ref())?;
        // The database comes first: if it is down the question could not be kept, so the
        // model is not asked at all.
        let system_prompt = self.system_prompt(&question).await?;
        let id = Uuid::new_v4();
        let started = Instant::now();
        self.in_flight.register(
            id,
            Unanswered {
                question: question.clone(),
                model: model.clone(),
                token_id,
                started,
            },
        );
        let result = self
            .call_model(&model, &system_prompt, &question, client_gone)
            .await;
        let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let trace = NewTrace {
            token_id,
            ..new_trace(id, &question, &model, latency_ms)
        };
        let kept = match result {
            Ok(answer) => self.keep_answer(trace, answer).await,
            Err(error) => {
                self.keep_failure(trace, &error).await;
                Err(error.into())
            }
        };
        // Not on drop: a question whose future is dropped at shutdown must stay here.
        self.in_flight.finish(id);
        kept
    }

    /// After the server stopped: stores every question it cut off as failed, with the
    /// error `shutdown`. How many there were.
    pub async fn keep_unanswered(&self) -> usize {
        let left = self.in_flight.take_all();
        let error = format!(
            "maia stopped before the answer (http.shutdown_grace = {} s)",
            self.shutdown_grace
        );
        for (id, unanswered) in &left {
            let latency_ms =
                i32::try_from(unanswered.started.elapsed().as_millis()).unwrap_or(i32::MAX);
            let trace = NewTrace {
                token_id: unanswered.token_id,
                status: TraceStatus::Failed,
                error: Some(&error),
                error_code: Some("shutdown"),
                ..new_trace(*id, &unanswered.question, &unanswered.model, latency_ms)
            };
            if let Err(e) = self.save_trace(&trace).await {
                tracing::error!(trace_id = %id, error = %e, "could not store a question the shutdown cut off");
            }
        }
        left.len()
    }

    /// The model's answer, once a slot is free, unless the client goes first.
    async fn call_model(
        &self,
        model: &str,
        system_prompt: &str,
        question: &Question,
        client_gone: impl Future<Output = ()>,
    ) -> Result<Answer, LlmError> {
        tokio::pin!(client_gone);
        let _slot = tokio::select! {
            slot = self.gate.enter() => slot?,
            () = &mut client_gone => return Err(LlmError::Cancelled),
        };
        tokio::select! {
            answer = self.llm.chat(model, Some(system_prompt), question.query.as_str()) => answer,
            () = client_gone => Err(LlmError::Cancelled),
        }
    }

    /// The persona's prompt (or the base one), with the deep-mode suffix. A connection is
    /// taken either way: that is what shows the database is there.
    async fn system_prompt(&self, question: &Question) -> Result<String, ServiceError> {
        let found = self
            .db
            .bounded(async {
                let db = self.db.conn().await?;
                match &question.persona {
                    None => Ok(Ok(BASE_PROMPT.to_string())),
                    Some(name) => match store::find_persona(&**db, name.as_str()).await? {
                        Some(p) => Ok(Ok(p.system_prompt)),
                        None => Ok(Err(store::list_personas(&**db).await?)),
                    },
                }
            })
            .await?;
        let prompt = found.map_err(|known| ServiceError::UnknownPersona {
            name: question
                .persona
                .as_ref()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            known: known
                .iter()
                .map(|p| format!("{:?}", p.name))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        Ok(match question.mode {
            Mode::Fast => prompt,
            Mode::Deep => format!("{prompt}\n\n{DEEP_SUFFIX}"),
        })
        // The connection went back to the pool before the model is asked.
    }

    async fn keep_answer(
        &self,
        trace: NewTrace<'_>,
        mut answer: Answer,
    ) -> Result<Answered, ServiceError> {
        // PostgreSQL text cannot hold NUL; a model that emits one must not cost the answer.
        if answer.content.contains('\0') {
            answer.content = answer.content.replace('\0', "\u{fffd}");
        }
        let trace = NewTrace {
            response: Some(&answer.content),
            prompt_tokens: answer.prompt_tokens,
            completion_tokens: answer.completion_tokens,
            ..trace
        };
        let created_at = self.save_trace(&trace).await?;
        tracing::info!(trace_id = %trace.id, model = trace.model, latency_ms = trace.latency_ms, "query answered");
        Ok(Answered {
            id: trace.id,
            model: trace.model.to_string(),
            mode: trace.mode,
            persona: trace.persona.map(String::from),
            latency_ms: trace.latency_ms,
            created_at,
            response: answer.content,
        })
    }

    async fn keep_failure(&self, trace: NewTrace<'_>, error: &LlmError) {
        let text = error.to_string();
        let trace = NewTrace {
            status: TraceStatus::Failed,
            error: Some(&text),
            error_code: Some(error.code()),
            ..trace
        };
        match self.save_trace(&trace).await {
            Ok(_) => {
                tracing::warn!(trace_id = %trace.id, model = trace.model, error = %text, "query failed; stored as failed")
            }
            Err(e) => {
                tracing::error!(trace_id = %trace.id, model = trace.model, llm_error = %text, error = %e, "query failed and could not be stored")
            }
        }
    }

    /// Stores a trace, retrying while the database is unavailable or busy; the insert is
    /// idempotent on its id. The retries together get one statement's bound, not one
    /// each: a stalled database must not multiply the client's wait.
    async fn save_trace(&self, trace: &NewTrace<'_>) -> Result<DateTime<Utc>, StoreError> {
        self.db.bounded(self.save_trace_retrying(trace)).await
    }

    async fn save_trace_retrying(&self, trace: &NewTrace<'_>) -> Result<DateTime<Utc>, StoreError> {
        let mut delays = SAVE_RETRY_DELAYS_MS.iter();
        loop {
            let attempt = self
                .db
                .bounded(async { store::insert_trace(&**self.db.conn().await?, trace).await })
                .await;
            match (attempt, delays.next()) {
                (Err(e), Some(ms)) if e.is_transient() => {
                    tracing::warn!(trace_id = %trace.id, error = %e, "storing the trace failed; retrying");
                    tokio::time::sleep(Duration::from_millis(*ms)).await;
                }
                (result, _) => return result,
            }
        }
    }
}

/// The trace of `question`, answered until said otherwise.
fn new_trace<'a>(
    id: Uuid,
    question: &'a Question,
    model: &'a str,
    latency_ms: i32,
) -> NewTrace<'a> {
    NewTrace {
        id,
        query: question.query.as_str(),
        response: None,
        mode: question.mode,
        persona: question.persona.as_ref().map(|p| p.as_str()),
        model,
        status: TraceStatus::Ok,
        error: None,
        error_code: None,
        latency_ms,
        prompt_tokens: None,
        completion_tokens: None,
        token_id: None,
    }
}
