//! `maia export [--output FILE] [--since DATE]`: everything the owner has, as NDJSON (the
//! same bytes as `GET /api/export`), to standard output or a file. A file is written
//! beside its name first and renamed when whole, so a failed export leaves no half file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use futures_util::TryStreamExt;

use crate::config::Settings;
use crate::domain::Since;

pub fn run(settings: &Settings, output: Option<&Path>, since: Option<&str>) -> ExitCode {
    match super::runtime::runtime().block_on(export(settings, output, since)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("maia: export: {e:#}");
            super::exit::failure(&e)
        }
    }
}

async fn export(
    settings: &Settings,
    output: Option<&Path>,
    since: Option<&str>,
) -> anyhow::Result<()> {
    let since = since.map(Since::parse).transpose()?;
    crate::sovereignty::enforce(settings).await?;
    let db = super::runtime::migrated_database(settings).await?;
    let pieces = crate::service::export(db, since);
    match output {
        None => {
            let mut out = std::io::stdout().lock();
            write_all(pieces, &mut out).await?;
        }
        Some(path) => {
            let partial = partial_name(path);
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(&partial)
                    .with_context(|| format!("cannot create {}", partial.display()))?,
            );
            let written = write_all(pieces, &mut file).await;
            let flushed = written.and_then(|bytes| {
                let file = file.into_inner().map_err(|e| e.into_error())?;
                file.sync_all()?;
                Ok(bytes)
            });
            match flushed {
                Ok(bytes) => {
                    std::fs::rename(&partial, path)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("exported {bytes} bytes to {}", path.display());
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e).with_context(|| {
                        format!("{} not written (nothing left of it)", path.display())
                    });
                }
            }
        }
    }
    Ok(())
}

/// Writes every piece; how many bytes.
async fn write_all(
    pieces: impl futures_util::Stream<Item = Result<String, crate::service::ServiceError>>,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let mut pieces = std::pin::pin!(pieces);
    let mut bytes = 0;
    while let Some(piece) = pieces.try_next().await? {
        out.write_all(piece.as_bytes())?;
        bytes += piece.len() as u64;
    }
    out.flush()?;
    Ok(bytes)
}

/// `FILE.partial`, beside it.
fn partial_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}
