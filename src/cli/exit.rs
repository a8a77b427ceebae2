//! Exit statuses: a configuration error exits 2 whichever command meets it.

use std::process::ExitCode;

use crate::http::StartupError;
use crate::sovereignty::SovereigntyError;

/// The exit status of a configuration error, whether the configuration does not load or
/// names an endpoint sovereignty refuses.
pub const CONFIGURATION_ERROR: u8 = 2;

/// Whether a command failed on its configuration: an endpoint sovereignty refuses.
pub fn is_configuration_error(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<SovereigntyError>()
            || matches!(
                cause.downcast_ref::<StartupError>(),
                Some(StartupError::Sovereignty(_))
            )
    })
}

/// The exit status of a failed command: 2 for a configuration error, as when the
/// configuration does not load; 1 for anything else.
pub fn failure(error: &anyhow::Error) -> ExitCode {
    if is_configuration_error(error) {
        ExitCode::from(CONFIGURATION_ERROR)
    } else {
        ExitCode::FAILURE
    }
}
