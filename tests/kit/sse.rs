//! Reading a streamed answer (`text/event-stream`) as a client does: events as they come,
//! the heartbeat comments counted.

use std::time::Duration;

use serde_json::Value;
use tokio::time::{timeout_at, Instant};

/// One event: its name (`token`, `done`, `error`) and its data, parsed as JSON.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub data: Value,
}

/// An open stream of events.
pub struct EventStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
    /// Comment lines read so far (`: keep-alive`).
    pub comments: usize,
    ended: bool,
}

impl EventStream {
    /// `response`, which must be a 200 `text/event-stream`.
    pub fn new(response: reqwest::Response) -> EventStream {
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert_eq!(response.status().as_u16(), 200, "a stream answers 200");
        assert!(kind.starts_with("text/event-stream"), "content-type {kind}");
        EventStream {
            response,
            buffer: Vec::new(),
            comments: 0,
            ended: false,
        }
    }

    /// The next event, or `None` at the end of the body or after `limit`.
    pub async fn next(&mut self, limit: Duration) -> Option<Event> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(event) = self.take_event() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            match timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buffer.extend_from_slice(&bytes),
                Ok(Ok(None)) | Ok(Err(_)) => self.ended = true,
                Err(_) => return None,
            }
        }
    }

    /// Every event left, until the body ends (within `limit`).
    pub async fn rest(&mut self, limit: Duration) -> Vec<Event> {
        let deadline = Instant::now() + limit;
        let mut events = Vec::new();
        while let Some(event) = self.next(deadline - Instant::now()).await {
            events.push(event);
        }
        assert!(
            self.ended,
            "the stream was still open after {limit:?}: {events:?}"
        );
        events
    }

    /// Events up to and including the first `token`, within `limit`.
    pub async fn first_token(&mut self, limit: Duration) -> Vec<Event> {
        let deadline = Instant::now() + limit;
        let mut events = Vec::new();
        while let Some(event) = self.next(deadline - Instant::now()).await {
            let token = event.name == "token";
            events.push(event);
            if token {
                return events;
            }
        }
        panic!("no token within {limit:?}: {events:?}");
    }

    /// One whole event off the buffer (comments counted and skipped).
    fn take_event(&mut self) -> Option<Event> {
        loop {
            let end = self.buffer.windows(2).position(|w| w == b"\n\n")?;
            let block = String::from_utf8(self.buffer.drain(..end + 2).collect())
                .expect("an event is UTF-8");
            let (mut name, mut data) = (String::from("message"), String::new());
            for line in block.lines() {
                if line.starts_with(':') {
                    self.comments += 1;
                } else if let Some(value) = line.strip_prefix("event: ") {
                    name = value.to_string();
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data.push_str(value);
                }
            }
            if !data.is_empty() {
                let data = serde_json::from_str(&data)
                    .unwrap_or_else(|_| panic!("data that is not JSON: {data}"));
                return Some(Event { name, data });
            }
        }
    }
}

/// The text of the `token` events, in order.
pub fn text_of(events: &[Event]) -> String {
    events
        .iter()
        .filter(|e| e.name == "token")
        .map(|e| e.data["content"].as_str().expect("a token has content"))
        .collect()
}

/// The last event, which must be named `name`: its data.
pub fn last_is<'a>(events: &'a [Event], name: &str) -> &'a Value {
    let last = events.last().unwrap_or_else(|| panic!("no events"));
    assert_eq!(last.name, name, "{events:?}");
    &last.data
}

/// `POST url` with `body` through `client` (which carries its credential): the stream it
/// answers.
pub async fn open(client: &reqwest::Client, url: &str, body: &Value) -> EventStream {
    let response = client
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    EventStream::new(response)
}
