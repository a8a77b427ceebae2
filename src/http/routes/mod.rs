//! Every route, registered in one place.

mod health;
mod personas;
mod query;
mod session;
mod traces;

use actix_web::http::StatusCode;
use actix_web::{middleware, web, HttpRequest, HttpResponse, Route};

use super::auth::require_scope;
use super::error::json_error;
use super::paths::{CONSCIOUSNESS_HEALTH, HEALTH, LIVEZ, READYZ, SESSION};
use crate::domain::Scope;

/// Every route, with the scope it needs. Everything but the probes and `POST /api/session`
/// is behind the door (`http::auth`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(LIVEZ).route(web::get().to(health::livez)))
        .service(resource(READYZ).route(web::get().to(health::readyz)))
        .service(resource(HEALTH).route(web::get().to(health::health)))
        .service(resource(CONSCIOUSNESS_HEALTH).route(web::get().to(health::health)))
        .service(
            resource(SESSION)
                .route(web::post().to(session::sign_in))
                .route(web::delete().to(session::sign_out)),
        )
        .service(
            resource("/api/consciousness/query")
                .route(scoped(web::post().to(query::query), Scope::Query)),
        )
        .service(resource("/api/traces").route(scoped(web::get().to(traces::list), Scope::Read)))
        .service(
            resource("/api/traces/{id}")
                .route(scoped(web::get().to(traces::get), Scope::Read))
                .route(scoped(web::delete().to(traces::delete), Scope::Admin)),
        )
        .service(
            resource("/api/personas").route(scoped(web::get().to(personas::list), Scope::Read)),
        );
}

/// A route that needs `scope`.
fn scoped(route: Route, scope: Scope) -> Route {
    route.wrap(middleware::from_fn(move |req, next| {
        require_scope(scope, req, next)
    }))
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
