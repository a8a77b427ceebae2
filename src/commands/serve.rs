use std::process::ExitCode;

use crate::settings::Settings;
use crate::startup::{Application, StartupError};

pub fn run(settings: Settings) -> ExitCode {
    actix_web::rt::System::new().block_on(async move {
        match serve(settings).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("cannot start: {e}");
                eprintln!("maia: cannot start: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Serves until SIGTERM/SIGINT, then lets in-flight requests finish within the grace period.
pub async fn serve(settings: Settings) -> Result<(), StartupError> {
    let app = Application::build(settings).await?;
    app.run_until_stopped()
        .await
        .map_err(|e| StartupError::Other(e.into()))?;
    tracing::info!("stopped");
    Ok(())
}
