//! Ollama's `POST /api/chat`, always streamed: the answer arrives as NDJSON lines while the
//! model writes it, so `ollama.timeout` bounds silence (no line for that long), never the
//! length of an answer that keeps coming. `ollama.max_answer_seconds`, when set, bounds the
//! whole answer.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

pub use super::decode::Piece;
use super::decode::{ended_early, ChatDecoder, Step};
use super::error::{network_failure, status_line};
use super::hosts::{with_failover, Failure, Lease};
use super::http1::{Body, Response};
use super::{Answer, Llm, LlmError};
use crate::metrics::LlmCall;

/// What is read of a refusal's body to find its `{"error": ...}`.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// After an answer's last line, how long and how much is read for the body's end, so the
/// connection can be kept: the end is a few bytes, sent at once.
const FINISH_WITHIN: Duration = Duration::from_secs(2);
const MAX_FINISH_BYTES: usize = 4 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of a chat, as Ollama takes it.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// How the model samples its answer: Ollama's `options`, each one it names. One left
/// unset keeps the model's own default (its Modelfile's).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChatOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// The most tokens the answer may have; Ollama then ends it with `done_reason: "length"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_predict: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<&'a ChatOptions>,
}

/// The model's answer as it arrives. Dropping it before the end closes the connection,
/// which makes Ollama stop generating; after the end, the connection is kept.
pub struct AnswerStream {
    /// Taken when the stream is dropped, to be read to its end if the answer was whole.
    body: Option<Body>,
    /// `Done` has been handed out: what follows on the connection is the body's end.
    whole: bool,
    /// The server answering, counted busy until the answer ends.
    lease: Lease,
    decoder: ChatDecoder,
    limits: Limits,
    started: Instant,
    /// Measured as it goes, recorded when the stream is dropped.
    call: LlmCall,
}

/// How long Ollama may stay silent, and until when it may answer at all.
#[derive(Clone, Copy)]
struct Limits {
    silence: Duration,
    deadline: Option<(Instant, Duration)>,
}

impl Limits {
    /// `work`, unless Ollama stays silent for too long or the answer's time is up.
    async fn within<T>(&self, work: impl Future<Output = T>) -> Result<T, LlmError> {
        let quiet_until = Instant::now() + self.silence;
        match self.deadline {
            Some((at, whole)) if at <= quiet_until => tokio::time::timeout_at(at, work)
                .await
                .map_err(|_| LlmError::AnswerTooSlow(whole)),
            _ => tokio::time::timeout_at(quiet_until, work)
                .await
                .map_err(|_| LlmError::Timeout(self.silence)),
        }
    }
}

impl Llm {
    /// Asks `model` to answer `messages`, sampling as `options` say (none: the model's
    /// defaults); the answer then streams from the result.
    pub async fn chat_stream(
        &self,
        model: &str,
        messages: &[Message],
        options: Option<&ChatOptions>,
    ) -> Result<AnswerStream, LlmError> {
        let mut call = LlmCall::start(self.metrics.clone(), model);
        match self.open_chat(model, messages, options).await {
            Ok((lease, body, limits, started)) => Ok(AnswerStream {
                body: Some(body),
                whole: false,
                lease,
                decoder: ChatDecoder::default(),
                limits,
                started,
                call,
            }),
            Err(error) => {
                call.failed(error.code());
                Err(error)
            }
        }
    }

    /// Sends the chat; the answer's body once a server has accepted it. A server that gives
    /// no answer (or lacks the model) leaves the chat to another, once: nothing of the
    /// answer has come yet.
    async fn open_chat(
        &self,
        model: &str,
        messages: &[Message],
        options: Option<&ChatOptions>,
    ) -> Result<(Lease, Body, Limits, Instant), LlmError> {
        let started = Instant::now();
        let limits = Limits {
            silence: self.silence,
            deadline: self.max_answer.map(|whole| (started + whole, whole)),
        };
        let request = ChatRequest {
            model,
            messages,
            stream: true,
            options,
        };
        let json = serde_json::to_vec(&request)
            .map_err(|e| LlmError::Upstream(format!("the request could not be written: {e}")))?;
        let json = json.as_slice();
        let (lease, body) = with_failover(&self.hosts, model, |host| async move {
            let sent = limits
                .within(host.send("POST", "api/chat", Some(json)))
                .await
                .map_err(Failure::Final)?;
            let response =
                sent.map_err(|e| Failure::NoAnswer(network_failure(&e, started.elapsed())))?;
            if !response.is_success() {
                return Err(Failure::Final(refusal(model, response, limits).await));
            }
            Ok(response.body)
        })
        .await?;
        Ok((lease, body, limits, started))
    }

