//! The command line: parse, load settings, dispatch to a command, one file each.

mod check;
mod dev;
mod docs;
mod exit;
mod export;
mod healthcheck;
mod import;
mod import_file;
mod migrate;
mod personas;
mod purge;
mod runtime;
mod serve;
mod show_config;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Settings, Sources};
use crate::telemetry::{self, Sink};
use exit::CONFIGURATION_ERROR;

#[derive(Debug, Parser)]
#[command(
    name = "maia",
    version,
    about = "A sovereign, self-hosted AI query service"
)]
pub struct Cli {
    /// TOML config file (also MAIA_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve,
    /// Apply pending database migrations and exit (waiting up to 30 s for the database).
    Migrate {
        /// List applied and pending migrations instead of applying them.
        #[arg(long)]
        status: bool,
        /// Fail at once when the database does not answer, instead of waiting up to 30 s.
        #[arg(long)]
        no_wait: bool,
    },
    /// Check the configuration, database, migrations, Ollama and sovereignty.
    Check {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Validate the configuration only; make no connection (for build-time checks).
        #[arg(long)]
        offline: bool,
    },
    /// Exit 0 if the server's health endpoint says healthy or degraded (for containers).
    Healthcheck {
        /// Health endpoint to query; defaults to this config's listen port on 127.0.0.1.
        #[arg(long)]
        url: Option<String>,
    },
    /// Run a throwaway local stack: a private PostgreSQL cluster, migrations, the server.
    Dev {
        /// Where the cluster lives.
        #[arg(long, default_value = ".maia-dev", value_name = "DIR")]
        data_dir: PathBuf,
        /// Delete the cluster's data and start over.
        #[arg(long)]
        fresh: bool,
    },
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Create, list and revoke access tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Import, list, remove and re-embed the owner's documents (knowledge).
    #[command(subcommand)]
    Docs(docs::DocsCommand),
    /// Restore the shipped personas.
    #[command(subcommand)]
    Personas(personas::PersonasCommand),
    /// Write everything the owner has as NDJSON (personas, tokens' names, conversations,
    /// messages, traces, documents and their chunks' text): see README, "Export and import".
    Export {
        /// The file to write (standard output if none).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Only rows made at or after DATE (2026-12-01, or an RFC 3339 time), and every
        /// persona and token.
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
    },
    /// Load an export into this database; rows already there stay as they are.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Delete the traces and conversations retention lets expire, now.
    Purge {
        /// Show what would be deleted, and the cutoffs, deleting nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    let sources = Sources::from_process(cli.config.clone());
    let loaded = match config::load(&sources) {
        Ok(l) => l,
        Err(e) => {
            // `check --offline` reports config errors in its own format.
            if let Command::Check { json: true, .. } = cli.command {
                return check::report_config_error(&e);
            }
            eprintln!("maia: {e}");
            return ExitCode::from(CONFIGURATION_ERROR);
        }
    };
    let sink = match cli.command {
        Command::Serve | Command::Dev { .. } => Sink::Stdout,
        _ => Sink::Stderr,
    };
    let quiet = matches!(cli.command, Command::Healthcheck { .. } | Command::Config);
    if !quiet {
        telemetry::init(&loaded.settings.log, sink);
    }
    for w in &loaded.warnings {
        if quiet {
            eprintln!("maia: warning: {w}");
        } else {
            tracing::warn!("{w}");
        }
    }
    dispatch(cli.command, loaded.settings)
}

fn dispatch(command: Command, settings: Settings) -> ExitCode {
    match command {
        Command::Config => show_config::run(&settings),
        Command::Healthcheck { url } => healthcheck::run(&settings, url.as_deref()),
        Command::Serve => serve::run(settings),
        Command::Migrate { status, no_wait } => migrate::run(&settings, status, !no_wait),
        Command::Check { json, offline } => check::run(&settings, json, offline),
        Command::Dev { data_dir, fresh } => dev::run(settings, &data_dir, fresh),
        Command::Token(command) => token::run(&settings, command),
        Command::Docs(command) => docs::run(&settings, command),
        Command::Personas(command) => personas::run(&settings, command),
        Command::Purge { dry_run } => purge::run(&settings, dry_run),
        Command::Export { output, since } => {
            export::run(&settings, output.as_deref(), since.as_deref())
        }
        Command::Import { file } => import_file::run(&settings, &file),
    }
}
