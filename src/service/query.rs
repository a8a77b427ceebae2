//! Answering a question: its system prompt, its model, the model's answer, and its trace.
//! Every question is kept: an answer is returned only once its trace is stored, and a
//! question the model could not answer is stored as failed.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::answer::{AnswerEvents, Exchange};
use super::asked::{elapsed_ms, status_after, Asked};
use super::auth::Caller;
use super::error::ServiceError;
use super::in_flight::Unanswered;
use super::services::Services;
use super::sources::{add_sources, Retrieval};
use crate::domain::{Mode, PersonaName, Question};
use crate::llm::chat::{Message, Role};
use crate::llm::{Answer, LlmError};
use crate::store::{self, Citation, CouncilVoice, NewTrace, TraceStatus};

/// Used when no persona is asked for.
const BASE_PROMPT: &str = "You are maia, a helpful assistant that runs entirely on its \
     owner's own hardware. Answer accurately and concisely, and say so when you are unsure.";
/// Added in deep mode.
const DEEP_SUFFIX: &str = "Take your time: reason through the question step by step before \
     giving your final answer, and check that answer for mistakes.";

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
    /// The sources the answer drew on (`"knowledge": true`), numbered in its prompt from
    /// 1 in this order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citations: Option<Vec<Citation>>,
    /// In `council` mode, each persona's answer (or its error code); `response` is their
    /// synthesis, and the trace's token counts are those of every call together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub council: Option<Vec<CouncilVoice>>,
}

