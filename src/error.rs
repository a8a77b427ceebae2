//! HTTP errors: every failure maps to a status and a fixed JSON shape,
//! `{"error": {"code": "...", "message": "..."}}`. 5xx bodies never carry internal detail;
//! the detail is logged inside the request's span, which carries its request id.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::ValidationError;
use crate::llm::LlmError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidJson(String),
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    NotFound(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("unsupported content type: send application/json")]
    UnsupportedMediaType,
    #[error("database unavailable: {0:#}")]
    DatabaseUnavailable(anyhow::Error),
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
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

impl From<tokio_postgres::Error> for ApiError {
    /// A lost or refused connection is the database being unavailable (503); anything
    /// else the database says is a bug on our side (500).
    fn from(e: tokio_postgres::Error) -> Self {
        let unavailable = match e.code() {
            None => true,
            Some(code) => {
                let code = code.code();
                // Class 08: connection exception; 57P0x: shutting down / cannot connect now.
                code.starts_with("08") || code.starts_with("57P")
            }
        };
        if unavailable || e.is_closed() {
            ApiError::DatabaseUnavailable(e.into())
        } else {
            ApiError::Internal(e.into())
        }
    }
}

/// A JSON error response outside the `ApiError` flow (404 and 405 fallbacks).
pub fn json_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(Body {
        error: Detail { code, message },
    })
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::Validation(_) | ApiError::Unprocessable(_) => "validation_failed",
            ApiError::NotFound(_) => "not_found",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::DatabaseUnavailable(_) => "database_unavailable",
            ApiError::Llm(LlmError::Unreachable(_)) => "llm_unavailable",
            ApiError::Llm(LlmError::Timeout(_)) => "llm_timeout",
            ApiError::Llm(LlmError::ModelNotFound(_)) => "model_not_found",
            ApiError::Llm(LlmError::Upstream(_)) => "llm_error",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// What the client is told. Client errors explain themselves; server errors say what
    /// failed in general terms only.
    fn public_message(&self) -> String {
        match self {
            ApiError::BadRequest(_)
            | ApiError::InvalidJson(_)
            | ApiError::Validation(_)
            | ApiError::Unprocessable(_)
            | ApiError::NotFound(_)
            | ApiError::PayloadTooLarge(_)
            | ApiError::UnsupportedMediaType => self.to_string(),
            ApiError::DatabaseUnavailable(_) => {
                "the database is unavailable; try again shortly".into()
            }
            ApiError::Llm(LlmError::Unreachable(_)) => {
                "the language model (Ollama) is unreachable; the query was saved as failed".into()
            }
            ApiError::Llm(LlmError::Timeout(t)) => format!(
                "the language model did not answer within {} s; the query was saved as failed",
                t.as_secs()
            ),
            ApiError::Llm(LlmError::ModelNotFound(m)) => format!(
                "model {m:?} is not available on the Ollama server (pull it with `ollama pull {m}`); \
                 the query was saved as failed"
            ),
            ApiError::Llm(LlmError::Upstream(_)) => {
                "the language model returned an error; the query was saved as failed".into()
            }
            ApiError::Internal(_) => "internal error".into(),
        }
    }
}

impl ResponseError for ApiError {
    // Every variant is matched: a new one must decide its status here.
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidJson(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) | ApiError::Unprocessable(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Llm(LlmError::Unreachable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Llm(LlmError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Llm(LlmError::ModelNotFound(_)) | ApiError::Llm(LlmError::Upstream(_)) => {
                StatusCode::BAD_GATEWAY
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self, "request failed");
        }
        json_error(status, self.code(), &self.public_message())
    }
}
