//! A chat completion, for the OpenAI-compatible routes: the client's messages (after a
//! persona's prompt, for a persona's model), Ollama's answer as it is written, and a trace
//! kept like a query's: `ok` with the answer, or `failed` with the error and whatever text
//! had come by then.
//!
//! The call runs in a task of its own and hands the answer over a bounded channel: a
//! streaming client reads it as it comes, a plain one collects it. A client that leaves
//! (its socket closed, or its end of the channel dropped) ends the call to Ollama.

use std::future::Future;
use std::time::Instant;

use tokio::sync::mpsc;
use uuid::Uuid;

use super::error::ServiceError;
use super::in_flight::Unanswered;
use super::query::new_trace;
use super::services::Services;
use crate::domain::{Completion, Mode, PersonaName, Question, Sampling, Speaker, Turn};
use crate::llm::chat::{ChatOptions, Message, Role};
use crate::llm::decode::{Finish, Piece};
use crate::llm::{model_present, LlmError};
use crate::store::{self, NewTrace, Persona, StoreError, TraceStatus};

/// A persona's model is named this and the persona's name: `maia-socratic`.
pub const PERSONA_MODEL_PREFIX: &str = "maia-";
/// Pieces of an answer waiting for a slow client; past that, reading from Ollama waits.
const EVENTS_BUFFERED: usize = 32;

/// What a completion hands over, in order: text as it is written, then `Done` (once the
/// trace is stored) or `Failed`.
#[derive(Debug)]
pub enum CompletionEvent {
    Text(String),
    Done(Completed),
    Failed(ServiceError),
}

/// How an answer ended, with Ollama's counts.
#[derive(Debug, Clone, Copy)]
pub struct Completed {
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub finish: Finish,
}

/// A completion under way: its trace's id, and its events.
pub struct CompletionRun {
    pub id: Uuid,
    events: mpsc::Receiver<CompletionEvent>,
}

impl CompletionRun {
    /// The next event; after `Done` or `Failed` there is none.
    pub async fn next(&mut self) -> CompletionEvent {
        // The task always ends with `Done` or `Failed`, unless it died.
        self.events
            .recv()
            .await
            .unwrap_or(CompletionEvent::Failed(ServiceError::Interrupted))
    }
}

/// A model a client may name, and the persona it stands for (if any).
#[derive(Debug, Clone)]
pub struct CompletionModel {
    pub id: String,
    pub persona: Option<String>,
}

/// The Ollama model that answers, and the persona whose prompt goes first.
struct Resolved {
    model: String,
    persona: Option<Persona>,
}

impl Services {
    /// The models the OpenAI-compatible routes offer: the allowed ones, then one per
    /// persona (on `ollama.model`).
    pub async fn completion_models(&self) -> Result<Vec<CompletionModel>, ServiceError> {
        let personas = self.personas().await?;
        let plain = self.allowed_models.iter().map(|m| CompletionModel {
            id: m.clone(),
            persona: None,
        });
        let personas = personas.into_iter().map(|p| CompletionModel {
            id: format!("{PERSONA_MODEL_PREFIX}{}", p.name),
            persona: Some(p.name),
        });
        Ok(plain.chain(personas).collect())
    }

    /// Starts answering `completion`, asked by `token_id`; `client_gone` resolves if the
    /// client disconnects.
    pub fn complete(
        &self,
        completion: Completion,
        token_id: Option<Uuid>,
        client_gone: impl Future<Output = ()> + Send + 'static,
    ) -> CompletionRun {
        let id = Uuid::new_v4();
        let (events, receiver) = mpsc::channel(EVENTS_BUFFERED);
        let services = self.clone();
        tokio::spawn(async move {
            let last = match services.resolve(&completion.model).await {
                Ok(resolved) => {
                    let call = Call {
                        id,
                        token_id,
                        resolved,
                        completion,
                    };
                    services.answer(call, &events, client_gone).await
                }
                Err(e) => CompletionEvent::Failed(e),
            };
            // Nobody may be listening any more: the trace is kept either way.
            let _ = events.send(last).await;
        });
        CompletionRun {
            id,
            events: receiver,
        }
    }

