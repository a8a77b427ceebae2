//! HTTP errors: every failure maps to a status and a fixed JSON shape,
//! `{"error": {"code": "...", "message": "..."}}`. 5xx bodies never carry internal detail;
//! the detail is logged inside the request's span, which carries its request id.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use super::body_deadline::BodyTimedOut;
use crate::domain::ValidationError;
use crate::llm::LlmError;
use crate::service::{Refusal, ServiceError};
use crate::store::{SchemaMismatch, StoreError};

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
    /// An uploaded file of a kind maia does not take; the message says which it takes.
    #[error("{0}")]
    UnsupportedUpload(String),
    #[error(
        "the request head (request line and headers) is {size} bytes; the limit is {limit} bytes"
    )]
    HeadTooLarge { size: usize, limit: usize },
    #[error(transparent)]
    BodyTimeout(#[from] BodyTimedOut),
    #[error(
        "this address already has {0} connections open to maia; close one and retry on \
         a connection of its own"
    )]
    TooManyConnections(usize),
    #[error(transparent)]
    Unauthorized(Refusal),
    #[error("too many failed authentications from this address; retry in {0} s")]
    TooManyFailures(u64),
    #[error("this token has made too many requests this minute; retry in {0} s")]
    RateLimited(u64),
    #[error(
        "a request signed in by cookie that changes something must carry the header \
         X-Maia-CSRF: 1"
    )]
    CsrfHeaderMissing,
    #[error("requests from the origin {0:?} are not allowed (see http.allowed_origins)")]
    ForeignOrigin(String),
    #[error("this maia does not answer to the host {0:?} (see http.allowed_hosts)")]
    MisdirectedHost(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::Service(e.into())
    }
}

/// Seconds a busy model asks clients to wait.
const LLM_BUSY_RETRY_AFTER: u64 = 5;

/// Every error's body.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail<'a> {
    /// What went wrong, for programs: `token_missing`, `validation_failed`, `not_found`, ...
    #[schema(example = "validation_failed")]
    code: &'a str,
    /// What went wrong, for people. A 5xx's says what failed in general terms only.
    message: &'a str,
}

/// The JSON body of `error`, as a stream's `event: error` carries it once the stream's
/// 200 has been sent. The service that ended the stream logged why.
pub fn error_json(error: &ApiError) -> String {
    let (_, code, message) = describe(error);
    serde_json::to_string(&ErrorBody {
        error: ErrorDetail {
            code,
            message: &message,
        },
    })
    .unwrap_or_default()
}

/// What an error answer says, kept on the response as well: the `/v1` routes spell it
/// OpenAI's way (`http::openai_errors`), whichever layer refused the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// The request parameter at fault, when one is.
    pub param: Option<String>,
}

