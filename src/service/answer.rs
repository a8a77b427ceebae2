//! One answer from the model, as it is written: what every caller that asks the model
//! with a list of messages uses (a streamed query, a conversation's message, and an
//! OpenAI-compatible route). A task drives Ollama's answer stream and forwards its pieces
//! through a bounded channel; whatever ends it (the answer done, Ollama failing, the
//! client leaving, the server stopping), the task stores the trace, exactly once.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use utoipa::ToSchema;
use uuid::Uuid;

use super::asked::Asked;
use super::asked::{elapsed_ms, status_after};
use super::council::{synthesis_chat, with_council, Council};
use super::error::ServiceError;
use super::in_flight::Unanswered;
use super::services::Services;
use super::sources::{add_sources, Retrieval};
use crate::llm::chat::{ChatOptions, Message, Piece};
use crate::llm::decode::Finish;
use crate::llm::LlmError;
use crate::store::{Citation, CouncilVoice, NewMessage, NewTrace, StoreError, TraceStatus};

/// Pieces of an answer waiting for a client that reads slower than the model writes; past
/// that, the model's stream is read no further until the client catches up.
pub const STREAM_BUFFER: usize = 64;

/// What to ask the model, and what the trace records.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub asked: Asked,
    /// The whole chat: a system prompt, earlier messages, the question last.
    pub messages: Vec<Message>,
    pub options: Option<ChatOptions>,
    /// Where the answer goes in a conversation, if it was asked in one.
    pub reply: Option<Reply>,
    /// The owner's documents to draw on, if the answer was asked to: their sources are
    /// found first, and go into `messages` and `citations`.
    pub knowledge: Option<Retrieval>,
    /// The sources found, once they were.
    pub citations: Option<Vec<Citation>>,
    /// In council mode, the council that answers first: `messages` (without a system
    /// prompt) go to each of its voices, and their synthesis is the answer.
    pub council: Option<Box<Council>>,
}

impl Exchange {
    /// A question asked without knowledge (its sources, if it was, are found by
    /// [`Services::answer`]).
    pub fn new(asked: Asked, messages: Vec<Message>, reply: Option<Reply>) -> Self {
        Self {
            asked,
            messages,
            options: None,
            reply,
            knowledge: None,
            citations: None,
            council: None,
        }
    }

    /// The sources found for it, if any were asked for: in the prompt, and kept.
    fn take_sources(&mut self, citations: Option<Vec<Citation>>) {
        if let Some(citations) = citations {
            add_sources(&mut self.messages, &citations);
            self.citations = Some(citations);
        }
    }
}

/// The message an answer becomes: stored with its trace, in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
}

/// What a caller reads of an answer, in order: text, then `Done` or `Failed`, then nothing.
/// A client that left gets nothing more (there is nobody to tell).
#[derive(Debug)]
// The two last events boxed: an event is the size of its largest kind, and each stream's
// channel holds a block of 32 of them (3.9 kB inline, 0.8 kB so).
pub enum AnswerEvent {
    Text(String),
    /// The answer is whole, and its trace (and message) stored.
    Done(Box<Finished>),
    /// The answer stopped; its trace is stored (as failed, with the text so far) if the
    /// database allowed.
    Failed(Box<ServiceError>),
}

/// An answer stored: what `done` says.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Finished {
    /// The answer's message, in a conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<Uuid>,
    pub trace_id: Uuid,
    pub model: String,
    pub latency_ms: i32,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub created_at: DateTime<Utc>,
    /// The sources the answer drew on, numbered in its prompt from 1 in this order; only
    /// when it was asked to draw on knowledge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citations: Option<Vec<Citation>>,
    /// In council mode, each persona's answer (or its error code); the answer is their
    /// synthesis, and the token counts are those of every call together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub council: Option<Vec<CouncilVoice>>,
    /// Why the model stopped: its answer was done, or it reached the token limit asked.
    #[serde(skip)]
    pub finish: Finish,
}

/// An answer being written. Dropping it tells the task the client is gone.
pub struct AnswerEvents {
    trace_id: Uuid,
    events: mpsc::Receiver<AnswerEvent>,
}

impl AnswerEvents {
    /// The id its trace is stored with, however it ends.
    pub fn trace_id(&self) -> Uuid {
        self.trace_id
    }

    /// The next event; `None` once the answer has ended.
    pub async fn next(&mut self) -> Option<AnswerEvent> {
        self.events.recv().await
    }

