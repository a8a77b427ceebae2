//! `maia migrate [--status] [--no-wait]`: apply pending migrations, or list them.

use std::process::ExitCode;
use std::time::Duration;

use crate::config::Settings;
use crate::store::{self, SchemaMismatch};

/// `wait`: wait for the database as `serve` does (a migration job started alongside it);
/// `--status` never waits.
pub fn run(settings: &Settings, status_only: bool, wait: bool) -> ExitCode {
    let wait = if wait {
        store::READY_WAIT
    } else {
        Duration::ZERO
    };
    let result = super::runtime::runtime().block_on(async {
        crate::sovereignty::enforce(settings).await?;
        if status_only {
            print_status(settings).await
        } else {
            let applied = store::migrate_when_ready(&settings.database, wait).await?;
            if applied.is_empty() {
                println!("database is up to date; nothing to apply");
            }
            for (v, name) in &applied {
                println!("applied  V{v}__{name}");
            }
            // Knowledge's own migrations, where the database has pgvector; its log line
            // says whether knowledge is on, and if not, what it needs.
            crate::service::set_up_knowledge(settings).await;
            anyhow::Ok(())
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("maia: migrate: {e:#}");
            super::exit::failure(&e)
        }
    }
}

/// Lists every migration; fails when the database is a newer maia's.
async fn print_status(settings: &Settings) -> anyhow::Result<()> {
    let client = store::connect(&settings.database).await?;
    let status = store::migration_status(&client).await?;
    for (v, name) in &status.applied {
        println!("applied  V{v}__{name}");
    }
    for (v, name) in &status.pending {
        println!("pending  V{v}__{name}");
    }
    for v in &status.unknown {
        println!("unknown  V{v} (applied by a newer maia)");
    }
    println!(
        "{} applied, {} pending",
        status.applied.len(),
        status.pending.len()
    );
    match status.mismatch() {
        Some(newer @ SchemaMismatch::Newer { .. }) => Err(newer.into()),
        _ => Ok(()),
    }
}