/// A JSON error response outside the `ApiError` flow (404 and 405 fallbacks).
pub fn json_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status).json(ErrorBody {
        error: ErrorDetail { code, message },
    });
    response.extensions_mut().insert(Described {
        status,
        code: code.to_string(),
        message: message.to_string(),
        param: None,
    });
    response
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
        ApiError::UnsupportedMediaType | ApiError::UnsupportedUpload(_) => {
            (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", own)
        }
        ApiError::HeadTooLarge { .. } => (
            S::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_head_too_large",
            own,
        ),
        ApiError::BodyTimeout(_) => (S::REQUEST_TIMEOUT, "body_timeout", own),
        ApiError::TooManyConnections(_) => (S::TOO_MANY_REQUESTS, "too_many_connections", own),
        ApiError::Unauthorized(refusal) => (S::UNAUTHORIZED, refusal_code(*refusal), own),
        ApiError::TooManyFailures(_) => (S::TOO_MANY_REQUESTS, "too_many_failed_attempts", own),
        ApiError::RateLimited(_) => (S::TOO_MANY_REQUESTS, "rate_limited", own),
        ApiError::CsrfHeaderMissing => (S::FORBIDDEN, "csrf_header_missing", own),
        ApiError::ForeignOrigin(_) => (S::FORBIDDEN, "origin_not_allowed", own),
        ApiError::MisdirectedHost(_) => (S::MISDIRECTED_REQUEST, "host_not_allowed", own),
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
        ServiceError::NoSuchModel { .. } => (S::NOT_FOUND, "model_not_found", error.to_string()),
        ServiceError::Conflict(_) => (S::CONFLICT, "conflict", error.to_string()),
        ServiceError::Forbidden(_) => (S::FORBIDDEN, "insufficient_scope", error.to_string()),
        ServiceError::Store(e) => describe_store(e),
        ServiceError::Llm(e) => describe_llm(e, true),
        ServiceError::Embedding(e) => describe_llm(e, false),
        // The operator's to fix, and nothing secret: the message says what to install or
        // run.
        ServiceError::KnowledgeUnavailable(state) => (
            S::SERVICE_UNAVAILABLE,
            "knowledge_unavailable",
            state.to_string(),
        ),
        // The cause's status and code, and that the question was kept.
        ServiceError::Unsourced(cause) => {
            let (status, code, message) = describe_service(cause);
            let message = format!(
                "the answer's sources could not be found: {message}; the question was saved \
                 as failed"
            );
            (status, code, message)
        }
        ServiceError::ShuttingDown => (
            S::SERVICE_UNAVAILABLE,
            "shutdown",
            "maia is shutting down: the answer stopped here, and it was saved with what \
             had been written; ask again shortly"
                .into(),
        ),
    }
}

fn describe_store(error: &StoreError) -> (StatusCode, &'static str, String) {
    match error {
        StoreError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable; try again shortly".into(),
        ),
        StoreError::Busy(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database_busy",
            "the database is busy; try again shortly".into(),
        ),
        StoreError::Timeout(after) => (
            StatusCode::GATEWAY_TIMEOUT,
            "database_timeout",
            format!("the database did not answer within {} s", after.as_secs()),
        ),
        // The operator's to fix, and nothing secret: the message says what to run.
        StoreError::Schema(mismatch) => (
            StatusCode::SERVICE_UNAVAILABLE,
            match mismatch {
                SchemaMismatch::Pending(_) => "migrations_pending",
                SchemaMismatch::Newer { .. } => "schema_newer",
            },
            mismatch.to_string(),
        ),
        StoreError::Query(_) | StoreError::Migration(_) | StoreError::Setup(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error".into(),
        ),
    }
}

/// A failure of Ollama; `kept` when it cost a question, which was stored as failed.
fn describe_llm(error: &LlmError, kept: bool) -> (StatusCode, &'static str, String) {
    const KEPT: &str = "; the query was saved as failed";
    let (status, message) = match error {
        LlmError::Unreachable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the language model (Ollama) is unreachable".to_string(),
        ),
        LlmError::Timeout(t) => (
            StatusCode::GATEWAY_TIMEOUT,
            format!("the language model sent nothing for {} s", t.as_secs()),
        ),
        LlmError::AnswerTooSlow(t) => (
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the language model's answer took longer than {} s",
                t.as_secs()
            ),
        ),
        LlmError::ModelNotFound(m) => (
            StatusCode::BAD_GATEWAY,
            format!(
                "model {m:?} is not available on the Ollama server (pull it with \
                 `ollama pull {m}`)"
            ),
        ),
        LlmError::Upstream(_) => (
            StatusCode::BAD_GATEWAY,
            "the language model returned an error".to_string(),
        ),
        LlmError::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the language model is busy; retry in a few seconds".to_string(),
        ),
        // Nobody reads this one: the client is gone. nginx's 499 says so in logs.
        LlmError::Cancelled => (
            StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            "the client disconnected before the answer".to_string(),
        ),
    };
    let kept = if kept { KEPT } else { "" };
    (status, error.code(), format!("{message}{kept}"))
}

