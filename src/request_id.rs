//! Request ids: echo a sane `x-request-id` or make one, put it on the response, and run the
//! request inside a span that carries it, so every log line of the request names it.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";
/// Health and readiness endpoints, polled by health checks and load balancers.
const PROBES: &[&str] = &[
    "/livez",
    "/readyz",
    "/api/health",
    "/api/consciousness/health",
];

fn usable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| usable(v))
        .map(String::from)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let started = Instant::now();
    // Probes are polled hard and share one cached health check: a span for each would cost
    // more than the answer, and their successes are logged at debug only.
    if PROBES.contains(&req.path()) {
        let path = req.path().to_owned();
        let result = next.call(req).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        return match result {
            Ok(mut res) => {
                let status = res.status().as_u16();
                if res.status().is_success() {
                    tracing::debug!(request_id = %id, path, status, elapsed_ms, "request done");
                } else {
                    tracing::info!(request_id = %id, path, status, elapsed_ms, "request done");
                }
                tag(&mut res, &id);
                Ok(res)
            }
            Err(e) => {
                tracing::warn!(request_id = %id, path, error = %e, "request failed before a response");
                Err(e)
            }
        };
    }
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path()
    );
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            let elapsed_ms = started.elapsed().as_millis() as u64;
            tracing::info!(status, elapsed_ms, "request done");
            tag(&mut res, &id);
            Ok(res)
        }
        Err(e) => {
            tracing::warn!(error = %e, "request failed before a response");
            Err(e)
        }
    }
}

/// Puts the request id on the response.
fn tag<B>(res: &mut ServiceResponse<B>, id: &str) {
    if let Ok(value) = HeaderValue::from_str(id) {
        res.headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
}

#[cfg(test)]
mod tests {
    use super::usable;

    #[test]
    fn only_short_plain_ids_are_echoed() {
        assert!(usable("abc-123_x.y:z"));
        assert!(!usable(""));
        assert!(!usable("has space"));
        assert!(!usable("line\nbreak"));
        assert!(!usable(&"a".repeat(129)));
    }
}
