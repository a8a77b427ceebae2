//! `maia purge [--dry-run]`: what retention deletes, now, against the configured database;
//! with `--dry-run`, what it would delete. The cutoffs and the counts go to standard output.

use std::process::ExitCode;

use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::service::{Cutoffs, Retention};

pub fn run(settings: &Settings, dry_run: bool) -> ExitCode {
    match super::runtime::runtime().block_on(purge(settings, dry_run)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("maia: purge: {e:#}");
            super::exit::failure(&e)
        }
    }
}

async fn purge(settings: &Settings, dry_run: bool) -> anyhow::Result<()> {
    let days = &settings.retention;
    if days.traces_days == 0 && days.conversations_days == 0 {
        println!(
            "nothing is set to expire: retention.traces_days and retention.conversations_days \
             are 0 (keep forever)"
        );
        return Ok(());
    }
    crate::sovereignty::enforce(settings).await?;
    let db = super::runtime::migrated_database(settings).await?;
    let retention = Retention::new(db, &settings.retention);
    if dry_run {
        let (cutoffs, expiring) = retention.expiring().await?;
        print_cutoffs(settings, &cutoffs);
        println!(
            "would delete {} conversation(s) with {} message(s), and {} trace(s) \
             (dry run: nothing was deleted)",
            expiring.conversations, expiring.messages, expiring.traces
        );
    } else {
        let (cutoffs, purged) = retention.purge().await?;
        print_cutoffs(settings, &cutoffs);
        println!(
            "deleted {} conversation(s) with {} message(s), and {} trace(s), in {} batch(es)",
            purged.conversations, purged.messages, purged.traces, purged.batches
        );
        if !purged.complete {
            println!(
                "stopped after {} s: the rest goes at the next purge",
                crate::service::RETENTION_RUN_BUDGET.as_secs()
            );
        }
    }
    Ok(())
}

fn print_cutoffs(settings: &Settings, cutoffs: &Cutoffs) {
    let days = &settings.retention;
    let line = |key: &str, n: i64, what: &str, cutoff: Option<DateTime<Utc>>| match cutoff {
        Some(at) => println!(
            "{key} = {n}: {what} before {} go",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        None => println!("{key} = 0: kept forever"),
    };
    line(
        "retention.traces_days",
        days.traces_days,
        "traces made",
        cutoffs.traces,
    );
    line(
        "retention.conversations_days",
        days.conversations_days,
        "conversations last active",
        cutoffs.conversations,
    );
}
