//! `maia import FILE`: an export loaded into the configured database, empty or not (rows
//! already there stay; see `service::import`). A bar on a terminal; a summary line
//! (counts per kind) either way.

use std::io::{BufReader, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Settings;

pub fn run(settings: &Settings, file: &Path) -> ExitCode {
    match super::runtime::runtime().block_on(import(settings, file)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("maia: import: {e:#}");
            super::exit::failure(&e)
        }
    }
}

async fn import(settings: &Settings, path: &Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    crate::sovereignty::enforce(settings).await?;
    let db = super::runtime::migrated_database(settings).await?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(size);
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes}, {bytes_per_sec}, {eta} left",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let reader = BufReader::with_capacity(1 << 20, file);
    let done = crate::service::import(&db, reader, |bytes| {
        if let Some(bar) = &bar {
            bar.inc(bytes);
        }
    })
    .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let tally = done.with_context(|| {
        format!(
            "{}: what was imported before stays; fix the file and run it again",
            path.display()
        )
    })?;
    eprintln!("imported {}: {tally}", path.display());
    Ok(())
}
