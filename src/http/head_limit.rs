//! The size of a request head (request line and headers). actix reads heads into a buffer
//! of 128 KiB and answers one that does not fit with an empty 431 of its own, before any
//! middleware runs; maia's limit is lower, so that a large head gets a JSON error with a
//! request id like every other refusal.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::ResponseError;

use super::error::ApiError;

/// Largest request head accepted, in bytes as sent (near enough: the request line and every
/// header line with its separators).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let size = head_bytes(&req);
    if size > MAX_HEAD_BYTES {
        let error = ApiError::HeadTooLarge {
            size,
            limit: MAX_HEAD_BYTES,
        };
        return Ok(req
            .into_response(error.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// `METHOD target HTTP/1.1\r\n`, each `name: value\r\n`, and the closing `\r\n`.
fn head_bytes(req: &ServiceRequest) -> usize {
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().len(), |p| p.as_str().len());
    let request_line = req.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    request_line + headers + 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn a_head_is_measured_as_it_was_sent() {
        let req = TestRequest::get()
            .uri("/api/traces?limit=5")
            .insert_header(("host", "maia"))
            .insert_header(("x-a", "12345"))
            .to_srv_request();
        let sent = "GET /api/traces?limit=5 HTTP/1.1\r\nhost: maia\r\nx-a: 12345\r\n\r\n";
        assert_eq!(head_bytes(&req), sent.len());
    }
}
