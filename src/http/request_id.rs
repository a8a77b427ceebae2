//! Request ids and request logs: echo a sane `x-request-id` or make one, put it on the
//! response, and run the request inside a span that carries it, so every log line of the
//! request names it.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

use super::paths::PROBES;

pub const HEADER: &str = "x-request-id";
/// The longest path a log line repeats; a longer one is cut, with a marker.
const LOGGED_PATH_BYTES: usize = 1024;

fn usable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The caller's id when it is short and plain, else a new one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| usable(v))
        .map(String::from)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id(&req);
    // Probes are polled hard and share one cached health check: a span each would cost more
    // than the answer, so they get none and name their id and path in their own lines.
    let probe = PROBES.into_iter().find(|path| *path == req.path());
    let span = match probe {
        Some(_) => tracing::Span::none(),
        None => tracing::info_span!(
            "request",
            request_id = %id,
            method = %req.method(),
            path = %logged_path(req.path())
        ),
    };
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(mut res) => {
            log_done(probe, &id, res.status(), elapsed_ms);
            if let Ok(value) = HeaderValue::from_str(&id) {
                res.headers_mut()
                    .insert(HeaderName::from_static(HEADER), value);
            }
            Ok(res)
        }
        Err(e) => {
            match probe {
                None => tracing::warn!(error = %e, "request failed before a response"),
                Some(path) => tracing::warn!(request_id = %id, path, error = %e,
                    "request failed before a response"),
            }
            Err(e)
        }
    }
}

/// The path as a log line shows it: at most `LOGGED_PATH_BYTES`, so a client cannot make
/// the log repeat 64 KB per request.
fn logged_path(path: &str) -> std::borrow::Cow<'_, str> {
    if path.len() <= LOGGED_PATH_BYTES {
        return path.into();
    }
    let mut end = LOGGED_PATH_BYTES;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[{} more bytes]", &path[..end], path.len() - end).into()
}

/// One line per request; a probe's success says nothing new, so it is debug only.
fn log_done(probe: Option<&str>, id: &str, status: actix_web::http::StatusCode, elapsed_ms: u64) {
    let code = status.as_u16();
    match probe {
        None => tracing::info!(status = code, elapsed_ms, "request done"),
        Some(path) if status.is_success() => {
            tracing::debug!(request_id = %id, path, status = code, elapsed_ms, "request done")
        }
        Some(path) => {
            tracing::info!(request_id = %id, path, status = code, elapsed_ms, "request done")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_cut_in_the_log_with_a_marker() {
        assert_eq!(logged_path("/api/traces"), "/api/traces");
        let long = format!("/{}", "é".repeat(2000));
        let shown = logged_path(&long);
        assert!(shown.len() < LOGGED_PATH_BYTES + 40, "{}", shown.len());
        assert!(shown.ends_with("more bytes]"), "{shown}");
    }

    #[test]
    fn only_short_plain_ids_are_echoed() {
        assert!(usable("abc-123_x.y:z"));
        assert!(usable(&"a".repeat(128)));
        assert!(!usable(""));
        assert!(!usable("has space"));
        assert!(!usable("line\nbreak"));
        assert!(!usable("a/b"));
        assert!(!usable("é"));
        assert!(!usable(&"a".repeat(129)));
    }
}
