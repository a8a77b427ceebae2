//! Errors on the OpenAI-compatible routes (`/v1/...`) in OpenAI's shape,
//! `{"error": {"message", "type", "param", "code"}}`, whichever layer refused the request:
//! the door (401, 429), the browser checks, the body's reading (400, 413, 415), the
//! handler. Each error answer carries what it says (`error::Described`); this middleware,
//! outside all of them, spells it again for `/v1`. The code and message stay maia's; the
//! status is OpenAI's where the two differ: 400 for a request maia would call 422, and
//! 429 for a model that is busy (503 elsewhere), with the same `Retry-After`.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::Described;
use super::paths::OPENAI_PREFIX;

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let openai = is_openai_path(req.path());
    let response = next.call(req).await?;
    let described = match openai {
        true => response.response().extensions().get::<Described>().cloned(),
        false => None,
    };
    let Some(described) = described else {
        return Ok(response.map_into_left_body());
    };
    let (status, body) = openai_error(&described);
    Ok(response.map_body(|head, _| {
        head.status = status;
        EitherBody::right(BoxBody::new(body))
    }))
}

/// `/v1` and everything under it.
pub fn is_openai_path(path: &str) -> bool {
    path.strip_prefix(OPENAI_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Every error's body under `/v1`.
#[derive(Serialize, ToSchema)]
pub struct OpenAiErrorBody<'a> {
    error: OpenAiError<'a>,
}

#[derive(Serialize, ToSchema)]
pub struct OpenAiError<'a> {
    /// What went wrong, for people.
    message: &'a str,
    /// OpenAI's kind of error: `invalid_request_error`, `authentication_error`,
    /// `permission_error`, `rate_limit_error`, `server_error`.
    #[serde(rename = "type")]
    #[schema(example = "invalid_request_error")]
    kind: &'static str,
    /// The request parameter at fault, when one is.
    #[schema(example = "temperature")]
    param: Option<&'a str>,
    /// maia's own code for it (as on every other route): `model_not_found`, ...
    #[schema(example = "model_not_found")]
    code: &'a str,
}

/// The status and body OpenAI's clients expect for `described`.
pub fn openai_error(described: &Described) -> (StatusCode, String) {
    let status = match (described.status, described.code.as_str()) {
        (StatusCode::UNPROCESSABLE_ENTITY, _) => StatusCode::BAD_REQUEST,
        (StatusCode::SERVICE_UNAVAILABLE, "llm_busy") => StatusCode::TOO_MANY_REQUESTS,
        (status, _) => status,
    };
    let body = OpenAiErrorBody {
        error: OpenAiError {
            message: &described.message,
            kind: error_type(status),
            param: described.param.as_deref(),
            code: &described.code,
        },
    };
    // A struct of strings always serializes.
    let text = serde_json::to_string(&body).unwrap_or_default();
    (status, text)
}

/// OpenAI's `type` for a status.
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        code if code >= 499 => "server_error",
        _ => "invalid_request_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(status: u16, code: &str) -> Described {
        Described {
            status: StatusCode::from_u16(status).unwrap(),
            code: code.into(),
            message: "why".into(),
            param: None,
        }
    }

    #[test]
    fn only_v1_and_below_are_openais() {
        assert!(is_openai_path("/v1"));
        assert!(is_openai_path("/v1/chat/completions"));
        assert!(!is_openai_path("/v10/models"));
        assert!(!is_openai_path("/api/v1"));
    }

    #[test]
    fn statuses_become_openais_and_the_code_stays_maias() {
        let cases = [
            (422, "validation_failed", 400, "invalid_request_error"),
            (503, "llm_busy", 429, "rate_limit_error"),
            (503, "llm_unavailable", 503, "server_error"),
            (401, "token_missing", 401, "authentication_error"),
            (403, "insufficient_scope", 403, "permission_error"),
            (404, "model_not_found", 404, "invalid_request_error"),
            (415, "unsupported_media_type", 415, "invalid_request_error"),
        ];
        for (status, code, want_status, want_type) in cases {
            let (got, body) = openai_error(&described(status, code));
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(got.as_u16(), want_status, "{code}");
            assert_eq!(body["error"]["type"], want_type, "{code}");
            assert_eq!(body["error"]["code"], code);
            assert_eq!(body["error"]["message"], "why");
            assert!(body["error"]["param"].is_null());
        }
    }
}
