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
                tracing::error!("cannot start: {e:#}");
                eprintln!("maia: cannot start: {e:#}");
                ExitCode::FAILURE
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
