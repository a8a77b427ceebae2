//! `GET /metrics`: Prometheus' scrape.

use actix_web::{web, HttpResponse};

use crate::http::state::AppState;

/// The metrics
///
/// Every metric in Prometheus' text exposition format (0.0.4): HTTP requests by route
/// template and status, their latency and those in flight; calls to the model (latency,
/// time to first token, tokens) by model and status; traces stored by status; the
/// database pool; migrations; the build. Needs the `metrics` scope, which no other scope
/// implies.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    operation_id = "metrics",
    responses((
        status = 200,
        description = "the metrics, in the text exposition format",
        content_type = "text/plain; version=0.0.4",
        body = String,
    ))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(state.services.metrics_text().await)
}
