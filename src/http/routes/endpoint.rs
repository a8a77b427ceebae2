//! One row of the route table: a method on a path, who may call it, and its handler.

use actix_web::http::Method;
use actix_web::{guard, middleware, web, FromRequest, Handler, Responder, Route};

use crate::domain::Scope;
use crate::http::auth::require_scope;

/// Who may call an endpoint. The door (`http::auth`) lets the open ones through by path;
/// the scope is checked here, on the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a credential: the probes, the API's description, signing in.
    Open,
    /// Any valid token or session, whatever its scopes.
    AnyCaller,
    /// A token or session with this scope.
    Needs(Scope),
}

/// A method on a path, its access, and the route that serves it.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub route: Route,
    /// The largest JSON body it reads, when that is not `extract::MAX_BODY_BYTES`.
    pub body_limit: Option<usize>,
}

impl Endpoint {
    /// `handler` serving `method` on `path` (a `GET` serves `HEAD` too) to callers `access`
    /// lets in.
    pub fn new<F, Args>(method: Method, path: &'static str, access: Access, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = if method == Method::GET {
            // actix sends a `HEAD` answer without its body.
            web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
        } else {
            web::method(method.clone())
        }
        .to(handler);
        let route = match access {
            Access::Needs(scope) => route.wrap(middleware::from_fn(move |req, next| {
                require_scope(scope, req, next)
            })),
            Access::Open | Access::AnyCaller => route,
        };
        Self {
            method,
            path,
            access,
            route,
            body_limit: None,
        }
    }

    /// The same, reading JSON bodies of up to `limit` bytes.
    pub fn with_body_limit(self, limit: usize) -> Self {
        Self {
            body_limit: Some(limit),
            ..self
        }
    }

    /// The methods it answers, as an `Allow` header names them.
    pub fn allows(&self) -> &str {
        match self.method {
            Method::GET => "GET, HEAD",
            _ => self.method.as_str(),
        }
    }
}