    /// Which model answers: an allowed one as named, or `maia-<persona>` on `ollama.model`.
    /// The database is asked either way, first: if it is down the call could not be kept,
    /// so Ollama is not asked.
    async fn resolve(&self, model: &str) -> Result<Resolved, ServiceError> {
        let persona_name = model
            .strip_prefix(PERSONA_MODEL_PREFIX)
            .and_then(|name| PersonaName::parse(name).ok());
        let persona = self
            .db
            .bounded(async {
                let db = self.db.conn().await?;
                match &persona_name {
                    Some(name) => store::find_persona(&**db, name.as_str()).await,
                    None => Ok(None),
                }
            })
            .await?;
        if model_present(&self.allowed_models, model) {
            return Ok(Resolved {
                model: model.to_string(),
                persona: None,
            });
        }
        match persona {
            Some(persona) => Ok(Resolved {
                model: self.fast_model.clone(),
                persona: Some(persona),
            }),
            None => Err(ServiceError::NoSuchModel {
                model: model.to_string(),
                available: self
                    .allowed_models
                    .iter()
                    .map(|m| format!("{m:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Asks Ollama and keeps the trace; the last event to send.
    async fn answer(
        &self,
        call: Call,
        events: &mpsc::Sender<CompletionEvent>,
        client_gone: impl Future<Output = ()>,
    ) -> CompletionEvent {
        let question = call.question();
        let started = Instant::now();
        self.in_flight.register(
            call.id,
            Unanswered {
                question: question.clone(),
                model: call.resolved.model.clone(),
                token_id: call.token_id,
                started,
            },
        );
        let mut text = String::new();
        let result = self.stream(&call, events, &mut text, client_gone).await;
        let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        // PostgreSQL text cannot hold NUL; a model that emits one must not cost the answer.
        let text = text.replace('\0', "\u{fffd}");
        let trace = NewTrace {
            token_id: call.token_id,
            ..new_trace(call.id, &question, &call.resolved.model, latency_ms)
        };
        let last = match result {
            Ok(done) => match self.keep_completion(trace, &text, &done).await {
                Ok(()) => CompletionEvent::Done(done),
                Err(e) => CompletionEvent::Failed(e.into()),
            },
            Err(error) => {
                self.keep_failed_completion(trace, &text, &error).await;
                CompletionEvent::Failed(error.into())
            }
        };
        // Not on drop: a call whose task is dropped at shutdown must stay registered.
        self.in_flight.finish(call.id);
        last
    }

    /// Ollama's answer, once a slot is free, each piece sent on as it comes and added to
    /// `text`, unless the client goes first.
    async fn stream(
        &self,
        call: &Call,
        events: &mpsc::Sender<CompletionEvent>,
        text: &mut String,
        client_gone: impl Future<Output = ()>,
    ) -> Result<Completed, LlmError> {
        let gone = async {
            tokio::select! {
                () = client_gone => {}
                () = events.closed() => {}
            }
        };
        tokio::pin!(gone);
        let _slot = tokio::select! {
            slot = self.gate.enter() => slot?,
            () = &mut gone => return Err(LlmError::Cancelled),
        };
        let messages = call.messages();
        // None set: the model's own defaults, and no `options` at all.
        let options = options(&call.completion.sampling);
        let options = (options != ChatOptions::default()).then_some(&options);
        let model = &call.resolved.model;
        let mut answer = tokio::select! {
            answer = self.llm.chat_stream(model, &messages, options) => answer?,
            () = &mut gone => return Err(LlmError::Cancelled),
        };
        loop {
            let piece = tokio::select! {
                piece = answer.next() => piece?,
                () = &mut gone => return Err(LlmError::Cancelled),
            };
            match piece {
                Some(Piece::Text(piece)) => {
                    text.push_str(&piece);
                    let sent = tokio::select! {
                        sent = events.send(CompletionEvent::Text(piece)) => sent.is_ok(),
                        () = &mut gone => false,
                    };
                    if !sent {
                        return Err(LlmError::Cancelled);
                    }
                }
                Some(Piece::Done {
                    prompt_tokens,
                    completion_tokens,
                    finish,
                }) => {
                    return Ok(Completed {
                        prompt_tokens,
                        completion_tokens,
                        finish,
                    })
                }
                None => return Err(LlmError::Upstream("the answer ended without done".into())),
            }
        }
    }

    async fn keep_completion(
        &self,
        trace: NewTrace<'_>,
        text: &str,
        done: &Completed,
    ) -> Result<(), StoreError> {
        let trace = NewTrace {
            response: Some(text),
            prompt_tokens: done.prompt_tokens,
            completion_tokens: done.completion_tokens,
            ..trace
        };
        self.save_trace(&trace).await?;
        tracing::info!(trace_id = %trace.id, model = trace.model, latency_ms = trace.latency_ms, "chat completion answered");
        Ok(())
    }

    /// Stored as failed, with the text that had come.
    async fn keep_failed_completion(&self, trace: NewTrace<'_>, text: &str, error: &LlmError) {
        let detail = error.to_string();
        let trace = NewTrace {
            status: TraceStatus::Failed,
            response: (!text.is_empty()).then_some(text),
            error: Some(&detail),
            error_code: Some(error.code()),
            ..trace
        };
        match self.save_trace(&trace).await {
            Ok(_) => {
                tracing::warn!(trace_id = %trace.id, model = trace.model, error = %detail, "chat completion failed; stored as failed")
            }
            Err(e) => {
                tracing::error!(trace_id = %trace.id, model = trace.model, llm_error = %detail, error = %e, "chat completion failed and could not be stored")
            }
        }
    }
}

/// One completion and what it was resolved to.
struct Call {
    id: Uuid,
    token_id: Option<Uuid>,
    resolved: Resolved,
    completion: Completion,
}

impl Call {
    /// What the trace keeps: the last user message, the persona, fast mode (no deep
    /// prompt is added here).
    fn question(&self) -> Question {
        Question {
            query: self.completion.question.clone(),
            mode: Mode::Fast,
            persona: self
                .resolved
                .persona
                .as_ref()
                .and_then(|p| PersonaName::parse(&p.name).ok()),
            model: None,
        }
    }

    /// The persona's prompt first, then the client's messages as sent (its own system
    /// messages included: both apply).
    fn messages(&self) -> Vec<Message> {
        let persona = self
            .resolved
            .persona
            .as_ref()
            .map(|p| Message::new(Role::System, p.system_prompt.clone()));
        persona
            .into_iter()
            .chain(self.completion.turns.iter().map(message))
            .collect()
    }
}

fn message(turn: &Turn) -> Message {
    let role = match turn.speaker {
        Speaker::System => Role::System,
        Speaker::User => Role::User,
        Speaker::Assistant => Role::Assistant,
    };
    Message::new(role, turn.content.clone())
}

fn options(sampling: &Sampling) -> ChatOptions {
    ChatOptions {
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        num_predict: sampling.max_tokens,
        stop: sampling.stop.clone(),
        seed: sampling.seed,
        frequency_penalty: sampling.frequency_penalty,
        presence_penalty: sampling.presence_penalty,
    }
}
