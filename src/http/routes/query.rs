//! `POST /api/consciousness/query`: a question in, an answer out (whole, or streamed as
//! server-sent events with `"stream": true`), the trace kept.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::domain::Question;
use crate::http::disconnect::client_gone;
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;
use crate::http::sse;
use crate::http::state::AppState;
use crate::service::Caller;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    query: String,
    mode: Option<String>,
    persona: Option<String>,
    model: Option<String>,
    /// The answer as server-sent events, as it is written.
    stream: Option<bool>,
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
    if body.stream == Some(true) {
        let events = state
            .services
            .ask_streaming(question, caller.token_id, client_gone(&req))
            .await?;
        return Ok(sse::answer_stream(events, state.stream_heartbeat, |f| f));
    }
    let answered = state
        .services
        .ask(question, caller.token_id, client_gone(&req))
        .await?;
    Ok(HttpResponse::Ok().json(answered))
}
