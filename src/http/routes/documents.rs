//! The owner's knowledge: `POST` and `GET /api/documents`, `GET` and `DELETE
//! /api/documents/{id}`, and `GET /api/search?q=&k=` (hybrid: by meaning and by words).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::traces::{parse_cursor, parse_limit};
use crate::domain::{parse_k, DocumentInput, Query};
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;
use crate::http::state::AppState;
use crate::service::Caller;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    title: String,
    content: String,
    /// Where it came from (a path, a URL): the same source again replaces it.
    source: Option<String>,
}

#[derive(Deserialize)]
pub struct ListParams {
    limit: Option<String>,
    before: Option<String>,
}

#[derive(Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    k: Option<String>,
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::BadRequest(format!("{text:?} is not a document id (a UUID)")))
}

pub async fn add(
    state: web::Data<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<AddBody>,
) -> Result<HttpResponse, ApiError> {
    let input = DocumentInput::parse(&body.title, body.content, body.source.as_deref())?;
    let put = state.services.add_document(&caller, input).await?;
    Ok(HttpResponse::Created().json(put))
}

pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = parse_limit(params.limit.as_deref())?;
    let before = params.before.as_deref().map(parse_cursor).transpose()?;
    let page = state.services.documents(&caller, limit, before).await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = state.services.document(&caller, parse_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .remove_document(&caller, parse_id(&path)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn search(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let q = params
        .q
        .clone()
        .ok_or_else(|| ApiError::Unprocessable("q is required: what to search for".into()))?;
    let q = Query::parse(q)
        .map_err(|e| ApiError::Unprocessable(e.to_string().replacen("query", "q", 1)))?;
    let k = parse_k(params.k.as_deref())?;
    let hits = state.services.search(&caller, q.as_str(), k).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "hits": hits })))
}
