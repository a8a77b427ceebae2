//! Every route, registered in one place.

mod conversations;
mod health;
mod openai;
mod personas;
mod query;
mod session;
mod traces;

use actix_web::http::{header, StatusCode};
use actix_web::{guard, middleware, web, HttpRequest, HttpResponse, Route};

use super::auth::require_scope;
use super::error::json_error;
use super::paths::{CONSCIOUSNESS_HEALTH, HEALTH, LIVEZ, READYZ, SESSION};
use crate::domain::Scope;

const GET: &str = "GET, HEAD";

/// Every route, with the scope it needs. Everything but the probes and `POST /api/session`
/// is behind the door (`http::auth`). Each resource names the methods it allows, for the
/// `Allow` header of its 405s.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(LIVEZ, GET).route(get().to(health::livez)))
        .service(resource(READYZ, GET).route(get().to(health::readyz)))
        .service(resource(HEALTH, GET).route(get().to(health::health)))
        .service(resource(CONSCIOUSNESS_HEALTH, GET).route(get().to(health::health)))
        .service(
            resource(SESSION, "POST, DELETE")
                .route(web::post().to(session::sign_in))
                .route(web::delete().to(session::sign_out)),
        )
        .service(
            resource("/api/consciousness/query", "POST")
                .route(scoped(web::post().to(query::query), Scope::Query)),
        )
        .service(resource("/api/traces", GET).route(scoped(get().to(traces::list), Scope::Read)))
        .service(
            resource("/api/traces/{id}", "GET, HEAD, DELETE")
                .route(scoped(get().to(traces::get), Scope::Read))
                .route(scoped(web::delete().to(traces::delete), Scope::Admin)),
        )
        .service(
            resource("/api/personas", GET).route(scoped(get().to(personas::list), Scope::Read)),
        )
        .service(
            resource("/api/conversations", "GET, HEAD, POST")
                .route(scoped(get().to(conversations::list), Scope::Read))
                .route(scoped(web::post().to(conversations::start), Scope::Query)),
        )
        .service(
            resource("/api/conversations/{id}", "GET, HEAD, PATCH, DELETE")
                .route(scoped(get().to(conversations::get), Scope::Read))
                .route(scoped(web::patch().to(conversations::change), Scope::Query))
                .route(scoped(
                    web::delete().to(conversations::delete),
                    Scope::Admin,
                )),
        )
        .service(
            resource("/api/conversations/{id}/messages", "POST")
                .route(scoped(web::post().to(conversations::message), Scope::Query)),
        )
        // The OpenAI-compatible surface: everything an OpenAI client does is asking, so a
        // token that may ask may list the models too.
        .service(resource("/v1/models", GET).route(scoped(get().to(openai::models), Scope::Query)))
        .service(resource("/v1/chat/completions", "POST").route(scoped(
            web::post().to(openai::chat_completions),
            Scope::Query,
        )));
}

/// `GET`, and `HEAD` wherever `GET` is served (actix sends a `HEAD` answer without its
/// body).
fn get() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// A route that needs `scope`.
fn scoped(route: Route, scope: Scope) -> Route {
    route.wrap(middleware::from_fn(move |req, next| {
        require_scope(scope, req, next)
    }))
}

/// A resource whose other methods get a JSON 405 naming the `allowed` ones.
fn resource(path: &str, allowed: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        let mut response = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!(
                "{} is not allowed on {}; use {allowed}",
                req.method(),
                req.path()
            ),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(allowed));
        response
    }))
}

/// Unknown routes: a JSON 404.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    json_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no route for {} {}", req.method(), req.path()),
    )
}
