//! `maia config`: the effective configuration as TOML, secrets redacted by their types.

use std::process::ExitCode;

use crate::config::Settings;

pub fn run(settings: &Settings) -> ExitCode {
    // Show what deep mode really uses.
    let mut shown = settings.clone();
    shown.ollama.deep_model = Some(settings.deep_model().to_string());
    match toml::to_string(&shown) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("maia: cannot render the configuration: {e}");
            ExitCode::FAILURE
        }
    }
}
