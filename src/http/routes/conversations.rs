//! Conversations: `POST` and `GET /api/conversations`, `GET`, `PATCH` and `DELETE
//! /api/conversations/{id}`, and `POST /api/conversations/{id}/messages` (the answer
//! whole, or streamed as server-sent events with `"stream": true`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::traces::{parse_cursor, parse_limit};
use crate::domain::{ChangeFields, Consult, ConversationChange, Mode, NewConversation, Query};
use crate::http::disconnect::client_gone;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::JsonBody;
use crate::http::sse;
use crate::http::state::AppState;
use crate::service::{Asking, Caller, ConversationPage, ConversationView, TurnDone};
use crate::store::Conversation;

/// A new conversation; every field may be left out. Any other field is refused (422).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// One line, at most 200 characters; none: made from the first question.
    #[schema(max_length = 200, example = "Upgrading PostgreSQL")]
    title: Option<String>,
    /// A persona's name (`GET /api/personas`), in any case; none: maia's own prompt.
    #[schema(
        max_length = 64,
        pattern = "^[A-Za-z][A-Za-z0-9_-]*$",
        example = "socratic"
    )]
    persona: Option<String>,
    /// A model Ollama has and maia allows; none: the mode's model when each question is
    /// asked.
    #[schema(
        max_length = 200,
        pattern = "^[A-Za-z0-9_:-][A-Za-z0-9._:-]*(/[A-Za-z0-9_:-][A-Za-z0-9._:-]*)*$",
        example = "llama3.2:3b"
    )]
    model: Option<String>,
    /// `fast` (the default), `deep` or `council` (several personas, merged), in any case.
    #[schema(value_type = Option<Mode>)]
    mode: Option<String>,
}

/// What to change: at least one field. Each: absent leaves it, `null` clears it, a value
/// sets it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    /// One line, at most 200 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200)]
    title: Option<Option<String>>,
    /// A persona's name, in any case.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 64, pattern = "^[A-Za-z][A-Za-z0-9_-]*$")]
    persona: Option<Option<String>>,
    /// A model Ollama has and maia allows; `null`: the mode's model when each question is
    /// asked.
    #[serde(default, deserialize_with = "present")]
    #[schema(
        value_type = Option<String>,
        max_length = 200,
        pattern = "^[A-Za-z0-9_:-][A-Za-z0-9._:-]*(/[A-Za-z0-9_:-][A-Za-z0-9._:-]*)*$"
    )]
    model: Option<Option<String>>,
    /// `fast`, `deep` or `council`, in any case; `null`: fast.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Mode>)]
    mode: Option<Option<String>>,
}

/// A field that is there, `null` or not.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A question in the conversation. Any other field is refused (422).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// The question: not blank, at most 16 KiB of UTF-8, no NUL character.
    #[schema(min_length = 1, max_length = 16384, example = "And after the upgrade?")]
    content: String,
    /// The answer as server-sent events, as it is written.
    stream: Option<bool>,
    /// Draw on the owner's documents: the `k` chunks that best match the question go into
    /// the prompt as numbered sources, and the answer (and its message) carries them as
    /// `citations`.
    knowledge: Option<bool>,
    /// How many sources, 1 to 20; 5 by default. Only with `"knowledge": true`.
    #[schema(minimum = 1, maximum = 20)]
    k: Option<i64>,
    /// This question's mode, `fast`, `deep` or `council`, in any case; none: the
    /// conversation's (which stays as it is).
    #[schema(value_type = Option<Mode>)]
    mode: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// How many conversations, 1 to 100; 20 by default.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Where the previous page ended: its `next_before`, unchanged.
    #[param(pattern = "^[A-Za-z0-9_-]{32}$")]
    before: Option<String>,
}

/// The path's `{id}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConversationId {
    /// The conversation's id.
    #[param(value_type = uuid::Uuid)]
    id: String,
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::BadRequest(format!("{text:?} is not a conversation id (a UUID)")))
}

/// Start a conversation
#[utoipa::path(
    post,
    path = "/api/conversations",
    tag = "conversations",
    operation_id = "start_conversation",
    request_body = StartBody,
    responses(
        (status = 201, description = "the new conversation", body = Conversation),
        (status = 422, description = "`validation_failed`: a title of more than one line or 200 characters, an unknown mode or persona, a model name that cannot be one or is not allowed", body = ErrorBody),
    )
)]
pub async fn start(
    state: web::Data<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<StartBody>,
) -> Result<HttpResponse, ApiError> {
    let new = NewConversation::parse(
        body.title.as_deref(),
        body.persona.as_deref(),
        body.model.as_deref(),
        body.mode.as_deref(),
    )?;
    let conversation = state.services.start_conversation(&caller, new).await?;
    Ok(HttpResponse::Created().json(conversation))
}

