//! Browser sessions: `POST /api/session` with a token sets the session cookie, `DELETE
//! /api/session` ends it. The cookie is `HttpOnly`, `SameSite=Strict`, and `Secure` unless
//! the request came over plain HTTP from this machine.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::domain::TokenSecret;
use crate::http::auth::SESSION_COOKIE;
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;
use crate::http::state::AppState;
use crate::service::{Refusal, ServiceError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    token: String,
}

pub async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<SignIn>,
) -> Result<HttpResponse, ApiError> {
    let token = TokenSecret::parse_token(body.token.trim())
        .ok_or(ApiError::Unauthorized(Refusal::Malformed))?;
    let session = state
        .auth
        .open_session(&token, state.session_hours)
        .await
        .map_err(ServiceError::from)?
        .map_err(ApiError::Unauthorized)?;
    let max_age = (session.expires_at - chrono::Utc::now())
        .num_seconds()
        .max(0);
    let cookie = cookie(
        &req,
        session.secret.expose().to_string(),
        time::Duration::seconds(max_age),
    );
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .json(serde_json::json!({ "expires_at": session.expires_at })))
}

pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(secret) = req
        .cookie(SESSION_COOKIE)
        .and_then(|c| TokenSecret::parse_session(c.value()))
    {
        state
            .auth
            .close_session(&secret)
            .await
            .map_err(ServiceError::from)?;
    }
    let mut gone = cookie(&req, String::new(), time::Duration::ZERO);
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

fn cookie(req: &HttpRequest, value: String, max_age: time::Duration) -> Cookie<'static> {
    let plain_loopback = req.connection_info().scheme() == "http"
        && req.peer_addr().is_some_and(|a| a.ip().is_loopback());
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(!plain_loopback)
        .max_age(max_age)
        .finish()
}
