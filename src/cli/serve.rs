//! `maia serve`: the HTTP server until SIGTERM/SIGINT.

use std::process::ExitCode;

use anyhow::Context;

use crate::config::Settings;
use crate::http::Application;

pub fn run(settings: Settings) -> ExitCode {
    actix_web::rt::System::new().block_on(async move {
        match serve(settings).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                // A configuration error is said once, as when the configuration does not
                // load; other failures go to the log too, after the lines that led to them.
                if !super::exit::is_configuration_error(&e) {
                    tracing::error!("cannot start: {e:#}");
                }
                eprintln!("maia: cannot start: {e:#}");
                super::exit::failure(&e)
            }
        }
    })
}

/// Serves until SIGTERM/SIGINT, then lets in-flight requests finish within the grace period.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    app.run_until_stopped()
        .await
        .context("the HTTP server failed")?;
    tracing::info!("stopped");
    Ok(())
}
