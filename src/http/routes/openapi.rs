//! The OpenAPI 3.1 document of the HTTP API, `GET /api/openapi.json`. Each handler's
//! `#[utoipa::path]` says what is its own (parameters, body, its answers); the route table
//! adds what it knows: who may call it (the security requirements) and the answers every
//! route of its kind can give (the door's, the database's, a JSON body's). The document is
//! rendered once, when it is first asked for.

use std::sync::OnceLock;

use actix_web::http::header::ContentType;
use actix_web::http::Method;
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, ObjectBuilder, OpenApi as Document, Ref, RefOr, Response, Type};
use utoipa::OpenApi;

use super::endpoint::{Access, Endpoint};
use crate::http::error::ErrorBody;
use crate::http::openai_errors::{is_openai_path, OpenAiErrorBody};
use crate::http::paths::{CONSCIOUSNESS_HEALTH, HEALTH, OPEN, PROBES};

/// What the handlers' annotations say.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "maia",
        description = "A sovereign, self-hosted AI query service: questions answered by a local \
            LLM (Ollama), every exchange kept in PostgreSQL. Every route but the probes, this \
            document and signing in needs a token (`Authorization: Bearer maia_...`) or a \
            session cookie, with the scope its security requirement names. Every `GET` also \
            answers `HEAD`; any other method on a known path is 405 with `Allow`. Every \
            response carries `x-request-id`; every error is `{\"error\": {\"code\", \"message\"}}` (under `/v1`, OpenAI's \
            shape).",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later"),
    ),
    paths(
        super::health::livez,
        super::health::readyz,
        super::health::health,
        document,
        super::session::sign_in,
        super::session::sign_out,
        super::query::query,
        super::traces::list,
        super::traces::get,
        super::traces::delete,
        super::personas::list,
        super::personas::create,
        super::personas::replace,
        super::personas::delete,
        super::conversations::start,
        super::conversations::list,
        super::conversations::get,
        super::conversations::change,
        super::conversations::delete,
        super::conversations::message,
        super::documents::add,
        super::documents::list,
        super::documents::get,
        super::documents::delete,
        super::documents::search,
        super::openai::models,
        super::openai::chat_completions,
        super::metrics::metrics,
        super::export::export,
    ),
    components(schemas(ErrorBody, OpenAiErrorBody)),
    tags(
        (name = "probes", description = "Liveness, readiness and health: open to all"),
        (name = "meta", description = "This document"),
        (name = "session", description = "Browser sessions"),
        (name = "query", description = "Asking"),
        (name = "traces", description = "The history: every question, answered or not"),
        (name = "personas", description = "The system prompts a question can be asked with: five shipped, any number added; every one may be rewritten or deleted with the `admin` scope, and `maia personas reset` restores the shipped five"),
        (name = "conversations", description = "Chats kept in PostgreSQL, each question asked with the earlier messages"),
        (name = "knowledge", description = "The owner's documents, cut into chunks embedded by Ollama and kept in PostgreSQL with pgvector, and the search through them. Where the database has no pgvector every route here answers 503 `knowledge_unavailable`, saying what to install"),
        (name = "export", description = "Everything the owner has, as NDJSON for `maia import` (the owner's: the `admin` scope)"),
        (name = "metrics", description = "Prometheus metrics, for a scraper's token with the `metrics` scope (which no other scope implies)"),
        (name = "openai", description = "The OpenAI-compatible API, for OpenAI's client libraries and chat front-ends: errors in OpenAI's shape, `{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`, with OpenAI's statuses (400 where maia's own routes say 422, 429 for a busy model)"),
    )
)]
struct Annotations;

/// Paths served by another path's handler: the alias, then what it stands for.
const ALIASES: &[(&str, &str)] = &[(CONSCIOUSNESS_HEALTH, HEALTH)];

/// The security schemes' names.
const BEARER: &str = "bearer";
const SESSION: &str = "session";

/// The document as served, rendered at its first request: building it makes about 3.5 MB
/// of short-lived allocations, which would otherwise stay in an idle server's heap.
pub struct ApiDocument {
    endpoints: fn() -> Vec<Endpoint>,
    rendered: OnceLock<Bytes>,
}

impl ApiDocument {
    /// The document of the routes `endpoints` gives.
    pub fn of(endpoints: fn() -> Vec<Endpoint>) -> Self {
        Self {
            endpoints,
            rendered: OnceLock::new(),
        }
    }

    fn json(&self) -> Bytes {
        self.rendered
            .get_or_init(|| {
                let doc = describe(&(self.endpoints)());
                serde_json::to_vec(&doc).unwrap_or_default().into()
            })
            .clone()
    }
}

/// This document
///
/// The OpenAPI 3.1 description of every route: open, and answered whatever the database's
/// state, since it holds no data.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    responses((status = 200, description = "the OpenAPI 3.1 document", body = Object))
)]
pub async fn document(doc: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(doc.json())
}

