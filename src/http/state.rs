//! What every handler can reach.

use crate::health::HealthProbe;
use crate::service::Services;

pub struct AppState {
    pub services: Services,
    pub health: HealthProbe,
}
