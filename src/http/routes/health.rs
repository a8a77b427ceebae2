//! The probes: liveness, readiness and the health report.

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::health::{Readiness, Report, Status};
use crate::http::state::AppState;

/// What `/livez` answers.
#[derive(Serialize, ToSchema)]
pub struct Liveness {
    #[schema(pattern = "^alive$")]
    status: &'static str,
}

/// The health report
///
/// 200 when healthy or degraded (Ollama down), 503 when unhealthy: the database is
/// unreachable or its schema is not this binary's (`problem` says what to do). Cached for
/// a second. `/api/consciousness/health` is the same report.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "probes",
    responses(
        (status = 200, description = "healthy, or degraded (Ollama down)", body = Report),
        (status = 503, description = "unhealthy: the database is unreachable, or its schema is not this binary's", body = Report),
    )
)]
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

/// Liveness: the process is up and serving HTTP
#[utoipa::path(
    get,
    path = "/livez",
    tag = "probes",
    responses((status = 200, description = "serving", body = Liveness))
)]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(Liveness { status: "alive" })
}

/// Readiness: the database answers and its schema is this binary's
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "probes",
    responses(
        (status = 200, description = "ready for traffic", body = Readiness),
        (status = 503, description = "not ready: the database is unreachable, or its schema is not this binary's (`problem` says what to do)", body = Readiness),
    )
)]
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