    /// One exchange, the answer to `messages` collected whole.
    pub async fn chat(&self, model: &str, messages: &[Message]) -> Result<Answer, LlmError> {
        let mut stream = self.chat_stream(model, messages, None).await?;
        let mut content = String::new();
        loop {
            match stream.next().await? {
                Some(Piece::Text(text)) => content.push_str(&text),
                Some(Piece::Done {
                    prompt_tokens,
                    completion_tokens,
                    ..
                }) => {
                    return Ok(Answer {
                        content,
                        prompt_tokens,
                        completion_tokens,
                    })
                }
                None => return Err(ended_early()),
            }
        }
    }
}

impl AnswerStream {
    /// The next piece, or `None` once `Done` has been given. A body that ends before its
    /// final line is an error, not a short answer.
    pub async fn next(&mut self) -> Result<Option<Piece>, LlmError> {
        let piece = self.next_piece().await;
        match &piece {
            Ok(Some(Piece::Text(text))) if !text.is_empty() => self.call.token(),
            Ok(Some(Piece::Done {
                prompt_tokens,
                completion_tokens,
                ..
            })) => {
                self.whole = true;
                self.call.done(*prompt_tokens, *completion_tokens);
            }
            Err(error) => self.call.failed(error.code()),
            Ok(_) => {}
        }
        piece
    }

    async fn next_piece(&mut self) -> Result<Option<Piece>, LlmError> {
        loop {
            match self.decoder.next()? {
                Step::Piece(piece) => return Ok(Some(piece)),
                Step::Finished => return Ok(None),
                Step::NeedMore => {}
            }
            let Some(body) = self.body.as_mut() else {
                return Err(ended_early());
            };
            let chunk = self.limits.within(body.chunk()).await?;
            // Mid-answer: not tried again elsewhere (what came is kept), but the server
            // that broke off is skipped for a while.
            let chunk = chunk.map_err(|e| {
                let error = network_failure(&e, self.started.elapsed());
                self.lease.host().mark_down(&error);
                error
            })?;
            match chunk {
                Some(bytes) => self.decoder.push(bytes)?,
                None => self.decoder.end()?,
            }
        }
    }
}

impl Drop for AnswerStream {
    fn drop(&mut self) {
        let Some(body) = self.body.take().filter(|_| self.whole) else {
            return;
        };
        // Off the caller's path: the answer is already out.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(body.finish(FINISH_WITHIN, MAX_FINISH_BYTES));
        }
    }
}

/// A non-2xx answer: Ollama's `{"error": ...}` says why; a model it lacks is ours to name.
async fn refusal(model: &str, mut response: Response, limits: Limits) -> LlmError {
    // What could be read in time; a body too long or cut off leaves only the status.
    let body = match limits
        .within(response.body.read_to_end(MAX_ERROR_BODY_BYTES))
        .await
    {
        Ok(Ok(body)) => body,
        _ => Vec::new(),
    };
    let status = status_line(&response);
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(b) if b.error.contains("not found") => LlmError::ModelNotFound(model.to_string()),
        Ok(b) => LlmError::Upstream(b.error),
        Err(_) => {
            let text = String::from_utf8_lossy(&body);
            let text: String = text.trim().chars().take(200).collect();
            LlmError::Upstream(format!("Ollama answered {status}: {text}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_sent_only_when_set_and_roles_in_lowercase() {
        let messages = [Message::new(Role::Assistant, "earlier")];
        let plain = ChatRequest {
            model: "m",
            messages: &messages,
            stream: true,
            options: None,
        };
        let json = serde_json::to_value(&plain).unwrap();
        assert!(json.get("options").is_none(), "{json}");
        assert_eq!(json["messages"][0]["role"], "assistant");
        let options = ChatOptions {
            num_predict: Some(64),
            ..ChatOptions::default()
        };
        let with = ChatRequest {
            options: Some(&options),
            ..plain
        };
        let json = serde_json::to_value(&with).unwrap();
        assert_eq!(json["options"], serde_json::json!({ "num_predict": 64 }));
    }
}
