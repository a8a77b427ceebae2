//! The OpenAI-compatible routes, for the clients and chat front-ends that speak OpenAI's
//! API: `GET /v1/models` and `POST /v1/chat/completions` (plain or streamed). Their errors
//! are spelt OpenAI's way by `http::openai_errors`.

mod request;
mod response;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::disconnect::client_gone;
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;
use crate::http::openai_errors::OpenAiErrorBody;
use crate::http::state::AppState;
use crate::llm::LlmError;
use crate::service::{AnswerEvent, Caller, ServiceError};
use request::ChatCompletionBody;
use response::{ChatCompletion, Head};

/// The models a chat completion may name.
#[derive(Serialize, ToSchema)]
pub struct ModelList {
    object: &'static str,
    data: Vec<Model>,
}

#[derive(Serialize, ToSchema)]
struct Model {
    /// What to send as `model`.
    #[schema(example = "maia-socratic")]
    id: String,
    #[schema(example = "model")]
    object: &'static str,
    /// maia does not know when a model was made: 0, which OpenAI's clients accept.
    created: i64,
    /// `ollama` for a model, `maia` for a persona's.
    #[schema(example = "maia")]
    owned_by: &'static str,
}

/// The models a chat completion may name
///
/// The allowed models, then `maia-<persona>` for each persona (on `ollama.model`, with
/// that persona's system prompt first).
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "openai",
    operation_id = "list_models",
    responses((status = 200, description = "the models, OpenAI's way", body = ModelList))
)]
pub async fn models(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let models = state.services.completion_models().await?;
    let data = models
        .into_iter()
        .map(|m| Model {
            id: m.id,
            object: "model",
            created: 0,
            owned_by: if m.persona.is_some() {
                "maia"
            } else {
                "ollama"
            },
        })
        .collect();
    Ok(HttpResponse::Ok().json(ModelList {
        object: "list",
        data,
    }))
}

/// A chat completion, OpenAI's way
///
/// One answer, whole or streamed, kept as a trace like a query's. Streamed, it is
/// server-sent events: `data: {chunk}` (`chat.completion.chunk` objects) then
/// `data: [DONE]`, or a last `data: {"error": {...}}` if the model fails after the answer
/// began.
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "openai",
    operation_id = "create_chat_completion",
    request_body = ChatCompletionBody,
    responses(
        (status = 200, description = "answered, and kept as a trace; or, streamed, the answer's chunks", content(
            (ChatCompletion = "application/json"),
            (String = "text/event-stream"),
        )),
        (status = 400, description = "`validation_failed`: a parameter out of its range or asking for what maia does not do (`param` names it), no user message, a blank or over-long one", body = OpenAiErrorBody),
        (status = 404, description = "`model_not_found`: neither an allowed model nor `maia-<persona>`", body = OpenAiErrorBody),
        (status = 429, description = "`llm_busy`: too many questions wait for Ollama (`ollama.max_queue`). The question is kept as a failed trace", body = OpenAiErrorBody,
            headers(("Retry-After" = u64, description = "seconds to wait"))),
        (status = 502, description = "`model_not_found`: Ollama does not have the model; `llm_error`: Ollama answered with an error. The question is kept as a failed trace", body = OpenAiErrorBody),
        (status = 503, description = "`llm_unavailable`: Ollama is unreachable; `knowledge_unavailable`: asked with `\"maia\": {\"knowledge\": true}` where the database has no pgvector, or its documents were embedded with another model (the message says what to do). The question is kept as a failed trace", body = OpenAiErrorBody),
        (status = 504, description = "`llm_timeout`: Ollama was silent for longer than `ollama.timeout`, or its answer took longer than `ollama.max_answer_seconds`. The question is kept as a failed trace", body = OpenAiErrorBody),
    )
)]
pub async fn chat_completions(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ChatCompletionBody>,
) -> Result<HttpResponse, ApiError> {
    let (completion, delivery) = body.parse()?;
    let model = completion.model.clone();
    let mut events = state
        .services
        .complete(completion, &caller, client_gone(&req))
        .await?;
    let head = Head {
        id: format!("chatcmpl-{}", events.trace_id().simple()),
        created: chrono::Utc::now().timestamp(),
        model,
    };
    // The first event tells whether the answer began: an error before it is a status.
    let first = match events.next().await {
        Some(AnswerEvent::Failed(error)) => return Err((*error).into()),
        Some(first) => first,
        // Only a client that left ends an answer without a word: nobody reads this.
        None => return Err(ServiceError::from(LlmError::Cancelled).into()),
    };
    if delivery.stream {
        let body = response::events(first, events, head, delivery.include_usage);
        return Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            // A reverse proxy (nginx) must pass each event on as it comes.
            .insert_header((header::HeaderName::from_static("x-accel-buffering"), "no"))
            .streaming(body));
    }
    let mut text = String::new();
    let mut event = Some(first);
    loop {
        match event {
            Some(AnswerEvent::Text(piece)) => text.push_str(&piece),
            Some(AnswerEvent::Done(done)) => {
                return Ok(HttpResponse::Ok().json(response::completion(&head, &text, &done)))
            }
            Some(AnswerEvent::Failed(error)) => return Err((*error).into()),
            None => return Err(ServiceError::from(LlmError::Cancelled).into()),
        }
        event = events.next().await;
    }
}
