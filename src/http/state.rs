//! What every handler can reach.

use crate::health::HealthProbe;
use std::net::IpAddr;
use std::time::Duration;

use uuid::Uuid;

use crate::service::{Authenticator, Services, Throttle};

pub struct AppState {
    pub services: Services,
    pub health: HealthProbe,
    pub auth: Authenticator,
    /// Failed authentications per client address (`auth.failed_attempts_per_minute`).
    pub failures: Throttle<IpAddr>,
    /// Requests per token (`auth.requests_per_minute`).
    pub requests: Throttle<Uuid>,
    /// How long a browser session lasts.
    pub session_hours: u64,
    /// `http.stream_heartbeat`: the longest a streamed answer stays quiet.
    pub stream_heartbeat: Duration,
}