/// The conversations, newest activity first, a page at a time
///
/// A token sees its own conversations; one with `admin` sees every token's.
#[utoipa::path(
    get,
    path = "/api/conversations",
    tag = "conversations",
    operation_id = "list_conversations",
    params(ListParams),
    responses(
        (status = 200, description = "a page of conversations", body = ConversationPage),
        (status = 400, description = "`bad_request`: `before` is not a page cursor, or the query string cannot be read", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `limit` is not a whole number from 1 to 100", body = ErrorBody),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = parse_limit(params.limit.as_deref())?;
    let before = params.before.as_deref().map(parse_cursor).transpose()?;
    let page = state.services.conversations(&caller, limit, before).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One conversation with its messages
///
/// The newest messages that fit in `http.max_response_bytes`, oldest first;
/// `message_count` says how many there are.
#[utoipa::path(
    get,
    path = "/api/conversations/{id}",
    tag = "conversations",
    operation_id = "get_conversation",
    params(ConversationId),
    responses(
        (status = 200, description = "the conversation and its messages", body = ConversationView),
        (status = 400, description = "`bad_request`: the id is not a UUID", body = ErrorBody),
        (status = 404, description = "`not_found`: no such conversation (or another token's)", body = ErrorBody),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ConversationId>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .services
        .conversation(&caller, parse_id(&path.id)?)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Change a conversation's title, persona, model or mode
///
/// The next question is asked with what is set; earlier answers stay as they were.
#[utoipa::path(
    patch,
    path = "/api/conversations/{id}",
    tag = "conversations",
    operation_id = "change_conversation",
    params(ConversationId),
    request_body = ChangeBody,
    responses(
        (status = 200, description = "the conversation as changed", body = Conversation),
        (status = 400, description = "`bad_request`: the id is not a UUID", body = ErrorBody),
        (status = 404, description = "`not_found`: no such conversation (or another token's)", body = ErrorBody),
        (status = 422, description = "`validation_failed`: nothing to change, a title of more than one line or 200 characters, an unknown persona or mode, a model name that cannot be one or is not allowed", body = ErrorBody),
    )
)]
pub async fn change(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ConversationId>,
    JsonBody(body): JsonBody<ChangeBody>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path.id)?;
    let change = ConversationChange::parse(ChangeFields {
        title: body.title.as_ref().map(Option::as_deref),
        persona: body.persona.as_ref().map(Option::as_deref),
        model: body.model.as_ref().map(Option::as_deref),
        mode: body.mode.as_ref().map(Option::as_deref),
    })?;
    let conversation = state
        .services
        .change_conversation(&caller, id, change)
        .await?;
    Ok(HttpResponse::Ok().json(conversation))
}

/// Delete a conversation, its messages and their traces
///
/// In one transaction.
#[utoipa::path(
    delete,
    path = "/api/conversations/{id}",
    tag = "conversations",
    operation_id = "delete_conversation",
    params(ConversationId),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "`bad_request`: the id is not a UUID", body = ErrorBody),
        (status = 404, description = "`not_found`: no such conversation", body = ErrorBody),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ConversationId>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .forget_conversation(&caller, parse_id(&path.id)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ask in a conversation
///
/// The question is stored, asked with the persona's prompt and the earlier messages that
/// fit the context budget (`chat.context_messages`, `chat.context_tokens`), and the answer
/// stored as the next message, with the exchange's trace; in the conversation's mode, or
/// in the one `mode` names for this question (`council`: several personas, merged, with
/// each one's answer in `council`). With `"stream": true` the answer
/// comes as server-sent events: `token` (`{"content"}`) as it is written, then `done`
/// (this answer's fields but `content`) or `error` (the error body); a comment while the
/// model is silent.
#[utoipa::path(
    post,
    path = "/api/conversations/{id}/messages",
    tag = "conversations",
    operation_id = "ask_in_conversation",
    params(ConversationId),
    request_body = MessageBody,
    responses(
        (status = 200, description = "answered and stored; or, streamed, the answer's events", content(
            (TurnDone = "application/json"),
            (String = "text/event-stream"),
        )),
        (status = 400, description = "`bad_request`: the id is not a UUID", body = ErrorBody),
        (status = 404, description = "`not_found`: no such conversation (or another token's)", body = ErrorBody),
        (status = 422, description = "`validation_failed`: a blank or over-long content, or a NUL in it; an unknown mode; `k` out of 1 to 20 or without `\"knowledge\": true`", body = ErrorBody),
        (status = 502, description = "`model_not_found`: Ollama does not have the model; `llm_error`: Ollama answered with an error. The question is kept, with a failed trace", body = ErrorBody),
        (status = 503, description = "`llm_unavailable`: Ollama is unreachable; `llm_busy`: too many questions wait for Ollama (`ollama.max_queue`); `shutdown`: maia is stopping; `knowledge_unavailable`: asked with `\"knowledge\": true` where the database has no pgvector, or its documents were embedded with another model (the message says what to do). The question is kept, with a failed trace", body = ErrorBody,
            headers(("Retry-After" = u64, description = "with `llm_busy`: seconds to wait"))),
        (status = 504, description = "`llm_timeout`: Ollama was silent for longer than `ollama.timeout`, or its answer took longer than `ollama.max_answer_seconds`. The question is kept, with a failed trace", body = ErrorBody),
    )
)]
pub async fn message(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ConversationId>,
    JsonBody(body): JsonBody<MessageBody>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path.id)?;
    // A message's text is checked as a query's is, and named as the body names it.
    let content = Query::parse(body.content)
        .map_err(|e| ApiError::Unprocessable(e.to_string().replacen("query", "content", 1)))?;
    let asking = Asking {
        content,
        knowledge: Consult::parse(body.knowledge, body.k)?,
        mode: body.mode.as_deref().map(Mode::parse).transpose()?,
    };
    let services = &state.services;
    if body.stream != Some(true) {
        let done = services
            .converse_whole(&caller, id, asking, client_gone(&req))
            .await?;
        return Ok(HttpResponse::Ok().json(done));
    }
    let turn = services
        .converse(&caller, id, asking, client_gone(&req))
        .await?;
    let info = turn.info;
    Ok(sse::answer_stream(
        turn.events,
        state.stream_heartbeat,
        move |finished| TurnDone {
            turn: info.clone(),
            finished,
            content: None,
        },
    ))
}
