//! How request bodies and query strings are read, and what their failures answer.

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::web;

use super::body_deadline::BodyTimedOut;
use super::error::ApiError;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        // Only JSON: a form or text/plain body is what a foreign web page can send without
        // asking first (CSRF with no preflight).
        .content_type(|mime| {
            mime.type_() == actix_web::mime::APPLICATION
                && (mime.subtype() == actix_web::mime::JSON
                    || mime.suffix() == Some(actix_web::mime::JSON))
        })
        .error_handler(|err, _req| {
            let api = match &err {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => ApiError::PayloadTooLarge(MAX_BODY_BYTES),
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::Unprocessable(format!("invalid request: {e}"))
                }
                JsonPayloadError::Deserialize(e) => {
                    ApiError::InvalidJson(format!("malformed JSON: {e}"))
                }
                JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
                JsonPayloadError::Payload(e) => match BodyTimedOut::in_payload_error(e) {
                    Some(late) => ApiError::BodyTimeout(*late),
                    None => ApiError::BadRequest("could not read the request body".into()),
                },
                _ => ApiError::BadRequest("could not read the request body".into()),
            };
            api.into()
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = match &err {
            QueryPayloadError::Deserialize(e) => format!("invalid query string: {e}"),
            _ => "invalid query string".to_string(),
        };
        ApiError::BadRequest(message).into()
    })
}
