//! Every request counted and timed (`crate::metrics`): outside every other middleware, so
//! that refusals count too, until its response's last byte is sent.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::metrics::{HttpMetrics, MeteredBody};

pub async fn middleware(
    metrics: Arc<HttpMetrics>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<MeteredBody<impl MessageBody>>, actix_web::Error> {
    let pending = metrics.arrived(req.method(), req.path());
    match next.call(req).await {
        Ok(response) => {
            let status = response.status();
            Ok(response.map_body(|_, body| pending.answered(status, body)))
        }
        Err(error) => {
            // Answered by actix from the error, with this status.
            let status = error.as_response_error().status_code();
            drop(pending.answered(status, ()));
            Err(error)
        }
    }
}
