//! Conversations: `POST` and `GET /api/conversations`, `GET`, `PATCH` and `DELETE
//! /api/conversations/{id}`, and `POST /api/conversations/{id}/messages` (the answer
//! whole, or streamed as server-sent events with `"stream": true`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use super::traces::{parse_cursor, parse_limit};
use crate::domain::{ConversationChange, NewConversation, Query};
use crate::http::disconnect::client_gone;
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;
use crate::http::sse;
use crate::http::state::AppState;
use crate::service::{Caller, TurnDone};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    title: Option<String>,
    persona: Option<String>,
    model: Option<String>,
    mode: Option<String>,
}

/// Each field: absent leaves it, `null` clears it, a value sets it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    #[serde(default, deserialize_with = "present")]
    title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    persona: Option<Option<String>>,
}

/// A field that is there, `null` or not.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    content: String,
    /// The answer as server-sent events, as it is written.
    stream: Option<bool>,
}

#[derive(Deserialize)]
pub struct ListParams {
    limit: Option<String>,
    /// Where the previous page ended: its `next_before`.
    before: Option<String>,
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::BadRequest(format!("{text:?} is not a conversation id (a UUID)")))
}

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

pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .services
        .conversation(&caller, parse_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

pub async fn change(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<ChangeBody>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let change = ConversationChange::parse(
        body.title.as_ref().map(Option::as_deref),
        body.persona.as_ref().map(Option::as_deref),
    )?;
    let conversation = state
        .services
        .change_conversation(&caller, id, change)
        .await?;
    Ok(HttpResponse::Ok().json(conversation))
}

pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .forget_conversation(&caller, parse_id(&path)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn message(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<MessageBody>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    // A message's text is checked as a query's is, and named as the body names it.
    let content = Query::parse(body.content)
        .map_err(|e| ApiError::Unprocessable(e.to_string().replacen("query", "content", 1)))?;
    let services = &state.services;
    if body.stream != Some(true) {
        let done = services
            .converse_whole(&caller, id, content, client_gone(&req))
            .await?;
        return Ok(HttpResponse::Ok().json(done));
    }
    let turn = services
        .converse(&caller, id, content, client_gone(&req))
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
