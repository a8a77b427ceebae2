//! The history: `GET /api/traces`, `GET` and `DELETE /api/traces/{id}`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::PageCursor;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::service::Caller;

const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

#[derive(Deserialize)]
pub struct ListParams {
    limit: Option<String>,
    /// Where the previous page ended: its `next_before`.
    before: Option<String>,
    /// Only the traces of this token (its id, from `maia token list`).
    token_id: Option<String>,
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::BadRequest(format!("{text:?} is not a trace id (a UUID)")))
}

pub(super) fn parse_cursor(text: &str) -> Result<PageCursor, ApiError> {
    PageCursor::parse(text).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn parse_token_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::BadRequest(format!("{text:?} is not a token id (a UUID)")))
}

pub(super) fn parse_limit(text: Option<&str>) -> Result<i64, ApiError> {
    match text {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::Unprocessable(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}, not {text:?}"
            ))),
        },
    }
}

pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = parse_limit(params.limit.as_deref())?;
    let before = params.before.as_deref().map(parse_cursor).transpose()?;
    let token_id = params.token_id.as_deref().map(parse_token_id).transpose()?;
    let page = state
        .services
        .traces(&caller, limit, before, token_id)
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let trace = state.services.trace(&caller, parse_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(trace))
}

pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.services.forget_trace(parse_id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