/// The same reason is never worded to tell whether a token's name exists: the codes speak
/// of the token presented, not of names.
fn refusal_code(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::Missing => "token_missing",
        Refusal::Malformed => "token_malformed",
        Refusal::Unknown => "token_invalid",
        Refusal::Revoked => "token_revoked",
        Refusal::Expired => "token_expired",
    }
}

/// The headers some errors carry (RFC 6750 for bearer tokens, RFC 9110 for 429).
fn headers(error: &ApiError) -> Vec<(header::HeaderName, String)> {
    match error {
        ApiError::Unauthorized(Refusal::Missing) => {
            vec![(header::WWW_AUTHENTICATE, r#"Bearer realm="maia""#.into())]
        }
        ApiError::Unauthorized(_) => vec![(
            header::WWW_AUTHENTICATE,
            r#"Bearer realm="maia", error="invalid_token""#.into(),
        )],
        ApiError::Service(ServiceError::Forbidden(scope)) => vec![(
            header::WWW_AUTHENTICATE,
            format!(
                r#"Bearer realm="maia", error="insufficient_scope", scope="{}""#,
                scope.as_str()
            ),
        )],
        ApiError::TooManyFailures(seconds) | ApiError::RateLimited(seconds) => {
            vec![(header::RETRY_AFTER, seconds.to_string())]
        }
        ApiError::Service(
            ServiceError::Llm(LlmError::Busy) | ServiceError::Embedding(LlmError::Busy),
        ) => {
            vec![(header::RETRY_AFTER, LLM_BUSY_RETRY_AFTER.to_string())]
        }
        ApiError::Service(ServiceError::Unsourced(cause))
            if matches!(**cause, ServiceError::Embedding(LlmError::Busy)) =>
        {
            vec![(header::RETRY_AFTER, LLM_BUSY_RETRY_AFTER.to_string())]
        }
        // A place frees as soon as one of the client's other connections closes.
        ApiError::TooManyConnections(_) => vec![(header::RETRY_AFTER, "1".into())],
        _ => Vec::new(),
    }
}

/// A failure of the model was logged by the service that stored its trace as failed, with
/// the trace id (`Services::ask`); a second line here would say the same again.
fn logged_where_it_happened(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Service(
            ServiceError::Llm(_) | ServiceError::ShuttingDown | ServiceError::Unsourced(_)
        )
    )
}

/// The request parameter an error is about, where the error knows it.
fn param(error: &ApiError) -> Option<String> {
    match error {
        ApiError::Service(ServiceError::Invalid(ValidationError::BadParameter {
            param, ..
        })) => Some(param.clone()),
        ApiError::Service(ServiceError::NoSuchModel { .. }) => Some("model".into()),
        _ => None,
    }
}

impl ApiError {
    /// What its answer says (also for an error in the middle of a stream, which cannot be
    /// an answer of its own). A server error not logged where it happened is logged here.
    pub fn described(&self) -> Described {
        let (status, code, message) = describe(self);
        if status.is_server_error() && !logged_where_it_happened(self) {
            tracing::error!(status = status.as_u16(), error = %self, "request failed");
        }
        Described {
            status,
            code: code.to_string(),
            message,
            param: param(self),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        describe(self).0
    }

    fn error_response(&self) -> HttpResponse {
        let described = self.described();
        let mut response = json_error(described.status, &described.code, &described.message);
        response.extensions_mut().insert(described);
        // None of these connections can carry another request: the rest of a late body
        // would be read as one, one over the cap must not stay open, and a client that sends
        // heads this large is not worth keeping.
        if matches!(
            self,
            ApiError::BodyTimeout(_)
                | ApiError::TooManyConnections(_)
                | ApiError::HeadTooLarge { .. }
        ) {
            response
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        for (name, value) in headers(self) {
            if let Ok(value) = header::HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}
