//! What every handler can reach.

use crate::health::HealthProbe;
use crate::service::{Authenticator, FailureThrottle, Services};

pub struct AppState {
    pub services: Services,
    pub health: HealthProbe,
    pub auth: Authenticator,
    pub failures: FailureThrottle,
    /// How long a browser session lasts.
    pub session_hours: u64,
}
