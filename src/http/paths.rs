//! The paths the middleware needs to know as well as the route table.

pub const LIVEZ: &str = "/livez";
pub const READYZ: &str = "/readyz";
pub const HEALTH: &str = "/api/health";
pub const CONSCIOUSNESS_HEALTH: &str = "/api/consciousness/health";
/// Health and readiness endpoints, polled by health checks and load balancers. Open to all.
pub const PROBES: [&str; 4] = [LIVEZ, READYZ, HEALTH, CONSCIOUSNESS_HEALTH];
/// The OpenAPI document of the HTTP API. It describes the API and holds no data, so it is open
/// like the probes, and served whatever the database's state.
pub const OPENAPI: &str = "/api/openapi.json";
/// What needs neither a token nor the database: the probes and the API's description.
pub const OPEN: [&str; 5] = [LIVEZ, READYZ, HEALTH, CONSCIOUSNESS_HEALTH, OPENAPI];
/// The Prometheus metrics, for a token with the `metrics` scope.
pub const METRICS: &str = "/metrics";
/// Signing in (`POST`, open) and out (`DELETE`) of a browser session.
pub const SESSION: &str = "/api/session";
/// The OpenAI-compatible routes live under it, and answer errors in OpenAI's shape.
pub const OPENAI_PREFIX: &str = "/v1";
/// The web UI's files, under their version (`http::ui`); the page itself is `/`.
pub const ASSETS: &str = "/assets/";

/// Whether `path` is the web UI's: it holds no data, so it is open, and served whatever
/// the database's state (the page then says what is wrong).
pub fn is_ui(path: &str) -> bool {
    path == "/" || path.starts_with(ASSETS)
}
