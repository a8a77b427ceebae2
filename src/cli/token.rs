//! `maia token create|list|revoke`: the access tokens, against the configured database.
//! `create` prints the token alone on standard output (the only time it is shown) and
//! everything else on standard error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;

use crate::config::Settings;
use crate::domain::{Scopes, TokenName, TokenSecret};
use crate::service;
use crate::store::Db;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (shown once).
    Create {
        /// Its name: lowercase letters, digits, '.', '_', '-'.
        #[arg(long)]
        name: String,
        /// Comma-separated: query (ask), read (history, personas), admin (tokens,
        /// deletion), metrics (GET /metrics only, for a scraper; no other scope implies it).
        #[arg(long, default_value = "query,read")]
        scopes: String,
        /// Days until it expires; it never does without this.
        #[arg(long, value_name = "N")]
        expires_in_days: Option<u32>,
        /// Store the token held in FILE instead of making one (provisioning: running it
        /// again with the same file changes nothing).
        #[arg(long, value_name = "FILE", conflicts_with = "expires_in_days")]
        from_file: Option<PathBuf>,
    },
    /// List the tokens: names, scopes, dates; never a token or its hash.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: it fails everywhere within a second.
    Revoke { name: String },
}

pub fn run(settings: &Settings, command: TokenCommand) -> ExitCode {
    match super::runtime::runtime().block_on(dispatch(settings, command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("maia: token: {e:#}");
            super::exit::failure(&e)
        }
    }
}

async fn dispatch(settings: &Settings, command: TokenCommand) -> anyhow::Result<()> {
    crate::sovereignty::enforce(settings).await?;
    let db = super::runtime::migrated_database(settings).await?;
    match command {
        TokenCommand::Create {
            name,
            scopes,
            expires_in_days,
            from_file,
        } => {
            let name = TokenName::parse(&name)?;
            let scopes = Scopes::parse_list(&scopes)?;
            match from_file {
                None => create(&db, &name, scopes, expires_in_days).await,
                Some(file) => import(&db, &name, scopes, &file).await,
            }
        }
        TokenCommand::List { json } => list(&db, json).await,
        TokenCommand::Revoke { name } => {
            service::revoke_token(&db, &TokenName::parse(&name)?).await?;
            eprintln!("revoked {name}");
            Ok(())
        }
    }
}

async fn create(
    db: &Db,
    name: &TokenName,
    scopes: Scopes,
    expires_in_days: Option<u32>,
) -> anyhow::Result<()> {
    let token = service::create_token(db, name, scopes, expires_in_days).await?;
    eprintln!(
        "created token {} with scopes {}{}; it is shown once, here:",
        name.as_str(),
        scopes.names().join(","),
        expires_in_days
            .map(|d| format!(", expiring in {d} days"))
            .unwrap_or_default()
    );
    println!("{}", token.expose());
    Ok(())
}

async fn import(db: &Db, name: &TokenName, scopes: Scopes, file: &PathBuf) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let Some(secret) = TokenSecret::parse_token(text.trim()) else {
        bail!(
            "{} does not hold a maia token (maia_ and 43 characters)",
            file.display()
        );
    };
    if service::import_token(db, name, &secret, scopes).await? {
        eprintln!("stored token {} from {}", name.as_str(), file.display());
    } else {
        eprintln!("token {} is already stored; nothing changed", name.as_str());
    }
    Ok(())
}

async fn list(db: &Db, json: bool) -> anyhow::Result<()> {
    let tokens = service::list_tokens(db).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&tokens)?);
        return Ok(());
    }
    println!(
        "{:<24} {:<18} {:<8} {:<20} {:<20} ID",
        "NAME", "SCOPES", "STATE", "EXPIRES", "LAST USED"
    );
    let day = |d: Option<chrono::DateTime<chrono::Utc>>| {
        d.map(|d| d.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "-".into())
    };
    let now = chrono::Utc::now();
    for t in tokens {
        let state = match (t.revoked_at, t.expires_at) {
            (Some(_), _) => "revoked",
            (None, Some(at)) if at <= now => "expired",
            _ => "live",
        };
        println!(
            "{:<24} {:<18} {:<8} {:<20} {:<20} {}",
            t.name,
            t.scopes.join(","),
            state,
            day(t.expires_at),
            day(t.last_used_at),
            t.id
        );
    }
    Ok(())
}
