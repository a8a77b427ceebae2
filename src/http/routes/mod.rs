//! Every route, registered in one place.

mod health;
mod personas;
mod query;
mod traces;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::json_error;

const LIVEZ: &str = "/livez";
const READYZ: &str = "/readyz";
const HEALTH: &str = "/api/health";
const CONSCIOUSNESS_HEALTH: &str = "/api/consciousness/health";
/// Health and readiness endpoints, polled by health checks and load balancers.
pub const PROBES: [&str; 4] = [LIVEZ, READYZ, HEALTH, CONSCIOUSNESS_HEALTH];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(LIVEZ).route(web::get().to(health::livez)))
        .service(resource(READYZ).route(web::get().to(health::readyz)))
        .service(resource(HEALTH).route(web::get().to(health::health)))
        .service(resource(CONSCIOUSNESS_HEALTH).route(web::get().to(health::health)))
        .service(resource("/api/consciousness/query").route(web::post().to(query::query)))
        .service(resource("/api/traces").route(web::get().to(traces::list)))
        .service(
            resource("/api/traces/{id}")
                .route(web::get().to(traces::get))
                .route(web::delete().to(traces::delete)),
        )
        .service(resource("/api/personas").route(web::get().to(personas::list)));
}

/// A resource whose other methods get a JSON 405 rather than actix's empty one.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("{} is not allowed on {}", req.method(), req.path()),
    )
}

/// Unknown routes: a JSON 404.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    json_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no route for {} {}", req.method(), req.path()),
    )
}
