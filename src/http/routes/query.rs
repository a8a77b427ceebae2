//! `POST /api/consciousness/query`: a question in, an answer out (whole, or streamed as
//! server-sent events with `"stream": true`), the trace kept.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::{Consult, Mode, Question};
use crate::http::disconnect::client_gone;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::JsonBody;
use crate::http::sse;
use crate::http::state::AppState;
use crate::service::{Answered, Caller};

/// A question. Any other field is refused (422), by name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    /// The question: not blank, at most 16 KiB of UTF-8, no NUL character.
    #[schema(
        min_length = 1,
        max_length = 16384,
        example = "What should I check before a database upgrade?"
    )]
    query: String,
    /// `fast` (the default), `deep` or `council` (several personas, merged), in any case.
    #[schema(value_type = Option<Mode>)]
    mode: Option<String>,
    /// A persona's name (`GET /api/personas`), in any case; none: maia's own prompt. Not
    /// with `council` mode, whose personas are `council.personas`.
    #[schema(
        max_length = 64,
        pattern = "^[A-Za-z][A-Za-z0-9_-]*$",
        example = "socratic"
    )]
    persona: Option<String>,
    /// A model Ollama has and maia allows: `ollama.model`, `ollama.deep_model` or one of
    /// `ollama.allowed_models`; none: the mode's model.
    #[schema(
        max_length = 200,
        pattern = "^[A-Za-z0-9_:-][A-Za-z0-9._:-]*(/[A-Za-z0-9_:-][A-Za-z0-9._:-]*)*$",
        example = "llama3.2:3b"
    )]
    model: Option<String>,
    /// The answer as server-sent events, as it is written.
    stream: Option<bool>,
    /// Draw on the owner's documents: the `k` chunks that best match the question go into
    /// the prompt as numbered sources, and the answer carries them as `citations`.
    knowledge: Option<bool>,
    /// How many sources, 1 to 20; 5 by default. Only with `"knowledge": true`.
    #[schema(minimum = 1, maximum = 20)]
    k: Option<i64>,
}

/// Ask a question
///
/// The persona's system prompt, the mode's model (or the one named), the model's answer;
/// the question is stored as a trace whether it is answered or not. In `council` mode the
/// personas of `council.personas` answer at once and `council.synthesizer` merges their
/// answers: the answer is the synthesis, and `council` holds each persona's answer (in a
/// stream, in `done`).
#[utoipa::path(
    post,
    path = "/api/consciousness/query",
    tag = "query",
    request_body = QueryBody,
    responses(
        (status = 200, description = "answered, and kept as a trace; or, with `\"stream\": true`, the answer's events: `token` (`{\"content\"}`) as it is written, then `done` (this answer's fields but `response`) or `error` (the error body), and a comment while the model is silent", content(
            (Answered = "application/json"),
            (String = "text/event-stream"),
        )),
        (status = 422, description = "`validation_failed`: a blank or over-long query, a NUL in it, an unknown mode or persona, a persona with `council` mode, a model name that cannot be one or is not allowed, `k` out of 1 to 20 or without `\"knowledge\": true`", body = ErrorBody),
        (status = 502, description = "`model_not_found`: Ollama does not have the model; `llm_error`: Ollama answered with an error. The question is kept as a failed trace", body = ErrorBody),
        (status = 503, description = "`llm_unavailable`: Ollama is unreachable; `llm_busy`: too many questions wait for Ollama (`ollama.max_queue`); `knowledge_unavailable`: asked with `\"knowledge\": true` where the database has no pgvector, or its documents were embedded with another model (the message says what to do). The question is kept as a failed trace", body = ErrorBody,
            headers(("Retry-After" = u64, description = "with `llm_busy`: seconds to wait"))),
        (status = 504, description = "`llm_timeout`: Ollama was silent for longer than `ollama.timeout`, or its answer took longer than `ollama.max_answer_seconds`. The question is kept as a failed trace", body = ErrorBody),
    )
)]
pub async fn query(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<QueryBody>,
) -> Result<HttpResponse, ApiError> {
    let question = Question {
        knowledge: Consult::parse(body.knowledge, body.k)?,
        ..Question::parse(
            body.query,
            body.mode.as_deref(),
            body.persona.as_deref(),
            body.model.as_deref(),
        )?
    };
    if body.stream == Some(true) {
        let events = state
            .services
            .ask_streaming(question, &caller, client_gone(&req))
            .await?;
        return Ok(sse::answer_stream(events, state.stream_heartbeat, |f| f));
    }
    let answered = state
        .services
        .ask(question, &caller, client_gone(&req))
        .await?;
    Ok(HttpResponse::Ok().json(answered))
}