    /// The whole answer, for a caller that does not stream: its text and what was stored.
    pub async fn collect(mut self) -> Result<(String, Finished), ServiceError> {
        let mut text = String::new();
        loop {
            match self.next().await {
                Some(AnswerEvent::Text(piece)) => text.push_str(&piece),
                Some(AnswerEvent::Done(finished)) => return Ok((text, *finished)),
                Some(AnswerEvent::Failed(error)) => return Err(*error),
                // Only a client that left ends it without a word.
                None => return Err(LlmError::Cancelled.into()),
            }
        }
    }
}

/// Resolves when the client has gone.
type ClientGone = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How an answer ended.
enum Ending {
    Answered {
        prompt_tokens: Option<i32>,
        completion_tokens: Option<i32>,
        finish: Finish,
    },
    /// Ollama failed, or the client left (`LlmError::Cancelled`).
    Failed(LlmError),
    /// The server is stopping and the grace is nearly over.
    Shutdown,
}

impl Services {
    /// Starts answering `exchange` once a slot at the model is free: the answer then comes
    /// from the result. What fails before that (every slot and the queue taken, the
    /// client gone while waiting) is an error here, with the trace stored as failed.
    /// `client_gone` resolves if the client disconnects; so does dropping the result.
    pub async fn answer(
        &self,
        mut exchange: Exchange,
        client_gone: impl Future<Output = ()> + Send + 'static,
    ) -> Result<AnswerEvents, ServiceError> {
        let id = Uuid::new_v4();
        let started = Instant::now();
        let unanswered = Unanswered {
            asked: exchange.asked.clone(),
            started,
        };
        self.in_flight.register(id, unanswered);
        let mut gone: ClientGone = Box::pin(client_gone);
        let question = exchange.asked.query.clone();
        // The steps that reach the database boxed, as in `converse`.
        match Box::pin(self.sources(exchange.knowledge, &question, gone.as_mut())).await {
            Ok(citations) => exchange.take_sources(citations),
            Err(error) => {
                let trace = exchange.asked.trace(id, elapsed_ms(started));
                let error = Box::pin(self.keep_unsourced(trace, error)).await;
                self.in_flight.finish(id);
                return Err(error);
            }
        }
        let slot = match exchange.council {
            // A council's calls take their slots as they are made, in its task.
            Some(_) => None,
            None => Some(Box::pin(self.first_slot(id, started, &exchange, &mut gone)).await?),
        };
        let (sender, events) = mpsc::channel(STREAM_BUFFER);
        let services = self.clone();
        tokio::spawn(services.run(id, started, exchange, slot, sender, gone));
        // The task first, so that it is connecting to Ollama while the caller writes the
        // response's head: the first token waits for Ollama, not for the head.
        tokio::task::yield_now().await;
        Ok(AnswerEvents {
            trace_id: id,
            events,
        })
    }

    /// A slot at the model for the answer, or the error (its trace stored as failed).
    async fn first_slot(
        &self,
        id: Uuid,
        started: Instant,
        exchange: &Exchange,
        gone: &mut ClientGone,
    ) -> Result<OwnedSemaphorePermit, ServiceError> {
        let slot = tokio::select! {
            slot = self.gate.enter() => slot,
            () = gone.as_mut() => Err(LlmError::Cancelled),
        };
        let error = match slot {
            Ok(slot) => return Ok(slot),
            Err(error) => error,
        };
        let ending = Ending::Failed(error);
        let event = Box::pin(self.keep(id, started, exchange, String::new(), ending)).await;
        self.in_flight.finish(id);
        Err(match event {
            Some(AnswerEvent::Failed(error)) => *error,
            _ => LlmError::Cancelled.into(),
        })
    }

    /// The task: the answer read and forwarded (a council's once its voices are heard),
    /// then its trace stored and the end told.
    async fn run(
        self,
        id: Uuid,
        started: Instant,
        mut exchange: Exchange,
        slot: Option<OwnedSemaphorePermit>,
        sender: mpsc::Sender<AnswerEvent>,
        mut gone: ClientGone,
    ) {
        let mut text = String::new();
        let ending = match slot {
            Some(slot) => {
                let ending = self.forward(&exchange, &sender, &mut gone, &mut text).await;
                // Ollama's stream is closed by now; the slot is free for the next question.
                drop(slot);
                ending
            }
            None => {
                let deliberation = self.deliberate(&mut exchange, &sender, &mut gone, &mut text);
                Box::pin(deliberation).await
            }
        };
        // Boxed, as the opening of Ollama's answer is: large futures that live only at the
        // start or the end, which inline would make every streaming task their size.
        let last = Box::pin(self.keep(id, started, &exchange, text, ending)).await;
        // Not on drop: a task dropped at shutdown leaves its question to keep_unanswered.
        self.in_flight.finish(id);
        if let Some(event) = last {
            // A client that left meanwhile misses it; the trace is stored either way.
            let _ = sender.send(event).await;
        }
    }

