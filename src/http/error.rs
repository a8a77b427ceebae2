//! HTTP errors: every failure maps to a status and a fixed JSON shape,
//! `{"error": {"code": "...", "message": "..."}}`. 5xx bodies never carry internal detail;
//! the detail is logged inside the request's span, which carries its request id.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::ValidationError;
use crate::llm::LlmError;
use crate::service::ServiceError;
use crate::store::StoreError;

/// What a request can fail with: its own shape, or what the service said.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("unsupported content type: send application/json")]
    UnsupportedMediaType,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::Service(e.into())
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
}

/// A JSON error response outside the `ApiError` flow (404 and 405 fallbacks).
pub fn json_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(Body {
        error: Detail { code, message },
    })
}

/// Status, code and what the client is told. Every variant is matched, with no catch-all:
/// a new one must decide here. Client errors explain themselves; server errors say what
/// failed in general terms only.
fn describe(error: &ApiError) -> (StatusCode, &'static str, String) {
    use StatusCode as S;
    let own = error.to_string();
    match error {
        ApiError::BadRequest(_) => (S::BAD_REQUEST, "bad_request", own),
        ApiError::InvalidJson(_) => (S::BAD_REQUEST, "invalid_json", own),
        ApiError::Unprocessable(_) => (S::UNPROCESSABLE_ENTITY, "validation_failed", own),
        ApiError::PayloadTooLarge(_) => (S::PAYLOAD_TOO_LARGE, "payload_too_large", own),
        ApiError::UnsupportedMediaType => {
            (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", own)
        }
        ApiError::Service(e) => describe_service(e),
    }
}

fn describe_service(error: &ServiceError) -> (StatusCode, &'static str, String) {
    use StatusCode as S;
    match error {
        ServiceError::Invalid(_) | ServiceError::UnknownPersona { .. } => (
            S::UNPROCESSABLE_ENTITY,
            "validation_failed",
            error.to_string(),
        ),
        ServiceError::NotFound(_) => (S::NOT_FOUND, "not_found", error.to_string()),
        ServiceError::UnknownCursor => (S::BAD_REQUEST, "bad_request", error.to_string()),
        ServiceError::Store(e) => describe_store(e),
        ServiceError::Llm(e) => describe_llm(e),
    }
}

fn describe_store(error: &StoreError) -> (StatusCode, &'static str, String) {
    match error {
        StoreError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable; try again shortly".into(),
        ),
        StoreError::Query(_) | StoreError::Migration(_) | StoreError::Setup(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error".into(),
        ),
    }
}

fn describe_llm(error: &LlmError) -> (StatusCode, &'static str, String) {
    const KEPT: &str = "the query was saved as failed";
    match error {
        LlmError::Unreachable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "llm_unavailable",
            format!("the language model (Ollama) is unreachable; {KEPT}"),
        ),
        LlmError::Timeout(t) => (
            StatusCode::GATEWAY_TIMEOUT,
            "llm_timeout",
            format!(
                "the language model did not answer within {} s; {KEPT}",
                t.as_secs()
            ),
        ),
        LlmError::ModelNotFound(m) => (
            StatusCode::BAD_GATEWAY,
            "model_not_found",
            format!(
                "model {m:?} is not available on the Ollama server (pull it with \
                 `ollama pull {m}`); {KEPT}"
            ),
        ),
        LlmError::Upstream(_) => (
            StatusCode::BAD_GATEWAY,
            "llm_error",
            format!("the language model returned an error; {KEPT}"),
        ),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        describe(self).0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, message) = describe(self);
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self, "request failed");
        }
        json_error(status, code, &message)
    }
}
