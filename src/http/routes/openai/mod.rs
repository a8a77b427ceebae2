//! The OpenAI-compatible routes, for the clients and chat front-ends that speak OpenAI's
//! API: `GET /v1/models` and `POST /v1/chat/completions` (plain or streamed). Their errors
//! are spelt OpenAI's way by `http::openai_errors`.

mod request;
mod response;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::http::disconnect::client_gone;
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;
use crate::http::state::AppState;
use crate::llm::LlmError;
use crate::service::{AnswerEvent, Caller, ServiceError};
use request::ChatCompletionBody;
use response::Head;

#[derive(Serialize)]
struct ModelList {
    object: &'static str,
    data: Vec<Model>,
}

#[derive(Serialize)]
struct Model {
    id: String,
    object: &'static str,
    /// maia does not know when a model was made: 0, which OpenAI's clients accept.
    created: i64,
    owned_by: &'static str,
}

/// `GET /v1/models`: the allowed models, then `maia-<persona>` for each persona.
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

/// `POST /v1/chat/completions`: one answer, whole or streamed, and its trace.
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
        .complete(completion, caller.token_id, client_gone(&req))
        .await?;
    let head = Head {
        id: format!("chatcmpl-{}", events.trace_id().simple()),
        created: chrono::Utc::now().timestamp(),
        model,
    };
    // The first event tells whether the answer began: an error before it is a status.
    let first = match events.next().await {
        Some(AnswerEvent::Failed(error)) => return Err(error.into()),
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
            Some(AnswerEvent::Failed(error)) => return Err(error.into()),
            None => return Err(ServiceError::from(LlmError::Cancelled).into()),
        }
        event = events.next().await;
    }
}