/// The document: the annotations, completed by the route table.
pub fn describe(endpoints: &[Endpoint]) -> Document {
    let mut doc = Annotations::openapi();
    for (alias, path) in ALIASES {
        if let Some(item) = doc.paths.paths.get(*path).cloned() {
            let item = aliased(item, alias, path);
            doc.paths.paths.insert(alias.to_string(), item);
        }
    }
    add_security_schemes(&mut doc);
    for endpoint in endpoints {
        if let Some(operation) = operation_mut(&mut doc, &endpoint.method, endpoint.path) {
            complete(operation, endpoint);
        }
    }
    add_request_id(&mut doc);
    doc
}

/// `item`, the operations of `path`, under the path `alias`, with operation ids of its own.
fn aliased(mut item: PathItem, alias: &str, path: &str) -> PathItem {
    if let Some(operation) = item.get.as_mut() {
        operation.operation_id = Some(alias.trim_start_matches('/').replace(['/', '.'], "_"));
        let summary = operation.summary.take().unwrap_or_default();
        operation.summary = Some(format!("{summary} (an alias of {path})"));
    }
    item
}

/// Every answer's header: the request's id, its own when it was a good one.
fn add_request_id(doc: &mut Document) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            for response in operation.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    let header = string_header(
                        "The request's id, named by every log line of the request: the one \
                         it sent when that was 1 to 128 letters, digits, `-`, `_`, `.` or `:`, \
                         else a new UUID",
                    );
                    response.headers.insert("x-request-id".into(), header);
                }
            }
        }
    }
}

fn string_header(description: &str) -> Header {
    let mut header = Header::new(ObjectBuilder::new().schema_type(Type::String));
    header.description = Some(description.to_string());
    header
}

fn add_security_schemes(doc: &mut Document) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("maia_ and 43 characters of base64url")
                .description(Some(
                    "An access token from `maia token create`. A requirement's list names \
                     the scope the token must have: `query`, `read`, `admin` or `metrics`. \
                     Scopes are independent: none implies another (`metrics`, for a \
                     scraper, allows `GET /metrics` alone).",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            "maia_session",
            "A browser session from `POST /api/session`, with its token's scopes. A request \
             that changes something must also carry `X-Maia-CSRF: 1`.",
        ))),
    );
}

fn operation_mut<'a>(
    doc: &'a mut Document,
    method: &Method,
    path: &str,
) -> Option<&'a mut Operation> {
    let item = doc.paths.paths.get_mut(path)?;
    match *method {
        Method::GET => item.get.as_mut(),
        Method::POST => item.post.as_mut(),
        Method::PUT => item.put.as_mut(),
        Method::PATCH => item.patch.as_mut(),
        Method::DELETE => item.delete.as_mut(),
        _ => None,
    }
}

/// Who may call it, and the answers every route of its kind can give.
fn complete(operation: &mut Operation, endpoint: &Endpoint) {
    let scopes: Vec<&str> = match endpoint.access {
        Access::Open | Access::AnyCaller => Vec::new(),
        Access::Needs(scope) => vec![scope.as_str()],
    };
    if endpoint.access != Access::Open {
        operation.security = Some(vec![
            SecurityRequirement::new(BEARER, scopes.clone()),
            SecurityRequirement::new(SESSION, scopes),
        ]);
    }
    describe_event_streams(operation);
    let has_body = operation.request_body.is_some();
    let openai = is_openai_path(endpoint.path);
    for answer in shared_answers(endpoint, has_body) {
        add_answer(operation, spelt_for(answer, openai), openai);
    }
}

/// Server-sent events, as a client's parser reads them: each event its name (maia's
/// routes: `token`, `done`, `error`; none under `/v1`) and its data, a JSON text. The
/// handlers' annotations name the content type; the events' shape is the same for all.
fn describe_event_streams(operation: &mut Operation) {
    let event = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "event",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("the event's name, if it has one")),
        )
        .property(
            "data",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("a JSON text (under `/v1`, the last is `[DONE]`)")),
        )
        .required("data")
        .build();
    for response in operation.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            if let Some(content) = response.content.get_mut("text/event-stream") {
                content.schema = Some(RefOr::T(event.clone().into()));
            }
        }
    }
}

/// An answer as a route spells it: under `/v1` as OpenAI's clients expect, a 400 where
/// maia's own routes say 422 (`http::openai_errors`).
fn spelt_for(answer: Answer, openai: bool) -> Answer {
    match answer {
        ("422", codes, header) if openai => ("400", codes, header),
        answer => answer,
    }
}

