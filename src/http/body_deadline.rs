//! A deadline for the whole request body (`http.body_timeout`): actix times out a request's
//! head but not its body, so a client trickling a body, or sending none after announcing
//! one, would hold its connection (and a file descriptor) for as long as it likes.
//!
//! The middleware hands the handler the body behind a deadline counted from the request's
//! start: at the deadline the body fails with [`BodyTimedOut`], which the JSON extractor
//! turns into 408 (`http::extract`). Whatever the handler did, a response to a request
//! whose body did not all arrive closes the connection: its rest could not be told from
//! the next request, and draining it would have no deadline.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures_util::{FutureExt, Stream, StreamExt};
use tokio::time::{sleep, Sleep};

/// The error a body fails with at its deadline, inside an `io::Error` of kind `TimedOut`.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within {0} s")]
pub struct BodyTimedOut(pub u64);

impl BodyTimedOut {
    /// The deadline `error` reports, if it is this one.
    pub fn in_payload_error(error: &PayloadError) -> Option<&BodyTimedOut> {
        match error {
            PayloadError::Io(e) => e.get_ref()?.downcast_ref(),
            _ => None,
        }
    }
}

/// The request's body, shared by the handler's stream and the middleware, which must
/// know afterwards whether it all arrived.
struct Body {
    payload: Payload,
    finished: bool,
}

type SharedBody = Rc<RefCell<Body>>;

/// The body as the handler reads it: the request's own, until the deadline.
struct WithDeadline {
    body: SharedBody,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
    expired: bool,
}

impl Stream for WithDeadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired = true;
            let error = std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                BodyTimedOut(self.limit.as_secs()),
            );
            return Poll::Ready(Some(Err(PayloadError::Io(error))));
        }
        let mut body = self.body.borrow_mut();
        let next = body.payload.poll_next_unpin(cx);
        if let Poll::Ready(None) = next {
            body.finished = true;
        }
        next
    }
}

pub async fn middleware(
    limit: Duration,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, Holding>>, actix_web::Error> {
    let payload = req.take_payload();
    if let Payload::None = payload {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let body = Rc::new(RefCell::new(Body {
        payload,
        finished: false,
    }));
    let stream = WithDeadline {
        body: Rc::clone(&body),
        deadline: Box::pin(sleep(limit)),
        limit,
        expired: false,
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(stream),
    });
    let mut response = next.call(req).await?;
    if arrived(&body) {
        return Ok(response.map_into_left_body());
    }
    response
        .response_mut()
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    Ok(response.map_body(|_, response| {
        EitherBody::right(Holding {
            response: BoxBody::new(response),
            _body: body,
        })
    }))
}

/// A response that holds its request's unfinished body until it is sent: actix then
/// closes the connection after a short linger, where a body already dropped would be
/// drained, with no deadline, if it came in chunks.
pub struct Holding {
    response: BoxBody,
    _body: SharedBody,
}

impl MessageBody for Holding {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.response.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.response).poll_next(cx)
    }
}

/// Whether the whole body arrived: read by the handler, or waiting, complete, unread.
fn arrived(body: &SharedBody) -> bool {
    let mut body = body.borrow_mut();
    // Only what has already come is read here (bounded by actix's buffer); nothing waits.
    while !body.finished {
        match body.payload.next().now_or_never() {
            Some(Some(Ok(_))) => {}
            Some(None) => body.finished = true,
            Some(Some(Err(_))) | None => return false,
        }
    }
    true
}
