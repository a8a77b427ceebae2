use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::startup::AppState;
use crate::store;

const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

#[derive(Deserialize)]
pub struct ListParams {
    limit: Option<String>,
    before: Option<String>,
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::BadRequest(format!("{text:?} is not a trace id (a UUID)")))
}

pub async fn list(
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::Unprocessable(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}, not {text:?}"
                )))
            }
        },
    };
    let before = params.before.as_deref().map(parse_id).transpose()?;
    let db = state.db().await?;
    let traces = store::list_traces(&**db, limit, before)
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest("before names no trace; pass the id of a listed trace".into())
        })?;
    let next_before = if traces.len() as i64 == limit {
        traces.last().map(|t| t.id)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(json!({ "traces": traces, "next_before": next_before })))
}

pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let db = state.db().await?;
    match store::get_trace(&**db, id).await? {
        Some(trace) => Ok(HttpResponse::Ok().json(trace)),
        None => Err(ApiError::NotFound(format!("no trace with id {id}"))),
    }
}

pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let db = state.db().await?;
    if store::delete_trace(&**db, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound(format!("no trace with id {id}")))
    }
}
