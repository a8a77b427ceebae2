use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::startup::AppState;

/// 200 when healthy or degraded (Ollama down), 503 when the database is unreachable.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let report = state.health.report().await;
    if report.database_up() {
        HttpResponse::Ok().json(&*report)
    } else {
        HttpResponse::ServiceUnavailable().json(&*report)
    }
}

/// The process is up and serving HTTP.
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "alive" }))
}

/// Ready for traffic: the database answers and no migration is pending.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let report = state.health.report().await;
    let body = json!({
        "status": if report.ready() { "ready" } else { "not_ready" },
        "database": report.database,
        "migrations": report.migrations,
    });
    if report.ready() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
