//! `maia personas reset`: the shipped personas back to their shipped text, against the
//! configured database. What it did goes to standard error.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Settings;
use crate::service;

#[derive(Debug, Subcommand)]
pub enum PersonasCommand {
    /// Restore the five shipped personas (socratic, contrarian, pragmatist, synthesizer,
    /// coach) to their shipped text, adding back any deleted; personas added by hand stay
    /// as they are.
    Reset,
}

pub fn run(settings: &Settings, command: PersonasCommand) -> ExitCode {
    match super::runtime::runtime().block_on(dispatch(settings, command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("maia: personas: {e:#}");
            super::exit::failure(&e)
        }
    }
}

async fn dispatch(settings: &Settings, command: PersonasCommand) -> anyhow::Result<()> {
    crate::sovereignty::enforce(settings).await?;
    let db = super::runtime::migrated_database(settings).await?;
    match command {
        PersonasCommand::Reset => {
            let restored = service::reset_shipped_personas(&db).await?;
            if restored.is_empty() {
                eprintln!("the shipped personas are as shipped; nothing changed");
            } else {
                eprintln!("restored {}", restored.join(", "));
            }
            Ok(())
        }
    }
}
