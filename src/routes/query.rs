use std::time::Instant;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Mode, ModelName, PersonaName, Query};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::{self, NewTrace, TraceStatus};

/// Used when no persona is asked for.
const BASE_PROMPT: &str = "You are maia, a helpful assistant that runs entirely on its \
     owner's own hardware. Answer accurately and concisely, and say so when you are unsure.";
/// Added in deep mode.
const DEEP_SUFFIX: &str = "Take your time: reason through the question step by step before \
     giving your final answer, and check that answer for mistakes.";

#[derive(Deserialize)]
pub struct QueryRequest {
    query: String,
    mode: Option<String>,
    persona: Option<String>,
    model: Option<String>,
}

#[derive(Serialize)]
struct QueryResponse {
    id: Uuid,
    response: String,
    model: String,
    mode: Mode,
    persona: Option<String>,
    latency_ms: i32,
    created_at: DateTime<Utc>,
}

pub async fn query(
    state: web::Data<AppState>,
    body: web::Json<QueryRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let query = Query::parse(body.query)?;
    let mode = body
        .mode
        .as_deref()
        .map(Mode::parse)
        .transpose()?
        .unwrap_or_default();
    let persona = body
        .persona
        .as_deref()
        .map(PersonaName::parse)
        .transpose()?;
    let requested_model = body.model.as_deref().map(ModelName::parse).transpose()?;

    // The database comes first: if it is down, the query could not be kept, so Ollama is
    // not asked at all.
    let system_prompt = {
        let db = state.db().await?;
        let persona_prompt = match &persona {
            None => BASE_PROMPT.to_string(),
            Some(name) => match store::find_persona(&**db, name.as_str()).await? {
                Some(p) => p.system_prompt,
                None => {
                    let known: Vec<String> = store::list_personas(&**db)
                        .await?
                        .into_iter()
                        .map(|p| format!("{:?}", p.name))
                        .collect();
                    return Err(ApiError::Unprocessable(format!(
                        "unknown persona {:?}; allowed values: {}",
                        name.as_str(),
                        known.join(", ")
                    )));
                }
            },
        };
        match mode {
            Mode::Fast => persona_prompt,
            Mode::Deep => format!("{persona_prompt}\n\n{DEEP_SUFFIX}"),
        }
        // The connection goes back to the pool here, not after the model's answer.
    };

    let model = match &requested_model {
        Some(m) => m.as_str().to_string(),
        None => state.model_for(mode).to_string(),
    };
    let id = Uuid::new_v4();
    let started = Instant::now();
    let result = state
        .llm
        .chat(&model, Some(&system_prompt), query.as_str())
        .await;
    let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);

    match result {
        Ok(mut answer) => {
            // PostgreSQL text cannot hold NUL; a model that emits one must not cost the answer.
            if answer.content.contains('\0') {
                answer.content = answer.content.replace('\0', "\u{fffd}");
            }
            let trace = NewTrace {
                id,
                query: query.as_str(),
                response: Some(&answer.content),
                mode: mode.as_str(),
                persona: persona.as_ref().map(PersonaName::as_str),
                model: &model,
                status: TraceStatus::Ok,
                error: None,
                latency_ms,
                prompt_tokens: answer.prompt_tokens,
                completion_tokens: answer.completion_tokens,
            };
            // Answered only once stored: a 200 always has its trace.
            let created_at = state.save_trace(&trace).await?;
            tracing::info!(trace_id = %id, model, latency_ms, "query answered");
            Ok(HttpResponse::Ok().json(QueryResponse {
                id,
                response: answer.content,
                model,
                mode,
                persona: persona.map(|p| p.as_str().to_string()),
                latency_ms,
                created_at,
            }))
        }
        Err(llm_error) => {
            let error_text = llm_error.to_string();
            let trace = NewTrace {
                id,
                query: query.as_str(),
                response: None,
                mode: mode.as_str(),
                persona: persona.as_ref().map(PersonaName::as_str),
                model: &model,
                status: TraceStatus::Failed,
                error: Some(&error_text),
                latency_ms,
                prompt_tokens: None,
                completion_tokens: None,
            };
            if let Err(e) = state.save_trace(&trace).await {
                tracing::error!(trace_id = %id, error = %e, "could not store the failed query");
            } else {
                tracing::warn!(trace_id = %id, model, error = %error_text, "query failed; stored as failed");
            }
            Err(ApiError::Llm(llm_error))
        }
    }
}
