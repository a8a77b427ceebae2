//! Authentication at the door: every route but the probes, the API's description
//! (`/api/openapi.json`) and the sign-in needs a bearer token or a session cookie; a refused
//! credential is 401 (429 once a client address has failed too often), a cookie without the
//! CSRF header on a state-changing request is 403.
//! The caller goes into the request's extensions for the scope checks of `routes`.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};

use super::error::ApiError;
use super::paths::{is_ui, OPEN, SESSION};
use super::state::AppState;
use crate::domain::{Scope, TokenSecret};
use crate::service::{Caller, Credential, Refusal, ServiceError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "maia_session";
/// What a cookie-authenticated request that changes something must carry.
pub const CSRF_HEADER: &str = "x-maia-csrf";

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if is_open(req.method(), req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    // Boxed: the check's future (a token looked up in the database) is large, and inline
    // every request would carry its size until answered.
    match Box::pin(check(&req)).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(error) => Ok(req
            .into_response(error.error_response())
            .map_into_right_body()),
    }
}

/// Whether `method` on `path` needs no credential: the probes, the API's description,
/// signing in, and the web UI's page and files.
pub fn is_open(method: &Method, path: &str) -> bool {
    OPEN.contains(&path)
        || (path == SESSION && method == Method::POST)
        || (matches!(*method, Method::GET | Method::HEAD) && is_ui(path))
}

async fn check(req: &ServiceRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("the app state is registered");
    let credential = credential(req);
    let credential = match credential {
        Ok(c) => c,
        Err(refusal) => return Err(refused(state, req, refusal)),
    };
    let caller = match state.auth.authenticate(credential.as_ref()).await {
        Ok(Ok(caller)) => caller,
        Ok(Err(refusal)) => return Err(refused(state, req, refusal)),
        Err(e) => return Err(ServiceError::from(e).into()),
    };
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let has_csrf = req
        .headers()
        .get(CSRF_HEADER)
        .is_some_and(|v| !v.is_empty());
    if matches!(credential, Some(Credential::Session(_))) && changes && !has_csrf {
        return Err(ApiError::CsrfHeaderMissing);
    }
    if let Some(retry_after) = caller.token_id.and_then(|id| state.requests.hit(id)) {
        return Err(ApiError::RateLimited(retry_after));
    }
    Ok(caller)
}

/// 401, or 429 with the seconds to wait once this address has failed too often.
fn refused(state: &AppState, req: &ServiceRequest, refusal: Refusal) -> ApiError {
    let addr = peer_ip(req);
    match state.failures.hit(addr) {
        Some(retry_after) => {
            tracing::warn!(client = %addr, "too many failed authentications");
            ApiError::TooManyFailures(retry_after)
        }
        None => ApiError::Unauthorized(refusal),
    }
}

/// The bearer token, else the session cookie, else none. A malformed header is refused
/// rather than ignored, so a typo is not read as "no credential".
fn credential(req: &ServiceRequest) -> Result<Option<Credential>, Refusal> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let text = value.to_str().map_err(|_| Refusal::Malformed)?;
        let (scheme, token) = text.trim().split_once(' ').ok_or(Refusal::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Refusal::Malformed);
        }
        let secret = TokenSecret::parse_token(token.trim()).ok_or(Refusal::Malformed)?;
        return Ok(Some(Credential::Bearer(secret)));
    }
    match req.cookie(SESSION_COOKIE) {
        None => Ok(None),
        Some(cookie) => TokenSecret::parse_session(cookie.value())
            .map(|s| Some(Credential::Session(s)))
            .ok_or(Refusal::Unknown),
    }
}

pub fn peer_ip(req: &ServiceRequest) -> IpAddr {
    req.peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Lets the request through when its caller has `scope`: 403 `insufficient_scope` naming
/// it otherwise. Routes wear it (`routes::scoped`).
pub async fn require_scope(
    scope: Scope,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, actix_web::Error> {
    let caller = req.extensions().get::<Caller>().copied();
    let verdict = match caller {
        Some(caller) => caller.require(scope).map_err(ApiError::from),
        None => Err(ApiError::Unauthorized(Refusal::Missing)),
    };
    match verdict {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(error) => Ok(req
            .into_response(error.error_response())
            .map_into_right_body()),
    }
}

/// Handlers take the caller as an argument; the door put it there.
impl actix_web::FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Caller, ApiError>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Caller>()
                .copied()
                .ok_or(ApiError::Unauthorized(Refusal::Missing)),
        )
    }
}