/// An answer some routes share: its status, its codes and what they mean, and a header
/// it carries.
type Answer = (
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

const RETRY_AFTER: Option<(&str, &str)> = Some(("Retry-After", "seconds to wait"));

/// Every route: actix's head limit comes first.
const EVERY_ROUTE: &[Answer] = &[(
    "431",
    "`request_head_too_large`: request line and headers over 64 KiB; the connection is closed",
    None,
)];

/// Every route but the probes, which health checkers must always reach.
const PAST_THE_PROBES: &[Answer] = &[
    (
        "403",
        "`origin_not_allowed`: a browser's `Origin` that is neither maia's own nor in \
         `http.allowed_origins`",
        None,
    ),
    (
        "421",
        "`host_not_allowed`: a `Host` maia does not answer to (`http.allowed_hosts`)",
        None,
    ),
    (
        "429",
        "`too_many_connections`: this client address already holds \
         `http.max_connections_per_client` connections; this one is closed",
        RETRY_AFTER,
    ),
];

/// Every route that reads the database: all but the probes and this document.
const WITH_THE_DATABASE: &[Answer] = &[
    (
        "500",
        "`internal_error`: maia failed; the log says why, with the request id",
        None,
    ),
    (
        "503",
        "`database_unavailable`, `database_busy`: try again shortly; `migrations_pending`: \
         run `maia migrate`; `schema_newer`: the database was migrated by a newer maia",
        None,
    ),
    (
        "504",
        "`database_timeout`: the database stopped answering (`database.statement_timeout` + 2 s)",
        None,
    ),
];

/// Every route behind the door.
const BEHIND_THE_DOOR: &[Answer] = &[
    (
        "401",
        "`token_missing`, `token_malformed`, `token_invalid`, `token_revoked`, \
         `token_expired`: no credential that maia accepts",
        Some((
            "WWW-Authenticate",
            "`Bearer realm=\"maia\"`, with the error",
        )),
    ),
    (
        "429",
        "`too_many_failed_attempts`: this client address failed to authenticate \
         `auth.failed_attempts_per_minute` times this minute; `rate_limited`: this token made \
         `auth.requests_per_minute` requests this minute",
        RETRY_AFTER,
    ),
];

/// Routes behind the door that change something.
const CHANGING: &[Answer] = &[(
    "403",
    "`csrf_header_missing`: signed in by cookie, without `X-Maia-CSRF: 1`",
    None,
)];

/// Routes that need a scope.
const SCOPED: &[Answer] = &[(
    "403",
    "`insufficient_scope`: the credential lacks the scope this route needs",
    Some(("WWW-Authenticate", "names the scope needed")),
)];

/// Routes that read a JSON body.
const WITH_A_BODY: &[Answer] = &[
    (
        "400",
        "`invalid_json`: the body is not JSON; `bad_request`: it could not be read",
        None,
    ),
    (
        "408",
        "`body_timeout`: the body took longer than `http.body_timeout`; the connection is closed",
        None,
    ),
    ("413", "`payload_too_large`: the body is over 64 KiB", None),
    (
        "415",
        "`unsupported_media_type`: the body is not declared `application/json`",
        None,
    ),
    (
        "422",
        "`validation_failed`: a field the body does not have, or one of the wrong type",
        None,
    ),
];

fn shared_answers(endpoint: &Endpoint, has_body: bool) -> Vec<Answer> {
    let changes = !matches!(endpoint.method, Method::GET | Method::HEAD);
    let behind_the_door = endpoint.access != Access::Open;
    let kinds: [(bool, &[Answer]); 7] = [
        (true, EVERY_ROUTE),
        (!PROBES.contains(&endpoint.path), PAST_THE_PROBES),
        (!OPEN.contains(&endpoint.path), WITH_THE_DATABASE),
        (behind_the_door, BEHIND_THE_DOOR),
        (behind_the_door && changes, CHANGING),
        (matches!(endpoint.access, Access::Needs(_)), SCOPED),
        (has_body, WITH_A_BODY),
    ];
    kinds
        .into_iter()
        .filter(|(applies, _)| *applies)
        .flat_map(|(_, answers)| answers.iter().copied())
        // A route that reads larger bodies, and of other kinds, describes those itself.
        .filter(|(status, _, _)| endpoint.body_limit.is_none() || !["413", "415"].contains(status))
        .collect()
}

/// Adds `answer` to the operation's answers: its codes to a status it has already, or a
/// new status with the error body (OpenAI's, on an `openai` route).
fn add_answer(operation: &mut Operation, (status, codes, header): Answer, openai: bool) {
    let body = if openai {
        "OpenAiErrorBody"
    } else {
        "ErrorBody"
    };
    let responses = &mut operation.responses.responses;
    let entry = responses.entry(status.to_string()).or_insert_with(|| {
        let mut response = Response::new("");
        response.content.insert(
            "application/json".into(),
            Content::new(Some(Ref::from_schema_name(body))),
        );
        RefOr::T(response)
    });
    let RefOr::T(response) = entry else {
        return;
    };
    response.description = if response.description.is_empty() {
        codes.to_string()
    } else {
        format!("{}; {codes}", response.description)
    };
    if let Some((name, description)) = header {
        response
            .headers
            .entry(name.to_string())
            .or_insert_with(|| string_header(description));
    }
}
