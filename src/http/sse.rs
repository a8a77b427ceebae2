//! An answer as server-sent events (`text/event-stream`), one event per piece as the model
//! writes it:
//!
//! ```text
//! event: token
//! data: {"content":"..."}
//!
//! event: done
//! data: {"trace_id":"...","model":"...","latency_ms":...,...}
//! ```
//!
//! or `event: error` with the usual JSON error body when the answer stops early, and a
//! comment (`: keep-alive`) whenever the model has been silent for `http.stream_heartbeat`.
//! The response's status and headers go out before the first piece: anything that fails
//! before then is an ordinary JSON error instead.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::stream;
use serde::Serialize;
use serde_json::json;

use super::error::{error_json, ApiError};
use crate::service::{AnswerEvent, AnswerEvents, Finished};

/// What the client reads while the model is silent: a comment, which SSE clients skip.
const HEARTBEAT: &[u8] = b": keep-alive\n\n";

/// A 200 streaming `events`; `done` makes the `done` event's data of what was stored.
/// The connection is closed after it: a stream is long, and one left open would hold a
/// stopping server until its grace ran out. Dropping the body (the client gone) drops
/// `events`, which stops the model.
pub fn answer_stream<D, F>(events: AnswerEvents, heartbeat: Duration, done: F) -> HttpResponse
where
    D: Serialize,
    F: Fn(Finished) -> D + 'static,
{
    let body = stream::unfold(Some((events, done)), move |state| async move {
        let (mut events, done) = state?;
        let frame = match tokio::time::timeout(heartbeat, events.next()).await {
            Err(_) => Bytes::from_static(HEARTBEAT),
            Ok(None) => return None,
            Ok(Some(AnswerEvent::Text(content))) => event("token", &json!({ "content": content })),
            Ok(Some(AnswerEvent::Done(finished))) => {
                let frame = event("done", &done(*finished));
                return Some((Ok::<_, Infallible>(frame), None));
            }
            Ok(Some(AnswerEvent::Failed(error))) => {
                let data = error_json(&ApiError::Service(*error));
                let frame = Bytes::from(format!("event: error\ndata: {data}\n\n"));
                return Some((Ok(frame), None));
            }
        };
        Some((Ok(frame), Some((events, done))))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        // A reverse proxy such as nginx would otherwise hold the pieces back.
        .insert_header(("x-accel-buffering", "no"))
        .force_close()
        .streaming(body)
}

/// One event: its name, and its data as one line of JSON (which never holds a raw line
/// break).
fn event(name: &str, data: &impl Serialize) -> Bytes {
    let data = serde_json::to_string(data).unwrap_or_default();
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_its_name_and_one_line_of_json() {
        let frame = event("token", &json!({ "content": "two\nlines" }));
        assert_eq!(
            frame,
            Bytes::from("event: token\ndata: {\"content\":\"two\\nlines\"}\n\n")
        );
    }
}