impl Services {
    /// Asked by `caller`. `client_gone` resolves if the client disconnects: the call to
    /// the model is then cancelled, and the question kept as cancelled. With
    /// `question.knowledge`, the sources are found first, and the question is kept as
    /// failed if they cannot be.
    pub async fn ask(
        &self,
        question: Question,
        caller: &Caller,
        client_gone: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Answered, ServiceError> {
        if question.mode == Mode::Council {
            return Box::pin(self.ask_council(question, caller, client_gone)).await;
        }
        let model = self.model_for(question.mode, question.model.as_ref())?;
        // The database comes first: if it is down the question could not be kept, so the
        // model is not asked at all. Steps that reach the database are boxed, as in
        // `converse`: inline, this future would be their size while the model answers.
        let system_prompt =
            Box::pin(self.system_prompt(question.persona.as_ref(), question.mode)).await?;
        let id = Uuid::new_v4();
        let started = Instant::now();
        let asked = asked(&question, model, caller.token_id);
        self.in_flight.register(
            id,
            Unanswered {
                asked: asked.clone(),
                started,
            },
        );
        tokio::pin!(client_gone);
        let retrieval = Retrieval::of(question.knowledge, caller);
        let query = question.query.as_str();
        let kept = match Box::pin(self.sources(retrieval, query, client_gone.as_mut())).await {
            Err(error) => {
                let trace = asked.trace(id, elapsed_ms(started));
                Err(Box::pin(self.keep_unsourced(trace, error)).await)
            }
            Ok(citations) => {
                let mut messages = vec![
                    Message::new(Role::System, system_prompt),
                    Message::new(Role::User, query),
                ];
                if let Some(citations) = &citations {
                    add_sources(&mut messages, citations);
                }
                let result = self.call_model(&asked.model, &messages, client_gone).await;
                let trace = NewTrace {
                    citations: citations.as_deref(),
                    ..asked.trace(id, elapsed_ms(started))
                };
                match result {
                    Ok(answer) => Box::pin(self.keep_answer(trace, answer)).await,
                    Err(error) => {
                        Box::pin(self.keep_failure(trace, &error)).await;
                        Err(error.into())
                    }
                }
            }
        };
        // Not on drop: a question whose future is dropped at shutdown must stay here.
        self.in_flight.finish(id);
        kept
    }

    /// A council's answer, whole: its synthesis collected as it is written.
    async fn ask_council(
        &self,
        question: Question,
        caller: &Caller,
        client_gone: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Answered, ServiceError> {
        let mode = question.mode;
        let events = self.ask_streaming(question, caller, client_gone).await?;
        let (response, finished) = events.collect().await?;
        Ok(Answered {
            id: finished.trace_id,
            response,
            model: finished.model,
            mode,
            persona: None,
            latency_ms: finished.latency_ms,
            created_at: finished.created_at,
            citations: finished.citations,
            council: finished.council,
        })
    }

    /// [`Services::ask`], the answer streamed as it is written: what fails before the
    /// first piece (the question, the database, its sources, every slot taken) is an
    /// error here; what fails after comes as the stream's last event. Its trace is stored
    /// either way.
    pub async fn ask_streaming(
        &self,
        question: Question,
        caller: &Caller,
        client_gone: impl Future<Output = ()> + Send + 'static,
    ) -> Result<AnswerEvents, ServiceError> {
        let model = self.model_for(question.mode, question.model.as_ref())?;
        let asking = Message::new(Role::User, question.query.as_str());
        let (messages, council) = if question.mode == Mode::Council {
            // Each voice, then the synthesizer, gets its own system prompt.
            let council = Box::pin(self.council()).await?;
            (vec![asking], Some(Box::new(council)))
        } else {
            let system_prompt =
                Box::pin(self.system_prompt(question.persona.as_ref(), question.mode)).await?;
            (
                vec![Message::new(Role::System, system_prompt), asking],
                None,
            )
        };
        let exchange = Exchange {
            knowledge: Retrieval::of(question.knowledge, caller),
            council,
            ..Exchange::new(asked(&question, model, caller.token_id), messages, None)
        };
        self.answer(exchange, client_gone).await
    }

    /// After the server stopped: stores every question it cut off as failed, with the
    /// error `shutdown`. How many there were.
    pub async fn keep_unanswered(&self) -> usize {
        let left = self.in_flight.take_all();
        let error = self.shutdown_error();
        for (id, unanswered) in &left {
            let trace = NewTrace {
                status: TraceStatus::Failed,
                error: Some(&error),
                error_code: Some("shutdown"),
                ..unanswered.asked.trace(*id, elapsed_ms(unanswered.started))
            };
            if let Err(e) = self.save_trace(&trace).await {
                tracing::error!(trace_id = %id, error = %e, "could not store a question the shutdown cut off");
            }
        }
        left.len()
    }

    /// The model's answer to `messages`, once a slot is free, unless the client goes
    /// first.
    async fn call_model<F>(
        &self,
        model: &str,
        messages: &[Message],
        mut client_gone: Pin<&mut F>,
    ) -> Result<Answer, LlmError>
    where
        F: Future<Output = ()>,
    {
        let _slot = tokio::select! {
            slot = self.gate.enter() => slot?,
            () = &mut client_gone => return Err(LlmError::Cancelled),
        };
        tokio::select! {
            answer = self.llm.chat(model, messages) => answer,
            () = client_gone => Err(LlmError::Cancelled),
        }
    }

    /// The persona's prompt (or the base one), with the deep-mode suffix. A connection is
    /// taken either way: that is what shows the database is there.
    pub(super) async fn system_prompt(
        &self,
        persona: Option<&PersonaName>,
        mode: Mode,
    ) -> Result<String, ServiceError> {
        let found = self
            .db
            .bounded(async {
                let db = self.db.conn().await?;
                match persona {
                    None => Ok(Ok(BASE_PROMPT.to_string())),
                    Some(name) => match store::find_persona(&**db, name.as_str()).await? {
                        Some(p) => Ok(Ok(p.system_prompt)),
                        None => Ok(Err(store::list_personas(&**db).await?)),
                    },
                }
            })
            .await?;
        let prompt = found.map_err(|known| ServiceError::UnknownPersona {
            name: persona.map(|p| p.as_str().to_string()).unwrap_or_default(),
            known: known
                .iter()
                .map(|p| format!("{:?}", p.name))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        Ok(match mode {
            // A council's voices have their own prompts: this one is the conversation's
            // for when it leaves council mode.
            Mode::Fast | Mode::Council => prompt,
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
            citations: trace.citations.map(<[Citation]>::to_vec),
            council: None,
            response: answer.content,
        })
    }

    async fn keep_failure(&self, trace: NewTrace<'_>, error: &LlmError) {
        let text = error.to_string();
        let trace = NewTrace {
            status: status_after(error),
            error: Some(&text),
            error_code: Some(error.code()),
            ..trace
        };
        match self.save_trace(&trace).await {
            Ok(_) if trace.status == TraceStatus::Cancelled => {
                tracing::info!(trace_id = %trace.id, model = trace.model, "the client left before the answer; the call was stopped and the query stored as cancelled")
            }
            Ok(_) => {
                tracing::warn!(trace_id = %trace.id, model = trace.model, error = %text, "query failed; stored as failed")
            }
            Err(e) => {
                tracing::error!(trace_id = %trace.id, model = trace.model, llm_error = %text, error = %e, "query failed and could not be stored")
            }
        }
    }
}

/// What the trace of `question` records.
pub(super) fn asked(question: &Question, model: String, token_id: Option<Uuid>) -> Asked {
    Asked {
        query: question.query.as_str().to_string(),
        mode: question.mode,
        persona: question.persona.as_ref().map(|p| p.as_str().to_string()),
        model,
        token_id,
        message_id: None,
    }
}
