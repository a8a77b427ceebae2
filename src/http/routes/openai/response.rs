//! What OpenAI's clients read back: a `chat.completion` object, or a stream of
//! `chat.completion.chunk` objects as server-sent events (`data: {chunk}`, a blank line),
//! the first with the role, the last with the finish reason, then `data: [DONE]`.

use std::convert::Infallible;

use actix_web::web::Bytes;
use futures_util::stream::{self, Stream};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::ApiError;
use crate::http::openai_errors::openai_error;
use crate::llm::decode::Finish;
use crate::service::{AnswerEvent, AnswerEvents, Finished};
use crate::store::Citation;

/// What every object of one completion repeats.
#[derive(Clone)]
pub struct Head {
    /// `chatcmpl-` and the trace's id.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// The model as the client named it.
    pub model: String,
}

/// A whole answer, as OpenAI's API gives it.
#[derive(Serialize, ToSchema)]
pub struct ChatCompletion<'a> {
    /// `chatcmpl-` and the trace's id, without dashes.
    #[schema(example = "chatcmpl-0192f1b3c4d5e6f708192a3b4c5d6e7f")]
    id: &'a str,
    #[schema(example = "chat.completion")]
    object: &'static str,
    /// Unix seconds.
    created: i64,
    /// The model as the request named it.
    model: &'a str,
    #[schema(value_type = Vec<Choice>, min_items = 1, max_items = 1)]
    choices: [Choice<'a>; 1],
    usage: Usage,
    /// maia's extension: the sources the answer drew on, numbered in its prompt from 1 in
    /// this order; only when asked with `"maia": {"knowledge": true}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    citations: Option<&'a [Citation]>,
}

#[derive(Serialize, ToSchema)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    /// `stop`, or `length` when `max_tokens` cut the answer.
    #[schema(example = "stop")]
    finish_reason: &'static str,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    logprobs: Option<()>,
}

#[derive(Serialize, ToSchema)]
struct Message<'a> {
    #[schema(example = "assistant")]
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize, ToSchema)]
struct Usage {
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
}

impl From<&Finished> for Usage {
    fn from(done: &Finished) -> Self {
        // Ollama leaves a count out when it is zero.
        let prompt_tokens = i64::from(done.prompt_tokens.unwrap_or(0));
        let completion_tokens = i64::from(done.completion_tokens.unwrap_or(0));
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: Vec<ChunkChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
    /// maia's extension, on the chunk with the finish reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    citations: Option<&'a [Citation]>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<&'static str>,
    logprobs: Option<()>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

fn finish_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "stop",
        Finish::Length => "length",
    }
}

/// The whole answer, as one `chat.completion`.
pub fn completion(head: &Head, text: &str, done: &Finished) -> serde_json::Value {
    let body = ChatCompletion {
        id: &head.id,
        object: "chat.completion",
        created: head.created,
        model: &head.model,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: text,
            },
            finish_reason: finish_reason(done.finish),
            logprobs: None,
        }],
        usage: Usage::from(done),
        citations: done.citations.as_deref(),
    };
    serde_json::to_value(body).unwrap_or_default()
}

/// The answer as server-sent events, starting with `first` (already read, to know that
/// the answer had begun) and going on with `run`'s events.
pub fn events(
    first: AnswerEvent,
    run: AnswerEvents,
    head: Head,
    include_usage: bool,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let writer = Writer {
        head,
        include_usage,
    };
    let mut opening = Vec::new();
    writer.chunk(
        &mut opening,
        Delta {
            role: Some("assistant"),
            content: Some(""),
        },
        None,
    );
    stream::unfold(
        Some((Some(first), run, writer, opening)),
        |state| async move {
            let (pending, mut run, writer, mut out) = state?;
            let event = match pending {
                Some(event) => event,
                // The client left: nobody reads the rest.
                None => run.next().await?,
            };
            let last = writer.event(&mut out, event);
            let next = (!last).then(|| (None, run, writer, Vec::new()));
            Some((Ok(Bytes::from(out)), next))
        },
    )
}

struct Writer {
    head: Head,
    include_usage: bool,
}

impl Writer {
    /// Writes `event`'s frames to `out`; whether it was the last.
    fn event(&self, out: &mut Vec<u8>, event: AnswerEvent) -> bool {
        match event {
            AnswerEvent::Text(text) => {
                let delta = Delta {
                    role: None,
                    content: Some(&text),
                };
                self.chunk(out, delta, None);
                false
            }
            AnswerEvent::Done(done) => {
                let finish = Some(finish_reason(done.finish));
                self.chunk_with(out, Delta::default(), finish, done.citations.as_deref());
                if self.include_usage {
                    self.usage(out, &done);
                }
                out.extend_from_slice(b"data: [DONE]\n\n");
                true
            }
            AnswerEvent::Failed(error) => {
                // OpenAI's clients raise an error for a `data:` object holding one; the
                // status line went out long ago.
                let (_, body) = openai_error(&ApiError::from(*error).described());
                frame(out, &body);
                true
            }
        }
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: Delta<'_>, finish: Option<&'static str>) {
        self.chunk_with(out, delta, finish, None);
    }

    fn chunk_with(
        &self,
        out: &mut Vec<u8>,
        delta: Delta<'_>,
        finish: Option<&'static str>,
        citations: Option<&[Citation]>,
    ) {
        let chunk = Chunk {
            id: &self.head.id,
            object: "chat.completion.chunk",
            created: self.head.created,
            model: &self.head.model,
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish,
                logprobs: None,
            }],
            usage: None,
            citations,
        };
        frame(out, &serde_json::to_string(&chunk).unwrap_or_default());
    }

    /// `stream_options.include_usage`: a last chunk with no choice and the counts.
    fn usage(&self, out: &mut Vec<u8>, done: &Finished) {
        let chunk = Chunk {
            id: &self.head.id,
            object: "chat.completion.chunk",
            created: self.head.created,
            model: &self.head.model,
            choices: Vec::new(),
            usage: Some(Usage::from(done)),
            citations: None,
        };
        frame(out, &serde_json::to_string(&chunk).unwrap_or_default());
    }
}

/// One server-sent event: `data: {json}` and a blank line.
fn frame(out: &mut Vec<u8>, json: &str) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(b"\n\n");
}