    /// The council heard, then its synthesis read into `text` as [`Services::forward`]
    /// reads any answer. Each voice and the synthesis take a slot of their own, in turn:
    /// the synthesis's only once the voices have given theirs back.
    async fn deliberate(
        &self,
        exchange: &mut Exchange,
        sender: &mpsc::Sender<AnswerEvent>,
        gone: &mut ClientGone,
        text: &mut String,
    ) -> Ending {
        let Some(council) = exchange.council.as_mut() else {
            return Ending::Failed(LlmError::Upstream("no council to ask".into()));
        };
        let model = &exchange.asked.model;
        let stop = async {
            tokio::select! {
                biased;
                () = self.streams_end.reached() => Ending::Shutdown,
                () = gone.as_mut() => Ending::Failed(LlmError::Cancelled),
                () = sender.closed() => Ending::Failed(LlmError::Cancelled),
            }
        };
        let hearing = self.hear(model, council, &exchange.messages, stop).await;
        if let Some(ending) = hearing.stopped {
            council.cut_off(match &ending {
                Ending::Failed(error) => error.code(),
                _ => "shutdown",
            });
            return ending;
        }
        if council.unanswered() {
            tracing::warn!(model, "every voice of the council failed");
            // Failed as the first voice's call did; a council of missing personas as an
            // error on the model's side.
            return Ending::Failed(hearing.failure.unwrap_or_else(|| {
                LlmError::Upstream("no persona of council.personas exists".into())
            }));
        }
        exchange.messages = synthesis_chat(council, &exchange.messages, &exchange.asked.query);
        let slot = tokio::select! {
            biased;
            () = self.streams_end.reached() => return Ending::Shutdown,
            () = gone.as_mut() => return Ending::Failed(LlmError::Cancelled),
            () = sender.closed() => return Ending::Failed(LlmError::Cancelled),
            slot = self.gate.enter() => match slot {
                Ok(slot) => slot,
                Err(error) => return Ending::Failed(error),
            },
        };
        let ending = self.forward(exchange, sender, gone, text).await;
        drop(slot);
        ending
    }

    /// Reads the model's answer into `text`, sending each piece on, until it ends. The
    /// stream is dropped on return, which closes the connection: Ollama stops writing.
    async fn forward(
        &self,
        exchange: &Exchange,
        sender: &mpsc::Sender<AnswerEvent>,
        gone: &mut ClientGone,
        text: &mut String,
    ) -> Ending {
        let streams_end = self.streams_end.reached();
        tokio::pin!(streams_end);
        let cancelled = || Ending::Failed(LlmError::Cancelled);
        let asked = &exchange.asked;
        let opening = Box::pin(self.llm.chat_stream(
            &asked.model,
            &exchange.messages,
            exchange.options.as_ref(),
        ));
        let mut stream = tokio::select! {
            biased;
            () = &mut streams_end => return Ending::Shutdown,
            () = gone.as_mut() => return cancelled(),
            () = sender.closed() => return cancelled(),
            opened = opening => match opened {
                Ok(stream) => stream,
                Err(error) => return Ending::Failed(error),
            },
        };
        loop {
            let piece = tokio::select! {
                biased;
                () = &mut streams_end => return Ending::Shutdown,
                () = gone.as_mut() => return cancelled(),
                () = sender.closed() => return cancelled(),
                piece = stream.next() => piece,
            };
            let piece = match piece {
                Ok(Some(Piece::Text(piece))) => piece,
                Ok(Some(Piece::Done {
                    prompt_tokens,
                    completion_tokens,
                    finish,
                })) => {
                    return Ending::Answered {
                        prompt_tokens,
                        completion_tokens,
                        finish,
                    }
                }
                Ok(None) => return Ending::Failed(LlmError::Upstream(ENDED_EARLY.into())),
                Err(error) => return Ending::Failed(error),
            };
            text.push_str(&piece);
            tokio::select! {
                biased;
                () = &mut streams_end => return Ending::Shutdown,
                () = gone.as_mut() => return cancelled(),
                sent = sender.send(AnswerEvent::Text(piece)) => if sent.is_err() {
                    return cancelled();
                },
            }
        }
    }

