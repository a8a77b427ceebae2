//! `POST /api/consciousness/query`: a question in, an answer out, the trace kept.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::domain::Question;
use crate::http::disconnect::client_gone;
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;
use crate::http::state::AppState;
use crate::service::Caller;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    query: String,
    mode: Option<String>,
    persona: Option<String>,
    model: Option<String>,
}

pub async fn query(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<QueryBody>,
) -> Result<HttpResponse, ApiError> {
    let question = Question::parse(
        body.query,
        body.mode.as_deref(),
        body.persona.as_deref(),
        body.model.as_deref(),
    )?;
    let answered = state
        .services
        .ask(question, caller.token_id, client_gone(&req))
        .await?;
    Ok(HttpResponse::Ok().json(answered))
}
