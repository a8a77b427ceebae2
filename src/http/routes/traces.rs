//! The history: `GET /api/traces`, `GET` and `DELETE /api/traces/{id}`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::domain::PageCursor;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::state::AppState;
use crate::service::{Caller, TracePage};
use crate::store::Trace;

const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// How many traces, 1 to 100; 20 by default.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Where the previous page ended: its `next_before`, unchanged.
    #[param(pattern = "^[A-Za-z0-9_-]{32}$")]
    before: Option<String>,
    /// Only the traces of this token (its id, from `maia token list`).
    #[param(value_type = Option<uuid::Uuid>)]
    token_id: Option<String>,
}

/// The path's `{id}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TraceId {
    /// The trace's id.
    #[param(value_type = uuid::Uuid)]
    id: String,
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

/// The history, newest first, a page at a time
///
/// A page stops short of `http.max_response_bytes`; `next_before` then says where to go on.
#[utoipa::path(
    get,
    path = "/api/traces",
    tag = "traces",
    operation_id = "list_traces",
    params(ListParams),
    responses(
        (status = 200, description = "a page of traces", body = TracePage),
        (status = 400, description = "`bad_request`: `before` is not a page cursor, `token_id` not a UUID, or the query string cannot be read", body = ErrorBody),
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
    let token_id = params.token_id.as_deref().map(parse_token_id).transpose()?;
    let page = state
        .services
        .traces(&caller, limit, before, token_id)
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One trace
#[utoipa::path(
    get,
    path = "/api/traces/{id}",
    tag = "traces",
    operation_id = "get_trace",
    params(TraceId),
    responses(
        (status = 200, description = "the trace", body = Trace),
        (status = 400, description = "`bad_request`: the id is not a UUID", body = ErrorBody),
        (status = 404, description = "`not_found`: no trace has this id", body = ErrorBody),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<TraceId>,
) -> Result<HttpResponse, ApiError> {
    let trace = state.services.trace(&caller, parse_id(&path.id)?).await?;
    Ok(HttpResponse::Ok().json(trace))
}

/// Forget a trace
#[utoipa::path(
    delete,
    path = "/api/traces/{id}",
    tag = "traces",
    operation_id = "delete_trace",
    params(TraceId),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "`bad_request`: the id is not a UUID", body = ErrorBody),
        (status = 404, description = "`not_found`: no trace has this id", body = ErrorBody),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<TraceId>,
) -> Result<HttpResponse, ApiError> {
    state.services.forget_trace(parse_id(&path.id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
