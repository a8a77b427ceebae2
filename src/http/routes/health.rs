//! The probes: liveness, readiness and the health report.

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};

use crate::health::Status;
use crate::http::state::AppState;

/// 200 when healthy or degraded (Ollama down), 503 when unhealthy: the database is
/// unreachable or its schema is not this binary's.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.health.snapshot().await;
    let mut response = if snapshot.report.status != Status::Unhealthy {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .content_type(ContentType::json())
        .body(snapshot.health_json.clone())
}

/// The process is up and serving HTTP.
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(r#"{"status":"alive"}"#)
}

/// Ready for traffic: the database answers and its schema is this binary's.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.health.snapshot().await;
    let mut response = if snapshot.report.ready() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .content_type(ContentType::json())
        .body(snapshot.ready_json.clone())
}
