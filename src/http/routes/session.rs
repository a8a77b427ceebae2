//! Browser sessions: `POST /api/session` with a token sets the session cookie, `DELETE
//! /api/session` ends it. The cookie is `HttpOnly`, `SameSite=Strict`, and `Secure` unless
//! the request came over plain HTTP from this machine.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::TokenSecret;
use crate::http::auth::SESSION_COOKIE;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::JsonBody;
use crate::http::state::AppState;
use crate::service::{Refusal, ServiceError};

/// A token, to be exchanged for a session cookie.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// An access token, `maia_` and 43 characters of base64url.
    #[schema(example = "maia_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    token: String,
}

/// A session opened.
#[derive(Serialize, ToSchema)]
pub struct Session {
    /// When the cookie stops working (`auth.session_hours`).
    expires_at: DateTime<Utc>,
}

/// Sign a browser in
///
/// Sets the session cookie `maia_session` (`HttpOnly`, `SameSite=Strict`, `Secure` unless
/// the request came over plain HTTP from this machine), which stands for the token and its
/// scopes until it expires or the token is revoked.
#[utoipa::path(
    post,
    path = "/api/session",
    tag = "session",
    request_body = SignIn,
    responses(
        (status = 200, description = "signed in: the session cookie is set", body = Session,
            headers(("Set-Cookie" = String, description = "`maia_session=...`"))),
        (status = 401, description = "`token_malformed`, `token_invalid`, `token_revoked`, `token_expired`: the token cannot open a session", body = ErrorBody),
    )
)]
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
    Ok(HttpResponse::Ok().cookie(cookie).json(Session {
        expires_at: session.expires_at,
    }))
}

/// Sign out
///
/// Ends the session of the cookie sent, if any, and clears the cookie.
#[utoipa::path(
    delete,
    path = "/api/session",
    tag = "session",
    responses(
        (status = 204, description = "signed out: the session is over and the cookie cleared",
            headers(("Set-Cookie" = String, description = "`maia_session=`, expired"))),
    )
)]
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