    /// Stores the trace of an answer that ended (and, answered in a conversation, its
    /// message), logs how it ended, and says what to tell the client, if anyone is left.
    async fn keep(
        &self,
        id: Uuid,
        started: Instant,
        exchange: &Exchange,
        mut text: String,
        ending: Ending,
    ) -> Option<AnswerEvent> {
        // PostgreSQL text cannot hold NUL; a model that emits one must not cost the answer.
        if text.contains('\0') {
            text = text.replace('\0', "\u{fffd}");
        }
        let error = match &ending {
            Ending::Answered { .. } => None,
            Ending::Failed(error) => Some(error.to_string()),
            Ending::Shutdown => Some(self.shutdown_error()),
        };
        let citations = exchange.citations.as_deref();
        let base = NewTrace {
            citations,
            ..exchange.asked.trace(id, elapsed_ms(started))
        };
        let trace = trace_of(base, &text, &ending, error.as_deref());
        let trace = match &exchange.council {
            Some(council) => with_council(trace, council),
            None => trace,
        };
        let reply = match (&ending, exchange.reply) {
            (Ending::Answered { .. }, Some(reply)) => Some(NewMessage {
                id: reply.message_id,
                conversation_id: reply.conversation_id,
                role: "assistant",
                content: &text,
                trace_id: Some(id),
                citations,
            }),
            _ => None,
        };
        let saved = self.save_exchange(&trace, reply.as_ref()).await;
        report(&trace, saved, ending, exchange.reply)
    }
}

/// What a body that stopped before Ollama's final line is called.
const ENDED_EARLY: &str = "Ollama's answer ended before its final line";

/// The trace of an answer that ended so: answered with its text and counts, or stopped
/// with the text so far (if any) and `error`.
fn trace_of<'a>(
    base: NewTrace<'a>,
    text: &'a str,
    ending: &Ending,
    error: Option<&'a str>,
) -> NewTrace<'a> {
    let so_far = (!text.is_empty()).then_some(text);
    match ending {
        Ending::Answered {
            prompt_tokens,
            completion_tokens,
            ..
        } => NewTrace {
            response: Some(text),
            prompt_tokens: *prompt_tokens,
            completion_tokens: *completion_tokens,
            ..base
        },
        Ending::Failed(e) => NewTrace {
            status: status_after(e),
            response: so_far,
            error,
            error_code: Some(e.code()),
            ..base
        },
        Ending::Shutdown => NewTrace {
            status: TraceStatus::Failed,
            response: so_far,
            error,
            error_code: Some("shutdown"),
            ..base
        },
    }
}

/// One log line on how the answer ended, and the event that tells the client.
fn report(
    trace: &NewTrace<'_>,
    saved: Result<DateTime<Utc>, StoreError>,
    ending: Ending,
    reply: Option<Reply>,
) -> Option<AnswerEvent> {
    let (id, model) = (trace.id, trace.model);
    let chars = trace.response.map_or(0, |r| r.chars().count());
    let created_at = match saved {
        Ok(at) => at,
        Err(e) => {
            tracing::error!(trace_id = %id, model, outcome = ?trace.status, error = %e, "an answer ended and its trace could not be stored");
            return match ending {
                Ending::Failed(LlmError::Cancelled) => None,
                _ => Some(AnswerEvent::Failed(Box::new(e.into()))),
            };
        }
    };
    match ending {
        Ending::Answered { finish, .. } => {
            tracing::info!(trace_id = %id, model, latency_ms = trace.latency_ms, "answer streamed and stored");
            Some(AnswerEvent::Done(Box::new(Finished {
                message_id: reply.map(|r| r.message_id),
                trace_id: id,
                model: model.to_string(),
                latency_ms: trace.latency_ms,
                prompt_tokens: trace.prompt_tokens,
                completion_tokens: trace.completion_tokens,
                created_at,
                citations: trace.citations.map(<[Citation]>::to_vec),
                council: trace.council.map(<[CouncilVoice]>::to_vec),
                finish,
            })))
        }
        Ending::Failed(LlmError::Cancelled) => {
            tracing::info!(trace_id = %id, model, kept_chars = chars, "the client left mid-answer: the call to Ollama was stopped and the answer so far stored as cancelled");
            None
        }
        Ending::Failed(e) => {
            tracing::warn!(trace_id = %id, model, kept_chars = chars, error = %e, "the answer failed; stored as failed with the text so far");
            Some(AnswerEvent::Failed(Box::new(e.into())))
        }
        Ending::Shutdown => {
            tracing::info!(trace_id = %id, model, kept_chars = chars, "maia is stopping: an answer still streaming was ended and stored as failed (shutdown)");
            Some(AnswerEvent::Failed(Box::new(ServiceError::ShuttingDown)))
        }
    }
}
