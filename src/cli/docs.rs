//! `maia docs import|list|remove|reembed`: the owner's documents, against the configured
//! database (and, to embed, the configured Ollama). Lists go to standard output; progress
//! and everything else to standard error.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use uuid::Uuid;

use super::import::source_of;
use crate::config::Settings;
use crate::llm::Llm;
use crate::service::{Library, Progress};
use crate::store::Document;

#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Import .md and .txt files, and the directories' trees of them (an Obsidian vault):
    /// each added, updated if it changed since, or left as it is; one transaction each.
    Import {
        /// Files and directories (hidden ones, such as .obsidian, are left out).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// List the documents, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove documents and their chunks: by id, or by the file they were imported from.
    Remove {
        #[arg(required = true, value_name = "ID|PATH")]
        documents: Vec<String>,
    },
    /// Embed every chunk again with knowledge.embed_model (after changing it).
    Reembed,
}

pub fn run(settings: &Settings, command: DocsCommand) -> ExitCode {
    match super::runtime::runtime().block_on(dispatch(settings, command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("maia: docs: {e:#}");
            super::exit::failure(&e)
        }
    }
}

async fn dispatch(settings: &Settings, command: DocsCommand) -> anyhow::Result<ExitCode> {
    crate::sovereignty::enforce(settings).await?;
    let db = super::runtime::migrated_database(settings).await?;
    let library = Library::new(db, Llm::new(&settings.ollama)?, settings);
    match command {
        DocsCommand::Import { paths } => {
            library.require_ready().await?;
            super::import::run(&library, &paths).await
        }
        DocsCommand::List { json } => {
            library.require_ready().await?;
            list(&library.list().await?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        DocsCommand::Remove { documents } => {
            library.require_ready().await?;
            remove(&library, &documents).await
        }
        DocsCommand::Reembed => reembed(&library).await,
    }
}

fn list(documents: &[Document], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(documents)?);
        return Ok(());
    }
    println!(
        "{:<36} {:>6} {:<16} {:<40} SOURCE",
        "ID", "CHUNKS", "UPDATED", "TITLE"
    );
    for d in documents {
        let title: String = d.title.chars().take(40).collect();
        println!(
            "{:<36} {:>6} {:<16} {:<40} {}",
            d.id,
            d.chunks,
            d.updated_at.format("%Y-%m-%d %H:%M"),
            title,
            d.source.as_deref().unwrap_or("-")
        );
    }
    eprintln!("{} document(s)", documents.len());
    Ok(())
}

/// Removes each document named; fails if one of them was not there.
async fn remove(library: &Library, named: &[String]) -> anyhow::Result<ExitCode> {
    let mut missing = 0;
    for name in named {
        let id = match Uuid::parse_str(name) {
            Ok(id) => Some(id),
            Err(_) => library.find_source(&source_of(Path::new(name))).await?,
        };
        let removed = match id {
            Some(id) => library.remove(id).await?,
            None => false,
        };
        if removed {
            eprintln!("removed {name} and its chunks");
        } else {
            eprintln!("no document {name} (an id, or the path of an imported file)");
            missing += 1;
        }
    }
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn reembed(library: &Library) -> anyhow::Result<ExitCode> {
    let space = library.space();
    eprintln!(
        "embedding every chunk again with {} ({} dimensions)",
        space.model, space.dimensions
    );
    let mut shown = Shown::new(std::io::stderr().is_terminal());
    let done = library.reembed(|p| shown.show(p)).await;
    shown.finish();
    match done {
        Ok(n) => {
            eprintln!("re-embedded {n} chunk(s)");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => bail!("{e}; what was embedded stays: run it again to go on"),
    }
}

/// Re-embedding's progress: a bar on a terminal, a line every tenth of the way otherwise.
struct Shown {
    bar: Option<ProgressBar>,
    tenth: u64,
}

impl Shown {
    fn new(terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(0);
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {pos}/{len} chunks, {per_sec}, {eta} left")
            {
                bar.set_style(style);
            }
            bar
        });
        Self { bar, tenth: 0 }
    }

    fn show(&mut self, p: Progress) {
        if let Some(bar) = &self.bar {
            bar.set_length(p.total);
            bar.set_position(p.done);
            return;
        }
        let tenth = (p.done * 10).checked_div(p.total).unwrap_or(10);
        if tenth > self.tenth || p.done == 0 {
            self.tenth = tenth;
            eprintln!("{}/{} chunks embedded", p.done, p.total);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
