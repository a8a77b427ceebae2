use std::process::ExitCode;

use crate::settings::Settings;

pub fn run(settings: &Settings, status_only: bool) -> ExitCode {
    let result = super::runtime().block_on(async {
        crate::sovereignty::enforce(settings).await?;
        if status_only {
            let client = crate::db::connect(&settings.database).await?;
            let status = crate::db::migration_status(&client).await?;
            for (v, name) in &status.applied {
                println!("applied  V{v}__{name}");
            }
            for (v, name) in &status.pending {
                println!("pending  V{v}__{name}");
            }
            println!(
                "{} applied, {} pending",
                status.applied.len(),
                status.pending.len()
            );
        } else {
            let applied = crate::db::migrate(&settings.database).await?;
            if applied.is_empty() {
                println!("database is up to date; nothing to apply");
            }
            for (v, name) in &applied {
                println!("applied  V{v}__{name}");
            }
        }
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("maia: migrate: {e:#}");
            ExitCode::FAILURE
        }
    }
}
