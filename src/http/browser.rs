//! What a browser could be made to do against maia: a web page the owner visits may send it
//! requests (CSRF) or, through DNS rebinding, reach a maia on loopback under the page's own
//! host name. A foreign `Origin` gets 403; a `Host` maia does not answer to gets 421. The
//! probes are left alone: they say nothing but states, and health checkers use addresses.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};

use super::error::ApiError;
use super::paths::PROBES;
use crate::config::Settings;

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if PROBES.contains(&req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let policy = req
        .app_data::<web::Data<BrowserPolicy>>()
        .expect("the browser policy is registered");
    match check(&req, policy) {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(error) => Ok(req
            .into_response(error.error_response())
            .map_into_right_body()),
    }
}

/// Which hosts and origins maia answers to.
pub struct BrowserPolicy {
    /// Authentication is off: only loopback names may be the `Host`.
    pub loopback_only: bool,
    /// `http.allowed_hosts`: with authentication on, the names maia answers to (none: any).
    pub allowed_hosts: Vec<String>,
    /// `http.allowed_origins`: origins besides maia's own that may send requests.
    pub allowed_origins: Vec<String>,
}

impl From<&Settings> for BrowserPolicy {
    fn from(settings: &Settings) -> Self {
        Self {
            loopback_only: !settings.auth.required,
            allowed_hosts: settings.http.allowed_hosts.clone(),
            allowed_origins: settings.http.allowed_origins.clone(),
        }
    }
}

fn check(req: &ServiceRequest, policy: &BrowserPolicy) -> Result<(), ApiError> {
    let info = req.connection_info();
    let host = info.host().to_string();
    let name = host_name(&host).to_ascii_lowercase();
    let host_ok = if policy.loopback_only {
        is_loopback_name(&name)
    } else {
        policy.allowed_hosts.is_empty()
            || policy
                .allowed_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&name))
    };
    if !host_ok {
        return Err(ApiError::MisdirectedHost(host));
    }
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        // Not a browser's cross-site request: curl, the SDKs, server-to-server.
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
    let own = format!("{}://{}", info.scheme(), host);
    let allowed = origin.eq_ignore_ascii_case(&own)
        || policy
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin));
    if allowed {
        Ok(())
    } else {
        Err(ApiError::ForeignOrigin(origin.chars().take(200).collect()))
    }
}

/// `example.org:8080` → `example.org`; `[::1]:8080` → `[::1]`.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

fn is_loopback_name(name: &str) -> bool {
    matches!(name, "localhost" | "[::1]")
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("example.org:8080"), "example.org");
        assert_eq!(host_name("example.org"), "example.org");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("127.0.0.1:1"), "127.0.0.1");
    }

    #[test]
    fn only_loopback_names_are_loopback() {
        for name in [
            "localhost",
            "127.0.0.1",
            "127.8.9.1",
            "[::1]",
            "maia.localhost",
        ] {
            assert!(is_loopback_name(name), "{name}");
        }
        for name in [
            "attacker.example",
            "localhost.example",
            "10.0.0.1",
            "[::2]",
            "",
        ] {
            assert!(!is_loopback_name(name), "{name}");
        }
    }
}
