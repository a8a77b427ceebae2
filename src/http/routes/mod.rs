//! Every route, registered in one place: the route table, [`endpoints`]. The OpenAPI
//! document (`openapi.rs`) takes each endpoint's access from it, and its tests hold the
//! document and the table to each other.

mod conversations;
mod documents;
mod endpoint;
mod export;
mod health;
mod metrics;
mod openai;
mod openapi;
mod personas;
mod query;
mod session;
mod traces;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::json_error;
use super::paths::{CONSCIOUSNESS_HEALTH, HEALTH, LIVEZ, METRICS, OPENAPI, READYZ, SESSION};
use crate::domain::Scope;
pub use endpoint::{Access, Endpoint};

/// Every endpoint: method, path, who may call it, handler. A new route is a line here and
/// a `#[utoipa::path]` on its handler, listed in `openapi.rs`.
pub fn endpoints() -> Vec<Endpoint> {
    [
        open_and_session(),
        asking_and_history(),
        personas(),
        conversations(),
        knowledge(),
        openai(),
        vec![
            Endpoint::new(
                Method::GET,
                METRICS,
                Access::Needs(Scope::Metrics),
                metrics::metrics,
            ),
            Endpoint::new(
                Method::GET,
                "/api/export",
                Access::Needs(Scope::Admin),
                export::export,
            ),
        ],
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The probes, this document, and signing in and out.
fn open_and_session() -> Vec<Endpoint> {
    use Access::{AnyCaller, Open};
    use Method as M;
    vec![
        Endpoint::new(M::GET, LIVEZ, Open, health::livez),
        Endpoint::new(M::GET, READYZ, Open, health::readyz),
        Endpoint::new(M::GET, HEALTH, Open, health::health),
        Endpoint::new(M::GET, CONSCIOUSNESS_HEALTH, Open, health::health),
        Endpoint::new(M::GET, OPENAPI, Open, openapi::document),
        Endpoint::new(M::POST, SESSION, Open, session::sign_in),
        Endpoint::new(M::DELETE, SESSION, AnyCaller, session::sign_out),
    ]
}

fn asking_and_history() -> Vec<Endpoint> {
    use Access::Needs;
    use Method as M;
    let ask = "/api/consciousness/query";
    let trace = "/api/traces/{id}";
    vec![
        Endpoint::new(M::POST, ask, Needs(Scope::Query), query::query),
        Endpoint::new(M::GET, "/api/traces", Needs(Scope::Read), traces::list),
        Endpoint::new(M::GET, trace, Needs(Scope::Read), traces::get),
        Endpoint::new(M::DELETE, trace, Needs(Scope::Admin), traces::delete),
    ]
}

/// The personas: anyone who may read lists them, only the owner (`admin`) changes them.
fn personas() -> Vec<Endpoint> {
    use personas::{create, delete, list, replace};
    use Access::Needs;
    use Method as M;
    let all = "/api/personas";
    let one = "/api/personas/{name}";
    vec![
        Endpoint::new(M::GET, all, Needs(Scope::Read), list),
        Endpoint::new(M::POST, all, Needs(Scope::Admin), create),
        Endpoint::new(M::PUT, one, Needs(Scope::Admin), replace),
        Endpoint::new(M::DELETE, one, Needs(Scope::Admin), delete),
    ]
}

fn conversations() -> Vec<Endpoint> {
    use conversations::{change, delete, get, list, message, start};
    use Access::Needs;
    use Method as M;
    let all = "/api/conversations";
    let one = "/api/conversations/{id}";
    let messages = "/api/conversations/{id}/messages";
    vec![
        Endpoint::new(M::POST, all, Needs(Scope::Query), start),
        Endpoint::new(M::GET, all, Needs(Scope::Read), list),
        Endpoint::new(M::GET, one, Needs(Scope::Read), get),
        Endpoint::new(M::PATCH, one, Needs(Scope::Query), change),
        Endpoint::new(M::DELETE, one, Needs(Scope::Admin), delete),
        Endpoint::new(M::POST, messages, Needs(Scope::Query), message),
    ]
}

/// The owner's documents and the search through them. A document's body may be larger
/// than any other.
fn knowledge() -> Vec<Endpoint> {
    use documents::{add, delete, get, list, search};
    use Access::Needs;
    use Method as M;
    let all = "/api/documents";
    let one = "/api/documents/{id}";
    let limit = documents::MAX_BODY_BYTES;
    vec![
        Endpoint::new(M::POST, all, Needs(Scope::Query), add).with_body_limit(limit),
        Endpoint::new(M::GET, all, Needs(Scope::Read), list),
        Endpoint::new(M::GET, one, Needs(Scope::Read), get),
        Endpoint::new(M::DELETE, one, Needs(Scope::Query), delete),
        Endpoint::new(M::GET, "/api/search", Needs(Scope::Read), search),
    ]
}

/// The OpenAI-compatible surface: everything an OpenAI client does is asking, so a token
/// that may ask may list the models too.
fn openai() -> Vec<Endpoint> {
    use Access::Needs;
    use Method as M;
    let completions = "/v1/chat/completions";
    vec![
        Endpoint::new(M::GET, "/v1/models", Needs(Scope::Query), openai::models),
        Endpoint::new(
            M::POST,
            completions,
            Needs(Scope::Query),
            openai::chat_completions,
        ),
    ]
}

/// The OpenAPI document of every endpoint, for `configure`'s app data. Rendered once, not
/// per worker: rendering takes a few MB for a moment, which a worker's allocator arena
/// would then keep.
pub fn api_document() -> web::Data<openapi::ApiDocument> {
    web::Data::new(openapi::ApiDocument::of(endpoints))
}

/// Registers every endpoint, one resource per path; the OpenAPI document comes as app data
/// ([`api_document`]). Each resource names the methods it allows, for the `Allow` header
/// of its 405s.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut by_path: Vec<(&'static str, Vec<Endpoint>)> = Vec::new();
    for endpoint in endpoints() {
        match by_path.iter_mut().find(|(path, _)| *path == endpoint.path) {
            Some((_, same_path)) => same_path.push(endpoint),
            None => by_path.push((endpoint.path, vec![endpoint])),
        }
    }
    for (path, endpoints) in by_path {
        let allowed: Vec<&str> = endpoints.iter().map(Endpoint::allows).collect();
        let mut resource = resource(path, allowed.join(", "));
        if let Some(limit) = endpoints.iter().filter_map(|e| e.body_limit).max() {
            resource = resource.app_data(super::extract::json_config_with_limit(limit));
        }
        cfg.service(endpoints.into_iter().fold(resource, |resource, endpoint| {
            resource.route(endpoint.route)
        }));
    }
}

/// A resource whose other methods get a JSON 405 naming the `allowed` ones.
pub fn resource(path: &str, allowed: String) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| {
        let mut response = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!(
                "{} is not allowed on {}; use {allowed}",
                req.method(),
                req.path()
            ),
        );
        if let Ok(value) = header::HeaderValue::from_str(&allowed) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        std::future::ready(response)
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{json, Value};

    use super::*;
    use crate::http::auth::is_open;

    fn document() -> Value {
        serde_json::to_value(openapi::describe(&endpoints())).unwrap()
    }

    /// `(method, path)` of every operation the document lists.
    fn documented(document: &Value) -> BTreeSet<(String, String)> {
        let paths = document["paths"].as_object().unwrap();
        paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (method.to_uppercase(), path.clone()))
            })
            .collect()
    }

    /// A route registered without a `#[utoipa::path]` listed in `openapi.rs` (or one
    /// documented that is not served) fails here.
    #[test]
    fn the_document_lists_every_endpoint_of_the_table_and_nothing_else() {
        let table: BTreeSet<(String, String)> = endpoints()
            .iter()
            .map(|e| (e.method.to_string(), e.path.to_string()))
            .collect();

        assert_eq!(documented(&document()), table);
    }

    #[test]
    fn each_operation_requires_what_its_endpoint_needs() {
        let document = document();
        for endpoint in endpoints() {
            let operation =
                &document["paths"][endpoint.path][endpoint.method.as_str().to_lowercase()];
            let scopes = match endpoint.access {
                Access::Open => None,
                Access::AnyCaller => Some(json!([])),
                Access::Needs(scope) => Some(json!([scope.as_str()])),
            };
            let expected = scopes.map(|s| json!([{ "bearer": s }, { "session": s }]));
            let what = format!("{} {}", endpoint.method, endpoint.path);
            assert_eq!(operation.get("security"), expected.as_ref(), "{what}");
            if endpoint.access != Access::Open {
                assert!(operation["responses"].get("401").is_some(), "{what}");
            }
        }
    }

    /// The door lets through, by path, exactly what the table calls open.
    #[test]
    fn the_open_endpoints_are_those_the_door_lets_through() {
        for endpoint in endpoints() {
            assert_eq!(
                endpoint.access == Access::Open,
                is_open(&endpoint.method, endpoint.path),
                "{} {}",
                endpoint.method,
                endpoint.path
            );
        }
    }

    #[test]
    fn every_error_answer_has_the_error_body_and_every_answer_the_request_id() {
        let document = document();
        for (method, path) in documented(&document) {
            let responses = &document["paths"][&path][method.to_lowercase()]["responses"];
            for (status, response) in responses.as_object().unwrap() {
                let what = format!("{method} {path} {status}");
                assert!(response["headers"].get("x-request-id").is_some(), "{what}");
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                let probe_report = ["/api/health", "/api/consciousness/health", "/readyz"]
                    .contains(&path.as_str());
                let error_body = if path.starts_with("/v1/") {
                    "#/components/schemas/OpenAiErrorBody"
                } else {
                    "#/components/schemas/ErrorBody"
                };
                if status.starts_with(['4', '5']) && !probe_report {
                    assert_eq!(schema, error_body, "{what}");
                }
            }
        }
    }
}
